"""Messages any tab posts up to the App, which passes them on (app/tui.py)."""

from __future__ import annotations

from textual.message import Message


class LogLine(Message):
    """A line for the Train tab's log ("app", "warning", "error" or "info"): what a tab did, said where runs are."""

    def __init__(self, text: str, kind: str = "app") -> None:
        super().__init__()
        self.text, self.kind = text, kind


class TabWanted(Message):
    """Bring a tab (its name in state.TABS) to the front: what a tab just did is shown there."""

    def __init__(self, tab: str) -> None:
        super().__init__()
        self.tab = tab
