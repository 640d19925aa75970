"""Checkpoints: atomic saves, safe loads (weights_only), reference-format compatibility, resume."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstm_vision.atomic import atomic_write
from lstm_vision.errors import CheckpointError
from lstm_vision.model.architecture import architecture, settings_that_fit
from lstm_vision.runs.folder import LAST_CHECKPOINT

FORMAT = "lstm-vision/1"
ZIP_MAGIC, PICKLE_PROTO = b"PK\x03\x04", b"\x80"  # how torch.save files begin (zip since PyTorch 1.6)


def is_reference(state: dict[str, Any]) -> bool:
    """A checkpoint of the reference script (its keys only: state_dict, optimizer, epoch, val_loss, val_acc), not
    one of lstm-vision's own, which names its format and where training stands: its weights load, but there is
    no progress to resume and no normalization, model or classes stored with it."""
    return "global_step" not in state and not str(state.get("format", "")).startswith("lstm-vision")


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    # Serialise to memory first: a failing torch.save never leaves a half-written temp file behind.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getbuffer()))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load with weights_only=True: a checkpoint that would run code when unpickled is refused."""
    path = Path(path)
    if path.is_dir():
        path = path / LAST_CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist.")
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as err:
        raise CheckpointError(f"Checkpoint {path} cannot be read ({err.strerror or err}).") from None
    # torch.save writes a zip archive (a pickle before PyTorch 1.6). Anything else would reach torch's unpickler
    # as opcodes, whose errors (KeyError: 101 for a text file) or its "weights_only" hint say nothing useful.
    if not head.startswith((ZIP_MAGIC, PICKLE_PROTO)):
        raise CheckpointError(f"Checkpoint {path} is not a PyTorch checkpoint ({_content(head)}).")
    if head.startswith(ZIP_MAGIC) and _is_torchscript(path):
        raise CheckpointError(
            f"Checkpoint {path} is a TorchScript model (as --export torchscript writes), not a "
            f"training checkpoint; give the run folder or its last.pt."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" in str(err):  # a real pickle that names a class or function to call
            raise CheckpointError(
                f"Checkpoint {path} holds Python objects that would run code when loaded; "
                f"refusing it (only tensors and plain values are accepted)."
            ) from None
        raise CheckpointError(
            f"Checkpoint {path} is not a PyTorch checkpoint or is damaged ({_unpickler_reason(err)})."
        ) from None
    except Exception as err:  # torch's readers fail on damaged files with anything from EOFError to KeyError
        if head.startswith(ZIP_MAGIC) and not _whole_zip(path):  # torch's reason is a paragraph about miniz
            raise CheckpointError(
                f"Checkpoint {path} is truncated: the file ends before its zip archive does (a save or copy cut short)."
            ) from None
        raise CheckpointError(f"Checkpoint {path} is truncated or not a PyTorch checkpoint ({_first_line(err)}).") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"Checkpoint {path} has no 'state_dict': it is not an lstm-vision or reference checkpoint.")
    return state


def _is_torchscript(path: Path) -> bool:
    """torch.jit.save's archives hold code/ and constants.pkl; torch.save's hold data.pkl and data/ only."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name or name.endswith("/constants.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False  # torch.load names what is wrong with it


def _whole_zip(path: Path) -> bool:
    """Whether the zip archive's central directory (written last) is there: a cut file has none."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError):
        return False


def _content(head: bytes) -> str:
    if not head:
        return "the file is empty"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:  # a character cut by the 64-byte window is still text
        text = head[: err.start].decode("utf-8") if err.start >= len(head) - 3 else ""
    if text and all(c.isprintable() or c in "\r\n\t" for c in text):
        first = text.strip().splitlines()[0][:30] if text.strip() else ""
        return f"it is a text file starting {first!r}" if first else "it is a text file"
    return "it is neither a zip archive nor a pickle"


def _unpickler_reason(err: Exception) -> str:
    """torch's message is a page of advice about weights_only; the line that names the fault is enough."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error" in line:
            reason = line.split("WeightsUnpickler error:", 1)[1].strip() or (lines[i + 1] if i + 1 < len(lines) else "")
            return reason or "unreadable pickle"
    return lines[0] if lines else err.__class__.__name__


def _first_line(err: Exception) -> str:
    """The first sentence of torch's first line (its readers append paragraphs of advice to the reason)."""
    text = str(err).strip()
    return text.splitlines()[0].split(". ", 1)[0].rstrip(".") if text else err.__class__.__name__


def clean_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the prefixes that DDP (module.) and torch.compile (_orig_mod.) add."""
    cleaned = {}
    for key, value in state_dict.items():
        for prefix in ("module.", "_orig_mod."):
            while key.startswith(prefix):
                key = key[len(prefix) :]
        cleaned[key] = value
    return cleaned


def load_weights(model: nn.Module, state: dict[str, Any], path: str | Path) -> None:
    """Copy weights into model, or explain exactly which tensors do not fit."""
    weights = clean_state_dict(state["state_dict"])
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong = [
        f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in weights and tuple(weights[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shapes differ (checkpoint vs model): " + "; ".join(wrong[:6]) + (" ..." if len(wrong) > 6 else ""))
        if missing:
            parts.append("missing: " + ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else ""))
        if unexpected:
            parts.append("unexpected: " + ", ".join(unexpected[:6]) + (" ..." if len(unexpected) > 6 else ""))
        raise CheckpointError(
            f"Checkpoint {path} was made for another architecture ({' | '.join(parts)}); {_what_fits(weights, model, path)}."
        )
    model.load_state_dict(weights)


def _what_fits(weights: dict[str, torch.Tensor], model: nn.Module, path: str | Path) -> str:
    """The settings the checkpoint's weights were made for, from their shapes (see model/architecture.py)."""
    try:
        advice = settings_that_fit(architecture(weights, path), architecture(model.state_dict(), path))
    except CheckpointError:  # not an LSTM classifier's weights: the tensors named above are all there is to say
        advice = ""
    return advice or "set the model settings it was trained with"
