"""``lstm-vision-tui``'s app: run it, then say what goes on without it (a run, a sweep) or how to resume."""

from __future__ import annotations

from pathlib import Path

from lstm_vision.settings import Settings
from app.bridge import Runner
from app.tui import LstmVisionApp


def run_app(
    settings: Settings,
    settings_path: Path,
    resume: str | None = None,
    engine: Runner | None = None,
    attach: str | None = None,
    note: str = "",
    invalid_file: str = "",
) -> int:
    """Entry point for ``lstm-vision-tui``; returns the exit code of the last run (0 if none). ``note``: what
    the settings bar says the form holds besides the file (the command line's --preset and --set);
    ``invalid_file``: why the settings file is not valid (the form shows its values and the reason)."""
    app = LstmVisionApp(settings, settings_path, resume=resume, engine=engine, attach=attach)
    app.initial_note = note
    app.initial_invalid = invalid_file
    app.warm_up = engine is None
    try:
        code = app.run()
    finally:
        if app.session.own_run_going:
            app.session.control.stop()
    if app.session.left_running is not None:
        _say(
            f"{app.session.left_running} goes on training in the background; "
            f"watch it again with: lstm-vision-tui --attach {app.session.left_running}"
        )
    elif hint := app.session.resume_hint():
        _say(hint)
    if app.session.left_sweep is not None:
        _say(
            f"The sweep {app.session.left_sweep} goes on in the background; watch it again with: lstm-vision-tui --attach {app.session.left_sweep}"
        )
    return int(code) if code is not None else int(app.return_code or 0)


def _say(text: str) -> None:
    try:
        print(text, flush=True)
    except OSError:
        pass  # the terminal is gone
