"""Image files -> uint8 tensors (H, W, C): one decoding for `folder` data sets, --predict and the Try screen.

A model only answers well for inputs made the way its training images were: the same channel
conversion (PIL's "L" or "RGB") and the same resize (torchvision's antialiased Resize of the uint8 image).
"""

from __future__ import annotations

from pathlib import Path

import torch

# torchvision's ImageFolder extensions: what a `folder` data set reads, and what a folder given to --predict holds
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class UnreadableImage(Exception):
    """A file PIL cannot decode; str() is the reason in a few words."""


def pil_mode(channels: int) -> str:
    return "L" if channels == 1 else "RGB"


def open_image(path: str | Path, channels: int):
    """The file as a PIL image converted to ``channels`` (1: luma, else RGB), or UnreadableImage."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.convert(pil_mode(channels))
    except Exception as err:  # PIL raises several classes for damaged or foreign files
        reason = str(err).split(" '", 1)[0] if "cannot identify image file" in str(err) else f"{err.__class__.__name__}: {err}"
        raise UnreadableImage(reason) from None


def resizer(height: int, width: int):
    """PIL image -> uint8 tensor (C, H, W) of the given size."""
    from torchvision.transforms import v2

    return v2.Compose([v2.PILToTensor(), v2.Resize((height, width), antialias=True)])


def read_image(path: str | Path, shape: tuple[int, int, int]) -> torch.Tensor:
    """One file as uint8 (H, W, C) for a model of image shape ``shape`` (H, W, C); UnreadableImage if it is not one."""
    height, width, channels = shape
    return resizer(height, width)(open_image(path, channels)).permute(1, 2, 0).contiguous()


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder`` (any depth), sorted, hidden files and folders left out."""
    found = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(found)
