"""Why a sweep's winner won, in the terminal: each setting's share of the importance as a bar (the folder's
importance.csv), and the parallel coordinates of its complete trials (lstm_vision/sweep/parallel.py's view, the
one parallel.png draws), both read from the sweep folder by the Sweep tab."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget
from textual_plotext import PlotextPlot

from lstm_vision.sweep.importance import MIN_JUDGED
from lstm_vision.sweep.parallel import ParallelView
from lstm_vision.text import format_metric, format_share

BAR = "█"
WORST, BEST = (200, 60, 60), (60, 200, 90)  # a line's colour from the worst metric to the best
BEST_COLOR = "cyan+"  # the best trial's line, drawn last over the others


def importance_lines(pairs: list[tuple[str, float]], labels: list[str], width: int) -> Text:
    """One line per setting: its label, a bar as long as its share of the widest bar, the share in percent."""
    if not pairs:
        return Text(
            f" No importance yet: it is judged once {MIN_JUDGED} trials are complete or pruned (importance.csv).",
            style="dim",
        )
    name_width = min(max(len(label) for label in labels), max(8, width // 3))
    room = max(4, width - name_width - 9)  # the label, two spaces, the bar, " 100%"
    top = max(share for _, share in pairs) or 1.0
    text = Text()
    for i, ((_, share), label) in enumerate(zip(pairs, labels)):
        text.append(f" {label[:name_width]:<{name_width}}  ", style="bold" if i == 0 else "")
        text.append(BAR * max(1 if share > 0 else 0, round(room * share / top)), style="green" if i == 0 else "cyan")
        text.append(f" {format_share(share)}\n")
    text.rstrip()
    return text


class ImportanceBars(Widget):
    """importance.csv as bars, most important first (it is written in that order)."""

    DEFAULT_CSS = "ImportanceBars { height: auto; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pairs: list[tuple[str, float]] = []
        self.labels: list[str] = []

    def show(self, pairs: list[tuple[str, float]], labels: list[str]) -> None:
        if (pairs, labels) != (self.pairs, self.labels):
            self.pairs, self.labels = pairs, labels
            self.refresh(layout=True)

    def render(self) -> Text:
        return importance_lines(self.pairs, self.labels, self.size.width or 80)


def shade_color(shade: float) -> tuple[int, int, int]:
    return tuple(round(w + shade * (b - w)) for w, b in zip(WORST, BEST))  # type: ignore[return-value]


class ParallelPlot(PlotextPlot):
    """An axis per setting and one for the metric, one line per complete trial coloured by its metric, the best
    last in its own colour; each axis's own ticks written beside it (one y scale cannot hold them all)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.view: ParallelView | None = None
        self.labels: list[str] = []

    def show(self, view: ParallelView, labels: list[str]) -> None:
        if (view, labels) != (self.view, self.labels):
            self.view, self.labels = view, labels
            self.draw()

    def on_resize(self) -> None:
        self.draw()

    def draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        view = self.view
        axes = len(view.axes) if view else 0
        plt.xlim(-0.1, max(axes - 1, 1) + 0.6)  # room right of the last axis for its tick labels
        plt.ylim(-0.05, 1.05)
        plt.yticks([])
        if view is None or not view.lines:
            plt.xticks([])
            plt.text("no complete trial yet", 0.5, 0.5, alignment="center")
            self.refresh()
            return
        plt.xticks(list(range(axes)), self.labels)
        for i in range(axes):
            plt.vline(i, "gray")
        for line in view.lines:
            color = BEST_COLOR if line.best else shade_color(line.shade)
            # a value an axis does not hold breaks the line there
            run: list[tuple[int, float]] = []
            for x, y in [*enumerate(line.positions), (axes, None)]:
                if y is None:
                    if len(run) > 1:
                        plt.plot([p[0] for p in run], [p[1] for p in run], color=color, marker="braille")
                    run = []
                else:
                    run.append((x, y))
        for i, axis in enumerate(view.axes):
            for position, label in axis.ticks:
                plt.text(label, i + 0.03, position, alignment="left", color="white")
        best = next((line for line in view.lines if line.best), None)
        if best is not None:
            plt.title(f"best: #{best.number}, {format_metric(view.metric, best.metric)}")
        self.refresh()
