"""A data set in memory: uint8 images (N, H, W, C) and their labels, split into train, validation and test.

Decoded once (data/registry.py); after that no per-sample Python runs: batches are index gathers on the
training device, converted and normalised per batch (training/batches.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lstm_vision.data.normalization import Normalization


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8 (N, H, W, C)
    labels: torch.Tensor  # int64 (N,)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def to(self, device: torch.device, pin: bool = False) -> "ImageSet":
        images, labels = self.images, self.labels
        if pin and device.type == "cuda":
            images, labels = images.pin_memory(), labels.pin_memory()
        return ImageSet(images.to(device, non_blocking=True), labels.to(device, non_blocking=True))


@dataclass
class DataBundle:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    class_names: list[str]
    normalization: Normalization  # what batches are normalised with; a loaded checkpoint's own replaces it
    notes: list[str] = field(default_factory=list)  # how the files were read (a folder set's size, conversions)

    @property
    def mean(self) -> torch.Tensor:  # float32 (C,), in [0, 1] units
        return torch.tensor(self.normalization.mean, dtype=torch.float32)

    @property
    def std(self) -> torch.Tensor:
        return torch.tensor(self.normalization.std, dtype=torch.float32)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device, pin: bool = False) -> "DataBundle":
        return DataBundle(
            self.train.to(device, pin),
            self.val.to(device, pin),
            self.test.to(device, pin),
            self.class_names,
            self.normalization,
            self.notes,
        )
