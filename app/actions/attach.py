"""Runs the app does not own: attach to any run through its folder, start one in the background,
and what a terminal that goes away does to the run the app does own."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from functools import partial
from pathlib import Path

from textual.widgets import TabbedContent

from lstm_vision.detached import started_in_background
from lstm_vision.errors import SettingsError
from lstm_vision.runs.liveness import RunState, run_state
from lstm_vision.runs.folder import read_summary
from lstm_vision.sweep.folder import is_sweep_dir
from app.actions.notes import RUN_NOTE, SETTINGS_NOTE
from app.host import Host
from app.state import AppState
from lstm_vision.runs.result import EXIT_CODES
from app.bridge import watch_run
from lstm_vision.runs.folder import OUTPUT_LOG

TAKE_OVER_S = 300.0  # how long F7's background resume may take to load the data before the app gives up waiting
HANGUP_SAVE_S = 600.0  # how long a hung-up app waits for its run to finish the batch and save before it ends


class AttachActions(Host):
    """Mixed into the App: --attach, History's attach key, shift+F5, and SIGHUP / SIGTERM."""

    attached_to: Path | None = None  # the folder of the run shown when another process trains it
    left_running: Path | None = None  # set when the app quits while that run goes on
    # set to stop following the run (not "_detach": that is a method of Textual's MessagePump, which it would hide)
    _stop_watching: threading.Event | None = None
    history_pending = False  # the next batch of events is the attached run's past, not news

    attach_tab = ""  # the tab shown when the attach began: another one by the replay's end was the user's choice

    def attach(self, run_dir: Path, show: bool = True) -> None:
        """Show a run that another process trains (or trained): its history so far, then live. ``show``: switch
        to the Train screen (--attach opens on it, and a key typed since then has the last word)."""
        if self.refuse_while_busy():
            return
        run_dir = Path(run_dir)
        if is_sweep_dir(run_dir):  # --attach SWEEP_DIR: its trials, each of which can be attached to
            self.open_sweep(run_dir)
            return
        self.forget(RUN_NOTE)  # what was said of the last run
        watching = self.session.attach(run_dir)
        self.history_pending = True
        self.reset_run_views(self.session.record)
        self.log_panel.add(f"Attached to {run_dir}: F6 pauses or resumes it, F8 stops it; quitting leaves it training.", "app")
        if show:
            self.action_show_tab("train")
        self.attach_tab = self.query_one("#main-tabs", TabbedContent).active
        self.run_worker(
            partial(watch_run, self.post_message, run_dir, watching),
            name="watching",
            group="training",
            thread=True,
            exit_on_error=False,
        )

    def resume_in_background(self, run_dir: Path) -> None:
        """F7 on a run another process trained, or History's r on one started in the background: it goes on in
        a process of its own session, and the app attaches once that process has taken the folder over (after
        its resume cut the journal back, so the app never shows lines the resume removed)."""
        from lstm_vision.detached import start_background
        from lstm_vision.runs.follow import run_settings

        try:
            _, pid = start_background(run_settings(run_dir), resume=str(run_dir))
        except SettingsError as err:
            self.notify_about(RUN_NOTE, str(err), title="Cannot resume", severity="error", timeout=10)
            return
        except OSError as err:  # the folder cannot be written (output.log), or the process cannot start
            why = f"Cannot resume {run_dir.name} in the background: {err.strerror or err}."
            self.notify_about(RUN_NOTE, why, severity="error", timeout=10)
            return
        self.forget(RUN_NOTE)  # its loss, or its stop, is over
        self.session.resuming_in_background(run_dir)
        self.log_panel.add(f"Resuming {run_dir} in the background; attaching when it trains.", "app")
        self.run_worker(
            partial(self._attach_when_taken_over, run_dir, pid), group="attach-wait", thread=True, exit_on_error=False
        )

    def resumed_as_it_began(self, run_dir: Path) -> bool:
        """History's r: a run started in the background (lost with its process, or stopped) goes on in a process
        of its own again, as F7 on an attached run does, so that closing this terminal does not stop it; True
        when it was (or was refused with a note). Any other run resumes in the app (False)."""
        if not started_in_background(run_dir):
            return False
        self.resume_in_background(run_dir)
        return True

    def _attach_when_taken_over(self, run_dir: Path, pid: int) -> None:
        deadline = time.monotonic() + TAKE_OVER_S
        while time.monotonic() < deadline:
            state = run_state(run_dir)
            # the new process's own, past "starting" (running, paused, or already ended): its folder is settled
            if state.pid == pid and state.status != "starting":
                self.call_from_thread(self.attach, run_dir)
                return
            time.sleep(0.25)
        self.call_from_thread(
            self.notify_about,
            RUN_NOTE,
            f"{run_dir.name} did not start training within {TAKE_OVER_S:.0f} s; see {run_dir / OUTPUT_LOG}.",
            severity="warning",
            timeout=15,
        )

    def action_start_background(self) -> None:
        if self.refuse_while_busy():
            return
        settings = self._collect_or_warn("start")
        if settings is None:
            return
        from lstm_vision.detached import start_background  # no torch: quick on the UI thread

        try:
            folder, pid = start_background(settings)
        except (SettingsError, OSError) as err:
            self.notify_about(SETTINGS_NOTE, f"Cannot start in the background: {err}", severity="error", timeout=10)
            return
        self.settings = settings
        self.log_panel.add(
            f"Started in the background as process {pid}; it goes on if this app or its "
            f"terminal goes away. Its output: {folder / OUTPUT_LOG}.",
            "app",
        )
        self.attach(folder)

    def watch_ended(self, state: RunState) -> bool:
        """The attached run ended or was lost (True: said here), or the app let go of it (False)."""
        run_dir = self.session.attached_to
        status = self.session.watch_ended(state)
        if status is None or run_dir is None:
            return False
        if status == AppState.LOST:
            sentence = state.lost_sentence() + (
                "; F7 resumes it from last.pt" if self.session.resumable else "; it saved no last.pt, so F5 starts it afresh"
            )
            self.log_panel.add(sentence[0].upper() + sentence[1:] + ".", "warning")
            self.notify_about(RUN_NOTE, f"{run_dir.name}: {sentence}.", title="Run lost", severity="warning", timeout=15)
        elif status == AppState.FAILED and not read_summary(run_dir):
            self._explain_early_exit(run_dir, state)
        return True

    def _explain_early_exit(self, run_dir: Path, state: RunState) -> None:
        """A run that ended before training (bad settings, missing data): its own words, from output.log."""
        try:
            lines = [
                line for line in (run_dir / OUTPUT_LOG).read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
            ]
        except OSError:
            lines = []
        why = lines[-1] if lines else f"exit code {state.exit_code}"
        self.log_panel.add(f"The run's process ended before training: {why}", "error")
        self.notify_about(RUN_NOTE, why, title="Run did not start", severity="error", timeout=15)

    # ---- the terminal going away ----------------------------------------------------------------
    def install_hangup_handlers(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.terminal_lost)
        # A plain handler, not the event loop's: when the terminal is gone, Textual's writer thread dies on
        # the first failed write and the next screen update blocks the app's thread for good. A Python
        # signal handler still runs there (a blocked lock wait is interrupted for it).
        signal.signal(signal.SIGHUP, self._hung_up)

    def _hung_up(self, signum, frame) -> None:
        """SIGHUP: the terminal or the SSH connection went away. Nothing can be drawn any more, and the app
        cannot be shut down in the usual way: the run this process trains stops as F8 would (the batch
        finishes, last.pt, summary "stopped"), and once it has, the process ends. An attached run goes on."""
        own = self.session.own_run_going
        if own:
            self.session.control.stop()
        threading.Thread(target=self._end_after_run, args=(own,), name="lstm-vision-hangup", daemon=True).start()

    def _end_after_run(self, own: bool) -> None:
        code = self.session.exit_code
        if own and self.session.run_done.wait(HANGUP_SAVE_S):
            code = getattr(self.session.run_result, "exit_code", EXIT_CODES[AppState.STOPPED])
        os._exit(code)  # every file of the run is written and closed: the engine returned

    def terminal_lost(self) -> None:
        """SIGTERM: a run of this process stops as F8 would (the batch finishes, last.pt, summary
        "stopped"), then the app ends; an attached run goes on."""
        if self.session.terminal_lost():
            self.action_stop()
            return
        self._quit_with(self.session.exit_code)
