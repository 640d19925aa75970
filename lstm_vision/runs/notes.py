"""A run's notes: output.notes as it started, editable afterwards (History's ``n``) with ``set_notes``.

Edited notes live in the run folder's notes.txt, the one owner once it exists: a run still going writes its
summary.json at its end and would overwrite an edit made to that file alone. ``set_notes`` also updates
summary.json's "notes" where the run has one, so that summary.json alone tells a reader the notes too.
"""

from __future__ import annotations

import os
from pathlib import Path

from lstm_vision.atomic import atomic_write_text
from lstm_vision.errors import SettingsError
from lstm_vision.runs.folder import NOTES_FILE, SETTINGS_FILE, read_summary, write_summary


def read_notes(run_dir: str | os.PathLike, started_with: str | None = None) -> str:
    """The run's notes: its notes.txt if edited, else ``started_with`` (the settings' output.notes) if given, else
    what summary.json says, else its settings.toml's output.notes; "" when none of them says anything."""
    folder = Path(run_dir)
    try:
        return (folder / NOTES_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        pass
    except OSError:
        return ""
    if started_with is not None:
        return started_with
    summary = read_summary(folder)
    if isinstance(summary.get("notes"), str):
        return summary["notes"]
    return _settings_notes(folder)


def set_notes(run_dir: str | os.PathLike, text: str) -> None:
    """Replace a run's notes with ``text`` (each file written atomically). SettingsError, one sentence, when
    ``run_dir`` is not a run folder or cannot be written."""
    folder = Path(run_dir)
    if not (folder / SETTINGS_FILE).is_file():
        raise SettingsError(f"{folder} is not a run folder (it has no {SETTINGS_FILE}); notes belong to a run.")
    try:
        atomic_write_text(folder / NOTES_FILE, text)
        summary = read_summary(folder)
        if summary:
            summary["notes"] = text
            write_summary(folder, summary)
    except OSError as err:
        raise SettingsError(f"The notes of {folder} cannot be written ({err.strerror or err}).") from None


def _settings_notes(folder: Path) -> str:
    from lstm_vision.settings import load_settings

    try:
        return load_settings(folder / SETTINGS_FILE).output.notes
    except (SettingsError, OSError):
        return ""
