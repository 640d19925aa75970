"""RunRecord: what the app knows about one run, built from its events.

The live view and the history both fold events into a RunRecord, so a run
replayed from ``metrics.jsonl`` draws exactly the curves it drew live.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

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
    event_from_dict,
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
class RunRecord:
    name: str = ""
    started: RunStarted | None = None
    # per logged step; x is in epochs (global_step / steps_per_epoch) so both series share an axis
    step_x: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    step_acc: list[float] = field(default_factory=list)
    # per epoch
    epoch_x: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_x: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    last_step: StepLogged | None = None
    last_epoch: EpochFinished | None = None
    resources: ResourcesSampled | None = None
    test: EvaluationFinished | None = None
    predictions: PredictionsSampled | None = None
    finished: RunFinished | None = None
    stopped: RunStopped | None = None
    failed: RunFailed | None = None

    def apply(self, ev: Event) -> None:
        if isinstance(ev, RunStarted):
            self.started = ev
            if not self.name:
                self.name = Path(ev.run_dir).name
        elif isinstance(ev, StepLogged):
            self.last_step = ev
            self.step_x.append(ev.global_step / max(ev.steps_per_epoch, 1))
            self.step_loss.append(ev.loss)
            self.step_acc.append(100.0 * ev.accuracy)
        elif isinstance(ev, EpochFinished):
            self.last_epoch = ev
            self.epoch_x.append(float(ev.epoch))
            self.train_loss.append(ev.train_loss)
            self.train_acc.append(100.0 * ev.train_accuracy)
            if ev.val_loss is not None and ev.val_accuracy is not None:
                self.val_x.append(float(ev.epoch))
                self.val_loss.append(ev.val_loss)
                self.val_acc.append(100.0 * ev.val_accuracy)
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
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    try:
                        record.apply(event_from_dict(json.loads(line)))
                    except (ValueError, KeyError, TypeError):
                        continue
        except OSError:
            pass
        return record


def fmt_count(n: int | None) -> str:
    if n is None:
        return "-"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k" if n % 1000 == 0 else f"{n / 1e3:.1f}k"
    return f"{n:,}"
