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

    def bindings_changed(self, screen) -> None:
        """Textual's footer is not redrawn while the app is blurred; a served app (--serve) starts blurred, as textual's
        web driver says before the page says anything, and stays so until a click or a key, so a tab opened on a
        training run showed "F5 Start" and no F8 Stop. Redrawn blurred too: what the keys can do changes with the run,
        not with the focus (the focused widget's own keys come back with the focus, which redraws it again)."""
        self._bindings_ready = True  # Textual's own, less its return while the app is blurred
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self.recompose)
