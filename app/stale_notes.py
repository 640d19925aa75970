"""Notifications that describe a state, taken off the screen as soon as that state changes rather than left
to time out: a toast that says the settings are invalid after they were fixed, or that a run failed after
another started, tells the user something that is no longer so."""

from __future__ import annotations

from app.host import Host
from app.record import short_paths
from app.state import ACTIVE

# What each kind of note describes, and so what makes it stale:
SETTINGS_NOTE = "settings"  # the form's settings (invalid, refused): stale once the form changes
RUN_NOTE = "run"  # the last run (its warnings, its failure, its loss): stale once another run starts or is attached
BUSY_NOTE = "busy"  # a run that is going (so no second one starts): stale once it ends


class StaleNotes(Host):
    """Mixed into the App: ``notify_about`` files a notification under what it describes; ``forget`` takes
    those of one kind off the screen."""

    _notes_about: dict[str, set[str]] | None = None  # kind -> the messages on screen, as Textual holds them

    def notify_about(self, kind: str, message: str, **options) -> None:
        if self._notes_about is None:
            self._notes_about = {}
        self._notes_about.setdefault(kind, set()).add(short_paths(message))  # as the App's notify shows it
        self.notify(message, **options)

    def forget(self, kind: str) -> None:
        messages = (self._notes_about or {}).pop(kind, set())
        # Textual has no public way to take one notification back; _unnotify is what its own toasts call
        stale = [note for note in self._notifications if note.message in messages]
        for note in stale:
            self._unnotify(note, refresh=False)
        if stale:
            self._refresh_notifications()

    def refuse_while_busy(self) -> bool:
        """True, saying why, while a run is going: no second run starts, nor a resume or an attach."""
        if self.session.state not in ACTIVE:
            return False
        self.notify_about(BUSY_NOTE, f"A run is {self.session.state}; stop it first (F8).", severity="warning")
        return True
