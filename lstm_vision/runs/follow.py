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
# Lines whose news the next line of the same kind replaces: where the run is (about one a second) and what it
# holds in memory. A viewer that replays hours of a run needs only the last of each (compact=True).
SUPERSEDED = (b'{"event":"step_progressed"', b'{"event":"resources_sampled"')


class JournalReader:
    """The events of a growing metrics.jsonl, complete lines only: a line still being written waits."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def read(self, compact: bool = False) -> list[ev.Event]:
        """The complete lines written since the last read, as events. ``compact``: of each SUPERSEDED kind
        only the last line is parsed and returned (in its place), so hours of a run replay in a fraction of
        a second; every other line is returned as it is (the curves, the log, the outcome)."""
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
        for line in _latest_of_superseded(lines) if compact else lines:
            try:
                events.append(ev.event_from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line is skipped, as in a replay
        return events


def _latest_of_superseded(lines: list[bytes]) -> list[bytes]:
    """``lines`` without the SUPERSEDED lines that a later one of the same kind replaces (found from the end)."""
    last: dict[bytes, int] = {}
    for index in range(len(lines) - 1, -1, -1):
        kind = next((k for k in SUPERSEDED if lines[index].startswith(k)), None)
        if kind is not None and kind not in last:
            last[kind] = index
            if len(last) == len(SUPERSEDED):
                break
    keep = set(last.values())
    return [line for index, line in enumerate(lines) if index in keep or not line.startswith(SUPERSEDED)]


def follow(
    run_dir: str | os.PathLike,
    deliver: Callable[[list[ev.Event]], None],
    detach: threading.Event,
    poll_s: float = POLL_S,
    compact_past: bool = False,
) -> RunState:
    """Deliver the run's events (all so far in one batch, then as written) until it is no longer live
    or ``detach`` is set; returns the run's state at that moment. ``compact_past``: the first batch (the
    run's past) holds only the last of each SUPERSEDED kind (JournalReader.read)."""
    run_dir = Path(run_dir)
    reader = JournalReader(run_dir / METRICS_FILE)
    compact = compact_past
    while True:
        state = run_state(run_dir)  # before reading: whatever a process wrote before it ended is read below
        events = reader.read(compact)
        if events:
            compact = False
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
