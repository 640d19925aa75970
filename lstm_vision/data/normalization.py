"""Input normalization belongs to the model: it is stored in every checkpoint and read back from it.

Weights only mean something for inputs scaled as they were in training. A new run picks its normalization
(data.normalization); every run that loads a checkpoint (evaluate-only, fine-tuning, --resume) takes the
checkpoint's own, whatever this data set's statistics are, so a checkpoint is usable away from its data.
Reference checkpoints store none: the reference feeds its model (x/255 - 0.5) / 0.5.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from lstm_vision.model.checkpoint import CheckpointError

if TYPE_CHECKING:
    from pathlib import Path

    from lstm_vision.settings.schema import Settings
    from lstm_vision.data.sets import DataBundle

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


def choose(
    settings: Settings, data: DataBundle, state: dict[str, Any] | None, path: str | None, resumed: bool
) -> tuple[Normalization, list[tuple[str, str]]]:
    """This run's normalization and the log lines (level, text) that say where it comes from. ``state`` is
    the checkpoint the run loads (None for a new run); ``data.normalization`` is what the settings give."""
    own, method = data.normalization, settings.data.normalization
    if state is None:
        return own, [("info", f"Inputs normalized with {own.describe()}.")]
    channels = data.image_shape[-1]
    if "normalization" in state:
        saved = stored(state["normalization"], path, channels)
        notes = [("info", f"Inputs normalized as checkpoint {path} was trained: {saved.describe()}.")]
        if saved.method != method:  # the weights fix the scale of their inputs; the setting is for new runs
            who = "a resumed run" if resumed else "a run from a checkpoint"
            notes.append(
                (
                    "warning",
                    f"data.normalization = {method} is not used: {who} keeps the normalization "
                    f"the checkpoint was trained with ({saved.method}).",
                )
            )
        return saved, notes
    if str(state.get("format", "")).startswith("lstm-vision"):
        # Saved before checkpoints stored it, when every run used its training split's statistics.
        stats = own if own.method == "dataset" else of_images(data.train.images)
        changed = _split_changes(state.get("settings") or {}, settings)
        text = (
            f"Checkpoint {path} predates stored normalization: inputs normalized with this run's "
            f"{stats.describe().removeprefix('the ')}, as lstm-vision then always did"
        )
        if changed:
            return stats, [
                ("warning", f"{text}; it was trained with {', '.join(changed)}, so its statistics may differ slightly.")
            ]
        return stats, [("info", f"{text}, on the same split.")]
    return reference(channels), [
        (
            "info",
            f"Checkpoint {path} stores no normalization, as a reference checkpoint: "
            f"inputs normalized as the reference does, (x/255 - 0.5) / 0.5.",
        )
    ]


def with_method(settings: Settings, normalization: Normalization) -> Settings:
    """``settings`` with data.normalization naming the method this run uses, so that the run's settings.toml
    and its checkpoints' settings say what it did (the caller's object is left as it is)."""
    if normalization.method == settings.data.normalization or normalization.method not in METHODS:
        return settings
    return dataclasses.replace(settings, data=dataclasses.replace(settings.data, normalization=normalization.method))


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


def _split_changes(saved: dict[str, Any], settings: Settings) -> list[str]:
    """The settings that decide the training split, where the checkpoint's run had other values."""
    now = {("data", k): getattr(settings.data, k) for k in ("dataset", "train_split", "channels", "image_size")}
    now[("train", "seed")] = settings.train.seed
    return [
        f"{section}.{key} = {(saved.get(section) or {})[key]}"
        for (section, key), value in now.items()
        if key in (saved.get(section) or {}) and (saved.get(section) or {})[key] != value
    ]


def _numbers(values: tuple[float, ...]) -> str:
    text = ", ".join(f"{v:.4f}" for v in values)
    return text if len(values) == 1 else f"({text})"
