"""The main screen's tabs: their labels, and the view each holds. The tab the app opens on is built before the
first paint; the others are mounted right after it (LstmVisionApp.mount_other_tabs), so that the first screen
waits only for its own widgets (the five tabs hold some 500). Each view's module is imported with its tab, and
each view is handed the parts of the app it needs (TabParts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from textual.widget import Widget

from lstm_vision.settings import Settings
from app.bridge import Runner
from app.session import RunSession
from app.stale_notes import StaleNotes
from app.state import TABS

if TYPE_CHECKING:
    from app.screens.settings import SettingsView


@dataclass
class TabParts:
    """What the App hands its tabs' views: each takes the parts it needs."""

    settings: Settings  # what the Settings tab opens with
    settings_path: Path  # the file its ctrl+s writes
    note: str  # what the command line added to that file (--preset, --set), for the settings bar
    notes: StaleNotes
    session: RunSession
    engine: Runner | None
    settings_view: Callable[[], SettingsView]  # the Settings tab's view, once it is mounted
    invalid: str = ""  # why the settings file is not valid: the form opens on its values, F5 waits for a fix


def settings_tab(parts: TabParts) -> Widget:
    from app.screens.settings import SettingsView

    return SettingsView(parts.settings, parts.settings_path, parts.notes, note=parts.note, invalid=parts.invalid, id="settings")


def train_tab(parts: TabParts) -> Widget:
    from app.screens.train import TrainView

    return TrainView(parts.session, parts.engine, parts.notes, id="train")


def results_tab(parts: TabParts) -> Widget:
    from app.screens.results import ResultsView

    return ResultsView(id="results")


def history_tab(parts: TabParts) -> Widget:
    from app.screens.history import HistoryView

    return HistoryView(id="history")


def sweep_tab(parts: TabParts) -> Widget:
    from app.screens.sweep import SweepView

    return SweepView(parts.settings_view, id="sweep")


# TabPane id -> (its label: the tab's name and key, its view), in the order of the tab row (state.TABS)
PANES: dict[str, tuple[str, Callable[[TabParts], Widget]]] = {
    TABS["settings"]: ("Settings F2", settings_tab),
    TABS["train"]: ("Train F3", train_tab),
    TABS["results"]: ("Results F4", results_tab),
    TABS["history"]: ("History F9", history_tab),
    TABS["sweep"]: ("Sweep F10", sweep_tab),
}
