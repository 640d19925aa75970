"""Tiny MNIST-format (IDX) files with a learnable pattern, read back through torchvision's real MNIST path."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def write_idx_images(path: Path, images: np.ndarray) -> None:
    n, rows, cols = images.shape
    path.write_bytes(struct.pack(">IIII", 0x00000803, n, rows, cols) + images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">II", 0x00000801, len(labels)) + labels.astype(np.uint8).tobytes())


def pattern_images(labels: np.ndarray, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """Class k is a bright bar across rows 2k..2k+2 over dim noise: easy for a row-reading LSTM."""
    images = rng.integers(0, 60, size=(len(labels), size, size), dtype=np.int64)
    for i, label in enumerate(labels):
        images[i, 2 * label : 2 * label + 3, 4:24] = rng.integers(180, 256)
    return images.astype(np.uint8)


def make_mnist(root: Path, train: int = 600, test: int = 200, classes: int = 10, seed: int = 0) -> Path:
    """Write <root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte; returns root."""
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, classes, size=count)
        write_idx_images(raw / f"{prefix}-images-idx3-ubyte", pattern_images(labels, rng))
        write_idx_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return Path(root)
