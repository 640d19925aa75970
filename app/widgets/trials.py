"""A sweep as it goes: its trials in a table (state, parameters, metric, the best marked) and the curves of the
best few overlaid, all read from the sweep folder (lstm_vision/sweep/folder.py) by polling it cheaply: trials.csv
is read again only when it changed, and each shown trial's journal only for its new lines."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ContentSwitcher, DataTable, Static
from textual.widgets.data_table import CellDoesNotExist

from lstm_vision.events import StepLogged
from lstm_vision.runs.follow import JournalReader
from lstm_vision.runs.liveness import run_state
from lstm_vision.runs.folder import METRICS_FILE
from lstm_vision.sweep.folder import (
    TRIALS_CSV,
    TrialRow,
    read_folder_sweep,
    read_importance,
    read_trials,
    sweep_state,
    trial_dir_name,
)
from lstm_vision.sweep.parallel import parallel_view
from lstm_vision.sweep.spec import SweepSpec
from lstm_vision.text import format_duration, format_number
from app.record import RunRecord
from app.widgets.charts import OVERLAY_COLORS, ChartPair
from app.widgets.sweep_insight import ImportanceBars, ParallelPlot

POLL_S = 0.5  # how often the sweep folder is looked at while the Sweep tab shows: stat calls, and reads on change
BEST_CURVES = 3  # the best trials whose curves are drawn, besides the running ones
BEST_MARK = "★"
TIME_COLUMN = "time"
TRIAL_STYLES = {
    "running": "bold cyan",
    "waiting": "dim",
    "complete": "green",
    "pruned": "yellow",
    "fail": "red",
    "lost": "bold red",
    "stopped": "yellow",
}
SWEEP_STYLES = {"running": "bold cyan", "finished": "green", "stopped": "yellow", "lost": "bold red"}
ENDED = ("complete", "pruned", "fail", "stopped")
PICK_MARK = "•"  # a trial picked with space: its curves are compared
PANELS = ("sweep-charts", "sweep-importance", "sweep-parallel")  # below the table, v shows the next


def metric_text(metric: str, value: float | None, std: float | None = None) -> str:
    """An accuracy as a percentage, a loss as it is; a point run over several seeds with the spread of its mean."""
    if value is None or not math.isfinite(value):
        return "-"
    shown = f"{100 * value:.2f}%" if "accuracy" in metric else f"{value:.4f}"
    if std is None or not math.isfinite(std):
        return shown
    return shown + (f" ±{100 * std:.2f}" if "accuracy" in metric else f" ±{std:.4f}")


def best_trial(rows: list[TrialRow], direction: str) -> TrialRow | None:
    """The best complete trial (pruned ones stopped early: their last metric is no result)."""
    done = [r for r in rows if r.state == "complete" and r.metric is not None and math.isfinite(r.metric)]
    if not done:
        return None
    pick = max if direction == "maximize" else min
    return pick(done, key=lambda r: r.metric)


def ranked(rows: list[TrialRow], direction: str) -> list[TrialRow]:
    done = [r for r in rows if r.state == "complete" and r.metric is not None and math.isfinite(r.metric)]
    return sorted(done, key=lambda r: r.metric, reverse=direction == "maximize")


def curve_trials(rows: list[TrialRow], direction: str) -> list[TrialRow]:
    """The trials whose curves are drawn: the best few, then the running ones (as many as there are colours)."""
    chosen = ranked(rows, direction)[:BEST_CURVES] + [r for r in rows if r.state == "running"]
    return chosen[: len(OVERLAY_COLORS)]


def trials_done(rows: list[TrialRow]) -> int:
    """Trials that ended, as the study counts them toward its total: a failed (or stopped) trial that ran again
    later with the same parameters counts once, by its retry."""
    retried = {
        i
        for i, r in enumerate(rows)
        if r.state in ("fail", "stopped") and any(later.params == r.params for later in rows[i + 1 :])
    }
    return sum(r.state in ENDED for i, r in enumerate(rows) if i not in retried)


def param_labels(names: list[str]) -> list[str]:
    """Column labels: the key alone (learning_rate), the dotted name where two keys share it."""
    keys = [n.rpartition(".")[2] for n in names]
    return [k if keys.count(k) == 1 else n for n, k in zip(names, keys)]


def sweep_line(info: SweepSpec, rows: list[TrialRow], state: str) -> Text:
    """One line: name, method, state, trials done of planned, the best so far."""
    done = trials_done(rows)
    planned = info.total  # random / tpe: its trials; a grid: its combinations
    text = Text(f" {info.name} ", style="bold")
    text.append(f"{info.method} · " + (f"{info.repeats} seeds a point · " if info.repeats > 1 else ""))
    text.append(state, style=SWEEP_STYLES.get(state, ""))
    text.append(f" · {done}/{planned if planned else '?'} trials")
    best = best_trial(rows, info.direction)
    if best is not None:
        text.append(f" · best {metric_text(info.metric, best.metric)} {info.metric} (#{best.number})", style="bold green")
    return text


def trial_path(sweep_dir: Path, row: TrialRow) -> Path:
    """A trial's run folder (read_trials joined it to the sweep folder already; trials.csv may leave it empty)."""
    return Path(row.run_dir) if row.run_dir else sweep_dir / trial_dir_name(row.number)


@dataclass(frozen=True)
class SweepSummary:
    """A sweep folder in one row of History: its state, trials done of planned, the best metric."""

    state: str  # sweep_state's: running / finished / stopped / lost; "unreadable" for a broken sweep.toml
    done: int
    planned: int | None
    best: str  # the best complete trial's metric as shown ("97.81%", "0.0712 val_loss"); "-" when none yet
    time_s: float | None  # the trials' durations added up

    @property
    def trials(self) -> str:
        return f"{self.done}/{self.planned if self.planned else '?'} trials"


def summarise(sweep_dir: Path) -> SweepSummary:
    try:
        info = read_folder_sweep(sweep_dir)
    except (OSError, ValueError):
        return SweepSummary("unreadable", 0, None, "-", None)
    rows = read_trials(sweep_dir)
    best = best_trial(rows, info.direction)
    shown = "-" if best is None else metric_text(info.metric, best.metric)
    if best is not None and "accuracy" not in info.metric:
        shown += f" {info.metric}"
    times = [r.duration_s for r in rows if r.duration_s is not None]
    return SweepSummary(sweep_state(sweep_dir), trials_done(rows), info.total, shown, sum(times) if times else None)


def duration_text(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def progress_text(step: StepLogged) -> str:
    """How far a running trial is: "1/2 43%" (its epoch of the run's, the run's steps done)."""
    epochs = step.total_steps // max(step.steps_per_epoch, 1)
    return f"{step.epoch}/{epochs} {100 * step.global_step / max(step.total_steps, 1):.0f}%"


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def trial_state(row: TrialRow, sweep_running: bool) -> Text:
    state = row.state
    if state == "running" and not sweep_running:
        state = run_state(row.run_dir).status if row.run_dir else "lost"
    return Text(state, style=TRIAL_STYLES.get(state, ""))


class TrialsTable(DataTable):
    """One row per trial, keyed by its number: the cursor stays on its trial as rows come and change. A running
    trial's time column says how far it is (epoch and percent of its steps), from its journal."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.progress: dict[int, str] = {}  # trial number -> how far it is, while it runs
        self.picked: list[int] = []  # trials picked with space, their curves compared (SweepWatch's)

    def show_progress(self, number: int, text: str) -> None:
        if self.progress.get(number) == text:
            return
        self.progress = {**self.progress, number: text}
        if str(number) in self.rows:
            self.update_cell(str(number), TIME_COLUMN, text, update_width=True)

    def show(self, info: SweepSpec, rows: list[TrialRow], sweep_running: bool = True) -> None:
        """``sweep_running``: False when no worker lives, so that a trial trials.csv still calls running (its
        worker was killed) shows what its own folder says (lost, stopped)."""
        names = list(dict.fromkeys([*info.param_names, *(name for r in rows for name in r.params)]))  # the file's order
        columns = ["#", "state", *param_labels(names), info.metric, "time"]
        kept = self.cursor_key()
        if [str(c.label) for c in self.columns.values()] != columns:
            self.clear(columns=True)
            for label in columns[:-1]:
                self.add_column(label)
            self.add_column("time", key=TIME_COLUMN)
        else:
            self.clear()
        best = best_trial(rows, info.direction)
        for r in rows:
            mark = r is best
            style = "bold green" if mark else ""
            picked = PICK_MARK if r.number in self.picked else ""
            self.add_row(
                Text(f"{picked}{r.number}{BEST_MARK if mark else ''}", style=style),
                trial_state(r, sweep_running),
                *[Text(format_number(r.params.get(name, "")), style=style) for name in names],  # as the lines write them
                Text(metric_text(info.metric, r.metric, r.metric_std if r.repeats > 1 else None), style=style),
                self.progress.get(r.number, "") if r.state == "running" else duration_text(r.duration_s),
                key=str(r.number),
            )
        if kept is not None and kept in self.rows:
            self.move_cursor(row=self.get_row_index(kept), animate=False)

    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except CellDoesNotExist:
            return None


class SweepWatch(Vertical):
    """The sweep folder shown and followed: a line about the sweep, its trials, the best curves."""

    DEFAULT_CSS = """
    SweepWatch #sweep-line { height: 1; }
    SweepWatch TrialsTable { height: auto; max-height: 45%; min-height: 4; }
    SweepWatch ContentSwitcher { height: 1fr; min-height: 8; }
    SweepWatch ChartPair, SweepWatch ParallelPlot { height: 1fr; }
    SweepWatch ImportanceBars { margin: 1 0 0 0; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sweep_dir: Path | None = None
        self.info: SweepSpec | None = None
        self.rows: list[TrialRow] = []
        self.state = ""
        self._stamp: tuple[int, int] | None = None
        self._curves: dict[int, tuple[RunRecord, JournalReader]] = {}
        self.pinned: int | None = None  # a trial chosen with enter: its curves alone, instead of the best few
        self.importance: list[tuple[str, float]] = []  # importance.csv's, read with trials.csv
        self.reads = 0  # how often trials.csv was read: tests check that an unchanged file is not read again

    def compose(self) -> ComposeResult:
        yield Static("", id="sweep-line")
        yield TrialsTable(cursor_type="row", id="trials-table")
        with ContentSwitcher(initial=PANELS[0]):
            yield ChartPair("no trial has finished an epoch yet", id="sweep-charts")
            yield ImportanceBars(id="sweep-importance")
            yield ParallelPlot(id="sweep-parallel")

    def on_mount(self) -> None:
        self.set_interval(POLL_S, self.poll)

    @property
    def table(self) -> TrialsTable:
        return self.query_one(TrialsTable)

    def watch(self, sweep_dir: Path) -> None:
        """Show ``sweep_dir`` (a folder holding sweep.toml) from now on."""
        self.sweep_dir, self.info, self.rows, self.state = Path(sweep_dir), None, [], ""
        self._stamp, self._curves, self.pinned, self.importance = None, {}, None, []
        self.table.clear(columns=True)
        self.table.progress, self.table.picked = {}, []
        self.poll(force=True)

    def poll(self, force: bool = False) -> None:
        if self.sweep_dir is None or not (force or self.is_on_screen):
            return
        if self.info is None:
            try:
                self.info = read_folder_sweep(self.sweep_dir)
            except (OSError, ValueError) as err:  # its sweep.toml gone or broken: say so, and look again later
                self.query_one("#sweep-line", Static).update(Text(f" {err}", style="bold red"))
                return
        stamp = _stamp(self.sweep_dir / TRIALS_CSV)
        changed = stamp != self._stamp
        if changed:  # importance.csv is written with trials.csv, after each trial
            self._stamp, self.rows = stamp, read_trials(self.sweep_dir)
            self.importance = read_importance(self.sweep_dir)
            self.reads += 1
        state = sweep_state(self.sweep_dir)
        if changed or state != self.state:
            if state != self.state:
                self.app.refresh_bindings()  # F5 (start again) and F8 (stop) show by the sweep's state
            self.state = state
            self.table.show(self.info, self.rows, sweep_running=state == "running")
            self.query_one("#sweep-line", Static).update(sweep_line(self.info, self.rows, state))
            self._show_insight()
        self._follow_curves()

    # ---- below the table: the curves, the importance, the parallel coordinates (v) ------------------------
    @property
    def panel(self) -> str:
        return self.query_one(ContentSwitcher).current or PANELS[0]

    def next_panel(self) -> str:
        self.query_one(ContentSwitcher).current = PANELS[(PANELS.index(self.panel) + 1) % len(PANELS)]
        self._show_insight()
        return self.panel

    def _show_insight(self) -> None:
        if self.info is None:
            return
        if self.panel == "sweep-importance":
            labels = param_labels([name for name, _ in self.importance])
            self.query_one(ImportanceBars).show(self.importance, labels)
        elif self.panel == "sweep-parallel":
            view = parallel_view(self.info, self.rows)
            self.query_one(ParallelPlot).show(view, param_labels([axis.name for axis in view.axes]))

    @property
    def is_on_screen(self) -> bool:
        return self.display and self.screen.is_current and self.region.area > 0

    def _follow_curves(self) -> None:
        """The shown trials' journals, read for their new lines; the charts redrawn when something came."""
        pinned = [r for r in self.rows if r.number == self.pinned]
        picked = [r for r in self.rows if r.number in self.table.picked]
        chosen = pinned or picked or (curve_trials(self.rows, self.info.direction) if self.info else [])
        grown = [r.number for r in chosen] != list(self._curves)  # one came or went: redraw even without news
        curves = {}
        for row in chosen:
            record, reader = self._curves.get(row.number) or (
                RunRecord(name=f"#{row.number}"),
                JournalReader(trial_path(self.sweep_dir, row) / METRICS_FILE),
            )
            for event in reader.read():
                record.apply(event)
                grown = True
            if row.state == "running" and record.last_step is not None:
                self.table.show_progress(row.number, progress_text(record.last_step))
            curves[row.number] = (record, reader)
        self._curves = curves
        if grown:
            self.query_one(ChartPair).show_overlay([record for record, _ in curves.values()], min_val_points=2)

    def pin(self, number: int | None) -> None:
        """Draw trial ``number``'s curves alone (None: the best few and the running ones again)."""
        self.pinned = number
        self.query_one(ContentSwitcher).current = PANELS[0]  # the curves are what enter asked for
        self._follow_curves()

    def pick(self, row: TrialRow) -> list[int]:
        """Space: add the trial to the curves compared, or take it out (as History's space; four at most)."""
        picked = self.table.picked
        self.table.picked = [n for n in picked if n != row.number] if row.number in picked else (picked + [row.number])[-4:]
        self.pinned = None
        if self.info is not None:
            self.table.show(self.info, self.rows, sweep_running=self.state == "running")
        self.query_one(ContentSwitcher).current = PANELS[0]
        self._follow_curves()
        return self.table.picked

    def selected(self) -> TrialRow | None:
        key = self.table.cursor_key()
        return next((r for r in self.rows if str(r.number) == key), None)
