"""Watching a run from outside its process: its journal (metrics.jsonl) read as it grows.

A viewer (the app attached to a run, a script) replays the events written so far and then the new
ones as they come, until the run ends, its process is lost, or the viewer lets go. It only reads:
the one file a viewer writes is the control request (liveness.request).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable

from lstm_vision import events as ev
from lstm_vision.runs.liveness import RunState, run_state
from lstm_vision.runs.folder import METRICS_FILE

POLL_S = 0.25


class JournalReader:
    """The events of a growing metrics.jsonl, complete lines only: a line still being written waits."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def read(self) -> list[ev.Event]:
        try:
            with open(self.path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size < self._offset:  # cut back (a resume from an earlier checkpoint)
                    self._offset, self._partial = 0, b""
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            try:
                events.append(ev.event_from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line is skipped, as in a replay
        return events


def follow(
    run_dir: str | os.PathLike, deliver: Callable[[list[ev.Event]], None], detach: threading.Event, poll_s: float = POLL_S
) -> RunState:
    """Deliver the run's events (all so far in one batch, then as written) until it is no longer live
    or ``detach`` is set; returns the run's state at that moment."""
    run_dir = Path(run_dir)
    reader = JournalReader(run_dir / METRICS_FILE)
    while True:
        state = run_state(run_dir)  # before reading: whatever a process wrote before it ended is read below
        events = reader.read()
        if events:
            deliver(events)
        if not state.live or detach.wait(poll_s):
            return state


def last_progress(run_dir: str | os.PathLike, tail_bytes: int = 16384) -> ev.StepProgressed | ev.StepLogged | None:
    """Where a run is, from the end of its journal (a list of runs shows it without replaying each)."""
    path = Path(run_dir) / METRICS_FILE
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - tail_bytes))
            lines = handle.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(lines):
        if b'"step_progressed"' in line or b'"step_logged"' in line:
            try:
                return ev.event_from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue
    return None
