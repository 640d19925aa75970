"""What the engine reports. Every event is a frozen, JSON-serialisable dataclass.

The same schema serves three consumers: the headless printer (and metrics.jsonl),
the Textual app, and the app's reader of a torchrun child's JSON lines.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any, Optional


# "jsonl" in a torchrun child's environment: print events as JSON lines for the supervising launcher.
EVENTS_ENV = "LSTM_VISION_EVENTS"


@dataclass(frozen=True)
class Event:
    # When it happened, in seconds since the epoch (as TensorBoard's walltime): set as the event is made, kept
    # through its JSON form, so a journal replay or a torchrun child's line keeps the clock of the process that made it.
    # Keyword-only, so that every event's own fields stay positional, in their order.
    wall_time: Optional[float] = field(default_factory=time.time, kw_only=True, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"event": EVENT_NAMES[type(self)], **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


@dataclass(frozen=True)
class RunStarted(Event):
    run_dir: str
    device: str
    device_name: str
    precision: str
    compile_mode: str
    compiled: str
    world_size: int
    parameters: int
    train_size: int
    val_size: int
    test_size: int
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    batch_size: int
    sequence_length: int
    input_size: int
    num_classes: int
    dataset: str


@dataclass(frozen=True)
class StepLogged(Event):
    epoch: int
    step: int
    steps_per_epoch: int
    global_step: int
    total_steps: int
    loss: float
    accuracy: float
    lr: float
    samples_per_s: float
    elapsed_s: float
    eta_s: float


@dataclass(frozen=True)
class StepProgressed(Event):
    """Between logged steps, once a second: progress only (no loss, so no device sync). Written to
    metrics.jsonl too, so a viewer that follows the journal moves as smoothly as one in the process;
    a replay of the journal skips them."""

    epoch: int
    step: int
    steps_per_epoch: int
    global_step: int
    total_steps: int
    elapsed_s: float
    eta_s: float


@dataclass(frozen=True)
class EvaluationFinished(Event):
    split: str  # "val", "test" or "train"
    epoch: int
    loss: float
    accuracy: float
    correct: int
    total: int


@dataclass(frozen=True)
class EpochFinished(Event):
    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: Optional[float]
    val_accuracy: Optional[float]
    lr: float
    epoch_time_s: float
    samples_per_s: float
    best_val_loss: Optional[float]
    elapsed_s: float
    eta_s: float


@dataclass(frozen=True)
class ResourcesSampled(Event):
    host_rss_bytes: int
    host_peak_rss_bytes: int
    host_total_bytes: int
    host_available_bytes: int
    gpu: Optional[dict] = None  # None: no GPU; else allocated/reserved/peak/total/used/utilization/temperature/name
    note: str = ""


@dataclass(frozen=True)
class CheckpointSaved(Event):
    path: str
    kind: str  # "best", "last" or "periodic"
    epoch: int


@dataclass(frozen=True)
class LogMessage(Event):
    level: str  # "info", "warning" or "error"
    text: str


@dataclass(frozen=True)
class PredictionsSampled(Event):
    """A few test images with their labels, for the app's image grid."""

    height: int
    width: int
    channels: int
    images: list = field(default_factory=list)  # each: flat list of uint8, H*W*C, row-major HWC
    labels: list = field(default_factory=list)
    predictions: list = field(default_factory=list)
    class_names: list = field(default_factory=list)


@dataclass(frozen=True)
class RunPaused(Event):
    """The training loop is held (F6, a control request, a signal); every rank waits with it."""

    epoch: int
    step: int


@dataclass(frozen=True)
class RunResumed(Event):
    epoch: int
    step: int


@dataclass(frozen=True)
class SettingsChanged(Event):
    """A resume goes on with other settings than its checkpoint ran with (a --set, an edited form). The run's
    settings.toml keeps those it started with; this event, in the journal, says what changed and from where:
    from ``epoch`` epochs done and ``step`` steps into the next, each ``section.key`` -> [before, after]."""

    epoch: int
    step: int
    changes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunFinished(Event):
    summary: dict
    confusion_matrix: list


@dataclass(frozen=True)
class RunStopped(Event):
    summary: dict
    checkpoint: str
    # where last.pt stands: step = the next step within epoch summary["epochs_completed"] + 1 (0: at a boundary)
    step: int = 0
    steps_per_epoch: int = 0


@dataclass(frozen=True)
class RunFailed(Event):
    message: str
    log_path: str
    summary: Optional[dict] = None


EVENT_NAMES: dict[type, str] = {
    RunStarted: "run_started",
    StepLogged: "step_logged",
    StepProgressed: "step_progressed",
    EvaluationFinished: "evaluation_finished",
    EpochFinished: "epoch_finished",
    ResourcesSampled: "resources_sampled",
    CheckpointSaved: "checkpoint_saved",
    LogMessage: "log",
    PredictionsSampled: "predictions_sampled",
    RunPaused: "run_paused",
    RunResumed: "run_resumed",
    SettingsChanged: "settings_changed",
    RunFinished: "run_finished",
    RunStopped: "run_stopped",
    RunFailed: "run_failed",
}
EVENT_TYPES: dict[str, type] = {name: cls for cls, name in EVENT_NAMES.items()}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its JSON form (a torchrun child's line or a metrics.jsonl line)."""
    data = dict(data)
    cls = EVENT_TYPES[data.pop("event")]
    names = {f.name for f in dataclasses.fields(cls)}
    data.setdefault("wall_time", None)  # a journal written before events carried it: the time is unknown, not now
    return cls(**{k: v for k, v in data.items() if k in names})
