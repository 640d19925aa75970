"""Data sets decoded once into uint8 tensors (N, H, W, C) and batched straight from memory.

torchvision reads the real files; after that no per-sample Python runs: batches are
index gathers on the training device, converted and normalised per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lstm_vision.settings.schema import DataSettings, SettingsError
from lstm_vision.data.normalization import Normalization, for_method


class DataError(SettingsError):
    """Data that cannot be found or read: a user-fixable problem, reported in one sentence."""


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
            self.train.to(device, pin), self.val.to(device, pin), self.test.to(device, pin), self.class_names, self.normalization
        )


_IDX_SETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}


def load_data(settings: DataSettings, seed: int) -> DataBundle:
    """Decode the data set into CPU uint8 tensors and split train/validation with ``seed``."""
    if settings.dataset == "folder":
        from lstm_vision.data.image_folder import load_folder  # PIL decoding only when needed

        train, test, class_names = load_folder(settings, seed)
    else:
        train, test, class_names = _load_torchvision(settings)
    train = _convert_channels(train, settings.channels)
    test = _convert_channels(test, settings.channels)
    train, val = split_train_val(train, settings.train_split, seed)
    if len(train) == 0 or len(val) == 0:
        raise DataError(
            f"data.train_split = {settings.train_split} leaves an empty "
            f"{'training' if len(train) == 0 else 'validation'} set of {len(train) + len(val)} images."
        )
    return DataBundle(train, val, test, class_names, for_method(settings.normalization, train.images))


def split_train_val(data: ImageSet, train_split: float, seed: int) -> tuple[ImageSet, ImageSet]:
    # A dedicated generator: the split is the same on every rank, every resume, every thread.
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    cut = int(round(len(data) * train_split))
    pick = lambda idx: ImageSet(data.images[idx], data.labels[idx])  # noqa: E731
    return pick(order[:cut]), pick(order[cut:])


def _convert_channels(data: ImageSet, channels: int) -> ImageSet:
    have = data.images.shape[-1]
    if have == channels:
        return data
    images = data.images
    if channels == 1:  # ITU-R 601 luma, as PIL's convert("L")
        weights = torch.tensor([0.299, 0.587, 0.114])[:have] if have >= 3 else torch.full((have,), 1.0 / have)
        images = (images[..., :3].float() @ (weights / weights.sum())).round().clamp(0, 255).to(torch.uint8)[..., None]
    elif have == 1:
        images = images.expand(*images.shape[:-1], channels).contiguous()
    else:
        raise DataError(f"data.channels = {channels} cannot be made from images with {have} channels; use 1 or {have}.")
    return ImageSet(images, data.labels)


def _load_torchvision(settings: DataSettings) -> tuple[ImageSet, ImageSet, list[str]]:
    import torchvision.datasets as tvd

    name, root = settings.dataset, Path(settings.root).expanduser()
    if name in _IDX_SETS:
        cls = getattr(tvd, _IDX_SETS[name])
        make = lambda train: cls(root, train=train, download=settings.download)  # noqa: E731
    elif name.startswith("emnist-"):
        split = name.removeprefix("emnist-")
        make = lambda train: tvd.EMNIST(root, split=split, train=train, download=settings.download)  # noqa: E731
    elif name in ("cifar10", "cifar100"):
        cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
        make = lambda train: cls(root, train=train, download=settings.download)  # noqa: E731
    else:  # svhn
        make = lambda train: tvd.SVHN(root, split="train" if train else "test", download=settings.download)  # noqa: E731
    try:
        train_set, test_set = make(True), make(False)
    except Exception as err:  # torchvision raises RuntimeError, OSError, URLError, ... for missing or bad files
        raise _missing_files_error(name, root, settings.download, err) from None
    classes = list(getattr(train_set, "classes", []) or [])
    train, test = _as_image_set(name, train_set), _as_image_set(name, test_set)
    if not classes:
        classes = [str(i) for i in range(int(max(train.labels.max(), test.labels.max())) + 1)]
    return train, test, classes


def _as_image_set(name: str, ds) -> ImageSet:
    if name in ("cifar10", "cifar100"):
        images, labels = torch.from_numpy(ds.data), torch.as_tensor(ds.targets)  # (N, 32, 32, 3)
    elif name == "svhn":
        images, labels = torch.from_numpy(ds.data).permute(0, 2, 3, 1), torch.from_numpy(ds.labels)
    else:
        images, labels = ds.data, ds.targets
        if name.startswith("emnist-"):
            images = images.transpose(1, 2)  # EMNIST is stored transposed
        images = images[..., None]
    return ImageSet(images.contiguous().to(torch.uint8), labels.to(torch.int64).contiguous())


_EXPECTED_FILES = {
    "mnist": (
        "MNIST/raw",
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
    ),
    "fashion-mnist": (
        "FashionMNIST/raw",
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
    ),
    "kmnist": (
        "KMNIST/raw",
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
    ),
    "cifar10": ("", ["cifar-10-batches-py/ (from cifar-10-python.tar.gz)"]),
    "cifar100": ("", ["cifar-100-python/ (from cifar-100-python.tar.gz)"]),
    "svhn": ("", ["train_32x32.mat", "test_32x32.mat"]),
}


def _missing_files_error(name: str, root: Path, download: bool, err: Exception) -> DataError:
    sub, files = _EXPECTED_FILES.get(name, ("EMNIST/raw", ["the EMNIST gzip.zip contents"]))
    folder = (root / sub) if sub else root
    present = folder.is_dir() and all((folder / f).exists() or (folder / f"{f}.gz").exists() for f in files)
    if present:  # the files exist, so they are damaged
        return DataError(
            f"The {name} files in {folder} cannot be read ({err}); they may be truncated or corrupt: "
            f"delete them and place fresh copies there."
        )
    how = "the download failed" + (f" ({err})" if str(err) else "") if download else "data.download is false"
    return DataError(
        f"{name} not found: expected {', '.join(files)} in {folder}, and {how}; "
        f"place the files there (.gz is fine), or set data.root to the folder above "
        f"{sub or 'them'}{'' if download else ', or set data.download = true on a machine with network access'}."
    )
