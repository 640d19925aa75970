"""The run directory contract: settings.toml, metrics.jsonl, summary.json, checkpoints, confusion_matrix.csv."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from lstm_vision.config import OutputSettings, Settings, SettingsError, save_settings
from lstm_vision.events import Event
from lstm_vision.fsutil import atomic_write_text


def create_run_dir(output: OutputSettings) -> Path:
    """A new folder for this run; an existing name gets a -2, -3 ... suffix rather than being overwritten."""
    base = Path(output.dir).expanduser()
    name = output.run_name or dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        base.mkdir(parents=True, exist_ok=True)
        candidate, n = base / name, 1
        while True:
            try:
                candidate.mkdir()
                break
            except FileExistsError:
                n += 1
                candidate = base / f"{name}-{n}"
        probe = candidate / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise SettingsError(f"output.dir {base} is not writable ({err.strerror or err}); choose a folder you can write to.") from None
    return candidate


# What the background launcher (background.py) puts in a folder before the run's process takes it over.
PRELAUNCH_FILES = ("output.log", "process.json", "settings.toml")


def use_run_dir(path: str | os.PathLike) -> Path:
    """A folder chosen for a new run (--run-dir): made if missing, refused if it holds another run."""
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        taken = sorted(p.name for p in folder.iterdir() if p.name not in PRELAUNCH_FILES and not p.name.startswith("."))
    except OSError as err:
        raise SettingsError(f"--run-dir {folder} cannot be used ({err.strerror or err}); choose a folder you can write to.") from None
    if taken:
        raise SettingsError(f"--run-dir {folder} already holds {', '.join(taken[:3])}; give a new or empty folder "
                            f"(or --resume {folder} to continue the run in it).")
    return folder


def run_dir_of(path: str | os.PathLike) -> Path:
    """The run folder a --resume or --attach argument means: the folder itself, or the one a checkpoint is in."""
    path = Path(path)
    return path if path.is_dir() else path.parent


class Journal:
    """metrics.jsonl: one JSON object per event, flushed per line so a crash loses nothing written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, event: Event) -> None:
        self._handle.write(event.to_json() + "\n")

    def close(self) -> None:
        self._handle.close()


def write_settings(run_dir: Path, settings: Settings) -> None:
    save_settings(settings, run_dir / "settings.toml")


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")


def read_summary(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    try:
        return json.loads((Path(run_dir) / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_confusion_matrix(run_dir: Path, matrix: list[list[int]], class_names: list[str]) -> None:
    lines = ["true\\predicted," + ",".join(class_names)]
    lines += [f"{name}," + ",".join(str(v) for v in row) for name, row in zip(class_names, matrix)]
    atomic_write_text(run_dir / "confusion_matrix.csv", "\n".join(lines) + "\n")
