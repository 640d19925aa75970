"""A drawing canvas of a model's image size, shown with half blocks: the Try screen draws digits on it.

The image is uint8 (H, W, C), white strokes on black as in MNIST. Each terminal cell shows two vertical
pixels ("▀": foreground = upper pixel, background = lower), each pixel ``scale`` cells wide and ``scale``
half-cells tall; an image too big for the space at scale 1 is shown with every ``shrink``-th pixel of each
row and column instead (a 64 x 64 image at 80 x 24), and the mouse and the cursor move in those steps. The brush is soft: full strength up to about a pixel from the stroke's line, fading to
nothing a pixel further, and strokes accumulate by max(), so they come out 3-5 pixels wide with grey
edges, the way MNIST's digits were scanned and anti-aliased.
"""

from __future__ import annotations

import math

import torch
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from app.widgets.halfblock import half_blocks, rgb

BRUSH_RADIUS = 1.5  # image pixels from the stroke's line where the brush is at half strength
BRUSH_SOFTNESS = 1.4  # image pixels over which it fades from full strength to none
CURSOR_COLOURS = {"up": (60, 150, 255), "draw": (255, 90, 60), "erase": (250, 200, 0)}


def stroke(image: torch.Tensor, start: tuple[float, float], end: tuple[float, float], erase: bool = False) -> None:
    """Paint (or erase) a soft line from ``start`` to ``end`` (x, y in pixels: pixel k spans [k, k+1)) into
    ``image`` (uint8 H, W, C) in place, every channel alike; a dot where they are the same point. Painting keeps
    the brighter of old and new (max), erasing the darker, so going over a line again does not thicken it."""
    height, width = image.shape[:2]
    (xa, ya), (xb, yb) = start, end
    reach = BRUSH_RADIUS + BRUSH_SOFTNESS / 2
    x0, x1 = max(0, math.floor(min(xa, xb) - reach)), min(width, math.ceil(max(xa, xb) + reach))
    y0, y1 = max(0, math.floor(min(ya, yb) - reach)), min(height, math.ceil(max(ya, yb) + reach))
    if x0 >= x1 or y0 >= y1:
        return
    px = torch.arange(x0, x1, dtype=torch.float32)[None, :] + 0.5  # pixel centres
    py = torch.arange(y0, y1, dtype=torch.float32)[:, None] + 0.5
    dx, dy = xb - xa, yb - ya
    length2 = dx * dx + dy * dy
    t = ((px - xa) * dx + (py - ya) * dy).div(length2).clamp(0, 1) if length2 > 0 else torch.zeros(1, 1)
    distance = torch.hypot(px - (xa + t * dx), py - (ya + t * dy))  # to the nearest point of the segment
    strength = (0.5 + (BRUSH_RADIUS - distance) / BRUSH_SOFTNESS).clamp(0, 1)
    region = image[y0:y1, x0:x1]
    level = (strength * 255).round().to(torch.uint8)[..., None].expand_as(region)
    region.copy_(torch.minimum(region, 255 - level) if erase else torch.maximum(region, level))


class Canvas(Widget, can_focus=True):
    """Left button draws, right erases (the other way round in erase mode); the keyboard moves a cursor
    whose pen draws while down. Posts ``Changed`` after every change of the image."""

    BINDINGS = [
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
        Binding("shift+up", "move(0, -3)", show=False),
        Binding("shift+down", "move(0, 3)", show=False),
        Binding("shift+left", "move(-3, 0)", show=False),
        Binding("shift+right", "move(3, 0)", show=False),
        Binding("space", "pen", "Pen"),
        Binding("e", "erase_mode", "Erase"),
        Binding("c", "clear", "Clear"),
    ]
    DEFAULT_CSS = "Canvas { width: auto; height: auto; }"

    class Changed(Message):
        """The image changed; ``how``: "drawn" (a stroke or the pen, drawing or erasing), "cleared" or "set"."""

        def __init__(self, canvas: "Canvas", how: str) -> None:
            super().__init__()
            self.canvas, self.how = canvas, how

        @property
        def control(self) -> "Canvas":
            return self.canvas

    class PenChanged(Message):
        """The keyboard pen went up or down, or switched between drawing and erasing; the image is the same."""

        def __init__(self, canvas: "Canvas") -> None:
            super().__init__()
            self.canvas = canvas

    def __init__(self, shape: tuple[int, int, int] = (28, 28, 1), **kwargs) -> None:
        super().__init__(**kwargs)
        self.image = torch.zeros(shape, dtype=torch.uint8)
        self.scale = 1
        self.shrink = 1  # > 1 only at scale 1: the image is shown with every shrink-th pixel
        self.version = 0  # counts the changes: a prediction says which image it was made for
        self.cursor = (shape[1] // 2, shape[0] // 2)  # (x, y) pixel
        self.pen_down = False
        self.erasing = False  # keyboard pen and left button erase; the right button draws
        self._stroke: str | None = None  # "draw" / "erase" while a mouse button is held
        self._last: tuple[float, float] | None = None  # the stroke's last point
        self._strips: list[Strip] | None = None

    # ---- the image ----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.image.shape)  # type: ignore[return-value]

    def reset(self, shape: tuple[int, int, int]) -> None:
        """A blank image of another shape (the model's)."""
        self.image = torch.zeros(shape, dtype=torch.uint8)
        self.cursor = (shape[1] // 2, shape[0] // 2)
        self._changed("set", layout=True)

    def set_image(self, image: torch.Tensor) -> None:
        """Show ``image`` (uint8 H, W, C of this canvas's shape) and go on drawing on it."""
        if tuple(image.shape) != self.shape:
            raise ValueError(f"image of shape {tuple(image.shape)} on a canvas of {self.shape}")
        self.image = image.to(torch.uint8).clone()
        self._changed("set")

    def set_scale(self, scale: int, shrink: int = 1) -> None:
        scale, shrink = max(1, scale), max(1, shrink) if scale <= 1 else 1
        if (scale, shrink) != (self.scale, self.shrink):
            self.scale, self.shrink = scale, shrink
            self._strips = None
            self.refresh(layout=True)

    def _changed(self, how: str, layout: bool = False) -> None:
        self.version += 1
        self._strips = None
        self.refresh(layout=layout)
        self.post_message(self.Changed(self, how))

    def _paint(self, start: tuple[float, float], end: tuple[float, float], erase: bool) -> None:
        stroke(self.image, start, end, erase)
        self._changed("drawn")

    # ---- mouse --------------------------------------------------------------------------------
    def _pixel_point(self, event: events.MouseEvent) -> tuple[float, float]:
        """The pointer in image pixels. Terminals that report only cells give the cell's centre; those
        that report pixels (pointer_x / pointer_y fractions) give the point itself."""
        x, y = event.pointer_x, event.pointer_y
        if x == int(x) and y == int(y):
            x, y = x + 0.5, y + 0.5
        return x * self.shrink / self.scale, 2 * y * self.shrink / self.scale

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.button not in (1, 3):
            return
        event.stop()
        self.focus()
        right = event.button == 3
        self._stroke = "draw" if right == self.erasing else "erase"
        self.capture_mouse()
        self._last = self._pixel_point(event)
        self._move_cursor_to(self._last)
        self._paint(self._last, self._last, self._stroke == "erase")

    def on_mouse_move(self, event: events.MouseMove) -> None:
        # a moving button is not trusted: some terminals and Pilot's hover report none during a drag
        if self._stroke is None or self._last is None:
            return
        event.stop()
        point = self._pixel_point(event)
        if point != self._last:
            start, self._last = self._last, point
            self._move_cursor_to(point)
            self._paint(start, point, self._stroke == "erase")

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._stroke is None:
            return
        event.stop()
        self._stroke, self._last = None, None
        self.release_mouse()

    def _move_cursor_to(self, point: tuple[float, float]) -> None:
        h, w = self.shape[:2]
        self.cursor = (min(max(int(point[0]), 0), w - 1), min(max(int(point[1]), 0), h - 1))

    # ---- keyboard -----------------------------------------------------------------------------
    def action_move(self, dx: int, dy: int) -> None:
        h, w = self.shape[:2]
        old = self.cursor
        dx, dy = dx * self.shrink, dy * self.shrink  # a step the display shows
        self.cursor = (min(max(old[0] + dx, 0), w - 1), min(max(old[1] + dy, 0), h - 1))
        if self.pen_down and self.cursor != old:
            self._paint((old[0] + 0.5, old[1] + 0.5), (self.cursor[0] + 0.5, self.cursor[1] + 0.5), self.erasing)
        else:
            self._strips = None
            self.refresh()

    def action_pen(self) -> None:
        """Space: put the pen down (painting a dot under the cursor) or lift it."""
        self.pen_down = not self.pen_down
        if self.pen_down:
            point = (self.cursor[0] + 0.5, self.cursor[1] + 0.5)
            self._paint(point, point, self.erasing)
        else:
            self._strips = None
            self.refresh()
        self.post_message(self.PenChanged(self))

    def action_erase_mode(self) -> None:
        self.erasing = not self.erasing
        self._strips = None
        self.refresh()
        self.post_message(self.PenChanged(self))

    def action_clear(self) -> None:
        self.image.zero_()
        self._changed("cleared")

    @property
    def mode(self) -> str:
        """What the keyboard pen does now: up, draw or erase."""
        return "up" if not self.pen_down else ("erase" if self.erasing else "draw")

    # ---- drawing ------------------------------------------------------------------------------
    def get_content_width(self, container, viewport) -> int:
        return -(-self.shape[1] // self.shrink) * self.scale

    def get_content_height(self, container, viewport, width: int) -> int:
        return -(-(-(-self.shape[0] // self.shrink)) * self.scale // 2)

    def on_focus(self) -> None:
        self._strips = None
        self.refresh()

    def on_blur(self) -> None:
        self._strips = None
        self.refresh()

    def _build_strips(self) -> list[Strip]:
        k = self.shrink
        colour = [[rgb(p) for p in row] for row in self.image[::k, ::k].tolist()]  # every k-th pixel (k = 1: all)
        if self.has_focus:
            cx, cy = self.cursor
            colour[cy // k][cx // k] = CURSOR_COLOURS[self.mode]
        width = len(colour[0]) * self.scale
        return [Strip(line, width) for line in half_blocks(colour, self.scale)]

    def render_line(self, y: int) -> Strip:
        if self._strips is None:
            self._strips = self._build_strips()
        if 0 <= y < len(self._strips):
            return self._strips[y].crop(0, self.size.width)
        return Strip.blank(self.size.width, self.rich_style)
