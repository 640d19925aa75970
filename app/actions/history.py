"""What History's keys ask of the app: a run's curves and results (enter), attach (a), resume (r), load its
settings (l); the list re-read when the tab shows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import TabbedContent

from lstm_vision.errors import SettingsError
from lstm_vision.runs.folder import read_confusion, read_summary
from lstm_vision.runs.liveness import run_state
from app.host import Host
from app.state import AppState

if TYPE_CHECKING:  # loaded with their tabs, after the first paint (app/panes.py)
    from app.screens.history import HistoryView


class HistoryActions(Host):
    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "main-tabs" and event.pane.id == "tab-history":
            self.refresh_history()

    def refresh_history(self) -> None:
        try:
            output_dir = self.form.row("output", "dir").value()
        except SettingsError:
            output_dir = self.settings.output.dir
        self.history_view.load(output_dir)

    def on_history_view_run_opened(self, message: HistoryView.RunOpened) -> None:
        record, run_dir = message.record, message.run_dir
        results = self.results_view
        summary = read_summary(run_dir) or record.summary
        results.show_summary(summary, summary.get("status", record.status), run_dir.name)
        matrix = record.finished.confusion_matrix if record.finished else read_confusion(run_dir)
        names = list(record.predictions.class_names) if record.predictions else None
        results.show_matrix(matrix, names)
        results.show_predictions(record.predictions)
        self.notify(f"Opened {run_dir.name}: curves below, results under F4.")

    def on_history_view_attach_requested(self, message: HistoryView.AttachRequested) -> None:
        state = run_state(message.run_dir)
        if not state.live:
            self.notify(
                f"{message.run_dir.name} is {state.status}, not training; enter shows its curves and results.", severity="warning"
            )
            return
        self.attach(message.run_dir)

    def on_history_view_resume_requested(self, message: HistoryView.ResumeRequested) -> None:
        if self.refuse_while_busy():
            return
        state = run_state(message.run_dir)
        if state.live:
            self.notify(
                f"{message.run_dir.name} is {state.status} in process {state.pid}; press a to attach to it.", severity="warning"
            )
            return
        if read_summary(message.run_dir).get("status") == AppState.COMPLETED:
            self.notify(f"{message.run_dir.name} completed; nothing to resume.", severity="warning")
            return
        if self.resumed_as_it_began(message.run_dir):  # a background run goes on in the background
            return

        def resume() -> None:  # the form takes the run's settings: edits the file lacks are asked about first
            if self.load_run_settings(message.run_dir):
                self._start(resume=self.session.choose_to_resume(message.run_dir))

        self.unless_unsaved(f"resuming {message.run_dir.name} with its settings", resume)

    def on_history_view_load_settings_requested(self, message: HistoryView.LoadSettingsRequested) -> None:
        def load() -> None:  # as the run started: l repeats that run (a resume's changes are in its journal)
            if self.load_run_settings(message.run_dir, as_started=True):
                self.action_show_tab("settings")

        self.unless_unsaved(f"loading the settings of {message.run_dir.name}", load)
