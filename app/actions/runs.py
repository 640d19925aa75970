"""Starting, pausing, stopping and quitting runs, and the one place where a run's outcome lands."""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path

from textual.worker import Worker, WorkerState

from lstm_vision.settings import Settings
from lstm_vision.errors import SettingsError
from lstm_vision.control import RunControl
from lstm_vision.runs.liveness import RunState
from lstm_vision.runs.folder import run_dir_of
from app.screens.dialogs import ConfirmScreen
from app.host import Host
from app.widgets.panels import RunProgress, StatusLine
from app.actions.notes import BUSY_NOTE, RUN_NOTE, SETTINGS_NOTE
from app.record import RunRecord
from lstm_vision.report.console import stopped_sentence
from app.state import ACTIVE, CONTROLLABLE, AppState, ended
from lstm_vision.runs.result import EXIT_CODES, EXIT_STOPPED
from app.bridge import run_engine, write_crash_log
from lstm_vision.runs.folder import METRICS_FILE


class RunActions(Host):
    """Mixed into the App: F5, F6, F7, F8, ctrl+q and Worker.StateChanged."""

    def action_start(self) -> None:
        self._start(resume=None)

    def action_resume_run(self) -> None:
        if self.resumable and self.resumable_elsewhere:  # not this app's run: it stays out of this process
            self.resume_in_background(Path(self.resumable))
        elif self.resumable:
            self._start(resume=self.resumable)
        else:
            self.notify("No stopped run to resume; pick one in History (F9) and press r.", severity="warning")

    def _start(self, resume: str | None) -> None:
        if self.refuse_while_busy():
            return
        try:
            settings = self.form.collect()
        except SettingsError as err:
            self.notify_about(SETTINGS_NOTE, f"Cannot start: {err}", title="Invalid settings", severity="error", timeout=8)
            self.action_show_tab("settings")
            self.form.focus_field(self.form.errors()[0][0])
            return
        self._launch(settings, resume)

    def _launch(self, settings: Settings, resume: str | None) -> None:
        self.settings = settings
        self.resumable_elsewhere = False
        self.forget(SETTINGS_NOTE)  # they start: whatever was wrong with them is not
        self.forget(RUN_NOTE)  # another run's failure or warnings
        self.control = RunControl()
        record = RunRecord()
        if resume:  # a resumed run goes on drawing the curves it drew before it stopped
            run_dir = run_dir_of(resume)
            record = RunRecord.from_jsonl(run_dir / METRICS_FILE, name=run_dir.name)
            record.finished = record.stopped = record.failed = None
        self.reset_run_views(record)
        what = f"Resuming {resume}" if resume else "Starting a run"
        self.log_panel.add(
            f"{what} ({settings.model.num_layers}x{settings.model.hidden_size} LSTM, "
            f"{settings.train.epochs} epoch{'s' if settings.train.epochs != 1 else ''}, batch {settings.train.batch_size}).",
            "app",
        )
        self.set_state(AppState.STARTING, "loading data…")
        self.action_show_tab("train")
        self.run_done, self.run_result = threading.Event(), None
        self.run_worker(
            partial(run_engine, self.post_message, self.engine, settings, self.control, resume, self._run_done),
            name="training",
            group="training",
            thread=True,
            exit_on_error=False,
        )

    def _run_done(self, result) -> None:
        """On the training thread, as the engine returns (see attach.AttachActions._hung_up)."""
        self.run_result = result
        self.run_done.set()

    def reset_run_views(self, record: RunRecord) -> None:
        """A new run to show: empty progress and results, the record's curves (empty, or those replayed)."""
        self.record = record
        self.query_one(RunProgress).reset()
        self.live_charts.show_record(self.record)
        self.results_view.clear()
        self.query_one(StatusLine).set_started(None)

    def action_pause(self) -> None:
        if self.control is None or self.state not in CONTROLLABLE:
            return
        # The run's own RunPaused / RunResumed events write the log lines, once, for every viewer.
        if self.control.paused:
            self.control.resume()
            self.set_state(AppState.RUNNING, "resumed")
        else:
            self.control.pause()
            self.set_state(AppState.PAUSED, "F6 resumes · the batch in flight finishes first")

    def action_stop(self) -> None:
        if self.control is None or self.state not in CONTROLLABLE:
            return
        self.control.stop()
        self.set_state(AppState.STOPPING, "finishing the batch and saving last.pt…")
        self.log_panel.add("Stopping: finishing the batch, saving last.pt.", "app")

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

    def _quit_with(self, code: int) -> None:
        self.left_sweep = self.sweep_left_running()  # asked now: once the app has exited its widgets are gone
        self.exit(code, return_code=code)

    async def action_quit(self) -> None:
        if self.attached_to is not None:  # another process trains it: quitting the viewer leaves it going
            self.left_running = self.attached_to if self.state in ACTIVE else None
            self.let_go()
            self._quit_with(self.exit_code)
            return
        if self.state not in ACTIVE:
            self.quit_unless_unsaved(self.exit_code)  # settings_files.py: asks first when the form holds unsaved edits
            return
        if self._quitting:  # asked twice: do not wait for the checkpoint
            self._quit_with(EXIT_STOPPED)
            return

        def answered(yes: bool | None) -> None:
            if yes and self.state in ACTIVE:
                self._quitting = True
                self.action_stop()
                self.notify("Stopping the run, then quitting (ctrl+q again quits without waiting).")
            elif yes:
                self._quit_with(self.exit_code)

        self.push_screen(
            ConfirmScreen(
                "A run is going. Stop it (saving last.pt, resumable) and quit?", yes="Stop and quit", no="Keep training"
            ),
            answered,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where the outcome of the training thread, and any exception of it, lands."""
        worker = event.worker
        if worker.group != "training" or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        if event.state == WorkerState.SUCCESS and isinstance(worker.result, RunState):
            if not self.watch_ended(worker.result):
                return  # the app let go of the run because it is quitting: there is nothing to show
        elif event.state == WorkerState.SUCCESS:
            result = worker.result
            status = ended(getattr(result, "status", None) or self.record.status, otherwise=AppState.COMPLETED)
            self.exit_code = EXIT_CODES[status]
            if status == AppState.STOPPED:
                run_dir = getattr(result, "run_dir", None)
                self.resumable = str(run_dir) if run_dir else self.resumable
            elif status == AppState.COMPLETED:
                self.resumable = None
            self.set_state(status, getattr(result, "run_dir", "") or "")
        elif event.state == WorkerState.ERROR:
            self._worker_failed(worker.error)
        else:
            self.set_state(AppState.STOPPED, "cancelled")
        self.control = None
        self.forget(BUSY_NOTE)
        self.refresh_history()
        if self._quitting:
            self._quit_with(self.exit_code)

    def _worker_failed(self, error: BaseException | None) -> None:
        self.exit_code = 2 if isinstance(error, SettingsError) else 1
        if isinstance(error, SettingsError):
            self.log_panel.add(f"Cannot start: {error}", "error")
            self.notify_about(SETTINGS_NOTE, str(error), title="Invalid settings", severity="error", timeout=10)
            self.set_state(AppState.FAILED, "bad settings: fix them (F2) and press F5")
            return
        log = write_crash_log(error, self.settings.output.dir) if error else None
        text = f"{type(error).__name__}: {error}" if error else "unknown error"
        self.log_panel.add(f"Training thread failed: {text}", "error")
        if log:
            self.log_panel.add(f"Traceback: {log}", "error")
        self.notify_about(RUN_NOTE, f"{text}\nLog: {log}", title="Run failed", severity="error", timeout=15)
        self.set_state(AppState.FAILED, "see the log; fix and press F5")
