"""Starting, pausing, stopping and quitting runs, and the one place where a run's outcome lands."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual.worker import Worker, WorkerState

from lstm_vision.settings import Settings
from lstm_vision.errors import SettingsError
from lstm_vision.runs.liveness import RunState
from lstm_vision.runs.folder import run_dir_of
from app.screens.dialogs import ConfirmScreen
from app.host import Host
from app.widgets.panels import RunProgress, StatusLine
from app.actions.notes import BUSY_NOTE, RUN_NOTE, SETTINGS_NOTE
from app.record import RunRecord
from app.bridge import run_engine, write_crash_log
from lstm_vision.runs.folder import METRICS_FILE


class RunActions(Host):
    """Mixed into the App: F5, F6, F7, F8, ctrl+q and Worker.StateChanged."""

    def action_start(self) -> None:
        self._start(resume=None)

    def action_resume_run(self) -> None:
        if self.session.resumable and self.session.resumable_elsewhere:  # not this app's run: it stays out of this process
            self.resume_in_background(Path(self.session.resumable))
        elif self.session.resumable:
            self._start(resume=self.session.resumable)
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
        self.forget(SETTINGS_NOTE)  # they start: whatever was wrong with them is not
        self.forget(RUN_NOTE)  # another run's failure or warnings
        record = RunRecord()
        if resume:  # a resumed run goes on drawing the curves it drew before it stopped
            run_dir = run_dir_of(resume)
            record = RunRecord.from_jsonl(run_dir / METRICS_FILE, name=run_dir.name)
            record.finished = record.stopped = record.failed = None
        control = self.session.launch(resume, record)
        self.reset_run_views(record)
        what = f"Resuming {resume}" if resume else "Starting a run"
        self.log_panel.add(
            f"{what} ({settings.model.num_layers}x{settings.model.hidden_size} LSTM, "
            f"{settings.train.epochs} epoch{'s' if settings.train.epochs != 1 else ''}, batch {settings.train.batch_size}).",
            "app",
        )
        self.action_show_tab("train")
        self.run_worker(
            partial(run_engine, self.post_message, self.engine, settings, control, resume, self.session.finished_engine),
            name="training",
            group="training",
            thread=True,
            exit_on_error=False,
        )

    def reset_run_views(self, record: RunRecord) -> None:
        """A new run to show: empty progress and results, the record's curves (empty, or those replayed)."""
        self.query_one(RunProgress).reset()
        self.live_charts.show_record(self.session.record)
        self.results_view.clear()
        self.query_one(StatusLine).set_started(None)

    def action_pause(self) -> None:
        self.session.toggle_pause()  # the run's own RunPaused / RunResumed events write the log lines, once

    def action_stop(self) -> None:
        if self.session.stop():
            self.log_panel.add("Stopping: finishing the batch, saving last.pt.", "app")

    def _quit_with(self, code: int) -> None:
        self.session.left_sweep = self.sweep_left_running()  # asked now: once the app has exited its widgets are gone
        self.exit(code, return_code=code)

    async def action_quit(self) -> None:
        plan = self.session.quit_plan()
        if plan in ("leave", "now"):  # an attached run goes on; asked twice: do not wait for the checkpoint
            self._quit_with(self.session.exit_code)
            return
        if plan == "idle":
            self.quit_unless_unsaved(self.session.exit_code)  # settings_files.py: asks first when the form holds unsaved edits
            return

        def answered(yes: bool | None) -> None:
            if yes and self.session.busy:
                self.session.quit_after_stop()
                self.action_stop()
                self.notify("Stopping the run, then quitting (ctrl+q again quits without waiting).")
            elif yes:
                self._quit_with(self.session.exit_code)

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
            self.session.engine_returned(worker.result)
        elif event.state == WorkerState.ERROR:
            self._worker_failed(worker.error)
        else:
            self.session.worker_cancelled()
        self.forget(BUSY_NOTE)
        self.refresh_history()
        if self.session.quitting:
            self._quit_with(self.session.exit_code)

    def _worker_failed(self, error: BaseException | None) -> None:
        self.session.engine_failed(error)
        if isinstance(error, SettingsError):
            self.log_panel.add(f"Cannot start: {error}", "error")
            self.notify_about(SETTINGS_NOTE, str(error), title="Invalid settings", severity="error", timeout=10)
            return
        log = write_crash_log(error, self.settings.output.dir) if error else None
        text = f"{type(error).__name__}: {error}" if error else "unknown error"
        self.log_panel.add(f"Training thread failed: {text}", "error")
        if log:
            self.log_panel.add(f"Traceback: {log}", "error")
        self.notify_about(RUN_NOTE, f"{text}\nLog: {log}", title="Run failed", severity="error", timeout=15)
