"""The bridge from the run to the app: a training thread in this process, or a run followed through its folder.

Either way the events reach the app as messages (``post_message`` is thread-safe) from a Textual
thread worker; no thread but the app's touches a widget.
"""

from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Protocol

from textual.message import Message

from lstm_vision.settings import Settings
from lstm_vision.control import RunControl
from lstm_vision.events import Event


class Runner(Protocol):
    """What trains a run in this process: the engine's runner (lstm_vision.dispatch.runner_for) or a test's."""

    def __call__(
        self, settings: Settings, emit: Callable[[Event], None], control: RunControl, resume: str | None = None
    ) -> Any: ...


class EngineEvent(Message):
    """One event of the engine, delivered on the app's thread."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class EngineEvents(Message):
    """Events read from a run's journal in one go (the history of an attached run, then what came since)."""

    def __init__(self, events: list[Event]) -> None:
        super().__init__()
        self.events = events


def run_engine(
    post: Callable[[Message], Any],
    engine: Runner | None,
    settings: Settings,
    control: RunControl,
    resume: str | None,
    done: Callable[[Any], None],
) -> Any:
    """Body of the thread worker: returns the engine's RunResult, lets exceptions reach Worker.StateChanged.
    The engine is imported here, on the worker thread, so importing torch never blocks the UI. ``done``
    gets the result (None on an exception) on this thread, even when the app's thread cannot run."""

    def emit(event: Event) -> None:
        post(EngineEvent(event))

    result = None
    try:
        if engine is None:
            from lstm_vision.dispatch import runner_for

            engine = runner_for(settings)
        result = engine(settings, emit, control, resume=resume)
        return result
    finally:
        done(result)


def watch_run(post: Callable[[Message], Any], run_dir: Path, detach: threading.Event) -> Any:
    """Body of the thread worker of an attached run: its events until it ends, is lost or the app lets go;
    returns the run's state then (liveness.RunState). The past comes in one batch with only the last of the
    progress and memory lines (hours of a run are read in a fraction of a second)."""
    from lstm_vision.runs.follow import follow

    return follow(run_dir, lambda events: post(EngineEvents(events)), detach, compact_past=True)


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
