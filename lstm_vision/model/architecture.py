"""The architecture a checkpoint's weights were made for, read from their shapes alone (a reference checkpoint
stores nothing else), and the settings that say it: for --predict and --export (use/loaded_model.py), for the
message of a checkpoint that does not fit the model (checkpoint.load_weights), and for an evaluation-only
run (train.epochs = 0), which takes the checkpoint's architecture instead of refusing it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import torch

from lstm_vision.errors import CheckpointError
from lstm_vision.settings import Settings, sequence_shape

# The parts of an architecture that settings choose, in the order a message names them.
SETTING_OF = {
    "num_layers": "model.num_layers",
    "hidden_size": "model.hidden_size",
    "bidirectional": "model.bidirectional",
    "sequence_length": "data.sequence_length",
    "input_size": "data.input_size",
}


def architecture(weights: dict[str, torch.Tensor], path: str | Path) -> dict[str, Any]:
    """The LSTMClassifier these weights fit (keys without DDP's or torch.compile's prefixes)."""
    if "LSTM.weight_ih_l0" not in weights or "fc.weight" not in weights:
        raise CheckpointError(
            f"Checkpoint {path} holds no LSTM classifier weights (LSTM.weight_ih_l0, fc.weight); "
            f"it was not written by lstm-vision or the reference script."
        )
    hidden = weights["LSTM.weight_ih_l0"].shape[0] // 4
    layers = sum(1 for key in weights if re.fullmatch(r"LSTM\.weight_ih_l\d+", key))
    directions = 2 if "LSTM.weight_ih_l0_reverse" in weights else 1
    classes, features = weights["fc.weight"].shape
    if features % (hidden * directions):
        raise CheckpointError(
            f"Checkpoint {path} has a linear layer of {features} inputs, not a multiple of the "
            f"LSTM's {hidden * directions} outputs per step; it is damaged or not an LSTM classifier."
        )
    return {
        "input_size": weights["LSTM.weight_ih_l0"].shape[1],
        "hidden_size": hidden,
        "num_layers": layers,
        "bidirectional": directions == 2,
        "sequence_length": features // (hidden * directions),
        "num_classes": classes,
    }


def written(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def settings_that_fit(found: dict[str, Any], model: dict[str, Any]) -> str:
    """What a model built as ``model`` must change to take weights shaped ``found``: the --set items, and a
    clause for a class count that no setting of the model changes (another data set)."""
    items = " ".join(f"--set {SETTING_OF[part]}={written(found[part])}" for part in SETTING_OF if found[part] != model[part])
    classes = ""
    if found["num_classes"] != model["num_classes"]:
        classes = f"its {found['num_classes']} classes are not this data set's {model['num_classes']} (another data set?)"
    return "; ".join(part for part in (f"it fits {items}" if items else "", classes) if part)


def take_architecture(
    settings: Settings, weights: dict[str, torch.Tensor], path: str | Path, image_shape: tuple[int, int, int]
) -> tuple[Settings, str]:
    """``settings`` with the model (and sequence) settings the weights were made for, and the log line that
    says what changed ('' when nothing did). The caller's object is left as it is."""
    found = architecture(weights, path)
    height, width, channels = image_shape
    sequence, inputs = sequence_shape(settings, image_shape)
    model = dataclasses.replace(
        settings.model, hidden_size=found["hidden_size"], num_layers=found["num_layers"], bidirectional=found["bidirectional"]
    )
    data = settings.data
    if (found["sequence_length"], found["input_size"]) != (sequence, inputs) and (
        found["sequence_length"] * found["input_size"] == height * width * channels
    ):
        data = dataclasses.replace(data, sequence_length=found["sequence_length"], input_size=found["input_size"])
    before = {**_model_parts(settings.model), "sequence_length": sequence, "input_size": inputs}
    after = {**_model_parts(model), "sequence_length": data.sequence_length or sequence, "input_size": data.input_size or inputs}
    changed = [
        f"{SETTING_OF[part]} = {written(after[part])} (not {written(before[part])})"
        for part in SETTING_OF
        if after[part] != before[part]
    ]
    if not changed:
        return settings, ""
    note = f"train.epochs = 0 evaluates {path} with the architecture of its weights: {', '.join(changed)}."
    return dataclasses.replace(settings, model=model, data=data), note


def _model_parts(model) -> dict[str, Any]:
    return {"num_layers": model.num_layers, "hidden_size": model.hidden_size, "bidirectional": model.bidirectional}
