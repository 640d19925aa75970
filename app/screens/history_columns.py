"""History's columns: what tells the listed runs apart, computed from their folders, never configured: the run's
name, its tags and the settings whose values differ between the runs listed (runs/compare.differing_settings),
as many as the table's width holds (the rest counted in the hint), then where each run stands. Also the text
``/`` filters on and the order each column sorts in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text

from lstm_vision.text import format_duration as fmt_duration, format_number, format_percent as fmt_pct

if TYPE_CHECKING:
    from app.screens.history_rows import RunInfo

STATUS_STYLES = {
    "completed": "green",
    "stopped": "yellow",
    "failed": "red",
    "running": "bold cyan",
    "paused": "bold yellow",
    "starting": "cyan",
    "lost": "bold red",
}
NEWEST = "newest"  # the order before any column is chosen: the newest run first
SETTING = "set:"  # a setting's column key: "set:model.hidden_size"
# Where each run stands, after the columns that tell runs apart; the numbers sort best (highest) first.
STANDING = ("status", "epochs", "best val", "test", "time")
LABELS = {"epochs": "ep", "best val": "val"}  # short headers: 80 columns hold more of what tells runs apart
ARROW = 2  # " ↓" after the header of the column sorted by
NUMERIC = frozenset({"epochs", "best val", "test", "time", NEWEST})
TAGS_WIDTH = 12  # at most: a long list of tags leaves room for the settings that differ
NOTES_MIN = 10  # the notes column shows when this much room is left (it is cropped to what is left)
PADDING = 2  # a DataTable cell's padding, one space each side
# Short headers for settings that often differ, so that more of them fit in 80 columns
SHORT = {
    "learning_rate": "lr",
    "hidden_size": "hidden",
    "num_layers": "layers",
    "batch_size": "batch",
    "weight_decay": "wd",
    "bidirectional": "bidir",
    "label_smoothing": "smooth",
    "grad_accum_steps": "accum",
    "sequence_length": "seq",
    "input_size": "input",
}


@dataclass(frozen=True)
class Column:
    key: str  # "run", "tags", "set:<dotted name>", "notes", or one of STANDING
    label: str
    width: int | None = None  # fixed (cropped) width; None: as wide as its cells


def setting_label(name: str, names: list[str]) -> str:
    key = name.rpartition(".")[2]
    short = SHORT.get(key, key if len(key) <= 10 else key[:9] + "…")
    clash = sum(n.rpartition(".")[2] == key for n in names) > 1  # data.x and model.x: say whose
    return name if clash else short


def value_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, (list, tuple)):
        return ",".join(value_text(v) for v in value)
    return str(value)


def cell_text(info: RunInfo, key: str) -> str:
    """A cell's text, as the table shows it (and as the columns are measured)."""
    sweep = info.sweep
    if key == "run":
        return info.title
    if key == "tags":
        tags = ",".join(info.tags)
        return tags if len(tags) <= TAGS_WIDTH else tags[: TAGS_WIDTH - 1] + "…"
    if key == "notes":
        return " ".join(info.notes.split())
    if key.startswith(SETTING):
        return "" if sweep else value_text(info.settings.get(key[len(SETTING) :]))
    if key == "status":
        return f"sweep {info.status}" if sweep else info.status + info.progress
    if key == "epochs":
        return sweep.trials if sweep else "-" if info.epochs is None else str(info.epochs)
    if key == "best val":
        return sweep.best if sweep else fmt_pct(info.best_val)
    if key == "test":
        return "-" if sweep else fmt_pct(info.test_acc)
    return fmt_duration(info.train_time_s)


def cell(info: RunInfo, key: str) -> str | Text:
    text = cell_text(info, key)
    return Text(text, style=STATUS_STYLES.get(info.status, "dim")) if key == "status" else text


def _width(runs: list[RunInfo], key: str, label: str) -> int:
    return max([len(label)] + [len(cell_text(r, key)) for r in runs]) + PADDING


def plan_columns(runs: list[RunInfo], differ: list[str], width: int, arrow: bool = False) -> tuple[list[Column], list[str]]:
    """The columns for ``width`` cells and the differing settings left out for want of room (in the schema's
    order): the name and where each run stands always (``arrow``: room for the sorted column's arrow); the tags if any run has some; then the settings that
    differ, as many as fit; the notes in what is left."""
    standing = [Column(key, LABELS.get(key, key)) for key in STANDING]
    room = width - (ARROW if arrow else 0) - _width(runs, "run", "run") - sum(_width(runs, c.key, c.label) for c in standing)
    middle: list[Column] = []
    if any(r.tags for r in runs):
        tags_width = _width(runs, "tags", "tags")
        middle.append(Column("tags", "tags"))
        room -= tags_width
    left_out = []
    for name in differ:
        key, label = SETTING + name, setting_label(name, differ)
        needed = _width(runs, key, label)
        if needed <= room and not left_out:  # in the schema's order: none after the first that does not fit
            middle.append(Column(key, label))
            room -= needed
        else:
            left_out.append(name)
    notes = [Column("notes", "notes", min(room, _width(runs, "notes", "notes")) - PADDING)]
    shown_notes = notes if any(r.notes for r in runs) and room >= NOTES_MIN + PADDING else []
    return [Column("run", "run"), *middle, *standing, *shown_notes], left_out


def matches(info: RunInfo, text: str) -> bool:
    """Each word of ``text`` is in the run's name, folder, tags, notes, status or a differing setting's value;
    a word with ``=`` in a setting's ``name=value``; case ignored. A setting's name alone does not match: every
    run has every setting, so "learning" would find all runs, not the ones whose notes say it."""
    words = text.lower().split()
    if not words:
        return True
    values = {name: value_text(value) for name, value in info.settings.items()}
    hay = " ".join([info.title, info.name, *info.tags, info.notes, info.status, *values.values()]).lower()
    pairs = " ".join(f"{name}={text}" for name, text in values.items()).lower()
    return all(word in (pairs if "=" in word else hay) for word in words)


def sort_value(info: RunInfo, key: str) -> Any:
    """What ``key``'s column sorts ``info`` by; None (sorted last either way) where the run has no value."""
    if key == NEWEST:
        return info.mtime
    if key.startswith(SETTING):
        value = None if info.sweep else info.settings.get(key[len(SETTING) :])
        return value if value is None or isinstance(value, (int, float)) else value_text(value)
    values = {
        "run": info.title.lower(),
        "tags": ",".join(info.tags).lower() or None,
        "notes": info.notes.lower() or None,
        "status": info.status,
        "epochs": None if info.sweep else info.epochs,
        "best val": None if info.sweep else info.best_val,
        "test": None if info.sweep else info.test_acc,
        "time": info.train_time_s,
    }
    return values.get(key)


def sorted_runs(runs: list[RunInfo], key: str, descending: bool) -> list[RunInfo]:
    """``runs`` by ``key``'s column, those without a value last; ties keep the newest first."""
    by_time = sorted(runs, key=lambda r: r.mtime, reverse=True)
    present = [r for r in by_time if sort_value(r, key) is not None]
    missing = [r for r in by_time if sort_value(r, key) is None]
    try:
        present.sort(key=lambda r: sort_value(r, key), reverse=descending)
    except TypeError:  # values of mixed kinds (a setting read as text in one run): by their text
        present.sort(key=lambda r: str(sort_value(r, key)), reverse=descending)
    return present + missing


def default_descending(key: str) -> bool:
    return key in NUMERIC
