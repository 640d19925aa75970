"""Helpers for the sweep tests: sweep files, the base settings of a tiny trial, a sweep command as a user types it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The database storage's heartbeat, made short enough for a test to see a killed worker's trial come back.
FAST_HEARTBEAT = {"LSTM_VISION_SWEEP_HEARTBEAT_S": "1", "LSTM_VISION_SWEEP_GRACE_S": "2"}


def write_sweep(path: Path, sweep: str, space: str) -> Path:
    path.write_text(f"[sweep]\n{sweep.strip()}\n\n[space]\n{space.strip()}\n", encoding="utf-8")
    return path


def base_args(mnist_root: Path, out: Path, epochs: int = 2) -> list[str]:
    """--set sources for trials of a second or two on the tiny data set, into ``out``."""
    pairs = {
        "data.root": str(mnist_root),
        "data.download": "false",
        "model.hidden_size": "8",
        "model.num_layers": "1",
        "model.bidirectional": "false",
        "model.dropout": "0",
        "optim.schedule": "constant",
        "train.epochs": str(epochs),
        "train.batch_size": "50",
        "train.log_every": "5",
        "train.amp": "off",
        "train.label_smoothing": "0",
        "output.dir": str(out),
    }
    return [item for key, value in pairs.items() for item in ("--set", f"{key}={value}")]


def sweep_command(sweep_file: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lstm_vision", "--no-ui", "--sweep", str(sweep_file), *args]


def run_sweep(sweep_file: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        sweep_command(sweep_file, *args),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def start_sweep(sweep_file: Path, log: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """A worker as a user starts one in another terminal; its lines go to ``log``."""
    return subprocess.Popen(
        sweep_command(sweep_file, *args),
        stdin=subprocess.DEVNULL,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
