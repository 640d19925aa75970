"""Pictures in the run directory: curves.png, confusion_matrix.png, mistakes.png (matplotlib, Agg).

matplotlib is imported here only, when a picture is drawn (at an epoch's end, at most once a minute,
and at the end of a run), never on the per-step path. Figures are made with the object API
(Figure + FigureCanvasAgg), not pyplot: no global state, safe in the app's worker thread.
A picture that cannot be drawn never fails the run: the caller logs one line and goes on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_vision.atomic import atomic_write
from lstm_vision.runs.curves import Curves
from lstm_vision.runs.follow import JournalReader
from lstm_vision.runs.folder import METRICS_FILE

CURVES, CONFUSION, MISTAKES = "curves.png", "confusion_matrix.png", "mistakes.png"


def new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure, path: Path) -> None:
    # Written beside and renamed over: a viewer (or a copy off the box) never sees half a PNG. Not fsynced:
    # a picture is redrawn from the journal at the next epoch's end (a sweep's, after the next trial).
    atomic_write(path, lambda handle: figure.savefig(handle, format="png"), durable=False)


def read_curves(journal: Path) -> Curves:
    """The series that curves.png draws, from metrics.jsonl (the journal of every attempt of the run)."""
    curves = Curves()
    for event in JournalReader(journal).read():
        curves.add(event)
    return curves


def draw_curves(run_dir: Path) -> Path:
    """Loss and accuracy (train per logged step, train and val per epoch) and the learning rate."""
    s = read_curves(run_dir / METRICS_FILE)
    figure = new_figure(11, 3.6)
    loss, acc, lr = figure.subplots(1, 3)
    for ax, key, title in ((loss, "loss", "loss"), (acc, "acc", "accuracy (%)")):
        ax.plot(s.step_x, getattr(s, f"step_{key}"), color="#9ab", linewidth=0.8, label="train (step)")
        ax.plot(s.epoch_x, getattr(s, f"train_{key}"), "o-", color="#1f77b4", markersize=3, label="train (epoch)")
        ax.plot(s.val_x, getattr(s, f"val_{key}"), "s-", color="#d62728", markersize=3, label="val")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if s.val_acc:  # the band where validation accuracy lives, not the first steps' 10 %
        low = min(min(s.val_acc), min(s.train_acc or s.val_acc))
        acc.set_ylim(max(0.0, low - 2 * (100 - low) - 0.5), 100.2)
    lr.plot(s.step_x, s.lr, color="#2ca02c")
    lr.set_title("learning rate")
    lr.set_xlabel("epoch")
    lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    lr.grid(alpha=0.3)
    figure.suptitle(run_dir.name, fontsize=10)
    save_png(figure, run_dir / CURVES)
    return run_dir / CURVES


def draw_confusion(run_dir: Path, matrix: list[list[int]], class_names: list[str]) -> Path:
    """Counts and row-normalised % (recall on the diagonal), class names on the axes."""
    counts = np.asarray(matrix, dtype=np.int64)
    rows = counts.sum(1, keepdims=True)
    percent = np.divide(100.0 * counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    n = len(class_names)
    side = min(7.0, 2.5 + 0.45 * n)
    figure = new_figure(2 * side + 1, side + 0.6)
    panels = ((counts, np.log1p(counts), "counts", "{:d}"), (percent, percent, "% of the true class", "{:.1f}"))
    for k, (values, shade, title, fmt) in enumerate(panels):
        ax = figure.add_subplot(1, 2, k + 1)
        ax.imshow(shade, cmap="Blues")  # counts on a log scale: the errors show beside the diagonal
        ax.set_title(title)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(n), class_names, rotation=90 if max(map(len, class_names)) > 3 else 0, fontsize=8)
        ax.set_yticks(range(n), class_names, fontsize=8)
        if n <= 20:  # numbers in the cells while they stay readable
            dark = 0.6 * shade.max()
            for i in range(n):
                for j in range(n):
                    if values[i, j]:
                        ax.text(
                            j,
                            i,
                            fmt.format(values[i, j]),
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if shade[i, j] > dark else "black",
                        )
    save_png(figure, run_dir / CONFUSION)
    return run_dir / CONFUSION


def draw_mistakes(run_dir: Path, images, labels, predictions, confidences, class_names: list[str]) -> Path:
    """A grid of misclassified test images, each titled true -> predicted (confidence)."""
    images = np.asarray(images)  # (N, H, W, C) uint8
    count = len(images)
    columns = min(8, max(count, 1))
    grid_rows = max(1, -(-count // columns))
    figure = new_figure(max(4.0, 1.35 * columns), 1.5 * grid_rows + 0.4)
    for k in range(grid_rows * columns):
        ax = figure.add_subplot(grid_rows, columns, k + 1)
        ax.axis("off")
        if k >= count:
            continue
        image = images[k]
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
        ax.set_title(
            f"{class_names[labels[k]]} → {class_names[predictions[k]]}\n{100 * confidences[k]:.0f}%", fontsize=7, color="#b22"
        )
    if count == 0:
        figure.text(0.5, 0.5, "no misclassified test images", ha="center", va="center")
    figure.suptitle("misclassified test images: true → predicted (confidence)", fontsize=9)
    save_png(figure, run_dir / MISTAKES)
    return run_dir / MISTAKES
