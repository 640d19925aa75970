"""Where each event of a run lands in the app: one table from the event's class to what shows it."""

from __future__ import annotations

from typing import Any, Callable

from textual.widgets import TabbedContent

from lstm_vision.events import (
    CheckpointSaved,
    EpochFinished,
    EvaluationFinished,
    Event,
    LogMessage,
    PredictionsSampled,
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
from app.actions.notes import RUN_NOTE
from app.host import Host
from app.bridge import EngineEvent, EngineEvents
from app.state import TABS
from app.widgets.panels import MemoryPanel, RunProgress, StatusLine
from app.state import AppState


class EventRoutes(Host):
    """Mixed into the App: shows the events of its own run, or of one it attached to, as they come."""

    def on_engine_event(self, message: EngineEvent) -> None:
        self.route(message.event)

    def on_engine_events(self, message: EngineEvents) -> None:
        """A batch read from an attached run's journal: every event routed, the charts drawn once. The first
        is the run's past: its log lines say so instead of showing the time of attaching."""
        past, self.history_pending = self.history_pending, False
        tabs = self.query_one("#main-tabs", TabbedContent)
        chosen = tabs.active if past and tabs.active != self.attach_tab else None  # a key moved on while it was read
        self.log_panel.replaying = past
        last_step = max((i for i, e in enumerate(message.events) if isinstance(e, StepLogged)), default=-1)
        try:
            for index, event in enumerate(message.events):
                if past and index < last_step and isinstance(event, StepLogged):
                    self.session.record.apply(event)  # a point of the curves; the progress bar shows the last one only
                else:
                    self.route(event, redraw=False)
        finally:
            self.log_panel.replaying = False
        self.live_charts.show_record(self.session.record)
        if chosen is not None:  # the keys typed during the replay win over the tab the run's end would show
            self.action_show_tab(next(name for name, pane in TABS.items() if pane == chosen))
        if past:
            self.call_after_refresh(self._start_warm_up)

    def route(self, ev: Event, redraw: bool = True) -> None:
        """``redraw``: draw the charts now, and warn live; False while a journal is replayed in a batch."""
        self.session.saw(ev)  # the run's state and its record first: the handlers show them
        handler = ROUTES.get(type(ev))
        if handler is not None:
            handler(self, ev, redraw)

    def _show_started(self, ev: RunStarted, redraw: bool) -> None:
        self.query_one(StatusLine).set_started(ev)
        self.query_one(RunProgress).show_started(ev)
        self.log_panel.add(f"Run folder: {ev.run_dir}", "app")

    def _show_step(self, ev: StepLogged, redraw: bool) -> None:
        self.query_one(RunProgress).show_step(ev)
        if redraw:
            self.live_charts.show_record(self.session.record)

    def _show_progress(self, ev: StepProgressed, redraw: bool) -> None:
        self.query_one(RunProgress).show_progress(ev)

    def _show_epoch(self, ev: EpochFinished, redraw: bool) -> None:
        self.query_one(RunProgress).show_epoch(ev)
        if redraw:
            self.live_charts.show_record(self.session.record)
        val = "" if ev.val_accuracy is None else f", val loss {ev.val_loss:.4f} acc {100 * ev.val_accuracy:.2f}%"
        self.log_panel.add(
            f"Epoch {ev.epoch}/{ev.epochs}: train loss {ev.train_loss:.4f} "
            f"acc {100 * ev.train_accuracy:.2f}%{val}, {ev.samples_per_s:,.0f} samples/s"
        )

    def _log_evaluation(self, ev: EvaluationFinished, redraw: bool) -> None:
        self.log_panel.add(
            f"{ev.split} after epoch {ev.epoch}: loss {ev.loss:.4f}, {ev.correct}/{ev.total} = {100 * ev.accuracy:.2f}%"
        )

    def _show_paused(self, ev: RunPaused, redraw: bool) -> None:
        self._show_pausing(ev, paused=True)

    def _show_resumed(self, ev: RunResumed, redraw: bool) -> None:
        self._show_pausing(ev, paused=False)

    def _show_pausing(self, ev: RunPaused | RunResumed, paused: bool) -> None:
        self.query_one(RunProgress).show_at(ev.epoch, ev.step)
        self.log_panel.add(f"{'Paused' if paused else 'Resumed'} at epoch {ev.epoch}, step {ev.step}.", "app")

    def _show_resources(self, ev: ResourcesSampled, redraw: bool) -> None:
        self.query_one(MemoryPanel).show(ev)

    def _log_checkpoint(self, ev: CheckpointSaved, redraw: bool) -> None:
        self.log_panel.add(f"Saved {ev.kind} checkpoint {ev.path}")

    def _log_message(self, ev: LogMessage, redraw: bool) -> None:
        self.log_panel.add(ev.text, ev.level)
        if ev.level == "warning" and redraw:  # live, not replayed from a journal
            self.notify_about(RUN_NOTE, ev.text, severity="warning", timeout=12)

    def _log_settings_changed(self, ev: SettingsChanged, redraw: bool) -> None:
        self.log_panel.add(settings_change_text(ev), "app")

    def _show_predictions(self, ev: PredictionsSampled, redraw: bool) -> None:
        self.results_view.show_predictions(ev)

    def _show_finished(self, ev: RunFinished, redraw: bool) -> None:
        self.query_one(RunProgress).finish()
        results = self.results_view
        results.show_summary(ev.summary, AppState.COMPLETED, self._run_title())
        results.show_matrix(ev.confusion_matrix, self._class_names())
        self.log_panel.add("Run completed.", "app")
        self.action_show_tab("results")

    def _show_stopped(self, ev: RunStopped, redraw: bool) -> None:
        # what F7 resumes is set once, from the run's outcome (runs.RunActions.on_worker_state_changed)
        if ev.step:  # within an epoch: the bar shows where last.pt stands
            self.query_one(RunProgress).show_at(int(ev.summary.get("epochs_completed") or 0) + 1, ev.step)
        if ev.summary.get("status") == AppState.PRUNED:  # a sweep's trial: the sweep, not F7, decides what runs next
            self.log_panel.add(f"Pruned by its sweep: {ev.summary.get('pruned_reason') or 'its epochs trailed'}", "warning")
            self.results_view.show_summary(ev.summary, AppState.PRUNED, self._run_title())
            return
        self.log_panel.add(stopped_sentence(ev, "F7 resumes this run."), "warning")
        self.results_view.show_summary(ev.summary, AppState.STOPPED, self._run_title())

    def _show_failed(self, ev: RunFailed, redraw: bool) -> None:
        self.log_panel.add(f"Run failed: {ev.message}", "error")
        if ev.log_path:
            self.log_panel.add(f"Details: {ev.log_path}", "error")
        self.notify_about(RUN_NOTE, f"{ev.message}\nLog: {ev.log_path}", title="Run failed", severity="error", timeout=15)

    def _run_title(self) -> str:
        return self.session.record.name or ""

    def _class_names(self) -> list[str] | None:
        p = self.session.record.predictions
        return list(p.class_names) if p and p.class_names else None


# Any: each handler takes the one event class it is filed under
ROUTES: dict[type[Event], Callable[[EventRoutes, Any, bool], None]] = {
    RunStarted: EventRoutes._show_started,
    StepLogged: EventRoutes._show_step,
    StepProgressed: EventRoutes._show_progress,
    EpochFinished: EventRoutes._show_epoch,
    EvaluationFinished: EventRoutes._log_evaluation,
    RunPaused: EventRoutes._show_paused,
    RunResumed: EventRoutes._show_resumed,
    ResourcesSampled: EventRoutes._show_resources,
    CheckpointSaved: EventRoutes._log_checkpoint,
    LogMessage: EventRoutes._log_message,
    PredictionsSampled: EventRoutes._show_predictions,
    SettingsChanged: EventRoutes._log_settings_changed,
    RunFinished: EventRoutes._show_finished,
    RunStopped: EventRoutes._show_stopped,
    RunFailed: EventRoutes._show_failed,
}
