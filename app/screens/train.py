"""The Train tab: the run's progress, its live curves, memory and log; the thread that trains a run in this
process or follows one another process trains (attach), and what either thread's end leaves in the session.
The run's events reach the App (bridge.EngineEvent), which passes each to the tabs that show it (``show``)."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.worker import Worker, WorkerState

from lstm_vision.text import plural
from lstm_vision.errors import SettingsError
from lstm_vision.events import (
    CheckpointSaved,
    EpochFinished,
    EvaluationFinished,
    Event,
    LogMessage,
    ResourcesSampled,
    RunFailed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    RunStopped,
    SettingsChanged,
    StepLogged,
    StepProgressed,
)
from lstm_vision.report.console import settings_change_text, stopped_sentence
from lstm_vision.runs.folder import METRICS_FILE, OUTPUT_LOG, read_summary, run_dir_of
from lstm_vision.runs.liveness import RunState, run_state
from lstm_vision.settings import Settings
from app.bridge import Runner, run_engine, watch_run, write_crash_log
from app.record import RunRecord
from app.session import RunSession
from app.stale_notes import RUN_NOTE, SETTINGS_NOTE, StaleNotes
from app.state import AppState
from app.widgets.charts import ChartPair
from app.widgets.panels import LogPanel, MemoryPanel, RunProgress

TAKE_OVER_S = 300.0  # how long F7's background resume may take to load the data before the app gives up waiting


class TrainView(Vertical):
    DEFAULT_CSS = "TrainView { height: 1fr; }"

    class RunEnded(Message):
        """The training or watching thread ended; the session says how (the App: the notes, History, a quit)."""

    class AttachRequested(Message):
        """A run resumed in a process of its own has taken its folder over: the App attaches to it."""

        def __init__(self, run_dir: Path) -> None:
            super().__init__()
            self.run_dir = run_dir

    def __init__(self, session: RunSession, engine: Runner | None, notes: StaleNotes, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session
        self.engine = engine  # None: the real one, imported on the training thread
        self._notes = notes
        self.settings: Settings | None = None  # the settings of the run this tab trains (its crash log's folder)

    def compose(self) -> ComposeResult:
        yield RunProgress(id="progress")
        yield ChartPair(id="live-charts")
        with Horizontal(id="train-bottom"):
            yield MemoryPanel(id="memory")
            yield LogPanel(id="log")

    @property
    def log_panel(self) -> LogPanel:
        return self.query_one(LogPanel)

    @property
    def charts(self) -> ChartPair:
        return self.query_one(ChartPair)

    def say(self, text: str, kind: str = "app") -> None:
        self.log_panel.add(text, kind)

    def reset(self) -> None:
        """A new run to show: empty progress, the session's record's curves (empty, or those replayed)."""
        self.query_one(RunProgress).reset()
        self.charts.show_record(self.session.record)

    # ---- the threads -----------------------------------------------------------------------------
    def launch(self, settings: Settings, resume: str | None) -> None:
        """Train ``settings`` in this process (``resume``: a run folder or checkpoint to go on from)."""
        self.settings = settings
        record = RunRecord()
        if resume:  # a resumed run goes on drawing the curves it drew before it stopped
            run_dir = run_dir_of(resume)
            record = RunRecord.from_jsonl(run_dir / METRICS_FILE, name=run_dir.name)
            record.finished = record.stopped = record.failed = None
        control = self.session.launch(resume, record)
        self.reset()
        what = f"Resuming {resume}" if resume else "Starting a run"
        epochs = settings.train.epochs
        self.say(
            f"{what} ({settings.model.num_layers}x{settings.model.hidden_size} LSTM, "
            f"{plural(epochs, 'epoch')}, batch {settings.train.batch_size})."
        )
        body = partial(run_engine, self.app.post_message, self.engine, settings, control, resume, self.session.finished_engine)
        self.run_worker(body, name="training", group="training", thread=True, exit_on_error=False)

    def watch(self, run_dir: Path) -> None:
        """Follow a run another process trains (or trained): its history so far, then live."""
        watching = self.session.attach(run_dir)
        self.reset()
        self.say(f"Attached to {run_dir}: F6 pauses or resumes it, F8 stops it; quitting leaves it training.")
        body = partial(watch_run, self.app.post_message, run_dir, watching)
        self.run_worker(body, name="watching", group="training", thread=True, exit_on_error=False)

    def resume_in_background(self, run_dir: Path) -> None:
        """F7 on a run another process trained, or History's r on one started in the background: it goes on in
        a process of its own session, and the app attaches once that process has taken the folder over (after
        its resume cut the journal back, so the app never shows lines the resume removed)."""
        from lstm_vision.detached import start_background
        from lstm_vision.runs.follow import run_settings

        try:
            _, pid = start_background(run_settings(run_dir), resume=str(run_dir))
        except SettingsError as err:
            self._notes.about(RUN_NOTE, str(err), title="Cannot resume", severity="error", timeout=10)
            return
        except OSError as err:  # the folder cannot be written (output.log), or the process cannot start
            why = f"Cannot resume {run_dir.name} in the background: {err.strerror or err}."
            self._notes.about(RUN_NOTE, why, severity="error", timeout=10)
            return
        self._notes.forget(RUN_NOTE)  # its loss, or its stop, is over
        self.session.resuming_in_background(run_dir)
        self.say(f"Resuming {run_dir} in the background; attaching when it trains.")
        body = partial(self._attach_when_taken_over, run_dir, pid, self.app.call_from_thread)
        self.run_worker(body, group="attach-wait", thread=True, exit_on_error=False)

    def _attach_when_taken_over(self, run_dir: Path, pid: int, call: Callable[..., Any]) -> None:
        deadline = time.monotonic() + TAKE_OVER_S
        while time.monotonic() < deadline:
            state = run_state(run_dir)
            # the new process's own, past "starting" (running, paused, or already ended): its folder is settled
            if state.pid == pid and state.status != "starting":
                self.post_message(self.AttachRequested(run_dir))
                return
            time.sleep(0.25)
        why = f"{run_dir.name} did not start training within {TAKE_OVER_S:.0f} s; see {run_dir / OUTPUT_LOG}."
        call(self._notes.about, RUN_NOTE, why, severity="warning", timeout=15)

    def start_in_background(self, settings: Settings) -> Path | None:
        """shift+F5: a headless process of its own that outlives the app; its folder, to attach to (None: said why)."""
        from lstm_vision.detached import start_background  # no torch: quick on the UI thread

        try:
            folder, pid = start_background(settings)
        except (SettingsError, OSError) as err:
            self._notes.about(SETTINGS_NOTE, f"Cannot start in the background: {err}", severity="error", timeout=10)
            return None
        self.settings = settings
        self.say(
            f"Started in the background as process {pid}; it goes on if this app or its "
            f"terminal goes away. Its output: {folder / OUTPUT_LOG}."
        )
        return folder

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where the outcome of the training thread, and any exception of it, lands."""
        worker = event.worker
        if worker.group != "training" or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        if event.state == WorkerState.SUCCESS and isinstance(worker.result, RunState):
            if not self._watch_ended(worker.result):
                return  # the app let go of the run because it is quitting: there is nothing to show
        elif event.state == WorkerState.SUCCESS:
            self.session.engine_returned(worker.result)
        elif event.state == WorkerState.ERROR:
            self._worker_failed(worker.error)
        else:
            self.session.worker_cancelled()
        self.post_message(self.RunEnded())

    def _worker_failed(self, error: BaseException | None) -> None:
        self.session.engine_failed(error)
        if isinstance(error, SettingsError):
            self.say(f"Cannot start: {error}", "error")
            self._notes.about(SETTINGS_NOTE, str(error), title="Invalid settings", severity="error", timeout=10)
            return
        output_dir = self.settings.output.dir if self.settings else "."
        log = write_crash_log(error, output_dir) if error else None
        text = f"{type(error).__name__}: {error}" if error else "unknown error"
        self.say(f"Training thread failed: {text}", "error")
        if log:
            self.say(f"Traceback: {log}", "error")
        self._notes.about(RUN_NOTE, f"{text}\nLog: {log}", title="Run failed", severity="error", timeout=15)

    def _watch_ended(self, state: RunState) -> bool:
        """The attached run ended or was lost (True: said here), or the app let go of it (False)."""
        run_dir = self.session.attached_to
        status = self.session.watch_ended(state)
        if status is None or run_dir is None:
            return False
        if status == AppState.LOST:
            sentence = state.lost_sentence() + (
                "; F7 resumes it from last.pt" if self.session.resumable else "; it saved no last.pt, so F5 starts it afresh"
            )
            self.say(sentence[0].upper() + sentence[1:] + ".", "warning")
            self._notes.about(RUN_NOTE, f"{run_dir.name}: {sentence}.", title="Run lost", severity="warning", timeout=15)
        elif status == AppState.FAILED and not read_summary(run_dir):
            self._explain_early_exit(run_dir, state)
        return True

    def _explain_early_exit(self, run_dir: Path, state: RunState) -> None:
        """A run that ended before training (bad settings, missing data): its own words, from output.log."""
        try:
            text = (run_dir / OUTPUT_LOG).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        lines = [line for line in text.splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit code {state.exit_code}"
        self.say(f"The run's process ended before training: {why}", "error")
        self._notes.about(RUN_NOTE, why, title="Run did not start", severity="error", timeout=15)

    # ---- the events ------------------------------------------------------------------------------
    def show(self, ev: Event, redraw: bool = True) -> None:
        """``redraw``: draw the charts now, and warn live; False while a journal is replayed in a batch."""
        handler = SHOWN.get(type(ev))
        if handler is not None:
            handler(self, ev, redraw)

    def _show_started(self, ev: RunStarted, redraw: bool) -> None:
        self.query_one(RunProgress).show_started(ev)
        self.say(f"Run folder: {ev.run_dir}")

    def _show_step(self, ev: StepLogged, redraw: bool) -> None:
        self.query_one(RunProgress).show_step(ev)
        if redraw:
            self.charts.show_record(self.session.record)

    def _show_progress(self, ev: StepProgressed, redraw: bool) -> None:
        self.query_one(RunProgress).show_progress(ev)

    def _show_epoch(self, ev: EpochFinished, redraw: bool) -> None:
        self.query_one(RunProgress).show_epoch(ev)
        if redraw:
            self.charts.show_record(self.session.record)
        val = "" if ev.val_accuracy is None else f", val loss {ev.val_loss:.4f} acc {100 * ev.val_accuracy:.2f}%"
        self.say(
            f"Epoch {ev.epoch}/{ev.epochs}: train loss {ev.train_loss:.4f} "
            f"acc {100 * ev.train_accuracy:.2f}%{val}, {ev.samples_per_s:,.0f} samples/s",
            "info",
        )

    def _log_evaluation(self, ev: EvaluationFinished, redraw: bool) -> None:
        text = f"{ev.split} after epoch {ev.epoch}: loss {ev.loss:.4f}, {ev.correct}/{ev.total} = {100 * ev.accuracy:.2f}%"
        self.say(text, "info")

    def _show_pausing(self, ev: RunPaused | RunResumed, redraw: bool) -> None:
        self.query_one(RunProgress).show_at(ev.epoch, ev.step)
        self.say(f"{'Paused' if isinstance(ev, RunPaused) else 'Resumed'} at epoch {ev.epoch}, step {ev.step}.")

    def _show_resources(self, ev: ResourcesSampled, redraw: bool) -> None:
        self.query_one(MemoryPanel).show(ev)

    def _log_checkpoint(self, ev: CheckpointSaved, redraw: bool) -> None:
        self.say(f"Saved {ev.kind} checkpoint {ev.path}", "info")

    def _log_message(self, ev: LogMessage, redraw: bool) -> None:
        self.say(ev.text, ev.level)
        if ev.level == "warning" and redraw:  # live, not replayed from a journal
            self._notes.about(RUN_NOTE, ev.text, severity="warning", timeout=12)

    def _log_settings_changed(self, ev: SettingsChanged, redraw: bool) -> None:
        self.say(settings_change_text(ev))

    def _show_finished(self, ev: RunFinished, redraw: bool) -> None:
        self.query_one(RunProgress).finish()
        self.say("Run completed.")

    def _show_stopped(self, ev: RunStopped, redraw: bool) -> None:
        # what F7 resumes is set once, from the run's outcome (on_worker_state_changed)
        if ev.step:  # within an epoch: the bar shows where last.pt stands
            self.query_one(RunProgress).show_at(int(ev.summary.get("epochs_completed") or 0) + 1, ev.step)
        if ev.summary.get("status") == AppState.PRUNED:  # a sweep's trial: the sweep, not F7, decides what runs next
            self.say(f"Pruned by its sweep: {ev.summary.get('pruned_reason') or 'its epochs trailed'}", "warning")
        else:
            self.say(stopped_sentence(ev, "F7 resumes this run."), "warning")

    def _show_failed(self, ev: RunFailed, redraw: bool) -> None:
        self.say(f"Run failed: {ev.message}", "error")
        if ev.log_path:
            self.say(f"Details: {ev.log_path}", "error")
        self._notes.about(RUN_NOTE, f"{ev.message}\nLog: {ev.log_path}", title="Run failed", severity="error", timeout=15)


# Any: each handler takes the one event class it is filed under
SHOWN: dict[type[Event], Callable[[TrainView, Any, bool], None]] = {
    RunStarted: TrainView._show_started,
    StepLogged: TrainView._show_step,
    StepProgressed: TrainView._show_progress,
    EpochFinished: TrainView._show_epoch,
    EvaluationFinished: TrainView._log_evaluation,
    RunPaused: TrainView._show_pausing,
    RunResumed: TrainView._show_pausing,
    ResourcesSampled: TrainView._show_resources,
    CheckpointSaved: TrainView._log_checkpoint,
    LogMessage: TrainView._log_message,
    SettingsChanged: TrainView._log_settings_changed,
    RunFinished: TrainView._show_finished,
    RunStopped: TrainView._show_stopped,
    RunFailed: TrainView._show_failed,
}
