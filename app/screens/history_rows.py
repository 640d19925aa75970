"""History's rows: the run folders (and sweep folders) of output.dir, each read into a RunInfo: its summary, or
for a run still training or lost, its journal; its name, tags and notes (docs/ARCHITECTURE.md, the run folder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.widgets.trials import SweepSummary, summarise
from lstm_vision.errors import SettingsError
from lstm_vision.events import StepLogged, StepProgressed
from lstm_vision.runs.folder import METRICS_FILE, SETTINGS_FILE, SUMMARY_FILE, read_summary
from lstm_vision.runs.follow import JournalStanding
from lstm_vision.runs.liveness import LIVE, run_state
from lstm_vision.runs.notes import read_notes
from lstm_vision.settings import load_settings
from lstm_vision.sweep.folder import SWEEP_TOML, TRIALS_CSV, is_sweep_dir


@dataclass
class RunInfo:
    path: Path
    status: str  # liveness.run_state's: running / paused / starting / lost, or the summary's
    progress: str
    epochs: int | None
    best_val: float | None
    test_acc: float | None
    train_time_s: float | None
    mtime: float
    sweep: SweepSummary | None = None  # a sweep folder: one row, enter opens it in the Sweep tab
    title: str = ""  # what the run column shows: its output.run_name, else its folder's name
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # the settings that differ between the runs listed

    def __post_init__(self) -> None:
        self.title = self.title or self.path.name

    @property
    def name(self) -> str:
        return self.path.name


# Runs whose summary does not tell where they stand: it is an earlier process's, or there is none yet.
FROM_JOURNAL = (*LIVE, "lost", "unfinished")


def scan_runs(output_dir: str | Path, journals: dict[Path, JournalStanding] | None = None) -> list[RunInfo]:
    """Run folders (those with a metrics.jsonl or summary.json), newest first. ``journals``: the readers
    of earlier scans, kept so that a live run's journal is read from where the last scan left it."""
    root = Path(output_dir)
    journals = {} if journals is None else journals
    runs = []
    try:
        children = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    for p in children:
        if is_sweep_dir(p):
            runs.append(sweep_row(p))
            continue
        metrics, summary_path = p / METRICS_FILE, p / SUMMARY_FILE
        if not metrics.exists() and not summary_path.exists():
            continue
        try:  # when it last trained: the journal's time (notes edited later rewrite summary.json, not the journal)
            mtime = (metrics if metrics.exists() else summary_path).stat().st_mtime
        except OSError:
            mtime = 0.0
        runs.append(run_info(p, run_state(p).status, mtime, journals))
    runs.sort(key=lambda r: r.mtime, reverse=True)
    return runs


def sweep_row(path: Path) -> RunInfo:
    """A sweep folder as one row (its trials are run folders inside it, not listed one by one)."""
    sweep = summarise(path)
    try:
        mtime = max(f.stat().st_mtime for f in (path / SWEEP_TOML, path / TRIALS_CSV) if f.exists())
    except OSError:
        mtime = 0.0
    return RunInfo(path, sweep.state, "", None, None, None, sweep.time_s, mtime, sweep=sweep)


def run_info(path: Path, status: str, mtime: float, journals: dict[Path, JournalStanding]) -> RunInfo:
    """A row of the list: a finished run by its summary; one that trains or was lost by its journal (the
    epochs done, the best validation, where it is), as far as the journal tells it."""
    s = read_summary(path)
    row = RunInfo(
        path,
        status,
        "",
        s.get("epochs_completed"),
        s.get("best_val_accuracy"),
        s.get("test_accuracy"),
        s.get("train_time_s"),
        mtime,
    )
    label_run(row, s)
    if status not in FROM_JOURNAL:
        return row
    standing = journals.setdefault(path, JournalStanding(path)).read()
    if standing.epochs_completed is not None:
        row.epochs, row.best_val, row.test_acc = standing.epochs_completed, standing.best_val_accuracy, None
    row.train_time_s = standing.train_time_s if standing.train_time_s is not None else row.train_time_s
    row.progress = progress_text(standing.progress)
    return row


def label_run(row: RunInfo, summary: dict) -> None:
    """The run's name, tags and notes: its summary's, else (a run without one yet) its settings.toml's."""
    if "tags" not in summary:
        try:
            output = load_settings(row.path / SETTINGS_FILE).output
            summary = {"run_name": output.run_name, "tags": output.tags, "notes": output.notes}
        except (SettingsError, OSError):
            pass
    row.title = str(summary.get("run_name") or row.path.name)
    row.tags = [str(tag) for tag in summary.get("tags") or []]
    notes = summary.get("notes")
    row.notes = read_notes(row.path, started_with=notes if isinstance(notes, str) else "")


def progress_text(progress: StepProgressed | StepLogged | None) -> str:
    if progress is None:
        return ""
    epochs = progress.total_steps // max(progress.steps_per_epoch, 1)
    return f" {progress.epoch}/{epochs} {100 * progress.global_step / max(progress.total_steps, 1):.0f}%"
