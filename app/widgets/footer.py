"""The main screen's footer: its keys in the first frame, and a word to the app once they are shown."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import Footer


class KeysFooter(Footer):
    """Textual's footer composes empty and waits for the screen's first bindings signal to show its keys, one
    refresh later; this one composes its keys at once (the app's bindings are known by then). Its first keys
    complete the first screen: it then tells the app (KeysShown), which mounts the rest behind it."""

    class KeysShown(Message):
        """The footer's keys were composed and refreshed: the first screen is on the terminal."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.set_reactive(Footer._bindings_ready, True)
        self._told = False

    def compose(self):
        yield from super().compose()
        if not self._told:
            self._told = True
            self.call_after_refresh(self.post_message, self.KeysShown())
