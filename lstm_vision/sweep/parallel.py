"""Parallel coordinates of a sweep: an axis per setting and one for the metric, one line per complete trial.

``parallel_view`` is the picture without the drawing: each axis normalised to 0..1 (bottom to top; a log range on
a log scale, a list's values evenly spaced, numbers going up) with its ticks, and each line's positions and shade
(0 the worst metric, 1 the best), the best line last. It reads what any viewer has (the folder's sweep.toml as
folder.read_folder_sweep gives it, trials.csv's rows) and needs neither Optuna nor a terminal, so the app's Sweep
tab can draw the same view in text. ``draw_parallel`` draws it with matplotlib as parallel.png.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lstm_vision.sweep.folder import TrialRow
from lstm_vision.sweep.spec import SweepSpec, value_text
from lstm_vision.text import format_metric, format_number, format_percent

RANGE_TICKS = 3  # low, middle, high on a range's axis


@dataclass(frozen=True)
class Axis:
    name: str  # a setting's dotted name, or the metric's
    log: bool  # a log range, drawn on a log scale
    ticks: tuple[tuple[float, str], ...]  # (position 0..1, label)


@dataclass(frozen=True)
class Line:
    number: int  # the trial's, from 1
    metric: float
    positions: tuple[float | None, ...]  # 0..1 on each axis in order (None: a value the axis does not hold)
    shade: float  # 0: the worst metric among the lines, 1: the best
    best: bool


@dataclass(frozen=True)
class ParallelView:
    axes: tuple[Axis, ...]  # the settings in [space]'s order, then the metric
    lines: tuple[Line, ...]  # complete trials by number, the best one last
    metric: str
    direction: str  # "maximize" | "minimize"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _range_axis(name: str, low: float, high: float, log: bool, values: list[str]) -> tuple[Axis, list[float | None]]:
    log = log and low > 0

    def place(x: float) -> float:
        if high <= low:
            return 0.5
        where = (math.log(x) - math.log(low)) / (math.log(high) - math.log(low)) if log else (x - low) / (high - low)
        return min(1.0, max(0.0, where))

    steps = [i / (RANGE_TICKS - 1) for i in range(RANGE_TICKS)]
    ticks = [low * (high / low) ** f if log else low + f * (high - low) for f in steps]
    positions = [place(x) if (x := _number(v)) is not None and (x > 0 or not log) else None for v in values]
    return Axis(name, log, tuple((place(t), format_number(float(t))) for t in ticks)), positions


def _list_axis(name: str, listed: list, values: list[str]) -> tuple[Axis, list[float | None]]:
    labels = [value_text(v) for v in listed]
    if all(_number(label) is not None for label in labels):  # numbers go up the axis, whatever the list's order
        labels.sort(key=lambda label: _number(label))
    spots = [0.5] if len(labels) == 1 else [i / (len(labels) - 1) for i in range(len(labels))]
    numbers = {label: _number(label) for label in labels}

    def spot(text: str) -> float | None:
        if text in labels:
            return spots[labels.index(text)]
        x = _number(text)  # 0.001 in trials.csv for a list that reads 1e-3 in the sweep file
        return next((s for label, s in zip(labels, spots) if x is not None and numbers[label] == x), None)

    ticks = tuple((s, format_number(label)) for s, label in zip(spots, labels))
    return Axis(name, False, ticks), [spot(v) for v in values]


def parallel_view(spec: SweepSpec, rows: list[TrialRow]) -> ParallelView:
    """The normalised axes and lines of the complete trials among ``rows``, for the sweep ``spec`` (a viewer's:
    folder.read_folder_sweep)."""
    done = sorted((r for r in rows if r.state == "complete" and r.metric is not None), key=lambda r: r.number)
    axes, columns = [], []
    for dim in spec.space:
        values = [r.params.get(dim.name, "") for r in done]
        if dim.values is None:
            axis, places = _range_axis(dim.name, float(dim.low), float(dim.high), dim.log, values)
        else:
            axis, places = _list_axis(dim.name, list(dim.values), values)
        axes.append(axis)
        columns.append(places)
    metric, direction = spec.metric, spec.direction
    metrics = [float(r.metric) for r in done]
    low, high = (min(metrics), max(metrics)) if metrics else (0.0, 1.0)
    _, metric_places = _range_axis(metric, low, high, False, [repr(m) for m in metrics])
    shown = format_percent if metric == "val_accuracy" else format_number
    axes.append(Axis(metric, False, tuple((p, shown(v)) for p, v in zip((0.0, 1.0), (low, high)))))
    best = (max if direction == "maximize" else min)(done, key=lambda r: r.metric) if done else None
    lines = []
    for i, row in enumerate(done):
        shade = metric_places[i] if direction == "maximize" else 1.0 - metric_places[i]
        positions = tuple(column[i] for column in columns) + (metric_places[i],)
        lines.append(Line(row.number, float(row.metric), positions, shade, row is best))
    lines.sort(key=lambda line: line.best)  # the best drawn last, over the others
    return ParallelView(tuple(axes), tuple(lines), metric, direction)


def draw_parallel(view: ParallelView, path: Path, title: str) -> None:
    """parallel.png: the lines coloured by their metric (viridis: yellow the best), the best one thick and
    starred, each axis with its values."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from lstm_vision.report.plots import new_figure, save_png

    figure = new_figure(max(6.0, 2.0 * len(view.axes) + 1.5), 4.6)
    ax = figure.subplots()
    cmap = colormaps["viridis"]
    xs = list(range(len(view.axes)))
    for line in view.lines:
        points = [(x, y) for x, y in zip(xs, line.positions) if y is not None]
        style = dict(color="tab:red", lw=2.8, zorder=5, marker="*", ms=11) if line.best else dict(color=cmap(line.shade), lw=1.3)
        ax.plot([x for x, _ in points], [y for _, y in points], alpha=1.0 if line.best else 0.75, **style)
    for x, axis in zip(xs, view.axes):
        ax.axvline(x, color="0.35", lw=0.9, zorder=1)
        for y, label in axis.ticks:
            ax.text(x + 0.04, y, label, fontsize=7.5, va="center", color="0.25", zorder=6)
    ax.set_xticks(xs, [f"{a.name}\n(log)" if a.log else a.name for a in view.axes], fontsize=8)
    ax.set_xlim(-0.25, len(xs) - 0.55)
    ax.set_ylim(-0.06, 1.1)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    scale = 100.0 if view.metric == "val_accuracy" else 1.0  # the colour bar in percent, as the axis reads
    metrics = [scale * line.metric for line in view.lines] or [0.0, 1.0]
    low, high = min(metrics), max(metrics)
    colours = cmap if view.direction == "maximize" else cmap.reversed()  # yellow the best: a low val_loss
    bar = figure.colorbar(ScalarMappable(norm=Normalize(low, high), cmap=colours), ax=ax, pad=0.02, fraction=0.04)
    unit = " (%)" if view.metric == "val_accuracy" else ""
    bar.set_label(f"{view.metric}{unit} ({'higher' if view.direction == 'maximize' else 'lower'} is better: yellow)", fontsize=8)
    best = next((line for line in view.lines if line.best), None)
    marked = f"; best (red, starred): trial {best.number}, {format_metric(view.metric, best.metric)}" if best else ""
    ax.set_title(title + marked, fontsize=10)
    save_png(figure, path)
