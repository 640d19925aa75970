"""The main screen's tabs: their labels, and what each holds. The tab the app opens on is built before the
first paint; the others are mounted right after it (LstmVisionApp.mount_other_tabs), so that the first screen
waits only for its own widgets (the five tabs hold some 500)."""

from __future__ import annotations

from typing import Callable

from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, Label

from lstm_vision.settings import Settings


def settings_tab(settings: Settings) -> list[Widget]:
    from app.widgets.form import SettingsForm

    bar = Horizontal(
        Label("", id="settings-path"),
        Button("Start F5", id="btn-start", variant="success", compact=True, action="app.start"),
        Button("Preset…", id="btn-preset", compact=True, action="app.preset"),
        Button("Open…", id="btn-open", compact=True, action="app.open"),
        Button("Save", id="btn-save", compact=True, action="app.save"),
        Button("Save as…", id="btn-save-as", compact=True, action="app.save_as"),
        id="settings-bar",
    )
    # lazy: the fields the first screen shows; the app mounts the others once that screen is up
    return [bar, SettingsForm(settings, id="form", lazy=True)]


def train_tab(settings: Settings) -> list[Widget]:
    from app.widgets.charts import ChartPair
    from app.widgets.panels import LogPanel, MemoryPanel, RunProgress

    return [
        RunProgress(id="progress"),
        ChartPair(id="live-charts"),
        Horizontal(MemoryPanel(id="memory"), LogPanel(id="log"), id="train-bottom"),
    ]


def results_tab(settings: Settings) -> list[Widget]:
    from app.screens.results import ResultsView

    return [ResultsView(id="results")]


def history_tab(settings: Settings) -> list[Widget]:
    from app.screens.history import HistoryView

    return [HistoryView(id="history")]


def sweep_tab(settings: Settings) -> list[Widget]:
    from app.screens.sweep import SweepView

    return [SweepView(id="sweep")]


# TabPane id -> (its label: the tab's name and key, what it holds), in the order of the tab row (state.TABS)
PANES: dict[str, tuple[str, Callable[[Settings], list[Widget]]]] = {
    "tab-settings": ("Settings F2", settings_tab),
    "tab-train": ("Train F3", train_tab),
    "tab-results": ("Results F4", results_tab),
    "tab-history": ("History F9", history_tab),
    "tab-sweep": ("Sweep F10", sweep_tab),
}
