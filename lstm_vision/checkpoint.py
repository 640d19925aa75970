"""Checkpoints: atomic saves, safe loads (weights_only), reference-format compatibility, resume."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstm_vision.config import SettingsError
from lstm_vision.fsutil import atomic_write

FORMAT = "lstm-vision/1"


class CheckpointError(SettingsError):
    """A checkpoint that cannot be used: one sentence naming the file and why."""


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    # Serialise to memory first: a failing torch.save never leaves a half-written temp file behind.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load with weights_only=True: a checkpoint that would run code when unpickled is refused."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise CheckpointError(f"Checkpoint {path} holds Python objects that would run code when loaded; "
                                  f"refusing it (only tensors and plain values are accepted).") from None
        raise CheckpointError(f"Checkpoint {path} is not a PyTorch checkpoint or is damaged ({err}).") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"Checkpoint {path} is truncated or not a PyTorch checkpoint ({_first_line(err)}).") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"Checkpoint {path} has no 'state_dict': it is not an lstm-vision or reference checkpoint.")
    return state


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__


def clean_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the prefixes that DDP (module.) and torch.compile (_orig_mod.) add."""
    cleaned = {}
    for key, value in state_dict.items():
        for prefix in ("module.", "_orig_mod."):
            while key.startswith(prefix):
                key = key[len(prefix):]
        cleaned[key] = value
    return cleaned


def load_weights(model: nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """Copy weights into model, or explain exactly which tensors do not fit."""
    weights = clean_state_dict(state["state_dict"])
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in weights and tuple(weights[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shapes differ (checkpoint vs model): " + "; ".join(wrong[:6]) + (" ..." if len(wrong) > 6 else ""))
        if missing:
            parts.append("missing: " + ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else ""))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:6]) + (" ..." if len(unexpected) > 6 else ""))
        raise CheckpointError(f"Checkpoint {path} was made for another architecture ({' | '.join(parts)}); "
                              f"set the model settings it was trained with.")
    model.load_state_dict(weights)
