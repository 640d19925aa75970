"""The run directory contract: settings.toml, metrics.jsonl, summary.json, checkpoints, confusion_matrix.csv."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from lstm_vision.settings import OutputSettings, Settings, save_settings
from lstm_vision.errors import SettingsError
from lstm_vision.events import Event
from lstm_vision.atomic import atomic_write, atomic_write_text
from lstm_vision.metrics import per_class_csv

# The run folder's files, named here once (README "The run directory" and docs/ARCHITECTURE.md list them).
SETTINGS_FILE = "settings.toml"  # the settings the run started with, loadable with --config (a resume's changes: runs/follow.py)
METRICS_FILE = "metrics.jsonl"  # the journal: one event a line
SUMMARY_FILE = "summary.json"
LAST_CHECKPOINT = "last.pt"  # end of every epoch and at a stop: what --resume, --predict and Try use
BEST_CHECKPOINT = "best.pt"  # lowest validation loss
CONFUSION_CSV = "confusion_matrix.csv"
PER_CLASS_CSV = "per_class.csv"
ERROR_LOG = "error.log"  # the traceback of a failed run
OUTPUT_LOG = "output.log"  # a background run's own output
PROCESS_FILE = "process.json"  # who runs the run (runs/liveness.py)
CONTROL_FILE = "control.json"  # the last request of a viewer (runs/liveness.py)
NOTES_FILE = "notes.txt"  # the run's notes as edited after it started (runs/notes.py); else settings' output.notes

JOURNAL_PROGRESS = ("step_logged", "epoch_finished")  # the records a replay draws curves from


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
        raise SettingsError(
            f"output.dir {base} is not writable ({err.strerror or err}); choose a folder you can write to."
        ) from None
    return candidate


# What the background launcher (detached.py) puts in a folder before the run's process takes it over.
# A viewer attached at once may have written control.json (a stop while the data loads) too.
PRELAUNCH_FILES = (OUTPUT_LOG, PROCESS_FILE, SETTINGS_FILE, CONTROL_FILE)


def use_run_dir(path: str | os.PathLike) -> Path:
    """A folder chosen for a new run (--run-dir): made if missing, refused if it holds another run."""
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        taken = sorted(p.name for p in folder.iterdir() if p.name not in PRELAUNCH_FILES and not p.name.startswith("."))
    except OSError as err:
        raise SettingsError(
            f"--run-dir {folder} cannot be used ({err.strerror or err}); choose a folder you can write to."
        ) from None
    if taken:
        # --resume is offered only where it would be taken: a run that saved last.pt and did not complete
        resumable = (folder / LAST_CHECKPOINT).is_file() and read_summary(folder).get("status") != "completed"
        raise SettingsError(
            f"--run-dir {folder} already holds {', '.join(taken[:3])}; give a new or empty folder"
            + (f" (or --resume {folder} to continue the run in it)." if resumable else ".")
        )
    return folder


def folder_model(run_dir: str | os.PathLike) -> Path | None:
    """Which checkpoint a run folder's model is: its last.pt (the weights its test accuracy was measured with),
    else its best.pt (lowest validation loss: all a run killed before its first stop may have); None if neither.
    --predict and --export take a folder only for its last.pt (a best.pt they name); Try takes either."""
    for name in (LAST_CHECKPOINT, BEST_CHECKPOINT):
        if (Path(run_dir) / name).is_file():
            return Path(run_dir) / name
    return None


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

    def size_after(self, event: Event) -> int:
        """The journal's length in bytes once ``event`` is written (a checkpoint records it: see rewind_journal)."""
        self._handle.flush()
        return os.fstat(self._handle.fileno()).st_size + len((event.to_json() + "\n").encode("utf-8"))

    def close(self) -> None:
        self._handle.close()


def rewind_journal(run_dir: Path, offset: int | None) -> str | None:
    """Cut metrics.jsonl back to ``offset``, where it stood when the resumed checkpoint was saved, if training
    went on past it (a resume from an earlier checkpoint), so that a replay draws each step once. The cut lines
    go to metrics.jsonl.N-bak; returns a line saying so, or None when nothing was cut."""
    path = run_dir / METRICS_FILE
    if offset is None or not path.is_file():
        return None
    with open(path, "rb") as handle:
        handle.seek(offset)
        tail = handle.read()
    records = [_record(line) for line in tail.splitlines()]
    later = [r for r in records if r.get("event") in JOURNAL_PROGRESS]
    if not later:  # only that checkpoint's own stop (run_stopped) or attempts that trained nothing follow it
        return None
    n = 1
    while (run_dir / f"metrics.jsonl.{n}-bak").exists():
        n += 1
    backup = run_dir / f"metrics.jsonl.{n}-bak"
    atomic_write(backup, lambda handle: handle.write(tail))
    os.truncate(path, offset)
    last_epoch = max(int(r.get("epoch") or 0) for r in later)
    return (
        f"metrics.jsonl went on past this checkpoint (up to epoch {last_epoch}): its {len(records)} later lines "
        f"moved to {backup.name}, so the journal replays each step once."
    )


def _record(line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:  # a line cut by a crash
        return {}
    return record if isinstance(record, dict) else {}


def write_settings(run_dir: Path, settings: Settings) -> None:
    save_settings(settings, run_dir / SETTINGS_FILE)


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(run_dir / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")


def read_summary(run_dir: str | os.PathLike) -> dict[str, Any]:
    """summary.json as a dict; {} when there is none (yet) or it cannot be read."""
    try:
        data = json.loads((Path(run_dir) / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_confusion(run_dir: str | os.PathLike) -> list[list[int]]:
    """confusion_matrix.csv's counts (rows: true class); [] when missing or not square."""
    try:
        lines = (Path(run_dir) / CONFUSION_CSV).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    rows = []
    for line in lines[1:]:  # the first line is the header
        cells = line.split(",")[1:]  # the first cell is the class name
        try:
            rows.append([int(c) for c in cells])
        except ValueError:
            return []
    return rows if rows and all(len(r) == len(rows) for r in rows) else []


def write_per_class(run_dir: Path, rows: list[dict]) -> None:
    atomic_write_text(run_dir / PER_CLASS_CSV, per_class_csv(rows))


def write_confusion_matrix(run_dir: Path, matrix: list[list[int]], class_names: list[str]) -> None:
    lines = ["true\\predicted," + ",".join(class_names)]
    lines += [f"{name}," + ",".join(str(v) for v in row) for name, row in zip(class_names, matrix)]
    atomic_write_text(run_dir / CONFUSION_CSV, "\n".join(lines) + "\n")
