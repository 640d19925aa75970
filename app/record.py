"""RunRecord: what the app knows about one run, built from its events.

The live view and the history both fold events into a RunRecord, so a run
replayed from ``metrics.jsonl`` draws exactly the curves it drew live.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lstm_vision.runs.curves import Curves
from lstm_vision.runs.follow import JournalReader
from lstm_vision.events import (
    EpochFinished,
    EvaluationFinished,
    Event,
    PredictionsSampled,
    ResourcesSampled,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    StepLogged,
)


def short_paths(text: str) -> str:
    """Paths in a message for the screen made short: relative to the working directory where they lie in it,
    else from ~. An 80-column toast or status line breaks or cuts a long path mid-name."""
    cwd, home = str(Path.cwd()), str(Path.home())
    if len(cwd) > 1:
        text = text.replace(cwd + "/", "")
    if len(home) > 1:
        text = text.replace(home + "/", "~/")
    return text


@dataclass
class RunRecord(Curves):
    """A run's curves (lstm_vision.runs.curves, as curves.png draws them) and where it stands."""

    name: str = ""
    started: RunStarted | None = None
    last_step: StepLogged | None = None
    last_epoch: EpochFinished | None = None
    resources: ResourcesSampled | None = None
    test: EvaluationFinished | None = None
    predictions: PredictionsSampled | None = None
    finished: RunFinished | None = None
    stopped: RunStopped | None = None
    failed: RunFailed | None = None

    def apply(self, ev: Event) -> None:
        self.add(ev)
        if isinstance(ev, RunStarted):
            self.started = ev
            if not self.name:
                self.name = Path(ev.run_dir).name
        elif isinstance(ev, StepLogged):
            self.last_step = ev
        elif isinstance(ev, EpochFinished):
            self.last_epoch = ev
        elif isinstance(ev, EvaluationFinished):
            if ev.split == "test":
                self.test = ev
        elif isinstance(ev, ResourcesSampled):
            self.resources = ev
        elif isinstance(ev, PredictionsSampled):
            self.predictions = ev
        elif isinstance(ev, RunFinished):
            self.finished = ev
        elif isinstance(ev, RunStopped):
            self.stopped = ev
        elif isinstance(ev, RunFailed):
            self.failed = ev

    @property
    def status(self) -> str:
        if self.finished:
            return "completed"
        if self.stopped:
            return "pruned" if self.stopped.summary.get("status") == "pruned" else "stopped"
        if self.failed:
            return "failed"
        return "running" if self.started else "idle"

    @property
    def summary(self) -> dict:
        for ev in (self.finished, self.stopped, self.failed):
            if ev is not None and getattr(ev, "summary", None):
                return ev.summary
        return {}

    @classmethod
    def from_jsonl(cls, path: str | Path, name: str = "") -> "RunRecord":
        """Replay a metrics.jsonl; lines that are torn or unknown are skipped, not fatal."""
        record = cls(name=name)
        for event in JournalReader(path).read():
            record.apply(event)
        return record


def fmt_count(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k" if n % 1000 == 0 else f"{n / 1e3:.1f}k"
    return f"{n:,}"
