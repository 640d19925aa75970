"""Normalization belongs to the model (issue 12): every checkpoint carries the normalization it was trained
with, and every run that loads a checkpoint uses it; reference checkpoints are read as the reference reads them."""

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms

from conftest import Recorder, real_data_root, save_as_reference, tiny_run_settings
from lstm_vision.errors import CheckpointError
from lstm_vision.model.checkpoint import load_checkpoint, save_checkpoint
from lstm_vision.settings import DataSettings, Settings, apply_overrides
from lstm_vision.errors import SettingsError
from lstm_vision.control import RunControl
from lstm_vision.data.registry import load_data
from lstm_vision.training.engine import run
from lstm_vision.model.lstm import LSTMClassifier


class ReferenceLSTM(nn.Module):
    """The reference implementation's classifier as it names its parts (LSTM, dropout, fc): an LSTM read row by
    row, its outputs at every step flattened into one linear layer."""

    def __init__(self, hidden_size: int = 16):
        super().__init__()
        self.LSTM = nn.LSTM(28, hidden_size, 1, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.fc = nn.Linear(hidden_size * 28, 10)

    def forward(self, x):
        return self.fc(self.dropout(self.LSTM(x)[0]).reshape(x.shape[0], -1))


def reference_set(root: Path, train: bool):
    """The reference's input pipeline: torchvision MNIST, ToTensor then Normalize((0.5,), (0.5,)) per image."""
    pipeline = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return torchvision.datasets.MNIST(root, train=train, download=False, transform=pipeline)


@torch.no_grad()
def reference_test_count(model: nn.Module, root: Path) -> int:
    """The reference's own evaluation: (N, 1, 28, 28) batches squeezed to (N, 28, 28), argmax, count."""
    model.eval()
    return sum(int((model(x.squeeze(1)).argmax(1) == y).sum()) for x, y in DataLoader(reference_set(root, False), batch_size=64))


@torch.no_grad()
def count_with(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean, std) -> int:
    x = (images.float() / 255 - torch.as_tensor(mean)) / torch.as_tensor(std)
    return int((model(x.reshape(len(x), 28, 28)).argmax(1) == labels).sum())


def test_a_reference_checkpoint_evaluates_as_the_reference_does(mnist_root, tmp_path):
    torch.manual_seed(0)
    model = ReferenceLSTM()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = iter(
        DataLoader(reference_set(mnist_root, True), batch_size=50, shuffle=True, generator=torch.Generator().manual_seed(0))
    )
    for _ in range(4):  # a few steps: a model that is right often, not always, so the inputs' scale shows
        x, y = next(batches)
        loss = nn.functional.cross_entropy(model(x.squeeze(1)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    expected = reference_test_count(model, mnist_root)
    path = tmp_path / "lstm_cp_reference.pt"  # saved as the reference saves it, from a DDP-wrapped model
    save_as_reference(model, optimizer, loss, path)

    # The check can tell: the training split's own statistics (what lstm-vision used before) count otherwise.
    data = load_data(DataSettings(root=str(mnist_root), download=False), seed=0)
    assert abs(count_with(model, data.test.images, data.test.labels, data.mean, data.std) - expected) > 2
    assert 20 < expected < 190, expected

    settings = tiny_run_settings(mnist_root, tmp_path / "runs", "evaluate")
    settings.train.epochs, settings.train.load_checkpoint = 0, str(path)
    rec = Recorder()
    result = run(settings, rec, rec.control)
    assert result.status == "completed" and result.summary["test_total"] == 200
    assert abs(result.summary["test_correct"] - expected) <= 2, (result.summary["test_correct"], expected)
    said = [t for t in rec.logs() if "reference" in t and str(path) in t]
    assert len(said) == 1 and "(x/255 - 0.5) / 0.5" in said[0], rec.logs()


@pytest.fixture(scope="module")
def trained(mnist_root, tmp_path_factory) -> tuple[Path, Recorder]:
    """A 2-epoch run on the default normalization (the training split's statistics), periodic checkpoints on."""
    settings = tiny_run_settings(mnist_root, tmp_path_factory.mktemp("runs"), "trained")
    settings.train.checkpoint_every = 1
    rec = Recorder()
    result = run(settings, rec, rec.control)
    assert result.status == "completed"
    return Path(result.run_dir), rec


def test_every_checkpoint_carries_what_using_it_needs(trained, mnist_root):
    run_dir, rec = trained
    data = load_data(DataSettings(root=str(mnist_root), download=False), seed=0)
    for name in ("best.pt", "last.pt", "epoch-001.pt", "epoch-002.pt"):
        state = load_checkpoint(run_dir / name)
        for key in ("state_dict", "optimizer", "epoch", "val_loss", "val_acc"):  # the reference's keys stay
            assert key in state, (name, key)
        norm = state["normalization"]
        assert norm["method"] == "dataset" and len(norm["mean"]) == len(norm["std"]) == 1
        assert norm["mean"] == pytest.approx(data.mean.tolist()) and norm["std"] == pytest.approx(data.std.tolist())
        assert state["model"] == {
            "hidden_size": 16,
            "num_layers": 1,
            "bidirectional": False,
            "dropout": 0.0,
            "sequence_length": 28,
            "input_size": 28,
            "num_classes": 10,
        }
        assert state["image_shape"] == [28, 28, 1]
        assert state["class_names"] == data.class_names and state["class_names"][3] == "3 - three"
    assert any("training split's per-channel statistics" in t for t in rec.logs("info")), rec.logs()


def test_a_new_run_with_reference_normalization_trains_and_records_it(mnist_root, tmp_path):
    settings = tiny_run_settings(mnist_root, tmp_path / "runs", "reference")
    settings.data.normalization = "reference"
    rec = Recorder()
    result = run(settings, rec, rec.control)
    assert result.status == "completed" and result.summary["test_accuracy"] >= 0.9
    state = load_checkpoint(Path(result.run_dir) / "last.pt")
    assert state["normalization"] == {"method": "reference", "mean": [0.5], "std": [0.5]}
    # the run fed its model (x/255 - 0.5) / 0.5: the same weights on those inputs count what the run counted
    model = LSTMClassifier(28, 28, 10, hidden_size=16, num_layers=1, bidirectional=False, dropout=0.0)
    model.load_state_dict(state["state_dict"])
    model.eval()
    data = load_data(settings.data, seed=0)
    assert count_with(model, data.test.images, data.test.labels, [0.5], [0.5]) == result.summary["test_correct"]
    assert any("(x/255 - 0.5) / 0.5" in t for t in rec.logs("info")), rec.logs()


def test_evaluating_a_checkpoint_uses_its_own_statistics_not_the_data_sets(trained, mnist_root, tmp_path):
    run_dir, rec = trained
    settings = tiny_run_settings(mnist_root, tmp_path / "runs", "evaluate")
    settings.data.train_split = 0.5  # another training split: other statistics
    other = load_data(settings.data, seed=0)
    stored = load_checkpoint(run_dir / "last.pt")["normalization"]
    assert abs(other.mean.item() - stored["mean"][0]) > 1e-4 and abs(other.std.item() - stored["std"][0]) > 1e-4
    settings.train.epochs, settings.train.load_checkpoint = 0, str(run_dir / "last.pt")
    again = Recorder()
    result = run(settings, again, again.control)
    # the same weights on the same inputs: the test loss of the run that trained them, to the last bit
    test, original = again.evaluation("test"), rec.evaluation("test")
    assert (test.correct, test.loss) == (original.correct, original.loss)
    assert result.summary["test_correct"] == original.correct
    assert any(str(run_dir / "last.pt") in t and "mean 0.17" in t for t in again.logs("info")), again.logs()


def test_fine_tuning_keeps_the_checkpoints_normalization_and_says_so(trained, mnist_root, tmp_path):
    run_dir, _ = trained
    settings = tiny_run_settings(mnist_root, tmp_path / "runs", "finetune")
    settings.train.epochs, settings.train.load_checkpoint = 1, str(run_dir / "best.pt")
    settings.data.train_split, settings.data.normalization = 0.5, "reference"
    rec = Recorder()
    result = run(settings, rec, rec.control)
    assert result.status == "completed"
    stored = load_checkpoint(run_dir / "best.pt")["normalization"]
    assert load_checkpoint(Path(result.run_dir) / "last.pt")["normalization"] == stored
    assert any("data.normalization = reference" in t for t in rec.logs("warning")), rec.logs()


def test_a_resume_keeps_the_checkpoints_normalization_whatever_the_settings_say(mnist_root, tmp_path):
    settings = tiny_run_settings(mnist_root, tmp_path / "runs", "resumed")
    stop = Recorder(stop_at_step=15)
    stopped = run(settings, stop, stop.control)
    assert stopped.status == "stopped"
    saved = load_checkpoint(Path(stopped.run_dir) / "last.pt")["normalization"]
    settings.data.normalization = "reference"
    rec = Recorder()
    resumed = run(settings, rec, rec.control, resume=stopped.run_dir)
    assert resumed.status == "completed"
    assert load_checkpoint(Path(resumed.run_dir) / "last.pt")["normalization"] == saved
    assert any("data.normalization = reference" in t for t in rec.logs("warning")), rec.logs()


def test_an_lstm_vision_checkpoint_from_before_stored_normalization_uses_the_training_splits(trained, mnist_root, tmp_path):
    run_dir, rec = trained
    state = load_checkpoint(run_dir / "last.pt")
    for key in ("normalization", "model", "image_shape", "class_names"):
        del state[key]
    path = tmp_path / "older.pt"
    save_checkpoint(state, path)
    settings = tiny_run_settings(mnist_root, tmp_path / "runs", "older")
    settings.train.epochs, settings.train.load_checkpoint = 0, str(path)
    again = Recorder()
    run(settings, again, again.control)
    assert (again.evaluation("test").correct, again.evaluation("test").loss) == (
        rec.evaluation("test").correct,
        rec.evaluation("test").loss,
    )
    assert any("predates" in t for t in again.logs()), again.logs()


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"method": "dataset", "mean": [0.1, 0.2, 0.3], "std": [0.3, 0.3, 0.3]}, "3 channels"),
        ({"method": "dataset", "mean": [0.1], "std": [0.0]}, "malformed normalization"),
        ({"method": "dataset", "mean": [0.1]}, "malformed normalization"),
        ("dataset", "malformed normalization"),
    ],
)
def test_a_checkpoint_with_an_unusable_normalization_is_refused(trained, mnist_root, tmp_path, entry, words):
    run_dir, _ = trained
    state = load_checkpoint(run_dir / "last.pt")
    state["normalization"] = entry
    path = tmp_path / "odd.pt"
    save_checkpoint(state, path)
    settings = tiny_run_settings(mnist_root, tmp_path / "runs", "odd")
    settings.train.epochs, settings.train.load_checkpoint = 0, str(path)
    with pytest.raises(CheckpointError) as err:
        run(settings, Recorder(), RunControl())
    assert words in str(err.value) and str(path) in str(err.value)
    assert not (tmp_path / "runs" / "odd").exists()  # refused before any file of the run


def test_the_setting_is_validated():
    with pytest.raises(SettingsError) as err:
        apply_overrides(Settings(), ["data.normalization=imagenet"])
    assert "data.normalization" in str(err.value) and "dataset, reference" in str(err.value)
    assert apply_overrides(Settings(), ["data.normalization=reference"]).data.normalization == "reference"
    assert Settings().data.normalization == "dataset"


@pytest.mark.skipif(real_data_root() is None, reason="LSTM_VISION_TEST_DATA is not set")
def test_a_reference_checkpoint_on_real_mnist_counts_as_the_reference_counts(tmp_path):
    root = real_data_root()
    torch.manual_seed(0)
    model = ReferenceLSTM(hidden_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loader = DataLoader(reference_set(root, True), batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(0))
    for _, (x, y) in zip(range(150), loader):
        loss = nn.functional.cross_entropy(model(x.squeeze(1)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    expected = reference_test_count(model, root)
    path = tmp_path / "lstm_cp_reference.pt"
    save_as_reference(model, optimizer, loss, path)
    settings = tiny_run_settings(root, tmp_path / "runs", "real")
    settings.model.hidden_size = 32
    settings.train.epochs, settings.train.load_checkpoint = 0, str(path)
    result = run(settings, Recorder(), RunControl())
    assert result.summary["test_total"] == 10_000
    assert abs(result.summary["test_correct"] - expected) <= 2, (result.summary["test_correct"], expected)
    data = load_data(DataSettings(root=str(root), download=False), seed=0)  # what the training split's statistics give
    before = count_with(model, data.test.images, data.test.labels, data.mean, data.std)
    assert abs(before - expected) > 100, (before, expected)
