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
        raise UnreadableImage(unreadable_reason(err)) from None


def unreadable_reason(err: Exception) -> str:
    """PIL's error for a file it cannot decode, in a few words (its "cannot identify" names the path again)."""
    return str(err).split(" '", 1)[0] if "cannot identify image file" in str(err) else f"{err.__class__.__name__}: {err}"


def to_tensor(image, height: int, width: int) -> torch.Tensor:
    """A PIL image -> uint8 (height, width, C), resized as torchvision's antialiased Resize does (not at all
    when the size is right, which is what makes decoding MNIST-sized files fast)."""
    import numpy as np
    from torchvision.transforms.v2 import functional

    pixels = torch.from_numpy(np.array(image, dtype=np.uint8))
    pixels = pixels[..., None] if pixels.dim() == 2 else pixels
    if tuple(pixels.shape[:2]) != (height, width):
        pixels = functional.resize(pixels.permute(2, 0, 1), [height, width], antialias=True).permute(1, 2, 0)
    return pixels.contiguous()


def read_image(path: str | Path, shape: tuple[int, int, int]) -> torch.Tensor:
    """One file as uint8 (H, W, C) for a model of image shape ``shape`` (H, W, C); UnreadableImage if it is not one."""
    height, width, channels = shape
    return to_tensor(open_image(path, channels), height, width)


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder`` (any depth), sorted, hidden files and folders left out."""
    found = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    return sorted(found)
