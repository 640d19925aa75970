"""A model's class probabilities as horizontal bars, the most probable first where not all classes fit."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from lstm_vision.metrics import short_name

BAR_MAX_WIDTH = 60  # longer bars put the percentages too far from the names
EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``width`` columns filled to ``fraction``, in eighths of a column."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)


class ProbabilityBars(Widget):
    """One row per class: short name, a bar, the percentage; the top class in bold. Too many classes for
    the height: the most probable ones, in order of probability."""

    DEFAULT_CSS = "ProbabilityBars { height: 1fr; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.names: list[str] = []
        self.probabilities: list[float] | None = None

    def show(self, names: list[str], probabilities: list[float] | None) -> None:
        self.names, self.probabilities = names, probabilities
        self.refresh()

    def render(self) -> Text:
        if not self.names:
            return Text("Loading the model…", style="dim")
        probs = self.probabilities or [0.0] * len(self.names)
        order = list(range(len(self.names)))
        rows = max(1, self.size.height - 1)
        if len(order) > rows:  # the most probable first, and a line saying how many are left out
            order = sorted(order, key=lambda k: -probs[k])[: max(1, rows - 1)]
        labels = {k: short_name(self.names[k]) for k in order}
        label_w = min(max(len(v) for v in labels.values()), 12)
        bar_w = max(4, min(self.size.width - label_w - 9, BAR_MAX_WIDTH))
        top = max(range(len(probs)), key=probs.__getitem__) if self.probabilities else None
        text = Text()
        for k in order:
            style = "bold" if k == top else ""
            text.append(labels[k][:label_w].rjust(label_w) + " ", style=style)
            text.append(bar(probs[k], bar_w), style="bold green" if k == top else "blue")
            text.append(f" {100 * probs[k]:5.1f}%\n" if self.probabilities else "\n", style=style)
        if len(order) < len(self.names):
            left = len(self.names) - len(order)
            text.append(f"… {left} classes less likely" if self.probabilities else f"… {left} more classes", style="dim")
        text.rstrip()
        return text
