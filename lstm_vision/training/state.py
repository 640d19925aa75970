"""A run's state (PreparedRun), how it is checkpointed and restored, and what every phase of a run shares."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from lstm_vision.model import checkpoint as ckpt
from lstm_vision import events as ev
from lstm_vision.system import resources
from lstm_vision.training.batches import Batcher, Evaluation, evaluate as evaluate_set
from lstm_vision.settings import Settings
from lstm_vision.data.sets import DataBundle, ImageSet
from lstm_vision.system.devices import Precision
from lstm_vision.distributed.collectives import DistContext, gather_peak_gpu_memory
from lstm_vision.runs.folder import BEST_CHECKPOINT, LAST_CHECKPOINT
from lstm_vision.training.early_stop import EarlyStop

RESOURCE_PERIOD_S = 2.0


@dataclass
class PartialEpoch:
    """The epoch in flight, as far as it went (sums over all ranks): what a stop saves and a resume goes on from."""

    loss: float = 0.0  # sum over the samples seen
    correct: float = 0.0
    seen: float = 0.0
    seconds: float = 0.0  # training time in this epoch, across a stop and resume

    def to_state(self) -> dict[str, float]:
        # an epoch not yet begun is saved as {}, as checkpoints always had it
        return dataclasses.asdict(self) if self.seen or self.seconds else {}

    @classmethod
    def from_state(cls, state: dict[str, float] | None) -> PartialEpoch:
        return cls(**{k: float(v) for k, v in (state or {}).items() if k in PARTIAL_KEYS})


PARTIAL_KEYS = frozenset(f.name for f in dataclasses.fields(PartialEpoch))


@dataclass
class PreparedRun:
    """Everything a run needs, built once by prepare()."""

    settings: Settings
    dist: DistContext
    device: torch.device
    precision: Precision
    data: DataBundle
    model: nn.Module  # the raw model: evaluation, checkpoints
    train_model: nn.Module  # compiled and/or DDP-wrapped view of it
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    batcher: Batcher
    run_dir: Path
    emit: Callable[[ev.Event], None]
    compiled: str
    # progress, all restored on resume
    epoch: int = 0
    step: int = 0  # next step within the epoch
    global_step: int = 0
    best_val_loss: float | None = None
    best_val_accuracy: float | None = None  # the accuracy of the epoch with the lowest validation loss (best.pt's)
    best_val_epoch: int | None = None  # that epoch
    val_time_s: float = 0.0  # the last validation pass's seconds: what each validation left adds to the ETA
    val_loss: float | None = None  # the last finished epoch's validation (None when it had none)
    val_accuracy: float | None = None
    train_time_s: float = 0.0
    train_samples: int = 0
    partial: PartialEpoch = field(default_factory=PartialEpoch)
    early_stop: EarlyStop = field(default_factory=EarlyStop)
    early_stopped_epoch: int | None = None  # the epoch after which early stopping ended the training
    last_resources: float = 0.0
    last_progress: float = 0.0
    last_curves: float = 0.0  # when curves.png was last drawn (time.monotonic)
    hinted: bool = False  # the long-CPU-run hint was given
    outputs: Any = None  # setup.Outputs: the journal (metrics.jsonl), liveness and TensorBoard, rank 0's only
    rank_peaks: list[int] | None = None  # every rank's peak GPU memory, gathered at the last sample


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite (train.stop_on_nan)."""


def checkpoint_state(job: PreparedRun) -> dict[str, Any]:
    """The reference's keys (state_dict, optimizer, epoch, val_loss, val_acc) plus what an exact resume needs.
    val_loss/val_acc are this checkpoint's own epoch's, as in the reference: None when that epoch had no
    validation, and for a stop within an epoch (step > 0), which has none yet; best_val_* are the best so far."""
    own = (job.val_loss, job.val_accuracy) if job.step == 0 else (None, None)
    return {
        "format": ckpt.FORMAT,
        "state_dict": job.model.state_dict(),
        "optimizer": job.optimizer.state_dict(),
        "epoch": job.epoch,
        "val_loss": own[0],
        "val_acc": own[1],
        "scaler": job.scaler.state_dict(),
        "step": job.step,
        "global_step": job.global_step,
        "partial": job.partial.to_state(),
        "best_val_loss": job.best_val_loss,
        "best_val_accuracy": job.best_val_accuracy,
        "best_val_epoch": job.best_val_epoch,
        "val_time_s": job.val_time_s,
        "early_stop": job.early_stop.to_state(),
        "train_time_s": job.train_time_s,
        "train_samples": job.train_samples,
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state(job.device) if job.device.type == "cuda" else None,
        "run_dir": str(job.run_dir),
        "settings": job.settings.to_dict(),
        "steps_per_epoch": job.batcher.steps_per_epoch,
        "world_size": job.dist.world_size,  # what `step` counts in
        **usage_entries(job),
    }


def usage_entries(job: PreparedRun) -> dict[str, Any]:
    """What using the weights needs without the data set: the inputs' normalization, the model's shape, the
    image shape (H, W, C) and the class names (data/normalization.py reads the normalization back)."""
    m = job.settings.model
    return {
        "normalization": job.data.normalization.to_dict(),
        "model": {
            "hidden_size": m.hidden_size,
            "num_layers": m.num_layers,
            "bidirectional": m.bidirectional,
            "dropout": m.dropout,
            "sequence_length": job.batcher.sequence_length,
            "input_size": job.batcher.input_size,
            "num_classes": job.data.num_classes,
        },
        "image_shape": list(job.data.image_shape),
        "class_names": list(job.data.class_names),
    }


def restore(job: PreparedRun, state: dict[str, Any]) -> None:
    if ckpt.is_reference(state):  # weights are loaded, training starts afresh
        return
    job.optimizer.load_state_dict(state["optimizer"])
    if state.get("scaler"):
        job.scaler.load_state_dict(state["scaler"])
    job.epoch, job.step, job.global_step = int(state["epoch"]), int(state["step"]), int(state["global_step"])
    job.partial = PartialEpoch.from_state(state.get("partial"))
    job.best_val_loss, job.best_val_accuracy = state.get("best_val_loss"), state.get("best_val_accuracy")
    job.best_val_epoch, job.val_time_s = state.get("best_val_epoch"), float(state.get("val_time_s") or 0.0)
    job.val_loss, job.val_accuracy = state.get("val_loss"), state.get("val_acc")
    job.early_stop = EarlyStop.from_state(state.get("early_stop"))
    job.train_time_s, job.train_samples = float(state["train_time_s"]), int(state["train_samples"])
    if job.step == 0:  # the batch size may change at an epoch boundary (training/resume.py): count the epochs done in
        job.global_step = job.epoch * job.batcher.steps_per_epoch  # today's steps, so the schedule goes on in step
    torch.set_rng_state(state["rng_cpu"])
    if job.device.type == "cuda" and state.get("rng_cuda") is not None:
        torch.cuda.set_rng_state(state["rng_cuda"], job.device)


def save(job: PreparedRun, kind: str) -> None:
    if not job.dist.is_main:
        return
    name = {"best": BEST_CHECKPOINT, "last": LAST_CHECKPOINT}.get(kind, f"epoch-{job.epoch:03d}.pt")
    path = job.run_dir / name
    saved = ev.CheckpointSaved(str(path), kind, job.epoch)
    state = checkpoint_state(job)
    if job.outputs.journal is not None:  # where metrics.jsonl stands with this save in it: a resume from here cuts the rest
        state["journal_bytes"] = job.outputs.journal.size_after(saved)
    ckpt.save_checkpoint(state, path)
    job.emit(saved)


def sample_resources(job: PreparedRun, force: bool = False) -> None:
    # On GPUs under DDP a collective: every rank samples at the same points (prepare, log steps, epoch ends).
    job.rank_peaks = gather_peak_gpu_memory(job.device, job.dist)
    now = time.monotonic()
    if force or now - job.last_resources >= RESOURCE_PERIOD_S:
        job.last_resources = now
        sample = resources.sample(job.device)
        if sample["gpu"] is not None and job.rank_peaks:
            sample["gpu"]["rank_peak_allocated_bytes"] = job.rank_peaks
        job.emit(ev.ResourcesSampled(**sample))


def report_evaluation(
    job: PreparedRun, split: str, data: ImageSet, confusion: bool = False, interrupt: Callable[[], bool] | None = None
) -> Evaluation:
    """Evaluate ``data`` (all ranks together), emit EvaluationFinished and return the Evaluation (with
    ``confusion`` also its confusion matrix, preview and mistakes). ``interrupt``: see batches.evaluate."""
    s = job.settings.train
    result = evaluate_set(
        job.model,
        data,
        job.batcher,
        job.precision,
        s.eval_batch_size,
        s.label_smoothing,
        job.data.num_classes,
        job.dist,
        confusion,
        interrupt,
    )
    job.emit(ev.EvaluationFinished(split, job.epoch, result.loss, result.accuracy, result.correct, result.total))
    return result
