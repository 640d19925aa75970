"""Run history: the runs in output.dir, their curves replayed from metrics.jsonl, overlaid."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import CellDoesNotExist

from lstm_vision.runs.follow import JournalStanding
from lstm_vision.runs.liveness import LIVE
from lstm_vision.runs.folder import folder_model
from lstm_vision.runs.compare import differing_settings
from lstm_vision.runs.notes import set_notes
from lstm_vision.errors import SettingsError
from app.widgets.charts import ChartPair
from app.record import RunRecord, short_paths
from lstm_vision.text import plural
from app.screens import history_columns as columns
from app.screens.history_rows import RunInfo, scan_runs
from app.state import TABS
from lstm_vision.runs.folder import BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE

__all__ = ["HistoryView", "RunInfo", "scan_runs"]  # scan_runs: History's rows, read (app/screens/history_rows.py)

RUN_KEYS = ("compare", "resume", "attach", "load_settings", "try_model", "notes")  # the keys that act on the selected run
LIVE_REFRESH_S = 2.0  # how often History looks again: live runs' status and progress, folders that came or went


class HistoryView(Vertical):
    """Enter shows a run's curves (and its results under F4); space adds it to the comparison."""

    BINDINGS = [
        Binding("space", "compare", "Compare"),
        Binding("r", "resume", "Resume"),  # short: the footer fits its five keys into 80 columns
        Binding("a", "attach", "Attach"),
        Binding("l", "load_settings", "Load settings"),
        Binding("g", "refresh", "Refresh", show=False),  # F9 refreshes too; the footer keeps room for t
        Binding("t", "try_model", "Try"),
        # not in the footer (it has no room at 80 columns): the hint line names them
        Binding("slash", "filter", "Filter", show=False),
        Binding("s", "sort", "Sort", show=False),
        Binding("n", "notes", "Notes", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    DEFAULT_CSS = """
    HistoryView DataTable { height: 1fr; min-height: 4; }
    HistoryView ChartPair { height: 2fr; }
    HistoryView #history-hint { height: auto; color: $text-muted; padding: 0 1; }
    HistoryView #history-filter { display: none; margin: 0 1; }
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
        self.runs: list[RunInfo] = []  # every run of output_dir, newest first
        self.shown: list[RunInfo] = []  # the table's rows: those the filter matches, in the order sorted by
        self.compared: list[RunRecord] = []
        self.output_dir: Path = Path("runs")
        self.filter_text = ""
        self.sort_by, self.descending = columns.NEWEST, True
        self.columns: list[columns.Column] = []
        self._headers: tuple = ()  # the columns and the sort the table's headers show
        self.left_out: list[str] = []  # differing settings without a column (no room): the hint counts them
        self._listed: set[str] = set()  # the folders in output_dir when the list was read
        self._journals: dict[Path, JournalStanding] = {}  # live and lost runs' journals, read on from scan to scan
        self._differ: tuple[tuple, dict[str, list[Any]]] = ((), {})  # (the runs it was computed for, the result)
        self._read_at: dict[str, tuple[int, int]] = {}  # a shown run's name: its journal's (size, mtime) when read
        self._overlaid = False  # the charts overlay the compared runs (space), rather than show one run's curves

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", id="runs-table")
        hint = "filter: a name, tag, note or setting's value · enter: keep · esc: clear"
        yield Input(placeholder=hint, id="history-filter", compact=True)
        yield Static("", id="history-hint")
        yield ChartPair("no run shown", id="history-charts")

    def on_mount(self) -> None:
        self.set_interval(LIVE_REFRESH_S, self._refresh_live)

    def load(self, output_dir: str | Path) -> None:
        if Path(output_dir) != self.output_dir:
            self._journals = {}
        self.output_dir = Path(output_dir)
        self._listed = self._folders()
        self.runs = scan_runs(self.output_dir, self._journals)
        differ = self._differing()
        for r in self.runs:
            r.settings = {} if r.sweep else {name: values[self.runs.index(r)] for name, values in differ.items()}
        known = {r.name for r in self.runs}
        self.compared = [r for r in self.compared if r.name in known]
        newest = next((r for r in self.runs if r.sweep is None), None)
        if not self.compared and newest:  # show the newest run's curves until the user picks one
            self.compared, self._overlaid = [self._record(newest)], False
            self.query_one(ChartPair).show_record(self.compared[0])
        else:
            self._read_grown_journals()
        self.fill()

    def _read_grown_journals(self) -> None:
        """The runs shown whose journal grew since it was read (one training, or resumed since) are read again and
        their curves redrawn: they were drawn as they stood when first shown, however far the run went on."""
        by_name = {r.name: r for r in self.runs if r.sweep is None}
        grown = {r.name for r in self.compared if r.name in by_name and _mark(by_name[r.name]) != self._read_at.get(r.name)}
        if not grown:
            return
        self.compared = [self._record(by_name[r.name]) if r.name in grown else r for r in self.compared]
        charts = self.query_one(ChartPair)
        if self._overlaid:
            charts.show_overlay(self.compared)
        else:
            charts.show_record(self.compared[0])

    def _differing(self) -> dict[str, list[Any]]:
        """differing_settings over the listed runs (a sweep's row: no settings), again only when a run came, went
        or changed its status (a resume may change its settings)."""
        listed = tuple((str(r.path), r.status if r.sweep is None else "sweep") for r in self.runs)
        if listed != self._differ[0]:
            paths = [r.path for r in self.runs if r.sweep is None]
            found = differing_settings(paths)
            at = {str(p): i for i, p in enumerate(paths)}
            values = {name: [vs[at[p]] if p in at else None for p, _ in listed] for name, vs in found.items()}
            self._differ = (listed, values)
        return self._differ[1]

    def fill(self) -> None:
        """The table from self.runs: the columns that fit its width, the rows the filter matches, sorted."""
        table = self.query_one(DataTable)
        kept = self._cursor_key()  # clear() puts the cursor on row 0: r, l, space would act on another run
        width = table.size.width or self.app.size.width
        if len(self.runs) >= (table.size.height or self.app.size.height) - 1:
            width -= 2  # the rows scroll: the scroll bar takes two columns
        sorting = self.sort_by != columns.NEWEST
        planned, self.left_out = columns.plan_columns(self.runs, list(self._differ[1]), width, arrow=sorting)
        if self.sort_by not in [c.key for c in planned] + [columns.NEWEST]:
            self.sort_by, self.descending = columns.NEWEST, True  # its column went (a setting no longer differs)
        if (planned, self.sort_by, self.descending) != self._headers:
            table.clear(columns=True)
            for column in planned:  # the column sorted by says so in its header
                arrow = (" ↓" if self.descending else " ↑") if column.key == self.sort_by else ""
                table.add_column(column.label + arrow, key=column.key, width=column.width)
            self.columns, self._headers = planned, (planned, self.sort_by, self.descending)
        else:
            table.clear()
        matched = [r for r in self.runs if columns.matches(r, self.filter_text)]
        self.shown = columns.sorted_runs(matched, self.sort_by, self.descending)
        for r in self.shown:
            table.add_row(*[columns.cell(r, c.key) for c in planned], key=str(r.path))
        if kept is not None and kept in table.rows:  # by key: a new run above it shifts its row
            table.move_cursor(row=table.get_row_index(kept), animate=False)
        self._hint()
        self.app.refresh_bindings()  # the app's t (Try) shows when the selected run has a model

    def on_resize(self) -> None:
        if self.columns and self.runs:  # wider or narrower: as many settings' columns as now fit
            self.call_after_refresh(self.fill)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # an empty list offers no key that acts on a run (the hint says F5 trains the first)
        if action == "clear_filter":
            return bool(self.filter_text) or self._filter_input().display
        return bool(self.shown) or action not in RUN_KEYS

    def _hint(self) -> None:
        sweeps = sum(r.sweep is not None for r in self.runs)
        n = len(self.runs) - sweeps
        folder = short_paths(str(self.output_dir))
        counted = ([plural(n, "run")] if n else []) + ([plural(sweeps, "sweep")] if sweeps else [])  # a sweep is no run
        where = f"{' and '.join(counted)} in {folder}" if self.runs else f"No runs in {folder} yet: F5 trains one"
        if not self.runs:
            self.query_one("#history-hint", Static).update(where)
            return
        if self.filter_text:
            where = f"{len(self.shown)} of {len(self.runs)} match /{self.filter_text} (esc clears)"
        parts = [where, f"{self._sort_label()} (s)", "/ filter", "n notes"]
        if self.left_out:
            hidden = [columns.setting_label(name, self.left_out) for name in self.left_out]
            parts.append(f"+{len(self.left_out)} differ: {', '.join(hidden[:3])}{', …' if len(hidden) > 3 else ''}")
        names = ", ".join(r.name for r in self.compared)
        parts.append(f"showing: {names}" if names else "enter shows a run's curves, space adds it to the comparison")
        self.query_one("#history-hint", Static).update(" · ".join(parts))

    def _sort_label(self) -> str:
        if self.sort_by == columns.NEWEST:
            return "newest first"
        label = next((c.label for c in self.columns if c.key == self.sort_by), self.sort_by)
        return f"by {label} {'↓' if self.descending else '↑'}"

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
        if not self.shown or table.cursor_row is None or not (0 <= table.cursor_row < len(self.shown)):
            return None
        return self.shown[table.cursor_row]

    def _record(self, info: RunInfo) -> RunRecord:
        self._read_at[info.name] = _mark(info)
        return RunRecord.from_jsonl(info.path / METRICS_FILE, name=info.name)

    # ---- filter, sort, notes ----------------------------------------------------------------------
    def _filter_input(self) -> Input:
        return self.query_one("#history-filter", Input)

    def action_filter(self) -> None:
        box = self._filter_input()
        box.display = True  # at once (a class would show it at the next refresh): a hidden box takes no focus
        box.value = self.filter_text
        self.screen.set_focus(box)  # now, not after a refresh: the keys typed after / are the filter's

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "history-filter":
            event.stop()
            self.filter_text = event.value.strip()
            self.fill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "history-filter":  # the filter stays; the keys go back to the rows
            event.stop()
            if not self.filter_text:
                self._filter_input().display = False
            self.focus_table()

    def action_clear_filter(self) -> None:
        box = self._filter_input()
        box.display = False
        self.filter_text = ""
        with box.prevent(Input.Changed):
            box.value = ""
        self.focus_table()
        self.fill()

    def action_sort(self) -> None:
        """The next column to sort by (newest first after the last column)."""
        keys = [columns.NEWEST] + [c.key for c in self.columns]
        following = keys[(keys.index(self.sort_by) + 1) % len(keys)] if self.sort_by in keys else columns.NEWEST
        self.sort_by, self.descending = following, columns.default_descending(following)
        self.fill()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        """A click on a header sorts by its column; a second click turns the order round."""
        event.stop()
        key = str(event.column_key.value)
        if key == self.sort_by:
            self.descending = not self.descending
        else:
            self.sort_by, self.descending = key, columns.default_descending(key)
        self.fill()

    def action_notes(self) -> None:
        from app.screens.dialogs import NotesScreen

        info = self._run_selected()
        if info is None:
            return

        def save(text: str | None) -> None:
            if text is None or text == info.notes:
                return
            try:
                set_notes(info.path, text)
            except SettingsError as err:
                self.notify(str(err), severity="error")
                return
            info.notes = text
            self.fill()
            self.notify(f"Saved the notes of {info.title} in its folder.")

        self.app.push_screen(NotesScreen(f"Notes of {info.title}", info.notes), save)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        info = self.selected()
        if info is None:
            return
        if info.sweep is not None:
            self.post_message(self.SweepOpened(info.path))
            return
        record = self._record(info)
        self.compared, self._overlaid = [record], False
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
        self._overlaid = True
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
        if not self.display or self.app.query_one("#main-tabs").active != TABS["history"]:
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


def _mark(info: RunInfo) -> tuple[int, int]:
    """Its journal's size and modification time: they change when the run writes to it (0, 0: no journal)."""
    try:
        stat = (info.path / METRICS_FILE).stat()
    except OSError:
        return (0, 0)
    return (stat.st_size, stat.st_mtime_ns)
