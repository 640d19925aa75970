"""The bridge from the training thread to the app.

The engine runs in a Textual thread worker; every event it emits is wrapped in
an ``EngineEvent`` message and posted to the app (``post_message`` is
thread-safe). The training thread never touches a widget.
"""

from __future__ import annotations

import importlib
import os
import traceback
from pathlib import Path
from typing import Any, Callable, Protocol

from textual.message import Message

from lstm_vision.config import Settings, SettingsError
from lstm_vision.control import RunControl
from lstm_vision.events import Event


class Engine(Protocol):
    def __call__(self, settings: Settings, emit: Callable[[Event], None], control: RunControl,
                 resume: str | None = None) -> Any: ...


class EngineEvent(Message):
    """One event of the engine, delivered on the app's thread."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


def default_engine(settings: Settings) -> Engine:
    """The in-process engine, or the torchrun launcher when more than one process is asked for.

    Imported here, on the worker thread, so importing torch never blocks the UI.
    """
    if settings.system.nproc > 1 and "RANK" not in os.environ:
        for module in ("lstm_vision.launcher", "lstm_vision.distributed"):
            try:
                launch = getattr(importlib.import_module(module), "launch_local", None)
            except ImportError:
                continue
            if launch is not None:
                return launch
        raise SettingsError("system.nproc > 1 needs the torchrun launcher (launch_local), which this installation lacks.")
    from lstm_vision.engine import run
    return run


def run_engine(post: Callable[[Message], Any], engine: Engine | None, settings: Settings,
               control: RunControl, resume: str | None) -> Any:
    """Body of the thread worker: returns the engine's RunResult, lets exceptions reach Worker.StateChanged."""
    def emit(event: Event) -> None:
        post(EngineEvent(event))

    fn = engine or default_engine(settings)
    return fn(settings, emit, control, resume=resume)


def write_crash_log(error: BaseException, output_dir: str) -> Path | None:
    """Keep the traceback of an exception that escaped the engine, for the message's log path."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    for folder in (Path(output_dir), Path.home() / ".cache" / "lstm-vision"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "app-error.log"
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
            return path
        except OSError:
            continue
    return None
