"""Try a trained model: draw on a canvas of its image size and watch its class probabilities follow;
open an image file; step through the test set's mistakes.

The model is loaded, and every prediction made, in thread workers: the screen never waits on torch. One
prediction runs at a time, on the canvas as it is when it starts; changes made meanwhile are predicted
together when it ends, so a fast stroke costs a few predictions, not one per mouse move.
"""

from __future__ import annotations

from pathlib import Path

import torch
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from lstm_vision.data.images import UnreadableImage, read_image
from lstm_vision.use.loaded_model import TrainedModel, load_trained
from app.widgets.canvas import Canvas
from app.widgets.probability_bars import ProbabilityBars
from app.screens.dialogs import PathScreen
from app.screens.mistakes import MistakeBrowsing
from app.record import short_paths

BARS_MIN_WIDTH = 30  # columns the bars keep beside the canvas
INFO_LINES = 1  # under the canvas: the pen
DRAW_PROMPT = "Draw: the left button draws, the right one erases."
EDITED = " · edited"
HINT = "arrows and space: pen · o: open an image · n / p: mistakes"


class TryScreen(MistakeBrowsing, Screen):
    """Pushed over the main screen with a run folder or a checkpoint; escape goes back."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("o", "open_image", "Open"),
        Binding("n", "mistake(1)", "Mistake"),
        Binding("p", "mistake(-1)", "Prev", show=False),
    ]
    DEFAULT_CSS = """
    TryScreen #try-title { height: 1; background: $panel; padding: 0 1; }
    TryScreen #try-body { height: 1fr; }
    TryScreen #try-left { width: auto; height: 1fr; }
    TryScreen #try-canvas-box { width: auto; height: auto; border: round $primary; }
    TryScreen #try-canvas-box:focus-within { border: round $accent; }
    TryScreen #try-pen { width: auto; padding: 0 1; }
    TryScreen #try-right { width: 1fr; height: 1fr; padding: 0 1; }
    TryScreen #try-verdict { height: 1; text-style: bold; margin-top: 1; }
    TryScreen ProbabilityBars { height: 1fr; }
    TryScreen #try-info { height: auto; dock: bottom; color: $text-muted; }
    """

    class Predicted(Message):
        """Posted from the prediction thread: probabilities of the canvas as it was at ``version``."""

        def __init__(self, version: int, probabilities: list[float]) -> None:
            super().__init__()
            self.version, self.probabilities = version, probabilities

    def __init__(self, source: str | Path) -> None:
        super().__init__()
        self.source = Path(source)
        self.model: TrainedModel | None = None
        self.probabilities: list[float] | None = None
        self.shown_version = -1  # the canvas version the bars show
        self.showing = DRAW_PROMPT
        self._predicting = False
        self.opened: Path | None = None  # the last image file opened: o starts in its folder

    def compose(self) -> ComposeResult:
        yield Static(f"Try {short_paths(str(self.source))}: loading…", id="try-title")
        with Horizontal(id="try-body"):
            with Vertical(id="try-left"):
                with Vertical(id="try-canvas-box"):
                    yield Canvas(id="try-canvas")
                yield Static("", id="try-pen")
            with Vertical(id="try-right"):
                yield Static("", id="try-verdict")
                yield ProbabilityBars(id="try-bars")
                yield Static("", id="try-info")
        yield Footer()

    @property
    def canvas(self) -> Canvas:
        return self.query_one(Canvas)

    def on_mount(self) -> None:
        self.canvas.focus()
        self._fit()
        self._show_info()
        self._load()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """The largest whole scale at which the canvas, the lines under it and the bars fit the screen, or
        the smallest shrink (every k-th pixel shown) for an image too big at scale 1."""
        h, w = self.canvas.shape[:2]
        rows = self.size.height - 2 - 2 - INFO_LINES  # title, footer, the canvas's border
        cols = self.size.width - BARS_MIN_WIDTH - 2
        scale = min(cols // w, 2 * rows // h)
        # too big even at scale 1: every k-th pixel, the smallest k that fits
        shrink = max(-(-w // max(1, cols)), -(-h // max(1, 2 * rows)), 1) if scale < 1 else 1
        self.canvas.set_scale(max(1, scale), shrink)

    # ---- the model ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="try-load", exit_on_error=False)
    def _load(self) -> TrainedModel:
        # on the CPU: one image at a time is latency, not throughput, and a GPU may be busy training
        return load_trained(self.source, device="cpu")

    def _loaded(self, model: TrainedModel) -> None:
        self.model = model
        h, w, c = model.image_shape
        name = self.source.name if self.source.is_dir() else short_paths(str(model.path))
        self.query_one("#try-title", Static).update(
            f"Try {name}: {w}x{h}{' RGB' if c == 3 else ''} images, {len(model.class_names)} classes"
        )
        self.canvas.reset(model.image_shape)  # its Changed asks for the first prediction
        self._fit()
        self.query_one(ProbabilityBars).show(model.class_names, None)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker of this screen ends here: results land, errors become one notification."""
        worker = event.worker
        if not worker.group.startswith("try-") or event.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        event.stop()
        if worker.group == "try-predict":
            self._predicting = False
        if event.state == WorkerState.SUCCESS:
            if worker.group == "try-load":
                self._loaded(worker.result)
            elif worker.group == "try-mistakes":
                self._mistakes_loaded(worker.result)
            elif worker.group == "try-predict":
                self._predict_latest()
        elif event.state == WorkerState.ERROR:
            self.app.notify(_sentence(worker.error, worker.group, self.source), severity="error", timeout=10)
            if worker.group == "try-load":
                self.dismiss()
            elif worker.group == "try-mistakes":
                self._mistake_step = 0
                self._show_info()

    # ---- predictions --------------------------------------------------------------------------
    def on_canvas_changed(self, event: Canvas.Changed) -> None:
        event.stop()
        if event.how == "cleared":
            self.showing, self.mistake = DRAW_PROMPT, None
        elif event.how == "drawn" and not self.showing.endswith(EDITED) and self.showing != DRAW_PROMPT:
            self.showing, self.mistake = self.showing + EDITED, None
        self._show_info()
        self._predict_latest()

    def on_canvas_pen_changed(self, event: Canvas.PenChanged) -> None:
        event.stop()
        self._show_info()

    def _predict_latest(self) -> None:
        """Predict the canvas unless the bars show it already or a prediction is running (its end calls again)."""
        if self.model is None or self._predicting or self.shown_version == self.canvas.version:
            return
        if not self.canvas.image.any():  # a blank canvas: its answer would be noise, not a prediction
            self.probabilities, self.shown_version = None, self.canvas.version
            self.query_one(ProbabilityBars).show(self.model.class_names, None)
            self.query_one("#try-verdict", Static).update("draw a digit, or o to open an image")
            return
        self._predicting = True
        self._predict(self.model, self.canvas.version, self.canvas.image.clone())

    @work(thread=True, group="try-predict", exit_on_error=False)
    def _predict(self, model: TrainedModel, version: int, image: torch.Tensor) -> None:
        probabilities = model.probabilities(image[None])[0].tolist()
        if not get_current_worker().is_cancelled:
            self.post_message(self.Predicted(version, probabilities))

    def on_try_screen_predicted(self, message: Predicted) -> None:
        self.probabilities, self.shown_version = message.probabilities, message.version
        assert self.model is not None
        self.query_one(ProbabilityBars).show(self.model.class_names, message.probabilities)
        top = self.top_class
        verdict = self.query_one("#try-verdict", Static)
        verdict.update(f"→ {top} ({100 * max(message.probabilities):.1f}%)" if top else "")

    @property
    def top_class(self) -> str | None:
        """The class the bars put first, by its full name; None before the first prediction."""
        if self.model is None or self.probabilities is None:
            return None
        return self.model.class_names[max(range(len(self.probabilities)), key=self.probabilities.__getitem__)]

    # ---- what is on the canvas ----------------------------------------------------------------
    def _show_info(self) -> None:
        canvas = self.canvas
        pen = {"up": "pen up", "draw": "pen down: drawing", "erase": "pen down: erasing"}[canvas.mode]
        mode = "erase mode (e)" if canvas.erasing else "draw mode (e)"
        self.query_one("#try-pen", Static).update(f"{pen} · {mode}")
        self.query_one("#try-info", Static).update(f"{self.showing}\n{HINT}")

    def action_close(self) -> None:
        if self.query("HelpPanel"):  # escape closes the key panel first, as on the main screen
            self.app.action_hide_help_panel()
            return
        self.dismiss()

    def action_open_image(self) -> None:
        if self.model is None:
            return

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.open_image(path)

        start = self.opened.parent if self.opened else Path.cwd()
        self.app.push_screen(
            PathScreen("Open an image to classify", f"{start}/", must_exist=True, example="path/to/image.png"), chosen
        )

    def open_image(self, path: Path) -> None:
        assert self.model is not None
        try:
            image = read_image(path, self.model.image_shape)
        except UnreadableImage as err:
            self.app.notify(f"Cannot read {path} as an image: {err}.", severity="error", timeout=8)
            return
        self.opened, self.showing = path, short_paths(str(path))
        self.canvas.set_image(image)


def _sentence(error: BaseException | None, group: str, source: Path) -> str:
    """A worker's error in one sentence: the core's errors say it themselves, others get their class name."""
    from lstm_vision.errors import SettingsError

    if isinstance(error, SettingsError):
        return str(error)
    what = {
        "try-load": f"Cannot load {short_paths(str(source))}",
        "try-mistakes": "Cannot evaluate the test set",
        "try-predict": "The prediction failed",
    }.get(group, "Failed")
    text = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
    return f"{what}: {text.splitlines()[0] if text else text}."
