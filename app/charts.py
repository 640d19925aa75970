"""Loss and accuracy charts drawn with textual-plotext.

Data arrives as often as the engine logs; the plot is rebuilt at most a few
times a second (``REDRAW_S``) and only when something changed, so a fast run
does not spend the training thread's GIL time on drawing.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual_plotext import PlotextPlot

from app.record import RunRecord

REDRAW_S = 0.4
MAX_POINTS = 400  # per series; plotext's cost grows with points, the terminal shows ~200 columns


@dataclass
class Series:
    label: str
    xs: list[float]
    ys: list[float]
    color: str
    marker: str = "braille"
    scatter: bool = False


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

    def __init__(self, title: str, *, y_max: float | None = None, placeholder: str = "waiting for data",
                 id: str | None = None, classes: str | None = None) -> None:
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

    def flush(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.redraws += 1
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        plt.xlabel("epoch")
        drawn = False
        for s in self.series:
            if not s.xs:
                continue
            xs, ys = thin(s.xs, s.ys)
            if s.scatter or len(xs) == 1:
                plt.scatter(xs, ys, label=s.label, color=s.color, marker="dot" if len(xs) > 1 else "o")
            else:
                plt.plot(xs, ys, label=s.label, color=s.color, marker=s.marker)
            drawn = True
        if drawn and self.x_extent:
            plt.xlim(0, self.x_extent)
        if drawn and self.y_max is not None:
            low = min(min(s.ys) for s in self.series if s.ys)
            plt.ylim(max(0.0, min(low, self.y_max - 1) - 0.05 * (self.y_max - low)), self.y_max)
        if not drawn:
            plt.xlim(0, 1)
            plt.ylim(0, 1)
            plt.text(self.placeholder, 0.5, 0.5, alignment="center")
        self.refresh()


def live_series(record: RunRecord, kind: str) -> list[Series]:
    if kind == "loss":
        return [Series("train (step)", record.step_x, record.step_loss, "cyan"),
                Series("train (epoch)", record.epoch_x, record.train_loss, "blue"),
                Series("val", record.val_x, record.val_loss, "orange")]
    return [Series("train (step)", record.step_x, record.step_acc, "cyan"),
            Series("train (epoch)", record.epoch_x, record.train_acc, "blue"),
            Series("val", record.val_x, record.val_acc, "orange")]


OVERLAY_COLORS = ("orange", "cyan", "magenta", "green", "red", "blue")


def overlay_series(records: list[RunRecord], kind: str) -> list[Series]:
    """Validation curves per epoch of several runs (train per step where a run has no validation)."""
    out = []
    for i, r in enumerate(records):
        color = OVERLAY_COLORS[i % len(OVERLAY_COLORS)]
        if kind == "loss":
            xs, ys, what = (r.val_x, r.val_loss, "val") if r.val_x else (r.step_x, r.step_loss, "train")
        else:
            xs, ys, what = (r.val_x, r.val_acc, "val") if r.val_x else (r.step_x, r.step_acc, "train")
        out.append(Series(f"{r.name} {what}", xs, ys, color))
    return out


class ChartPair(Horizontal):
    """Loss and accuracy side by side."""

    DEFAULT_CSS = """
    ChartPair { height: 1fr; }
    ChartPair Chart { width: 1fr; height: 1fr; min-height: 6; }
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

    def show_overlay(self, records: list[RunRecord]) -> None:
        self.loss.set_series(overlay_series(records, "loss"))
        self.accuracy.set_series(overlay_series(records, "accuracy"))
