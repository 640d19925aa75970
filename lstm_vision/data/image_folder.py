"""`folder` data sets: any ImageFolder tree, checked whole, then decoded once (in parallel workers) into uint8 tensors.

Every file is read before training starts, so that all the damaged ones are named in one message (not one per
run); the size is data.image_size, or with 0 the most common size among the files. A line says what was
changed on the way: how many images were resized, and how many converted to data.channels.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from lstm_vision.data import images
from lstm_vision.settings import DataSettings
from lstm_vision.errors import DataError
from lstm_vision.data.sets import ImageSet
from lstm_vision.text import plural

TEST_FRACTION = 0.1  # held out as the test set when the tree has no test/ folder
NAMED_PROBLEMS = 5  # unreadable files named in the message; the rest are counted


def load_folder(settings: DataSettings, seed: int) -> tuple[ImageSet, ImageSet, list[str], list[str]]:
    """Read ``root/train`` and ``root/test`` if present, else ``root`` with a seeded test hold-out.
    Returns (train, test, class names, the lines that say how the images were read)."""
    root = Path(settings.root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data.root {root} is not a folder; for dataset = folder it must hold one sub-folder of images per class."
        )
    trees = [root / "train", root / "test"] if (root / "train").is_dir() else [root]
    trees = [tree for tree in trees if tree.is_dir()]
    listed = [_list_tree(tree) for tree in trees]
    if len(listed) == 2 and listed[1][1] != listed[0][1]:
        raise DataError(
            f"The class folders of {trees[1]} ({', '.join(listed[1][1])}) differ from those of {trees[0]} ({', '.join(listed[0][1])})."
        )
    samples = [sample for tree_samples, _ in listed for sample in tree_samples]
    surveyed = [_survey(path) for path, _ in samples]
    problems = [(path, reason) for (path, _), (_, reason) in zip(samples, surveyed) if reason]
    size = (settings.image_size, settings.image_size) if settings.image_size else _most_common([s for s, _ in surveyed if s])
    decoded, labels, read = _decode(samples, settings, size, problems)
    if problems:
        raise DataError(_unreadable(root, problems))
    classes = listed[0][1]
    notes = [_read_note(root, read, size, settings)]
    if len(trees) == 2:
        cut = sum(len(tree_samples) for tree_samples, _ in listed[:1])
        train, test = ImageSet(decoded[:cut], labels[:cut]), ImageSet(decoded[cut:], labels[cut:])
        return train, test, classes, notes
    train, test = _hold_out(ImageSet(decoded, labels), seed)
    notes.append(f"No test folder in {root}: {plural(len(test), 'image')} ({TEST_FRACTION:.0%}) held out as the test set.")
    return train, test, classes, notes


def _list_tree(folder: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """torchvision's ImageFolder listing (its class folders, its extensions): [(path, class index)], classes."""
    from torchvision.datasets import ImageFolder

    try:
        tree = ImageFolder(str(folder), loader=lambda path: path)
    except FileNotFoundError as err:
        raise DataError(
            f"No images found in {folder}: it must hold one sub-folder per class with .png/.jpg files ({err})."
        ) from None
    _at_least_two_classes(folder, list(tree.classes))
    return list(tree.samples), list(tree.classes)


def _survey(path: str) -> tuple[tuple[int, int] | None, str | None]:
    """((height, width), None) from the file's header, or (None, why it cannot be read): cheap, no decoding."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return (img.height, img.width), None
    except Exception as err:  # PIL raises several classes for damaged or foreign files
        return None, images.unreadable_reason(err)


def _most_common(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    # Ties go to the size met first (files in ImageFolder's order): the same choice on every run.
    return Counter(sizes).most_common(1)[0][0] if sizes else (1, 1)


class _Files(torch.utils.data.Dataset):
    """Item i: file i decoded at ``size`` as (image or None, why not, resized, converted)."""

    def __init__(self, paths: list[str], channels: int, size: tuple[int, int]) -> None:
        self.paths, self.channels, self.size = paths, channels, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        from PIL import Image

        try:
            with Image.open(self.paths[i]) as img:
                converted = img.mode != images.pil_mode(self.channels)
                picture = img.convert(images.pil_mode(self.channels))
        except Exception as err:  # a header that read, a body that does not: truncated, corrupt
            return None, images.unreadable_reason(err), False, False
        resized = (picture.height, picture.width) != self.size
        return images.to_tensor(picture, *self.size), None, resized, converted


def _decode(
    samples: list[tuple[str, int]], settings: DataSettings, size: tuple[int, int], problems: list[tuple[str, str]]
) -> tuple[torch.Tensor, torch.Tensor, dict[str, int]]:
    """Every sample whose header read, decoded; the files that fail now join ``problems`` (in file order)."""
    skip = {path for path, _ in problems}
    wanted = [(path, label) for path, label in samples if path not in skip]
    loader = torch.utils.data.DataLoader(
        _Files([path for path, _ in wanted], settings.channels, size),
        batch_size=256,
        num_workers=settings.num_workers,
        collate_fn=_as_list,  # None for a damaged file: no stacking inside the worker
    )
    decoded, labels, read = [], [], {"images": 0, "resized": 0, "converted": 0}
    found = []
    for offset, batch in _with_offsets(loader):
        for k, (image, reason, resized, converted) in enumerate(batch):
            path, label = wanted[offset + k]
            if image is None:
                found.append((path, reason))
                continue
            decoded.append(image)
            labels.append(label)
            read["images"] += 1
            read["resized"] += resized
            read["converted"] += converted
    order = {path: i for i, (path, _) in enumerate(samples)}
    problems[:] = sorted(problems + found, key=lambda p: order[p[0]])
    if not decoded:
        return torch.empty(0, *size, settings.channels, dtype=torch.uint8), torch.empty(0, dtype=torch.int64), read
    return torch.stack(decoded), torch.tensor(labels, dtype=torch.int64), read


def _as_list(items: list) -> list:
    return items


def _with_offsets(loader):
    offset = 0
    for batch in loader:
        yield offset, batch
        offset += len(batch)


def _unreadable(root: Path, problems: list[tuple[str, str]]) -> str:
    """All the damaged files in one sentence: each named when there are a few, else the first few and a count."""
    named = [f"{Path(path).relative_to(root)} ({reason})" for path, reason in problems[:NAMED_PROBLEMS]]
    if len(problems) == 1:
        return f"Image file {problems[0][0]} cannot be read ({problems[0][1]}); remove or replace it."
    rest = len(problems) - len(named)
    listed = "; ".join(named) + (f"; and {rest:,} more" if rest else "")
    return f"{len(problems)} image files in {root} cannot be read: {listed}; remove or replace them."


def _read_note(root: Path, read: dict[str, int], size: tuple[int, int], settings: DataSettings) -> str:
    height, width = size
    chosen = (
        f"data.image_size = {settings.image_size}"
        if settings.image_size
        else "their most common size, as data.image_size = 0 asks"
    )
    changed = [f"{read['resized']:,} of another size resized"] if read["resized"] else []
    if read["converted"]:
        mode = "grey" if settings.channels == 1 else "RGB"
        changed.append(f"{read['converted']:,} converted to {mode} (data.channels = {settings.channels})")
    n = read["images"]
    said = ", ".join(changed) if changed else "none resized or converted"
    return f"Read {n:,} {'image' if n == 1 else 'images'} from {root} at {height} x {width} ({chosen}); {said}."


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
