"""The end of a run: Got X/Y, the confusion matrix, and test images drawn with half blocks."""

from __future__ import annotations

from pathlib import Path

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from lstm_vision.events import Event, PredictionsSampled, RunFinished, RunStarted, RunStopped
from lstm_vision.runs.folder import read_confusion, read_summary
from lstm_vision.metrics import macro, short_name
from app.record import RunRecord
from app.state import AppState
from app.widgets.halfblock import as_text, half_blocks, thumbnail
from lstm_vision.text import format_duration as fmt_duration, format_percent as fmt_pct, plural


def summary_text(summary: dict, status: str = "completed") -> Text:
    text = Text()
    correct, total = summary.get("test_correct"), summary.get("test_total")
    if correct is not None and total:
        text.append(f"Got {correct:,}/{total:,}", style="bold")
        text.append(" test images right · ")
        text.append(f"test accuracy {fmt_pct(summary.get('test_accuracy'))}", style="bold green")
    else:
        text.append(f"Run {status}; no test result", style="bold yellow")
    bits = []
    if summary.get("best_val_accuracy") is not None:
        bits.append(f"best val {fmt_pct(summary['best_val_accuracy'])}")
    if summary.get("train_accuracy") is not None:
        bits.append(f"train {fmt_pct(summary['train_accuracy'])}")
    if summary.get("epochs_completed") is not None:
        bits.append(plural(summary["epochs_completed"], "epoch"))
    if summary.get("train_time_s") is not None:
        bits.append(f"trained {fmt_duration(summary['train_time_s'])}")
    if summary.get("train_samples_per_s"):
        bits.append(f"{summary['train_samples_per_s']:,.0f} samples/s")
    if bits:
        text.append("\n" + " · ".join(bits), style="dim")
    classes = summary.get("per_class") or []
    if classes and summary.get("macro_f1") is not None:
        weakest = sorted(classes, key=lambda r: r["f1"])[:3]
        text.append(
            f"\nmacro F1 {fmt_pct(summary['macro_f1'])} · weakest: "
            + ", ".join(f"{r['class']} {fmt_pct(r['f1'])}" for r in weakest),
            style="dim",
        )
    return text


def cell_style(count: int, diagonal: bool, peak: int) -> Style:
    """Fixed colours with white text: readable on dark and on light themes alike."""
    if count == 0:
        return Style(dim=True)
    level = min(count / peak, 1.0) if peak else 1.0
    if diagonal:
        g = int(90 + 60 * level)
        return Style(color="white", bgcolor=f"rgb(20,{g},50)", bold=True)
    r = int(120 + 100 * level**0.5)
    return Style(color="white", bgcolor=f"rgb({r},30,30)", bold=level > 0.5)


class ConfusionMatrix(DataTable):
    """Rows: true class, columns: predicted class."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=False, cell_padding=1, **kwargs)

    def show(self, matrix: list[list[int]], class_names: list[str] | None = None) -> None:
        self.clear(columns=True)
        n = len(matrix)
        names = [str(c) for c in (class_names or [])]
        if len(names) != n:
            names = [str(i) for i in range(n)]
        short = [short_name(nm, 5) for nm in names]
        width = max([len(str(max((max(r) for r in matrix), default=0)))] + [len(s) for s in short])
        self.add_column(Text("true\\pred", style="dim"), key="label")
        for i, nm in enumerate(short):
            self.add_column(Text(nm, style="bold"), width=width, key=f"c{i}")
        off_peak = max((matrix[i][j] for i in range(n) for j in range(n) if i != j), default=0)
        diag_peak = max((matrix[i][i] for i in range(n)), default=0)
        for i, row in enumerate(matrix):
            cells = [Text(short[i], style="bold")]
            for j, count in enumerate(row):
                diagonal = i == j
                style = cell_style(count, diagonal, diag_peak if diagonal else off_peak)
                cells.append(Text(str(count) if count else "·", style=style, justify="right"))
            self.add_row(*cells, key=f"r{i}")


class PerClassTable(DataTable):
    """Precision, recall, F1 and support of each class on the test set, then their macro averages; the
    three weakest classes by F1 stand out, as the summary line names them."""

    COLUMNS = ("class", "precision", "recall", "F1", "support")

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, cell_padding=1, **kwargs)
        self.display = False  # until a run's summary has the figures

    def show(self, rows: list[dict]) -> None:
        self.clear(columns=True)
        self.display = bool(rows)
        if not rows:
            return
        for i, label in enumerate(self.COLUMNS):
            self.add_column(Text(label, style="bold", justify="left" if i == 0 else "right"), key=label)
        weakest = {r["class"] for r in sorted(rows, key=lambda r: r["f1"])[:3]}
        for r in rows:
            style = "yellow" if r["class"] in weakest else ""
            figures = [Text(fmt_pct(r[key]), style=style, justify="right") for key in ("precision", "recall", "f1")]
            self.add_row(Text(short_name(str(r["class"]), 12), style=style), *figures, Text(f"{r['support']:,}", justify="right"))
        support = sum(int(r["support"]) for r in rows)
        averages = [Text(fmt_pct(macro(rows, key)), style="bold", justify="right") for key in ("precision", "recall", "f1")]
        self.add_row(Text("macro avg", style="bold"), *averages, Text(f"{support:,}", style="bold", justify="right"))


def render_image(flat: list[int], height: int, width: int, channels: int, scale: int) -> list[Text]:
    """One test image as lines of half blocks, ``scale`` times smaller (each cell the mean of its pixels)."""
    return [as_text(line) for line in half_blocks(thumbnail(flat, height, width, channels, scale))]


class ImageGrid(Widget):
    """Test images with 'true→pred' under each; mistakes in red with ✗."""

    DEFAULT_CSS = "ImageGrid { height: auto; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sample: PredictionsSampled | None = None
        self._cache: tuple[int, Text] | None = None  # (width, drawing): a redraw is thousands of styles

    def show(self, sample: PredictionsSampled | None) -> None:
        self.sample = sample
        self._cache = None
        self.refresh(layout=True)

    def _layout(self, width: int) -> tuple[int, int, int]:
        s = self.sample
        assert s is not None
        scale = 1 if s.width * 6 <= width or s.width <= 16 else 2
        cell_w = max(s.width // scale, 7) + 1
        per_row = max(1, width // cell_w)
        return scale, cell_w, per_row

    def get_content_height(self, container, viewport, width: int) -> int:
        s = self.sample
        if s is None or not s.images:
            return 1
        scale, _, per_row = self._layout(width)
        rows = -(-len(s.images) // per_row)
        return rows * (-(-(s.height // scale) // 2) + 1)

    def render(self) -> Text:
        s = self.sample
        if s is None or not s.images:
            return Text("No test images yet.", style="dim")
        width = self.size.width or 80
        if self._cache is not None and self._cache[0] == width:
            return self._cache[1]
        scale, cell_w, per_row = self._layout(width)
        names = [str(c) for c in s.class_names] if s.class_names else []
        out = Text()
        for start in range(0, len(s.images), per_row):
            chunk = range(start, min(start + per_row, len(s.images)))
            drawn = [render_image(s.images[i], s.height, s.width, s.channels, scale) for i in chunk]
            for line_no in range(len(drawn[0])):
                for d in drawn:
                    out.append_text(d[line_no])
                    out.append(" " * (cell_w - d[line_no].cell_len))
                out.append("\n")
            for i in chunk:
                true, pred = s.labels[i], s.predictions[i]
                t = short_name(names[true], 6) if true < len(names) else str(true)
                p = short_name(names[pred], 6) if pred < len(names) else str(pred)
                ok = true == pred
                label = f"{t}→{p}" + (" ✓" if ok else " ✗")
                out.append(label[: cell_w - 1].ljust(cell_w), style="green" if ok else "bold red")
            out.append("\n")
        out.rstrip()
        self._cache = (width, out)
        return out


class ResultsView(VerticalScroll):
    DEFAULT_CSS = """
    ResultsView #result-summary { height: auto; padding: 0 1; }
    ResultsView .results-body { height: auto; }
    ResultsView #result-tables { height: auto; width: auto; }
    ResultsView ConfusionMatrix { height: auto; max-height: 24; width: auto; margin: 1 1 0 1; }
    ResultsView PerClassTable { height: auto; max-height: 24; width: auto; margin: 1 1 0 1; }
    ResultsView ImageGrid { margin: 1 1 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(Text("No results yet: start a run with F5, or open one in History (F9).", style="dim"), id="result-summary")
        with Vertical(classes="results-body"):
            with Vertical(id="result-tables"):  # beside the images where the terminal is wide (app.tcss)
                yield ConfusionMatrix(id="confusion")
                yield PerClassTable(id="per-class")
            yield ImageGrid(id="grid")

    def clear(self) -> None:
        self.scroll_home(animate=False)  # another run's results open at their top, not where the last were left
        self.query_one("#result-summary", Static).update(Text("No results yet.", style="dim"))
        self.query_one(ConfusionMatrix).clear(columns=True)
        self.query_one(PerClassTable).show([])
        self.query_one(ImageGrid).show(None)

    def show_summary(self, summary: dict, status: str = "completed", title: str = "") -> None:
        text = Text(f"{title}\n", style="bold") if title else Text()
        text.append_text(summary_text(summary, status))
        self.query_one("#result-summary", Static).update(text)
        self.query_one(PerClassTable).show(summary.get("per_class") or [])

    def show_matrix(self, matrix: list[list[int]], class_names: list[str] | None = None) -> None:
        if matrix:
            self.query_one(ConfusionMatrix).show(matrix, class_names)

    def show_predictions(self, sample: PredictionsSampled | None) -> None:
        self.query_one(ImageGrid).show(sample)

    def show(self, ev: Event, record: RunRecord) -> None:
        """An event of the run shown (``record``: the session's, which has taken it in)."""
        if isinstance(ev, RunStarted):  # a run resumed: the summary of its earlier stop is no more
            self.clear()
            if ev.start_epoch > 0:
                again = f"Training again from epoch {ev.start_epoch + 1}: its results once it ends."
                self.query_one("#result-summary", Static).update(Text(again, style="dim"))
        elif isinstance(ev, PredictionsSampled):
            self.show_predictions(ev)
        elif isinstance(ev, RunFinished):
            self.show_summary(ev.summary, AppState.COMPLETED, record.name or "")
            names = record.predictions.class_names if record.predictions else None
            self.show_matrix(ev.confusion_matrix, list(names) if names else None)
        elif isinstance(ev, RunStopped):  # stopped, or a sweep's trial its pruner cut short
            status = AppState.PRUNED if ev.summary.get("status") == AppState.PRUNED else AppState.STOPPED
            self.show_summary(ev.summary, status, record.name or "")

    def open_run(self, run_dir: Path, record: RunRecord) -> None:
        """A run of History (enter), or a sweep's trial: its summary, matrix and test images from its folder."""
        self.scroll_home(animate=False)
        summary = read_summary(run_dir) or record.summary
        self.show_summary(summary, summary.get("status", record.status), run_dir.name)
        matrix = record.finished.confusion_matrix if record.finished else read_confusion(run_dir)
        names = list(record.predictions.class_names) if record.predictions else None
        self.show_matrix(matrix, names)
        self.show_predictions(record.predictions)
