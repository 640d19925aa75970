"""Watching a run from outside its process: its journal (metrics.jsonl) read as it grows.

A viewer (the app attached to a run, a script) replays the events written so far and then the new
ones as they come, until the run ends, its process is lost, or the viewer lets go. It only reads:
the one file a viewer writes is the control request (liveness.request).

The journal also tells what the run's settings.toml does not: what each resume changed of the settings
(settings_changed), so that the next resume goes on with them (run_settings).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lstm_vision import events as ev
from lstm_vision.runs.liveness import RunState, run_state
from lstm_vision.runs.folder import METRICS_FILE, SETTINGS_FILE
from lstm_vision.settings import Settings, apply_dict, load_settings

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
        self.restarts = 0  # times the file was found cut back and read again from its start

    def read(self, compact: bool = False) -> list[ev.Event]:
        """The complete lines written since the last read, as events. ``compact``: of each SUPERSEDED kind
        only the last line is parsed and returned (in its place), so hours of a run replay in a fraction of
        a second; every other line is returned as it is (the curves, the log, the outcome)."""
        lines = self.lines()
        events = []
        for line in _latest_of_superseded(lines) if compact else lines:
            event = parse_line(line)
            if event is not None:
                events.append(event)
        return events

    def lines(self) -> list[bytes]:
        """The complete lines written since the last call, unparsed."""
        try:
            with open(self.path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size < self._offset:  # cut back (a resume from an earlier checkpoint)
                    self._offset, self._partial = 0, b""
                    self.restarts += 1
                handle.seek(self._offset)
                data = handle.read()
        except OSError:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        return lines


def parse_line(line: bytes) -> ev.Event | None:
    """One journal line as its event; None for a torn or foreign line, which a replay skips."""
    try:
        return ev.event_from_dict(json.loads(line))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


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


def journal_events(run_dir: str | os.PathLike, *kinds: type[ev.Event]) -> list[ev.Event]:
    """The events of these kinds in a run's journal, in order; only their lines are parsed."""
    names = [f'"{ev.EVENT_NAMES[kind]}"'.encode() for kind in kinds]
    found = []
    for line in JournalReader(Path(run_dir) / METRICS_FILE).lines():
        if any(name in line for name in names):
            event = parse_line(line)
            if isinstance(event, kinds):
                found.append(event)
    return found


def settings_changes(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """What each resume of a run changed of its settings, and from where (summary.json's settings_changes)."""
    return [dataclasses.asdict(e) for e in journal_events(run_dir, ev.SettingsChanged)]


def run_settings(run_dir: str | os.PathLike, as_started: bool = False) -> Settings:
    """The settings a run goes on with: its settings.toml, as it started, with what each resume changed
    (settings_changed in its journal) applied in order; ``as_started``: the file alone, which repeats the run
    that started. SettingsError (naming the file) if it cannot be read."""
    settings = load_settings(Path(run_dir) / SETTINGS_FILE)
    if as_started:
        return settings
    for change in journal_events(run_dir, ev.SettingsChanged):
        values: dict[str, dict[str, Any]] = {}
        for name, (_, after) in change.changes.items():
            section, _, key = name.partition(".")
            values.setdefault(section, {})[key] = after
        apply_dict(settings, values, f"{Path(run_dir) / METRICS_FILE} (settings_changed)")
    return settings


@dataclass
class Standing:
    """Where a run stands by its journal: what a list of runs shows of a run whose summary does not say (yet),
    one that trains or was lost. Best validation as the engine keeps it: the epoch of the lowest loss."""

    epochs_completed: int | None = None
    best_val_accuracy: float | None = None
    train_time_s: float | None = None
    progress: ev.StepProgressed | ev.StepLogged | None = None
    _vals: dict[int, tuple[float, float]] = field(default_factory=dict)  # epoch: (val loss, val accuracy)

    def apply(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):  # a resume goes on from its checkpoint: later epochs are not its past
            self._vals = {k: v for k, v in self._vals.items() if k <= event.start_epoch}
            self.epochs_completed, self.progress = event.start_epoch, None
        elif isinstance(event, (ev.StepProgressed, ev.StepLogged)):
            self.progress, self.train_time_s = event, event.elapsed_s
        elif isinstance(event, ev.EpochFinished):
            self.epochs_completed, self.train_time_s = event.epoch, event.elapsed_s
            if event.val_loss is not None and event.val_accuracy is not None:
                self._vals[event.epoch] = (event.val_loss, event.val_accuracy)
        else:
            return
        best = min(self._vals.items(), key=lambda item: (item[1][0], item[0]), default=None)
        self.best_val_accuracy = best[1][1] if best else None


# The journal lines a Standing reads; the others (most of a journal) are not parsed at all.
_STANDING_LINES = (b'"run_started"', b'"epoch_finished"', b'"step_logged"', b'"step_progressed"')


class JournalStanding:
    """A run's Standing, kept up to date as its journal grows: each call reads only the new lines."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.reader = JournalReader(Path(run_dir) / METRICS_FILE)
        self.standing = Standing()

    def read(self) -> Standing:
        restarts = self.reader.restarts
        lines = self.reader.lines()
        if self.reader.restarts != restarts:
            self.standing = Standing()
        for line in lines:
            if any(name in line for name in _STANDING_LINES):
                event = parse_line(line)
                if event is not None:
                    self.standing.apply(event)
        return self.standing
