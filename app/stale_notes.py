"""Notifications that describe a state, taken off the screen as soon as that state changes rather than left
to time out: a toast that says the settings are invalid after they were fixed, or that a run failed after
another started, tells the user something that is no longer so."""

from __future__ import annotations

from textual.app import App

from app.record import short_paths

# What each kind of note describes, and so what makes it stale:
SETTINGS_NOTE = "settings"  # the form's settings (invalid, refused): stale once the form changes
RUN_NOTE = "run"  # the last run (its warnings, its failure, its loss): stale once another run starts or is attached
FILE_NOTE = "file"  # the settings file is not valid: stale once it is saved from the form or another is opened
BUSY_NOTE = "busy"  # a run that is going (so no second one starts): stale once it ends


class StaleNotes:
    """The app's notifications filed by what they describe: ``about`` shows one under its kind, ``forget`` takes
    those of one kind off the screen. One per app, handed to the tabs that say things about a state."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._shown: dict[str, set[str]] = {}  # kind -> the messages on screen, as Textual holds them

    def about(self, kind: str, message: str, **options) -> None:
        self._shown.setdefault(kind, set()).add(short_paths(message))  # as the App's notify shows it
        self._app.notify(message, **options)

    def forget(self, kind: str) -> None:
        messages = self._shown.pop(kind, set())
        # Textual has no public way to take one notification back; _unnotify is what its own toasts call
        stale = [note for note in self._app._notifications if note.message in messages]
        for note in stale:
            self._app._unnotify(note, refresh=False)
        if stale:
            self._app._refresh_notifications()
