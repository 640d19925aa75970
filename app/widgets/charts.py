"""Loss and accuracy charts drawn with textual-plotext.

Data arrives as often as the engine logs; the plot is rebuilt at most a few
times a second (``REDRAW_S``) and only when something changed, so a fast run
does not spend the training thread's GIL time on drawing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from plotext._dict import color_codes
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual_plotext import PlotextPlot

from app.record import RunRecord

REDRAW_S = 0.4
MAX_POINTS = 400  # per series; plotext's cost grows with points, the terminal shows ~200 columns
STEPS = (1, 2, 2.5, 5)  # round tick steps, times a power of ten


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    color: str
    marker: str = "braille"
    scatter: bool = False
    short: str = ""  # the label where the chart is too narrow for ``label``
    anchor: bool = False  # always within the y range (validation), where others lose their first epoch


def _round_steps(span: float, max_ticks: int, steps: tuple[float, ...]):
    """Round steps (``steps`` times a power of ten) from about span / max_ticks up."""
    power = 10.0 ** math.floor(math.log10((span if span > 0 else 1.0) / max(1, max_ticks)))
    for scale in (power, power * 10, power * 100):
        for s in steps:
            yield s * scale


def nice_axis(low: float, high: float, max_ticks: int) -> tuple[float, float, list[float]]:
    """Limits widened to whole steps of the smallest round step (1, 2, 2.5 or 5 times a power of ten)
    that gives at most ``max_ticks`` ticks, and those ticks: labels a reader can interpolate between."""
    if high <= low:  # one value: a band around it (a flat loss must not show a negative axis)
        pad = abs(low) * 0.1 or 0.5
        low, high = low - pad, high + pad
    max_ticks = max(2, max_ticks)
    fits = []
    for step in _round_steps(high - low, max_ticks, STEPS):
        lo, hi = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
        n = round((hi - lo) / step) + 1
        if min(3, max_ticks) <= n <= max_ticks:  # two labels alone leave the reader guessing
            fits.append((hi - lo, -n, lo, step))
            if len(fits) == 3:
                break
    if not fits:
        return low, high, [low, high]
    # of the first steps that fit, the one that wastes the least height (0.5-1.0 by 0.25, not 0.4-1.0 by 0.2)
    _, negative_n, lo, step = min(fits)
    return lo, lo + (-negative_n - 1) * step, [lo + i * step for i in range(-negative_n)]


def tick_labels(ticks: list[float]) -> list[str]:
    """As many decimals as the step needs, the same for every label."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    exponent = math.floor(math.log10(step) + 1e-9)
    decimals = -exponent + (1 if round(step / 10.0**exponent, 6) == 2.5 else 0)
    return [f"{t:.{max(0, decimals)}f}" for t in ticks]


def epoch_ticks(extent: float, max_ticks: int) -> list[int]:
    """Whole epochs from 0 to ``extent``: 1, 2 or 5 times a power of ten apart."""
    last = int(math.ceil(extent))
    step = next(
        (int(s) for s in _round_steps(last, max_ticks, (1, 2, 5)) if s >= 1 and last // int(s) + 1 <= max_ticks), max(1, last)
    )
    return list(range(0, last + 1, step))


def y_range(drawn: list[Series]) -> tuple[float, float]:
    """The values after the first epoch (after the first quarter of a shorter curve), and all of the
    anchors (validation): the first steps' loss of 2.3 and accuracy of 10 %, and the first epoch's
    train average, would squeeze what matters, validation accuracy between 97 and 99 % say, into one
    row. The early steps leave the chart by its top or bottom edge."""
    last = max(max(s.xs) for s in drawn)
    cut = min(1.0, last / 4)
    tail = [y for s in drawn for x, y in zip(s.xs, s.ys) if s.anchor or x > cut]
    ys = tail or [y for s in drawn for y in s.ys]
    return min(ys), max(ys)


def legend(title: str, series: list[Series], width: int) -> Text:
    """The chart's title and its series, each in its line's colour: the legend plotext would draw
    over the plot's top rows, where validation accuracy lives."""
    shown = [s for s in series if s.xs]
    for short in (False, True):
        text = Text(f" {title} ")
        for s in shown:
            glyph = "o" if len(s.xs) == 1 else "•" if s.scatter else "━"  # as flush() draws it
            text.append(glyph, style=f"color({color_codes[s.color]})")
            text.append(f" {(s.short or s.label) if short else s.label} ")
        if text.cell_len <= width - 2:
            break
    return text


def thin(xs: list[float], ys: list[float], limit: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """Every k-th point (keeping the last) so a long run draws as fast as a short one."""
    if len(xs) <= limit:
        return list(xs), list(ys)
    step = -(-len(xs) // limit)
    idx = list(range(0, len(xs), step))
    if idx[-1] != len(xs) - 1:
        idx.append(len(xs) - 1)
    return [xs[i] for i in idx], [ys[i] for i in idx]


class Chart(PlotextPlot):
    """One plot whose series are replaced wholesale; drawing is deferred to a timer."""

    def __init__(
        self,
        title: str,
        *,
        y_max: float | None = None,
        placeholder: str = "waiting for data",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.y_max = y_max  # accuracy never goes past 100: do not let autoscaling suggest it
        self.series: list[Series] = []
        self.placeholder = placeholder
        self.x_extent: float | None = None  # the run's epochs: the x axis shows how far along it is
        self._dirty = True
        self.redraws = 0  # tests and the throughput check read it

    def on_mount(self) -> None:  # PlotextPlot.on_mount runs too: Textual calls handlers along the MRO
        self.set_interval(REDRAW_S, self.flush)
        self.flush()

    def set_series(self, series: list[Series], x_extent: float | None = None) -> None:
        self.series = series
        self.x_extent = x_extent
        self._dirty = True

    def on_resize(self) -> None:
        self._dirty = True  # the number of ticks that fit depends on the size

    def flush(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.redraws += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("epoch")
        self.border_title = legend(self.title, self.series, self.size.width)
        drawn = [s for s in self.series if s.xs]
        for s in drawn:  # no label=: plotext would draw its legend box over the data
            xs, ys = thin(s.xs, s.ys)
            if s.scatter or len(xs) == 1:
                plt.scatter(xs, ys, color=s.color, marker="dot" if len(xs) > 1 else "o")
            else:
                plt.plot(xs, ys, color=s.color, marker=s.marker)
        if drawn:
            self._axes(drawn)
        else:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            plt.xticks([])
            plt.yticks([])
            plt.text(self.placeholder, 0.5, 0.5, alignment="center")
        self.refresh()

    def _axes(self, drawn: list[Series]) -> None:
        """Ticks at round values, evenly spaced, and at whole epochs (plotext's own fall between)."""
        plt = self.plt
        width, height = self.size.width or 40, self.size.height or 10
        extent = self.x_extent or max(1.0, math.ceil(max(max(s.xs) for s in drawn)))
        xticks = epoch_ticks(extent, max(2, (width - 6) // 5))
        plt.xlim(0, max(extent, xticks[-1]))
        plt.xticks(xticks, [str(t) for t in xticks])
        low, high = y_range(drawn)
        if self.y_max is not None:  # accuracy: the top is 100, never beyond
            high = self.y_max
            low = max(0.0, min(low, self.y_max - 1))
        max_ticks = max(3, (height - 4) // 3 + 1)  # plot rows (less frame and x labels), a label every third
        lo, hi, yticks = nice_axis(low, high, max_ticks)
        if self.y_max is not None:
            lo, hi = max(0.0, lo), min(hi, self.y_max)
            yticks = [t for t in yticks if lo <= t <= hi]
        plt.ylim(lo, hi)
        plt.yticks(yticks, tick_labels(yticks))


def live_series(record: RunRecord, kind: str) -> list[Series]:
    if kind == "loss":
        return [
            Series("train (step)", record.step_x, record.step_loss, "cyan", short="step"),
            Series("train (epoch)", record.epoch_x, record.train_loss, "blue", short="epoch"),
            Series("val", record.val_x, record.val_loss, "orange", anchor=True),
        ]
    return [
        Series("train (step)", record.step_x, record.step_acc, "cyan", short="step"),
        Series("train (epoch)", record.epoch_x, record.train_acc, "blue", short="epoch"),
        Series("val", record.val_x, record.val_acc, "orange", anchor=True),
    ]


OVERLAY_COLORS = ("orange", "cyan", "magenta", "green", "red", "blue")


def overlay_series(records: list[RunRecord], kind: str, min_val_points: int = 1) -> list[Series]:
    """Validation curves per epoch of several runs (train per step where a run has fewer than ``min_val_points``
    validated epochs: a sweep's short or running trials draw a line, not one dot)."""
    out = []
    for i, r in enumerate(records):
        color = OVERLAY_COLORS[i % len(OVERLAY_COLORS)]
        val = len(r.val_x) >= max(1, min_val_points)
        if kind == "loss":
            xs, ys, what = (r.val_x, r.val_loss, "val") if val else (r.step_x, r.step_loss, "train")
        else:
            xs, ys, what = (r.val_x, r.val_acc, "val") if val else (r.step_x, r.step_acc, "train")
        out.append(Series(f"{r.name} {what}", xs, ys, color, short=r.name, anchor=what == "val"))
    return out


class ChartPair(Horizontal):
    """Loss and accuracy side by side."""

    DEFAULT_CSS = """
    ChartPair { height: 1fr; }
    ChartPair Chart { width: 1fr; height: 1fr; min-height: 6; border-top: hkey $primary 30%;
                      border-title-align: left; border-title-color: $text; }
    """

    def __init__(self, placeholder: str = "waiting for data", **kwargs) -> None:
        super().__init__(**kwargs)
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        yield Chart("loss", placeholder=self.placeholder, classes="loss-chart")
        yield Chart("accuracy %", y_max=100.0, placeholder=self.placeholder, classes="acc-chart")

    @property
    def loss(self) -> Chart:
        return self.query_one(".loss-chart", Chart)

    @property
    def accuracy(self) -> Chart:
        return self.query_one(".acc-chart", Chart)

    def show_record(self, record: RunRecord) -> None:
        epochs = float(record.started.epochs) if record.started and record.started.epochs else None
        self.loss.set_series(live_series(record, "loss"), epochs)
        self.accuracy.set_series(live_series(record, "accuracy"), epochs)

    def show_overlay(self, records: list[RunRecord], min_val_points: int = 1) -> None:
        self.loss.set_series(overlay_series(records, "loss", min_val_points))
        self.accuracy.set_series(overlay_series(records, "accuracy", min_val_points))
