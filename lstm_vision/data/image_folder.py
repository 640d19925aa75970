"""`folder` data sets: any ImageFolder tree, decoded once (in parallel workers) into uint8 tensors."""

from __future__ import annotations

from pathlib import Path

import torch

from lstm_vision.data import images
from lstm_vision.settings import DataSettings
from lstm_vision.errors import DataError
from lstm_vision.data.sets import ImageSet

TEST_FRACTION = 0.1  # held out as the test set when the tree has no test/ folder


def load_folder(settings: DataSettings, seed: int) -> tuple[ImageSet, ImageSet, list[str]]:
    """Read ``root/train`` and ``root/test`` if present, else ``root`` with a seeded test hold-out."""
    root = Path(settings.root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data.root {root} is not a folder; for dataset = folder it must hold one sub-folder of images per class."
        )
    if (root / "train").is_dir():
        train, classes = _decode_tree(root / "train", settings)
        if (root / "test").is_dir():
            test, test_classes = _decode_tree(root / "test", settings)
            if test_classes != classes:
                raise DataError(
                    f"The class folders of {root / 'test'} ({', '.join(test_classes)}) differ from those of {root / 'train'} ({', '.join(classes)})."
                )
            return train, test, classes
        return (*_hold_out(train, seed), classes)
    everything, classes = _decode_tree(root, settings)
    return (*_hold_out(everything, seed), classes)


def _at_least_two_classes(folder: Path, classes: list[str]) -> None:
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise DataError(
            f"{folder} has {found} as class folder(s); a classifier needs at least two sub-folders of images, one per class."
        )


def _hold_out(data: ImageSet, seed: int) -> tuple[ImageSet, ImageSet]:
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed + 1))
    cut = max(1, int(round(len(data) * TEST_FRACTION)))
    return ImageSet(data.images[order[cut:]], data.labels[order[cut:]]), ImageSet(
        data.images[order[:cut]], data.labels[order[:cut]]
    )


def _decode_tree(folder: Path, settings: DataSettings) -> tuple[ImageSet, list[str]]:
    from torchvision.datasets import ImageFolder

    size = settings.image_size

    def open_image(path: str):
        try:
            return images.open_image(path, settings.channels)
        except images.UnreadableImage as err:
            raise DataError(f"Image file {path} cannot be read ({err}); remove or replace it.") from None

    try:
        tree = ImageFolder(str(folder), loader=open_image, transform=lambda image: images.to_tensor(image, size, size))
    except FileNotFoundError as err:
        raise DataError(
            f"No images found in {folder}: it must hold one sub-folder per class with .png/.jpg files ({err})."
        ) from None
    _at_least_two_classes(folder, list(tree.classes))
    loader = torch.utils.data.DataLoader(tree, batch_size=256, num_workers=settings.num_workers)
    decoded, labels = [], []
    for batch, targets in loader:
        decoded.append(batch)  # (B, H, W, C)
        labels.append(targets)
    return ImageSet(torch.cat(decoded), torch.cat(labels).to(torch.int64)), list(tree.classes)
