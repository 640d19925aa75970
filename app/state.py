"""What the app is doing with its run, and which keys act in each state."""

from __future__ import annotations

from enum import StrEnum

from lstm_vision.runs.result import EXIT_CODES


class AppState(StrEnum):
    # a StrEnum, so that a state reads and compares as the word the status line shows ("running")
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    COMPLETED = "completed"
    STOPPED = "stopped"
    PRUNED = "pruned"  # a sweep's trial its pruner cut short (an attached trial): ended, not for F7 to resume
    FAILED = "failed"
    LOST = "lost"


# the main screen's tabs: name -> TabPane id (F2 F3 F4 F9 F10, "Show NAME" in the palette)
TABS = {
    "settings": "tab-settings",
    "train": "tab-train",
    "results": "tab-results",
    "history": "tab-history",
    "sweep": "tab-sweep",
}

# a run is going: no second one starts, and quitting asks first
ACTIVE = frozenset({AppState.STARTING, AppState.RUNNING, AppState.PAUSED, AppState.STOPPING})
# F6 and F8 act on the run; once it is stopping there is nothing left to ask of it
CONTROLLABLE = ACTIVE - {AppState.STOPPING}
PAUSABLE = frozenset({AppState.STARTING, AppState.RUNNING})


def ended(status: str | None, otherwise: AppState) -> AppState:
    """The state a run's status word leaves the app in; ``otherwise`` for one that names no end (EXIT_CODES:
    the app exits with the code of the last run's end)."""
    return AppState(status) if status in EXIT_CODES else otherwise
