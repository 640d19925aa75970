"""Images in the terminal with half blocks: each cell shows two pixels, one above the other ("▀": the upper
pixel is the foreground colour, the lower one the background). The one renderer of the Results screen's test
images and the Try screen's canvas; neither needs torch for it (the app's first screen loads without)."""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

RGB = tuple[int, int, int]
BLACK: RGB = (0, 0, 0)
UPPER_HALF = "▀"


@lru_cache(maxsize=65536)
def cell_style(top: RGB, bottom: RGB) -> Style:
    """A cell's two pixels as a style (cached: a redraw asks for thousands, mostly the same few)."""
    return Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom))


def rgb(pixel: Sequence[int]) -> RGB:
    """One pixel's channel values as a colour: grey for one channel, the first three otherwise."""
    return (pixel[0], pixel[0], pixel[0]) if len(pixel) < 3 else (pixel[0], pixel[1], pixel[2])


def thumbnail(flat: Sequence[int], height: int, width: int, channels: int, factor: int) -> list[list[RGB]]:
    """A flat uint8 image (row-major H x W x C) made ``factor`` times smaller, each pixel the mean of a
    factor x factor block: a small picture that keeps thin strokes visible."""
    rows = []
    n = factor * factor
    for y in range(height // factor):
        row = []
        for x in range(width // factor):
            acc = [0, 0, 0]
            for dy in range(factor):
                start = ((y * factor + dy) * width + x * factor) * channels
                for dx in range(factor):
                    pixel = rgb(flat[start + dx * channels : start + dx * channels + min(channels, 3)])
                    acc = [a + p for a, p in zip(acc, pixel)]
            row.append((min(255, acc[0] // n), min(255, acc[1] // n), min(255, acc[2] // n)))
        rows.append(row)
    return rows


def half_blocks(rows: list[list[RGB]], scale: int = 1) -> list[list[Segment]]:
    """The lines of cells that show ``rows`` (pixel colours, all rows as long), each pixel ``scale`` cells
    wide and ``scale`` half-cells tall; runs of the same two colours are one segment. An odd last half-cell
    is black below."""
    height, width = len(rows), len(rows[0]) if rows else 0
    lines = []
    for line in range(-(-height * scale // 2)):
        top, below = rows[(2 * line) // scale], 2 * line + 1
        bottom = rows[below // scale] if below < height * scale else None
        segments: list[Segment] = []
        run_style, run = None, 0
        for x in range(width * scale):
            style = cell_style(top[x // scale], bottom[x // scale] if bottom else BLACK)
            if style is run_style:
                run += 1
                continue
            if run_style is not None:
                segments.append(Segment(UPPER_HALF * run, run_style))
            run_style, run = style, 1
        if run_style is not None:
            segments.append(Segment(UPPER_HALF * run, run_style))
        lines.append(segments)
    return lines


def as_text(segments: list[Segment]) -> Text:
    """One line of half blocks as rich Text, to be laid out with other text."""
    return Text.assemble(*((segment.text, segment.style) for segment in segments))
