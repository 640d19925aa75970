"""Run history: the runs in output.dir, their curves replayed from metrics.jsonl, overlaid."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

from lstm_vision.events import StepLogged, StepProgressed
from lstm_vision.runs.follow import JournalStanding
from lstm_vision.runs.liveness import LIVE, run_state
from lstm_vision.runs.folder import folder_model, read_summary
from app.widgets.charts import ChartPair
from app.widgets.trials import SweepSummary, summarise
from lstm_vision.sweep.folder import SWEEP_TOML, TRIALS_CSV, is_sweep_dir
from app.record import RunRecord, short_paths
from lstm_vision.text import format_duration as fmt_duration, format_percent as fmt_pct, plural
from lstm_vision.runs.folder import BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE, SUMMARY_FILE

STATUS_STYLES = {
    "completed": "green",
    "stopped": "yellow",
    "failed": "red",
    "running": "bold cyan",
    "paused": "bold yellow",
    "starting": "cyan",
    "lost": "bold red",
}
RUN_KEYS = ("compare", "resume", "attach", "load_settings", "try_model")  # the keys that act on the selected run
LIVE_REFRESH_S = 2.0  # how often History looks again: live runs' status and progress, folders that came or went


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
        try:
            mtime = max(f.stat().st_mtime for f in (metrics, summary_path) if f.exists())
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
    if status not in FROM_JOURNAL:
        return row
    standing = journals.setdefault(path, JournalStanding(path)).read()
    if standing.epochs_completed is not None:
        row.epochs, row.best_val, row.test_acc = standing.epochs_completed, standing.best_val_accuracy, None
    row.train_time_s = standing.train_time_s if standing.train_time_s is not None else row.train_time_s
    row.progress = progress_text(standing.progress)
    return row


def progress_text(progress: StepProgressed | StepLogged | None) -> str:
    if progress is None:
        return ""
    epochs = progress.total_steps // max(progress.steps_per_epoch, 1)
    return f" {progress.epoch}/{epochs} {100 * progress.global_step / max(progress.total_steps, 1):.0f}%"


class HistoryView(Vertical):
    """Enter shows a run's curves (and its results under F4); space adds it to the comparison."""

    BINDINGS = [
        Binding("space", "compare", "Compare"),
        Binding("r", "resume", "Resume"),  # short: the footer fits its five keys into 80 columns
        Binding("a", "attach", "Attach"),
        Binding("l", "load_settings", "Load settings"),
        Binding("g", "refresh", "Refresh", show=False),  # F9 refreshes too; the footer keeps room for t
        Binding("t", "try_model", "Try"),
    ]
    DEFAULT_CSS = """
    HistoryView DataTable { height: 1fr; min-height: 4; }
    HistoryView ChartPair { height: 2fr; }
    HistoryView #history-hint { height: auto; color: $text-muted; padding: 0 1; }
    """

    class RunOpened(Message):
        def __init__(self, run_dir: Path, record: RunRecord) -> None:
            super().__init__()
            self.run_dir, self.record = run_dir, record

    class ResumeRequested(Message):
        def __init__(self, run_dir: Path) -> None:
            super().__init__()
            self.run_dir = run_dir

    class AttachRequested(Message):
        def __init__(self, run_dir: Path) -> None:
            super().__init__()
            self.run_dir = run_dir

    class TryRequested(Message):
        def __init__(self, run_dir: Path) -> None:
            super().__init__()
            self.run_dir = run_dir

    class SweepOpened(Message):
        def __init__(self, sweep_dir: Path) -> None:
            super().__init__()
            self.sweep_dir = sweep_dir

    class LoadSettingsRequested(Message):
        def __init__(self, run_dir: Path) -> None:
            super().__init__()
            self.run_dir = run_dir

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs: list[RunInfo] = []
        self.compared: list[RunRecord] = []
        self.output_dir: Path = Path("runs")
        self._listed: set[str] = set()  # the folders in output_dir when the list was read
        self._journals: dict[Path, JournalStanding] = {}  # live and lost runs' journals, read on from scan to scan

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", id="runs-table")
        yield Static("", id="history-hint")
        yield ChartPair("no run shown", id="history-charts")

    def on_mount(self) -> None:
        self.set_interval(LIVE_REFRESH_S, self._refresh_live)
        table = self.query_one(DataTable)
        for label in ("run", "status", "epochs", "best val", "test", "train time"):
            table.add_column(label, key=label)

    def load(self, output_dir: str | Path) -> None:
        if Path(output_dir) != self.output_dir:
            self._journals = {}
        self.output_dir = Path(output_dir)
        self._listed = self._folders()
        self.runs = scan_runs(self.output_dir, self._journals)
        table = self.query_one(DataTable)
        kept = self._cursor_key()  # clear() puts the cursor on row 0: r, l, space would act on another run
        table.clear()
        for r in self.runs:
            if r.sweep is not None:
                state = Text(f"sweep {r.status}", style=STATUS_STYLES.get(r.status, "dim"))
                table.add_row(r.name, state, r.sweep.trials, r.sweep.best, "-", fmt_duration(r.train_time_s), key=str(r.path))
                continue
            table.add_row(
                r.name,
                Text(r.status + r.progress, style=STATUS_STYLES.get(r.status, "dim")),
                "-" if r.epochs is None else str(r.epochs),
                fmt_pct(r.best_val),
                fmt_pct(r.test_acc),
                fmt_duration(r.train_time_s),
                key=str(r.path),
            )
        known = {r.name for r in self.runs}
        self.compared = [r for r in self.compared if r.name in known]
        newest = next((r for r in self.runs if r.sweep is None), None)
        if not self.compared and newest:  # show the newest run's curves until the user picks one
            self.compared = [self._record(newest)]
            self.query_one(ChartPair).show_record(self.compared[0])
        if kept is not None and kept in table.rows:  # by key: a new run above it shifts its row
            table.move_cursor(row=table.get_row_index(kept), animate=False)
        self._hint()
        self.app.refresh_bindings()  # the app's t (Try) shows when the selected run has a model

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # an empty list offers no key that acts on a run (the hint says F5 trains the first)
        return bool(self.runs) or action not in RUN_KEYS

    def _hint(self) -> None:
        sweeps = sum(r.sweep is not None for r in self.runs)
        n = len(self.runs) - sweeps
        folder = short_paths(str(self.output_dir))
        counted = ([plural(n, "run")] if n else []) + ([plural(sweeps, "sweep")] if sweeps else [])  # a sweep is no run
        where = f"{' and '.join(counted)} in {folder}" if self.runs else f"No runs in {folder} yet: F5 trains one"
        names = ", ".join(r.name for r in self.compared)
        shown = f" · showing: {names}" if names else " · enter shows a run's curves, space adds it to the comparison"
        if not self.runs:
            shown = ""
        self.query_one("#history-hint", Static).update(where + shown)

    def _cursor_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None

    def focus_table(self) -> None:
        self.query_one(DataTable).focus()

    def selected(self) -> RunInfo | None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row is None or not (0 <= table.cursor_row < len(self.runs)):
            return None
        return self.runs[table.cursor_row]

    def _record(self, info: RunInfo) -> RunRecord:
        return RunRecord.from_jsonl(info.path / METRICS_FILE, name=info.name)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        info = self.selected()
        if info is None:
            return
        if info.sweep is not None:
            self.post_message(self.SweepOpened(info.path))
            return
        record = self._record(info)
        self.compared = [record]
        self.query_one(ChartPair).show_record(record)
        self._hint()
        self.post_message(self.RunOpened(info.path, record))

    def _run_selected(self) -> RunInfo | None:
        """The selected run; on a sweep's row, a word that enter opens it (its trials are its runs)."""
        info = self.selected()
        if info is not None and info.sweep is not None:
            self.notify(f"{info.name} is a sweep: enter opens it and its trials.", severity="warning")
            return None
        return info

    def action_compare(self) -> None:
        info = self._run_selected()
        if info is None:
            return
        if any(r.name == info.name for r in self.compared):
            self.compared = [r for r in self.compared if r.name != info.name]
        else:
            self.compared = (self.compared + [self._record(info)])[-4:]
        self.query_one(ChartPair).show_overlay(self.compared)
        self._hint()

    def action_resume(self) -> None:
        info = self._run_selected()
        if info is None:
            return
        if info.status != "completed" and not (info.path / LAST_CHECKPOINT).is_file():
            # resuming would fail in the engine after the form had been replaced and F7 offered
            why = "it failed before its first save" if info.status == "failed" else "it was killed before its first save"
            self.notify(f"{info.name} has no last.pt ({why}); F5 starts it afresh (l loads its settings).", severity="warning")
            return
        self.post_message(self.ResumeRequested(info.path))

    def action_attach(self) -> None:
        info = self.selected()
        if info is not None:
            self.post_message(self.SweepOpened(info.path) if info.sweep else self.AttachRequested(info.path))

    def _refresh_live(self) -> None:
        """While History shows: re-read it when a listed run is live, or a run folder came or went (a run
        started from another terminal appears without g)."""
        if not self.display or self.app.query_one("#main-tabs").active != "tab-history":
            return
        if any(r.status in LIVE for r in self.runs) or self._folders() != self._listed:
            self.load(self.output_dir)

    def _folders(self) -> set[str]:
        try:
            return {entry.name for entry in os.scandir(self.output_dir) if entry.is_dir()}
        except OSError:
            return set()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.app.refresh_bindings()

    def trained(self) -> Path | None:
        """What the selected run has to try: its folder (meaning its last.pt), else its best.pt; None if neither."""
        info = self.selected()
        if info is None or info.sweep is not None:
            return None
        model = folder_model(info.path)
        return info.path if model is not None and model.name == LAST_CHECKPOINT else model

    def action_try_model(self) -> None:
        info = self._run_selected()
        if info is None:
            if self.selected() is None:
                self.notify(f"No runs in {self.output_dir}: train one (F5) first.", severity="warning")
            return
        model = self.trained()
        if model is None:
            self.notify(f"{info.name} has no last.pt or best.pt: it saved no model to try.", severity="warning")
            return
        if model.name == BEST_CHECKPOINT:
            self.notify(f"{info.name} has no last.pt: trying its best.pt.")
        self.post_message(self.TryRequested(model))

    def action_load_settings(self) -> None:
        info = self._run_selected()
        if info is not None:
            self.post_message(self.LoadSettingsRequested(info.path))

    def action_refresh(self) -> None:
        self.load(self.output_dir)
