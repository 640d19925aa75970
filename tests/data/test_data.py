import numpy as np
import pytest
import torch
from PIL import Image

from lstm_vision.settings import DataSettings
from lstm_vision.errors import SettingsError
from lstm_vision.settings import check_dataset_name
from lstm_vision.errors import DataError
from lstm_vision.data.registry import load_data


def test_mnist_files_decode_into_uint8_tensors_and_split_by_seed(mnist_root):
    settings = DataSettings(root=str(mnist_root), download=False)
    a, b = load_data(settings, seed=3), load_data(settings, seed=3)
    assert a.train.images.dtype == torch.uint8 and a.train.images.shape == (500, 28, 28, 1)
    assert (len(a.train), len(a.val), len(a.test)) == (500, 100, 200)
    assert torch.equal(a.val.labels, b.val.labels) and torch.equal(a.val.images, b.val.images)
    c = load_data(settings, seed=4)
    assert not torch.equal(a.val.images, c.val.images)
    assert a.class_names[0] == "0 - zero" and a.num_classes == 10


def test_grey_images_become_three_channels(mnist_root):
    data = load_data(DataSettings(root=str(mnist_root), download=False, channels=3), seed=0)
    assert data.train.images.shape[-1] == 3 and data.mean.shape == (3,)
    assert torch.equal(data.train.images[..., 0], data.train.images[..., 2])


def test_truncated_idx_file_is_named(mnist_root, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(mnist_root, root)
    images = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(DataError) as err:
        load_data(DataSettings(root=str(root), download=False), seed=0)
    assert "truncated or corrupt" in str(err.value) and str(root / "MNIST" / "raw") in str(err.value)


def _write_folder(root, per_class=6, size=12, mode="RGB"):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for k, name in enumerate(["cat", "dog"]):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
                pixels[:, :, k] = 255
                Image.fromarray(pixels).convert(mode).save(folder / f"{i}.png")


def test_folder_set_is_resized_and_converted(tmp_path):
    _write_folder(tmp_path)
    data = load_data(DataSettings(dataset="folder", root=str(tmp_path), channels=1, image_size=20, train_split=0.5), seed=0)
    assert data.class_names == ["cat", "dog"]
    assert data.train.images.shape == (6, 20, 20, 1) and len(data.test) == 12
    colour = load_data(DataSettings(dataset="folder", root=str(tmp_path), channels=3, image_size=8, train_split=0.5), seed=0)
    assert colour.train.images.shape == (6, 8, 8, 3)


def test_folder_without_images_and_unreadable_image(tmp_path):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="No images found"):
        load_data(DataSettings(dataset="folder", root=str(tmp_path / "empty")), seed=0)
    _write_folder(tmp_path / "bad")
    broken = tmp_path / "bad" / "train" / "cat" / "0.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError) as err:
        load_data(DataSettings(dataset="folder", root=str(tmp_path / "bad")), seed=0)
    assert str(broken) in str(err.value)


def test_dataset_names():
    for name in ("mnist", "fashion-mnist", "kmnist", "emnist-letters", "cifar10", "cifar100", "svhn", "folder"):
        check_dataset_name(name)
    with pytest.raises(SettingsError, match="emnist splits"):
        check_dataset_name("emnist-foo")


def test_a_folder_set_with_one_class_is_refused_naming_the_folder(tmp_path):
    from PIL import Image

    (tmp_path / "only" / "cats").mkdir(parents=True)
    for i in range(4):
        Image.new("L", (8, 8), color=i * 40).save(tmp_path / "only" / "cats" / f"{i}.png")
    with pytest.raises(SettingsError, match=r"/only has only 'cats' as class folder.*at least two sub-folders"):
        load_data(DataSettings(dataset="folder", root=str(tmp_path / "only")), seed=0)


def _write_numbered_tree(root, per_class=20, size=4):
    """Two classes of flat grey images, each image's grey level its number: who went where can be read back."""
    for k, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            level = 5 * (k * per_class + i)
            Image.fromarray(np.full((size, size), level, dtype=np.uint8)).save(root / name / f"{i}.png")


def _numbers(images) -> list[int]:
    return sorted(int(v) // 5 for v in images[:, 0, 0, 0])


def test_a_tree_without_test_folder_holds_out_a_tenth_the_same_on_every_call(tmp_path):
    from lstm_vision.data.image_folder import load_folder

    _write_numbered_tree(tmp_path / "flat")
    settings = DataSettings(dataset="folder", root=str(tmp_path / "flat"), channels=1, image_size=4)
    train, test, classes, _ = load_folder(settings, seed=7)
    assert classes == ["cat", "dog"] and (len(train), len(test)) == (36, 4)
    assert not set(_numbers(train.images)) & set(_numbers(test.images))  # disjoint
    assert sorted(_numbers(train.images) + _numbers(test.images)) == list(range(40))  # nothing lost
    assert [int(n) // 20 for n in _numbers(test.images)] == sorted(test.labels.tolist())  # labels travel along
    again_train, again_test, _, _ = load_folder(settings, seed=7)
    assert torch.equal(again_test.images, test.images) and torch.equal(again_train.images, train.images)
    assert torch.equal(again_test.labels, test.labels)
    _, other, _, _ = load_folder(settings, seed=8)
    assert _numbers(other.images) != _numbers(test.images)  # the seed draws it
    # through load_data: the hold-out is the test set, the validation split comes out of the rest
    data = load_data(
        DataSettings(dataset="folder", root=str(tmp_path / "flat"), channels=1, image_size=4, train_split=0.75), seed=7
    )
    assert _numbers(data.test.images) == _numbers(test.images) and (len(data.train), len(data.val)) == (27, 9)


def test_a_train_folder_without_test_folder_holds_out_from_train(tmp_path):
    from lstm_vision.data.image_folder import load_folder

    _write_numbered_tree(tmp_path / "tree" / "train", per_class=10)
    settings = DataSettings(dataset="folder", root=str(tmp_path / "tree"), channels=1, image_size=4)
    train, test, classes, _ = load_folder(settings, seed=0)
    assert classes == ["cat", "dog"] and (len(train), len(test)) == (18, 2)
    assert sorted(_numbers(train.images) + _numbers(test.images)) == list(range(20))
