"""What the App's mixins (app/actions/) use of the App and of each other, named for the type checker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from textual.app import App

from lstm_vision.settings import Settings
from lstm_vision.runs.liveness import RunState
from app.widgets.form import SettingsForm
from app.widgets.panels import LogPanel
from app.record import RunRecord
from app.session import RunSession
from app.bridge import Engine

if TYPE_CHECKING:  # loaded with their tabs, after the first paint (app/panes.py)
    from app.widgets.charts import ChartPair
    from app.screens.history import HistoryView
    from app.screens.results import ResultsView
    from app.screens.sweep import SweepView


class AppHost(Protocol):
    # the App's own (tui.LstmVisionApp.__init__)
    settings: Settings
    settings_path: Path
    engine: Engine | None
    session: RunSession  # the run lifecycle: state, control, attached, resumable, exit code (app/session.py)
    attach_tab: str  # the tab shown when an attach began
    history_pending: bool  # the next batch of events is an attached run's past

    @property
    def form(self) -> SettingsForm: ...

    @property
    def log_panel(self) -> LogPanel: ...

    @property
    def live_charts(self) -> ChartPair: ...

    @property
    def results_view(self) -> ResultsView: ...

    @property
    def history_view(self) -> HistoryView: ...

    @property
    def sweep_view(self) -> SweepView: ...

    def action_show_tab(self, name: str) -> None: ...

    def refresh_history(self) -> None: ...

    # one mixin's, used by another
    def _collect_or_warn(self, what: str) -> Settings | None: ...

    def quit_unless_unsaved(self, code: int) -> None: ...
    def unless_unsaved(self, doing: str, then: Callable[[], None]) -> None: ...
    def resume_in_background(self, run_dir: Path) -> None: ...

    def notify_about(self, kind: str, message: str, **options) -> None: ...

    def forget(self, kind: str) -> None: ...

    def refuse_while_busy(self) -> bool: ...

    def reset_run_views(self, record: RunRecord) -> None: ...

    def action_stop(self) -> None: ...

    def _quit_with(self, code: int) -> None: ...

    def watch_ended(self, state: RunState) -> bool: ...

    def attach(self, run_dir: Path) -> None: ...

    def open_sweep(self, sweep_dir: Path) -> None: ...

    def sweep_left_running(self) -> Path | None: ...

    def open_try(self, source: Path) -> None: ...

    def trained_run(self) -> Path | None: ...

    def load_run_settings(self, run_dir: Path, as_started: bool = False) -> bool: ...

    def resumed_as_it_began(self, run_dir: Path) -> bool: ...

    def _start(self, resume: str | None) -> None: ...

    def _start_warm_up(self) -> None: ...


# A mixin's base: while types are checked, Textual's App (its own methods, with their signatures) and what
# this App adds to it; at run time a plain object, since the App the mixins are mixed into provides all of it
# (and a Protocol base would clash with Textual's metaclass).
if TYPE_CHECKING:

    class Host(AppHost, App[int]):
        pass
else:
    Host = object
