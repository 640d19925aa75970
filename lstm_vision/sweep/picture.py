"""sweep.png: the metric per trial with the best so far, then each parameter against the metric, then the settings'
importances (importance.csv) once there are any; every point labelled with its trial's number and the best trial
starred, so the picture reads alongside trials.csv.
matplotlib's object API, as report/plots.py draws a run's pictures."""

from __future__ import annotations

import math
from pathlib import Path

from lstm_vision.sweep.folder import TrialRow
from lstm_vision.sweep.spec import Dimension, SweepSpec, value_text
from lstm_vision.text import format_percent, format_share

STYLE = {"complete": dict(marker="o", color="tab:blue"), "pruned": dict(marker="x", color="tab:gray")}
LABELLED_UP_TO = 40  # trial numbers beside the points; more would be a smudge


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _best(spec: SweepSpec, rows: list[TrialRow]) -> TrialRow | None:
    complete = [r for r in rows if r.state == "complete"]
    if not complete:
        return None
    return (max if spec.direction == "maximize" else min)(complete, key=lambda r: r.metric)


def _shown(spec: SweepSpec, value: float) -> str:
    return format_percent(value) if spec.metric == "val_accuracy" else f"{value:.4f}"


def draw_sweep(spec: SweepSpec, rows: list[TrialRow], path: Path, ranked: list[tuple[str, float]] | None = None) -> None:
    from lstm_vision.report.plots import new_figure, save_png

    scale = 100.0 if spec.metric == "val_accuracy" else 1.0
    label = "val accuracy (%)" if spec.metric == "val_accuracy" else "val loss"
    shown = [r for r in rows if r.state in STYLE and r.metric is not None]
    best = _best(spec, shown)
    panels = 1 + len(spec.space) + (1 if ranked else 0)
    columns = min(3, panels)
    lines = -(-panels // columns)
    figure = new_figure(4.4 * columns, 3.4 * lines)
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    _trials_panel(axes[0], spec, shown, best, scale, label)
    for ax, dim in zip(axes[1:], spec.space):
        _param_panel(ax, dim, shown, best, scale, label)
    if ranked:
        _importance_panel(axes[1 + len(spec.space)], ranked)
    for ax in axes[panels:]:
        ax.set_visible(False)
    done = f"{len(shown)} of {spec.total} trials judged"
    head = f"best: trial {best.number}, {_shown(spec, best.metric)}" if best else "no trial complete yet"
    figure.suptitle(f"Sweep {spec.name} ({spec.method}): {done}; {head}", fontsize=11)
    save_png(figure, path)


def _importance_panel(ax, ranked: list[tuple[str, float]]) -> None:
    """A bar per setting, the most important on top, each with its share."""
    names = [name for name, _ in ranked][::-1]
    shares = [100 * share for _, share in ranked][::-1]
    bars = ax.barh(range(len(names)), shares, color="tab:green", height=0.6)
    ax.bar_label(bars, [format_share(share) for _, share in ranked][::-1], padding=3, fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlim(0, 115)
    ax.set_xlabel("share of the importance (%)")
    ax.set_title("which setting mattered (PED-ANOVA)", fontsize=10)
    ax.grid(alpha=0.3, axis="x")


def _points(ax, xs: list[float], rows: list[TrialRow], best: TrialRow | None, scale: float) -> None:
    """The trials as points (complete o, pruned x), each with its number; the best one starred."""
    ax.margins(y=0.1)  # room for the numbers beside the outermost points
    for state, style in STYLE.items():
        mine = [(x, r) for x, r in zip(xs, rows) if r.state == state]
        if mine:
            label = "complete" if state == "complete" else "pruned (its last epoch)"
            ax.scatter([x for x, _ in mine], [scale * r.metric for _, r in mine], s=26, zorder=3, label=label, **style)
    if len(rows) <= LABELLED_UP_TO:
        for x, row in zip(xs, rows):
            ax.annotate(
                str(row.number), (x, scale * row.metric), xytext=(4, 3), textcoords="offset points", fontsize=7, color="0.3"
            )
    if best is not None and best in rows:
        x = xs[rows.index(best)]
        ax.scatter([x], [scale * best.metric], s=140, marker="*", color="tab:orange", zorder=4, label="best")


def _trials_panel(ax, spec: SweepSpec, shown: list[TrialRow], best: TrialRow | None, scale: float, label: str) -> None:
    from matplotlib.ticker import MaxNLocator

    _points(ax, [r.number for r in shown], shown, best, scale)
    so_far, xs, ys = None, [], []
    for row in sorted((r for r in shown if r.state == "complete"), key=lambda r: r.number):
        if so_far is None or (row.metric > so_far if spec.direction == "maximize" else row.metric < so_far):
            so_far = row.metric
        xs.append(row.number)
        ys.append(scale * so_far)
    if xs:
        last = max(r.number for r in shown)
        ax.step([*xs, last], [*ys, ys[-1]], where="post", color="tab:orange", label="best so far", zorder=2)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(x=0.06)
    ax.set_xlabel("trial")
    ax.set_ylabel(label)
    ax.set_title(f"{spec.metric} per trial", fontsize=10)
    ax.grid(alpha=0.3)
    if shown:
        ax.legend(fontsize=7, loc="best")


def _param_panel(ax, dim: Dimension, shown: list[TrialRow], best: TrialRow | None, scale: float, label: str) -> None:
    texts = [r.params.get(dim.name, "") for r in shown]
    numbers = [_as_number(t) for t in texts]
    listed = [value_text(v) for v in dim.values] if dim.values is not None else []
    if dim.values is not None and any(n is None for n in map(_as_number, listed)):  # words: one column each
        xs = [listed.index(t) if t in listed else -1 for t in texts]
        ax.set_xticks(range(len(listed)), listed, fontsize=8)
        ax.set_xlim(-0.5, len(listed) - 0.5)
    else:
        xs = [n if n is not None else float("nan") for n in numbers]
        _number_axis(ax, dim, [float(v) for v in listed] if listed else [dim.low, dim.high], listed)
    _points(ax, xs, shown, best, scale)
    ax.set_xlabel(dim.name)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)


def _number_axis(ax, dim: Dimension, ends: list[float], listed: list[str]) -> None:
    """A setting's axis: log where the range asks for it or spans a decade; a list's values as its ticks, all
    of them shown even where no trial has one yet; a log range's ticks plainly written, as many as fit."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = min(ends), max(ends)
    log = dim.log or (low > 0 and high / low >= 10)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(low / (high / low) ** 0.06, high * (high / low) ** 0.06)
    elif high > low:
        ax.set_xlim(low - 0.06 * (high - low), high + 0.06 * (high - low))
    if listed:
        ax.set_xticks(ends, listed, fontsize=8)
        ax.minorticks_off()
    elif log:
        decades = math.log10(high / low)
        subs = (1.0, 2.0, 5.0) if decades <= 1.5 else (1.0, 3.0) if decades <= 2.5 else (1.0,)  # labels that fit
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(axis="x", labelsize=8)
