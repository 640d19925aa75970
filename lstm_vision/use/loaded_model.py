"""A trained model, ready to use away from its data set: --predict, --export and the app's Try screen.

A checkpoint (or a run folder: its last.pt, the weights the run's test accuracy was measured with) is
loaded with what it carries: the architecture (read from the weights' shapes, so reference checkpoints
load too), the input normalization, the image shape and the class names. ``ImageClassifier`` wraps the
LSTM so that it takes uint8 images (N, H, W, C) as they come from files and returns logits; its
normalization is the same multiply-add, in the same order, as training's batches (batches.Batcher).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstm_vision.model import checkpoint as ckpt
from lstm_vision.model.architecture import architecture
from lstm_vision.data import normalization
from lstm_vision.settings import Settings, apply_dict, apply_overrides, known_image_shape
from lstm_vision.errors import SettingsError
from lstm_vision.system.devices import Precision, resolve_device, resolve_precision
from lstm_vision.model.lstm import LSTMClassifier
from lstm_vision.data.normalization import Normalization
from lstm_vision.runs.folder import LAST_CHECKPOINT, folder_model


class ImageClassifier(nn.Module):
    """uint8 images (N, H, W, C) -> logits (N, classes): normalization and row-sequence reshape inside."""

    def __init__(self, model: LSTMClassifier, norm: Normalization, sequence_length: int, input_size: int) -> None:
        super().__init__()
        self.model = model
        self.sequence_length, self.input_size = sequence_length, input_size
        scale, shift = norm.scale_shift()
        self.register_buffer("scale", scale)
        self.register_buffer("shift", shift)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() * self.scale + self.shift
        return self.model(x.reshape(images.shape[0], self.sequence_length, self.input_size))


@dataclass
class TrainedModel:
    path: Path  # the checkpoint file
    classifier: ImageClassifier  # in eval mode, on ``device``
    class_names: list[str]
    image_shape: tuple[int, int, int]  # (H, W, C)
    normalization: Normalization
    settings: Settings  # the checkpoint's own, with the caller's overrides
    device: torch.device
    precision: Precision

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, C) -> class probabilities (N, classes), float32 on the CPU, in batches."""
        out = []
        for chunk in images.split(max(1, self.settings.train.eval_batch_size)):
            with self.precision.autocast(self.device):
                logits = self.classifier(chunk.to(self.device, non_blocking=True))
            out.append(torch.softmax(logits.float(), dim=1).cpu())
        return torch.cat(out) if out else torch.empty(0, len(self.class_names))


def checkpoint_file(source: str | Path) -> Path:
    """A run folder means its last.pt; anything else must be a checkpoint file."""
    path = Path(source).expanduser()
    if path.is_dir():
        model = folder_model(path)
        if model is not None and model.name == LAST_CHECKPOINT:
            return model
        best = f" (it has {model.name}: give that file)" if model is not None else ""
        raise ckpt.CheckpointError(f"{path} holds no {LAST_CHECKPOINT}{best}; give a run folder or a checkpoint file (.pt).")
    if not path.exists():
        raise ckpt.CheckpointError(f"Checkpoint {path} does not exist; give a run folder or a checkpoint file (.pt).")
    return path


def check_output_file(output: Path, example: str) -> None:
    """Refuse an --output file that cannot be written, before any work (--predict, --export): one sentence
    naming it; ``example`` is a file name to suggest for a folder."""
    if output.is_dir():
        raise SettingsError(f"--output {output} is a folder; give a file name, e.g. {output / example}.")
    if not output.parent.is_dir():
        raise SettingsError(f"--output {output}: folder {output.parent} does not exist.")
    if not os.access(output.parent, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise SettingsError(
            f"--output {output} cannot be written (permission denied in {output.parent}); choose a folder you can write to."
        )


def unwritable_output(output: Path, err: OSError) -> SettingsError:
    """--output could not be written after all (the disk filled, the folder went): one sentence naming it."""
    return SettingsError(
        f"--output {output} cannot be written ({err.strerror or err}); choose a file in a folder you can write to."
    )


def load_trained(source: str | Path, overrides: list[str] | tuple[str, ...] = (), device: str | None = None) -> TrainedModel:
    """Load ``source`` for inference. ``overrides`` are --set items (e.g. train.amp=off) applied to the
    checkpoint's settings; ``device`` (auto, cpu, cuda:N) wins over system.device."""
    path = checkpoint_file(source)
    state = ckpt.load_checkpoint(path)
    inherited = _settings_of(state)
    inherited.system.device = "auto"  # where it was trained (cuda:3) says nothing about where it is used
    settings = apply_overrides(inherited, list(overrides))
    weights = ckpt.clean_state_dict(state["state_dict"])
    shape = architecture(weights, path)
    model = LSTMClassifier(
        shape["input_size"],
        shape["sequence_length"],
        shape["num_classes"],
        shape["hidden_size"],
        shape["num_layers"],
        shape["bidirectional"],
    )
    ckpt.load_weights(model, state, path)
    image_shape = _image_shape(state, settings, shape, path)
    norm = _normalization(state, path, image_shape[-1])
    names = _class_names(state, shape["num_classes"], path)
    target = resolve_device(device or settings.system.device)
    classifier = ImageClassifier(model, norm, shape["sequence_length"], shape["input_size"]).to(target).eval()
    return TrainedModel(
        path, classifier, names, image_shape, norm, settings, target, _precision(settings.train.amp, target, overrides)
    )


def _precision(amp: str, device: torch.device, overrides) -> Precision:
    """The run's own precision, so that answers match its evaluation; one this device cannot run (fp16 from a
    GPU, used on a CPU) falls back to auto, unless the caller asked for it."""
    try:
        return resolve_precision(amp, device)
    except SettingsError:
        if any(item.strip().startswith("train.amp") for item in overrides):
            raise
        return resolve_precision("auto", device)


def _settings_of(state: dict[str, Any]) -> Settings:
    """The checkpoint's settings (defaults for a reference checkpoint, or for keys this version does not know)."""
    saved = state.get("settings")
    if not isinstance(saved, dict):
        return Settings()
    try:
        return apply_dict(Settings(), saved, "checkpoint")
    except SettingsError:  # written by another version: only precision, batch size and device are read from it
        return Settings()


def _image_shape(state: dict[str, Any], settings: Settings, shape: dict[str, Any], path: Path) -> tuple[int, int, int]:
    pixels = shape["sequence_length"] * shape["input_size"]
    stored = state.get("image_shape")
    if isinstance(stored, (list, tuple)) and len(stored) == 3 and all(isinstance(v, int) and v > 0 for v in stored):
        candidate = tuple(stored)
    else:  # the settings' data set says it; a reference checkpoint reads 28 x 28 grey MNIST row by row
        candidate = known_image_shape(settings.data) if "settings" in state else None
        candidate = candidate or (shape["sequence_length"], shape["input_size"], 1)
    height, width, channels = candidate
    if height * width * channels != pixels:
        raise ckpt.CheckpointError(
            f"Checkpoint {path} says its images are {height}x{width}x{channels} but its model reads "
            f"{shape['sequence_length']} x {shape['input_size']} = {pixels} values per image."
        )
    return height, width, channels


def _normalization(state: dict[str, Any], path: Path, channels: int) -> Normalization:
    if "normalization" in state:
        return normalization.stored(state["normalization"], path, channels)
    if not ckpt.is_reference(state):
        raise ckpt.CheckpointError(
            f"Checkpoint {path} was saved by an lstm-vision that did not store its input "
            f"normalization, so it cannot be used without its data set; resume it for an "
            f"epoch (--resume) to save checkpoints that carry it."
        )
    return normalization.reference(channels)


def _class_names(state: dict[str, Any], classes: int, path: Path) -> list[str]:
    names = state.get("class_names")
    if names is None:
        return [str(k) for k in range(classes)]
    if not isinstance(names, (list, tuple)) or len(names) != classes or not all(isinstance(n, str) for n in names):
        raise ckpt.CheckpointError(f"Checkpoint {path} has a class_names entry that does not name its {classes} classes.")
    return list(names)


def class_lookup(class_names: list[str]) -> dict[str, int]:
    """Folder names that mean each class: its name, and for 'N - word' names also 'N' and 'word'; each also
    in lower case where that names one class only (EMNIST has both 'A' and 'a'). Look a folder up by its name,
    then by its name in lower case (``class_of_folder``)."""
    lookup: dict[str, int] = {}
    for k, name in enumerate(class_names):
        lookup.setdefault(name, k)
        match = re.fullmatch(r"(\S+) - (.+)", name)
        if match:
            lookup.setdefault(match.group(1), k)
            lookup.setdefault(match.group(2), k)
    folded: dict[str, set[int]] = {}
    for key, k in lookup.items():
        folded.setdefault(key.lower(), set()).add(k)
    for key, classes in folded.items():
        if len(classes) == 1:
            lookup.setdefault(key, classes.pop())
    return lookup


def class_of_folder(lookup: dict[str, int], folder: str) -> int | None:
    return lookup[folder] if folder in lookup else lookup.get(folder.lower())
