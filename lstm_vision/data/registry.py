"""Which data set a name means and how it is read: torchvision's sets from data.root, or an image folder;
then the channels the settings ask for and the seeded train / validation split.

torchvision reads the real files; a missing file is one sentence naming it, where it was looked for and how
to place it.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import torch

from lstm_vision.data.normalization import for_method
from lstm_vision.data.sets import DataBundle, ImageSet
from lstm_vision.errors import DataError
from lstm_vision.settings import DataSettings, Settings


_IDX_SETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}


# The last torchvision set decoded, by its settings and seed: the app's next run (F5 again, a resume) and its
# warm-up after the first paint find it decoded. One entry; image folders are read afresh (their files change).
_decoded: tuple[tuple, DataBundle] | None = None
_decoded_lock = threading.Lock()


def load_data(settings: DataSettings, seed: int) -> DataBundle:
    """Decode the data set into CPU uint8 tensors and split train/validation with ``seed``. A torchvision set is
    decoded once while its settings stay the same: each call gets a bundle of its own over the same tensors
    (nothing writes into them; a run may replace its bundle's normalization)."""
    global _decoded
    if settings.dataset == "folder":
        return _decode(settings, seed)
    root = str(Path(settings.root).expanduser().resolve())
    key = (settings.dataset, root, settings.train_split, settings.channels, settings.normalization, seed)
    with _decoded_lock:
        if _decoded is None or _decoded[0] != key:
            _decoded = None  # the old tensors go before the new ones are decoded
            _decoded = (key, _decode(settings, seed))
        return dataclasses.replace(_decoded[1])


def _decode(settings: DataSettings, seed: int) -> DataBundle:
    if settings.dataset == "folder":
        from lstm_vision.data.image_folder import load_folder  # PIL decoding only when needed

        train, test, class_names, notes = load_folder(settings, seed)
    else:
        (train, test, class_names), notes = _load_torchvision(settings), []
    train = _convert_channels(train, settings.channels)
    test = _convert_channels(test, settings.channels)
    train, val = split_train_val(train, settings.train_split, seed)
    if len(train) == 0 or len(val) == 0:
        raise DataError(
            f"data.train_split = {settings.train_split} leaves an empty "
            f"{'training' if len(train) == 0 else 'validation'} set of {len(train) + len(val)} images."
        )
    return DataBundle(train, val, test, class_names, for_method(settings.normalization, train.images), notes)


def split_settings(settings: Settings) -> dict[str, Any]:
    """The settings that decide which images a run trains and validates on, by their dotted names: a resume must
    keep them, and a checkpoint trained with others was normalized with another split's statistics."""
    decides = {
        "data.dataset": settings.data.dataset,
        "data.train_split": settings.data.train_split,
        "data.channels": settings.data.channels,
        "train.seed": settings.train.seed,
    }
    if settings.data.dataset == "folder":  # torchvision sets keep their own size
        decides["data.image_size"] = settings.data.image_size
    return decides


def split_changes(saved: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Those of split_settings whose value in ``saved`` (a checkpoint's settings, {section: {key: value}})
    differs from ``settings``: {dotted name: the saved value}."""
    changes = {}
    for name, value in split_settings(settings).items():
        section, key = name.split(".")
        old = (saved.get(section) or {}).get(key)
        if old is not None and old != value:
            changes[name] = old
    return changes


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
