"""Image folders as a new user brings them: real PNG files written with PIL, read through torchvision's ImageFolder."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lstm_vision.data.images import read_image
from lstm_vision.data.registry import load_data
from lstm_vision.errors import DataError, SettingsError
from lstm_vision.settings import DataSettings, Settings, sequence_shape
from processes import cli


def write_digits(root: Path, per_class: int = 6, size: int = 8, classes=("0", "1")) -> Path:
    """Grey size x size digits-like PNGs: class k is a bright row band over dim noise."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for k, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 60, size=(size, size), dtype=np.uint8)
                pixels[2 * k : 2 * k + 3, 1:-1] = 220
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def test_image_size_0_takes_the_most_common_size_and_a_line_says_what_was_changed(tmp_path):
    """Issue 33.2-3: 8 x 8 digits were scaled up to 28 x 28 without a word, an RGB image of another size converted
    and resized silently."""
    root = write_digits(tmp_path / "digits")
    odd = root / "train" / "1" / "rgb.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (16, 20, 3), dtype=np.uint8)).save(odd)
    Image.new("L", (12, 12), 90).save(root / "test" / "0" / "big.png")
    data = load_data(DataSettings(dataset="folder", root=str(root), train_split=0.5), seed=0)
    assert DataSettings().image_size == 0
    assert data.image_shape == (8, 8, 1) and len(data.train) + len(data.val) == 13 and len(data.test) == 13
    assert data.notes == [
        f"Read 26 images from {root} at 8 x 8 (their most common size, as data.image_size = 0 asks); "
        "2 of another size resized, 1 converted to grey (data.channels = 1)."
    ]
    everything = torch.cat([data.train.images, data.val.images])
    assert any(torch.equal(image, read_image(odd, (8, 8, 1))) for image in everything)  # as --predict reads it
    sized = load_data(DataSettings(dataset="folder", root=str(root), train_split=0.5, image_size=8), seed=0)
    assert sized.notes[0].endswith(
        "at 8 x 8 (data.image_size = 8); 2 of another size resized, 1 converted to grey (data.channels = 1)."
    )


def test_a_flat_folder_says_what_it_held_out_and_keeps_a_non_square_size(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "flat" / name).mkdir(parents=True)
        for i in range(10):
            Image.new("L", (12, 6), i * 20).save(tmp_path / "flat" / name / f"{i}.png")  # 6 rows of 12
    data = load_data(DataSettings(dataset="folder", root=str(tmp_path / "flat")), seed=0)
    assert data.image_shape == (6, 12, 1)
    assert data.notes == [
        f"Read 20 images from {tmp_path / 'flat'} at 6 x 12 (their most common size, as data.image_size = 0 asks); none resized or converted.",
        f"No test folder in {tmp_path / 'flat'}: 2 images (10%) held out as the test set.",
    ]


def damage(root: Path) -> list[tuple[Path, str]]:
    """A truncated PNG (its header reads, its pixels do not), an empty one and a text file named .png."""
    cut = root / "train" / "0" / "0.png"
    cut.write_bytes(cut.read_bytes()[:70])
    (root / "train" / "1" / "empty.png").write_bytes(b"")
    (root / "test" / "1" / "notes.png").write_text("not an image")
    return [
        (Path("test/1/notes.png"), "cannot identify image file"),
        (Path("train/0/0.png"), "OSError: image file is truncated"),
        (Path("train/1/empty.png"), "cannot identify image file"),
    ]


def test_every_unreadable_file_is_named_in_one_message(tmp_path):
    """Issue 33.3: a truncated PNG and an empty PNG needed two runs to find."""
    root = write_digits(tmp_path / "digits")
    damaged = damage(root)
    with pytest.raises(DataError) as err:
        load_data(DataSettings(dataset="folder", root=str(root)), seed=0)
    listed = re.fullmatch(
        rf"3 image files in {re.escape(str(root))} cannot be read: (.*); remove or replace them\.", str(err.value)
    )
    assert listed, str(err.value)
    named = [entry.split(" (", 1) for entry in listed.group(1).split("; ")]
    assert sorted((Path(path), why.split(" (")[0].rstrip(")")) for path, why in named) == damaged


def test_many_unreadable_files_are_counted_with_the_first_five_named(tmp_path):
    root = write_digits(tmp_path / "digits")
    for i in range(8):
        (root / "train" / "0" / f"empty-{i}.png").write_bytes(b"")
    with pytest.raises(DataError) as err:
        load_data(DataSettings(dataset="folder", root=str(root)), seed=0)
    named = "; ".join(f"train/0/empty-{i}.png (cannot identify image file)" for i in range(5))
    assert str(err.value) == f"8 image files in {root} cannot be read: {named}; and 3 more; remove or replace them."


@pytest.mark.parametrize(
    "sequence_length, input_size, advice",
    [
        (
            14,
            0,
            "data.sequence_length = 14 does not divide the image's H x W x C = 8 x 8 x 1 = 64 values "
            "(data.input_size = 0 takes the rest): set data.sequence_length to 0 (row by row: 8 steps of 8) "
            "or to 8, 4, 2 or 1 (1, 2, 4 or 8 rows a step).",
        ),
        (
            0,
            5,
            "data.input_size = 5 does not divide the image's H x W x C = 8 x 8 x 1 = 64 values "
            "(data.sequence_length = 0 takes the rest): set data.input_size to 0 (row by row: 8 steps of 8) "
            "or to 64, 32, 16 or 8 (8, 4, 2 or 1 rows a step).",
        ),
        (0, 100, "data.input_size = 100 does not divide"),  # was a ZeroDivisionError
        (
            3,
            20,
            "data.sequence_length x data.input_size = 3 x 20 = 60 must equal the image's H x W x C = 8 x 8 x 1 = 64: "
            "set both to 0 (row by row: 8 steps of 8), or to a pair whose product is 64: 8 x 8, 4 x 16, 2 x 32 or 1 x 64.",
        ),
    ],
)
def test_a_shape_mismatch_names_the_settings_to_change_and_values_that_fit(sequence_length, input_size, advice):
    settings = Settings()
    settings.data.sequence_length, settings.data.input_size = sequence_length, input_size
    with pytest.raises(SettingsError) as err:
        sequence_shape(settings, (8, 8, 1))
    assert str(err.value).startswith(advice)


def test_the_cpu_preset_on_8x8_digits_names_its_sequence_length_not_a_derived_input_size(tmp_path):
    """Issue 33.2: '14 x 4 = 56 must equal ... 8 x 8 x 1' cited an input size the user never set. Refused in one
    sentence, exit 2, no run folder: before the data loads with data.image_size = 8, after it with 0."""
    root = write_digits(tmp_path / "digits")
    base = ["--no-ui", "--preset", "cpu", "--set", "data.dataset=folder", "--set", f"data.root={root}"]
    base += ["--set", f"output.dir={tmp_path / 'runs'}"]
    for size in ([], ["--set", "data.image_size=8"]):
        result = cli(*base, *size)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stderr.startswith("error: data.sequence_length = 14 does not divide the image's H x W x C = 8 x 8 x 1")
        assert result.stderr.endswith("or to 8, 4, 2 or 1 (1, 2, 4 or 8 rows a step).\n") and result.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_a_damaged_folder_is_one_sentence_from_the_command_line_and_a_good_one_trains(tmp_path):
    root = write_digits(tmp_path / "digits")
    small = ["--set", "model.hidden_size=8", "--set", "model.num_layers=1", "--set", "train.epochs=1"]
    args = ["--no-ui", "--set", "data.dataset=folder", "--set", f"data.root={root}", "--set", f"output.dir={tmp_path / 'runs'}"]
    trained = cli(*args, *small)
    assert trained.returncode == 0, trained.stderr
    assert (
        f"Read 24 images from {root} at 8 x 8 (their most common size, as data.image_size = 0 asks); none resized or converted."
        in trained.stdout.splitlines()
    )
    damage(root)
    refused = cli(*args, *small)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: 3 image files in {root} cannot be read: ") and refused.stderr.count("\n") == 1
