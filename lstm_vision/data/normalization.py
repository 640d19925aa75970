"""Input normalization belongs to the model: it is stored in every checkpoint and read back from it.

Weights only mean something for inputs scaled as they were in training. A new run picks its normalization
(data.normalization); every run that loads a checkpoint (evaluate-only, fine-tuning, --resume) takes the
checkpoint's own, whatever this data set's statistics are, so a checkpoint is usable away from its data.
Reference checkpoints store none: the reference feeds its model (x/255 - 0.5) / 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lstm_vision.errors import CheckpointError


METHODS = ("dataset", "reference")
REFERENCE = 0.5  # the reference's Normalize((0.5,), (0.5,)): mean and std of every channel


@dataclass(frozen=True)
class Normalization:
    """The model sees (x / 255 - mean[c]) / std[c] for channel c; mean and std in [0, 1] pixel units."""

    method: str  # "dataset" (a training split's statistics) or "reference" (0.5 / 0.5)
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "mean": list(self.mean), "std": list(self.std)}

    def scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 (C,) tensors with x * scale + shift == (x / 255 - mean) / std: one multiply-add per element,
        the one formula of training's batches and of a trained model's inputs (use/loaded_model.py)."""
        mean, std = torch.tensor(self.mean, dtype=torch.float32), torch.tensor(self.std, dtype=torch.float32)
        return 1.0 / (255.0 * std), -mean / std

    def describe(self) -> str:
        if self.method == "reference" and set(self.mean) == set(self.std) == {REFERENCE}:
            return "the reference's (x/255 - 0.5) / 0.5"
        what = "the training split's per-channel statistics" if self.method == "dataset" else f"method {self.method!r}"
        return f"{what}, mean {_numbers(self.mean)}, std {_numbers(self.std)}"


def reference(channels: int) -> Normalization:
    return Normalization("reference", (REFERENCE,) * channels, (REFERENCE,) * channels)


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images (N, H, W, C), in [0, 1] units."""
    flat = images.reshape(-1, images.shape[-1]).to(torch.float64) / 255.0
    return flat.mean(0).float(), flat.std(0).clamp_min(1e-6).float()


def of_images(images: torch.Tensor) -> Normalization:
    mean, std = channel_stats(images)
    return Normalization("dataset", tuple(mean.tolist()), tuple(std.tolist()))


def for_method(method: str, train_images: torch.Tensor) -> Normalization:
    """A new run's normalization, as data.normalization asks, for this training split."""
    return reference(train_images.shape[-1]) if method == "reference" else of_images(train_images)


def stored(entry: Any, path: str | Path | None, channels: int) -> Normalization:
    """A checkpoint's normalization entry, checked; CheckpointError names what is wrong with it."""

    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"Checkpoint {path} has a malformed normalization entry ({why}).")

    if not isinstance(entry, dict) or not isinstance(entry.get("method"), str) or not entry["method"]:
        raise bad("expected method, mean and std")
    values = {}
    for key in ("mean", "std"):
        seq = entry.get(key)
        numbers = isinstance(seq, (list, tuple)) and all(isinstance(v, (int, float)) and math.isfinite(v) for v in seq)
        if not numbers or not seq:
            raise bad(f"{key} must be a list of numbers, one per channel")
        values[key] = tuple(float(v) for v in seq)
    if len(values["mean"]) != len(values["std"]):
        raise bad("mean and std differ in length")
    if min(values["std"]) <= 0:
        raise bad("std must be positive")
    if len(values["mean"]) != channels:
        raise CheckpointError(
            f"Checkpoint {path} was trained on images of {len(values['mean'])} channels (its normalization "
            f"has one mean per channel) and this run's images have {channels}: set data.channels = "
            f"{len(values['mean'])}."
        )
    return Normalization(entry["method"], values["mean"], values["std"])


def _numbers(values: tuple[float, ...]) -> str:
    text = ", ".join(f"{v:.4f}" for v in values)
    return text if len(values) == 1 else f"({text})"
