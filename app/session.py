"""The app's run lifecycle, owned by one object: what the app is doing with its run (AppState), the control of
the run it shows, the run it is attached to, what F7 resumes and how, what it leaves running when it quits,
and the exit code. No Textual here: the App and its tabs call these transitions and render what they leave,
and tests/app/test_session.py drives every one of them without a terminal (docs/ARCHITECTURE.md, "A run and
its viewers")."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lstm_vision.control import RunControl
from lstm_vision.errors import SettingsError
from lstm_vision.events import Event, RunPaused, RunResumed, RunStarted, StepLogged
from lstm_vision.report.console import stopped_sentence
from lstm_vision.runs.folder import LAST_CHECKPOINT, run_dir_of
from lstm_vision.runs.liveness import RemoteControl, RunState
from lstm_vision.runs.result import EXIT_BAD_INPUT, EXIT_CODES, EXIT_FAILED, EXIT_STOPPED
from app.record import RunRecord
from app.state import ACTIVE, CONTROLLABLE, AppState, ended


@dataclass
class RunSession:
    # called with (state, detail) after every change of either: the status line and the footer's keys
    on_change: Callable[[AppState, str], None] = lambda state, detail: None
    state: AppState = AppState.IDLE
    detail: str = ""  # what the status line says after the state
    control: RunControl | RemoteControl | None = None  # a RemoteControl while attached to another process's run
    record: RunRecord = field(default_factory=RunRecord)  # the run shown: its curves and where it stands
    attached_to: Path | None = None  # the folder of the run shown when another process trains it
    watching: threading.Event | None = None  # set to stop following the attached run (the run goes on)
    resumable: str | None = None  # what F7 resumes
    resumable_elsewhere: bool = False  # ... in a process of its own: it was another process's run
    resumes_own_settings: bool = False  # ... with its own settings, not the form's: History's r chose it
    left_running: Path | None = None  # the attached run, when the app quit while it went on
    left_sweep: Path | None = None  # the sweep the Sweep tab followed, when the app quit while it went on
    exit_code: int = 0  # the app's, once it quits: the last run's ending
    quitting: bool = False  # quit once the run has stopped
    run_done: threading.Event = field(default_factory=threading.Event)  # the engine of the last run returned
    run_result: Any = None  # what it returned

    # ---- what the state allows -----------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A run is going: no second one starts, nor a resume or an attach, and quitting asks first."""
        return self.state in ACTIVE

    @property
    def own_run_going(self) -> bool:
        """A run this process trains is going (not one it is attached to)."""
        return self.attached_to is None and self.control is not None and self.busy

    def can_resume(self) -> bool:
        return bool(self.resumable) and not self.busy

    def set_state(self, state: AppState, detail: str = "") -> None:
        self.state, self.detail = state, detail
        self.on_change(state, detail)

    # ---- a run starts, or is watched ---------------------------------------------------------------------
    def launch(self, resume: str | None, record: RunRecord | None = None) -> RunControl:
        """A run of this process starts (F5, F7, History's r): a fresh control and record (a resumed run's
        curves so far)."""
        self.resumable_elsewhere = False
        if resume is None:  # F5: the form's run, which F7 resumes with the form
            self.resumes_own_settings = False
        self.control = RunControl()
        self.record = record or RunRecord()
        self.run_done, self.run_result = threading.Event(), None
        self.set_state(AppState.STARTING, "loading data…")
        return self.control

    def choose_to_resume(self, run_dir: Path | str, own_settings: bool = False) -> str:
        """History's r: this run is what F7 resumes from now on (with its own settings when ``own_settings``), and
        what the next launch resumes."""
        self.resumable, self.resumes_own_settings = str(run_dir), own_settings
        return self.resumable

    def finished_engine(self, result: Any) -> None:
        """On the training thread, as the engine returns: a hung-up app waits for this (it cannot run its own
        thread any more)."""
        self.run_result = result
        self.run_done.set()

    def attach(self, run_dir: Path) -> threading.Event:
        """Another process's run is shown from now on: its past, then live. Returns the event that stops
        following it. The last run is now this one, not yet ended: quitting leaves it training and says nothing
        of the run watched before (exit code 0)."""
        self.attached_to, self.watching = Path(run_dir), threading.Event()
        self.control = RemoteControl(Path(run_dir))
        self.resumable = None
        self.exit_code = 0
        self.record = RunRecord(name=Path(run_dir).name)
        self.set_state(AppState.STARTING, "attaching: reading its journal…")
        return self.watching

    def let_go(self) -> None:
        """Stop following the attached run (the run itself goes on)."""
        if self.watching is not None:
            self.watching.set()

    def resuming_in_background(self, run_dir: Path) -> None:
        """A run goes on in a process of its own (F7 on another process's run, r on a background run); the app
        attaches once that process has taken the folder over."""
        self.resumable, self.resumable_elsewhere = None, False
        self.set_state(AppState.IDLE, f"{Path(run_dir).name} · resuming in the background…")

    # ---- the keys on a run ------------------------------------------------------------------------------
    def toggle_pause(self) -> bool:
        """F6: pause, or resume a paused run; False when there is nothing to pause. The run's own RunPaused /
        RunResumed events confirm it, for every viewer."""
        if self.control is None or self.state not in CONTROLLABLE:
            return False
        if self.control.paused:
            self.control.resume()
            self.set_state(AppState.RUNNING, "resumed")
        else:
            self.control.pause()
            self.set_state(AppState.PAUSED, "F6 resumes · the batch in flight finishes first")
        return True

    def stop(self) -> bool:
        """F8: finish the batch, save last.pt; False when there is nothing to stop."""
        if self.control is None or self.state not in CONTROLLABLE:
            return False
        self.control.stop()
        self.set_state(AppState.STOPPING, "finishing the batch and saving last.pt…")
        return True

    # ---- what the run says ------------------------------------------------------------------------------
    def saw(self, event: Event) -> None:
        """An event of the run shown (its own, or read from an attached run's journal)."""
        self.record.apply(event)
        if isinstance(event, RunStarted) and (self.state == AppState.STARTING or self.attached_to is not None):
            self.set_state(AppState.RUNNING)
        elif isinstance(event, StepLogged) and self.state == AppState.RUNNING and self.detail:
            self.set_state(AppState.RUNNING)  # drop a stale "resumed"
        elif isinstance(event, (RunPaused, RunResumed)):
            paused = isinstance(event, RunPaused)
            if isinstance(self.control, RemoteControl):  # a run of another process: another viewer may have asked
                self.control.note_paused(paused)
            if self.state in (AppState.RUNNING, AppState.PAUSED):
                self.set_state(AppState.PAUSED, "F6 resumes") if paused else self.set_state(AppState.RUNNING)

    # ---- how it ended -----------------------------------------------------------------------------------
    def engine_returned(self, result: Any) -> AppState:
        """The training worker returned the engine's result: the run's ending sets the exit code and what F7
        resumes."""
        run_dir = getattr(result, "run_dir", None)
        status = ended(getattr(result, "status", None) or self.record.status, otherwise=AppState.COMPLETED)
        self.exit_code = EXIT_CODES[status]
        if status == AppState.STOPPED:
            self.resumable = str(run_dir) if run_dir else self.resumable
        elif status == AppState.COMPLETED:
            self.resumable = None
        self.control = None
        self.set_state(status, run_dir or "")
        return status

    def engine_failed(self, error: BaseException | None) -> None:
        """The training worker raised: bad settings (2), or a crash (1)."""
        bad_settings = isinstance(error, SettingsError)
        self.exit_code = EXIT_BAD_INPUT if bad_settings else EXIT_FAILED
        self.control = None
        self.set_state(
            AppState.FAILED, "bad settings: fix them (F2) and press F5" if bad_settings else "see the log; fix and press F5"
        )

    def worker_cancelled(self) -> None:
        self.control = None
        self.set_state(AppState.STOPPED, "cancelled")

    def watch_ended(self, state: RunState) -> AppState | None:
        """The watcher of the attached run returned: the run ended or was lost (its state), or None when the
        app let go of it (it is quitting or attaching elsewhere: nothing to show)."""
        run_dir, self.attached_to = self.attached_to, None
        if run_dir is None or (self.watching is not None and self.watching.is_set()):
            return None
        self.control = None
        self.resumable_elsewhere = True  # it was not this app's run: F7 starts it in the background again
        if state.status in ("lost", "unfinished"):
            has_last = (run_dir / LAST_CHECKPOINT).is_file()
            self.resumable = str(run_dir) if has_last else None
            self.exit_code = EXIT_CODES[AppState.FAILED]  # lost: it did not end as it should
            # the status line is one row: the short form (the log and the notification hold the sentence)
            self.set_state(
                AppState.LOST, f"{run_dir.name} · " + ("F7 resumes from last.pt" if has_last else "no last.pt: F5 starts afresh")
            )
            return AppState.LOST
        status = ended(state.status, otherwise=AppState.FAILED)
        self.exit_code = EXIT_CODES[status]
        self.resumable = str(run_dir) if status == AppState.STOPPED else None
        self.set_state(status, str(run_dir) + (" · F7 resumes it" if status == AppState.STOPPED else ""))
        return status

    # ---- quitting ---------------------------------------------------------------------------------------
    def quit_plan(self) -> str:
        """What ctrl+q does now: "leave" (an attached run goes on: quit at once), "idle" (no run going: quit,
        asking about unsaved edits first), "now" (asked twice while stopping: quit without waiting for
        last.pt), "ask" (a run is going: ask, then stop it and quit)."""
        if self.attached_to is not None:
            self.left_running = self.attached_to if self.busy else None
            self.let_go()
            return "leave"
        if not self.busy:
            return "idle"
        if self.quitting:
            self.exit_code = EXIT_STOPPED
            return "now"
        return "ask"

    def quit_after_stop(self) -> None:
        """The user chose to stop the run and quit: the app quits once the run has stopped."""
        self.quitting = True

    def terminal_lost(self) -> bool:
        """SIGTERM: True when a run of this process must stop first (the caller stops it as F8 does, and the
        app quits once it has); an attached run goes on, and the app quits at once (False)."""
        if self.attached_to is None and self.busy:
            self.quit_after_stop()
            return True
        if self.attached_to is not None and self.busy:
            self.left_running = self.attached_to
        self.let_go()
        return False

    def resume_hint(self) -> str | None:
        """What the terminal is told once the app has quit leaving a run to resume (stopped, or lost with a
        last.pt): where it stands and the command that goes on, as a headless stop says it."""
        if not self.resumable:
            return None
        run_dir = run_dir_of(self.resumable)
        # a run this app only watched was started to outlive it: it goes on in a process of its own again
        command = f"lstm-vision-tui {'--no-ui --background ' if self.resumable_elsewhere else ''}--resume {run_dir}"
        if self.state == AppState.STOPPED and self.record.stopped is not None:
            return stopped_sentence(self.record.stopped, f"resume with {command}")
        return f"{run_dir} keeps its last.pt: resume with {command}"
