"""A checkpoint made for another architecture: the message names the settings that fit it, worked out from the
weights' shapes; with train.epochs = 0 (evaluation only) the run takes the checkpoint's architecture and says so."""

import tomllib
from pathlib import Path

import pytest
import torch

from conftest import Recorder, save_as_reference
from lstm_vision import events as ev
from lstm_vision.control import RunControl
from lstm_vision.errors import CheckpointError
from lstm_vision.model.architecture import architecture, settings_that_fit
from lstm_vision.model.lstm import LSTMClassifier
from lstm_vision.runs.folder import SETTINGS_FILE
from lstm_vision.training.engine import run


def reference_checkpoint(path: Path, **shape) -> Path:
    """A checkpoint as the reference script writes it, of an LSTMClassifier for 28 x 28 images."""
    sequence, inputs, classes = shape.pop("sequence", 28), shape.pop("inputs", 28), shape.pop("classes", 10)
    model = LSTMClassifier(inputs, sequence, classes, **shape)
    save_as_reference(model, torch.optim.AdamW(model.parameters()), torch.tensor(0.1), path)
    return path


def as_the_reference_default(settings) -> None:
    settings.model.hidden_size, settings.model.num_layers, settings.model.bidirectional = 256, 3, True


def test_the_message_names_the_settings_the_weights_were_made_for(tiny_settings, tmp_path):
    path = reference_checkpoint(tmp_path / "cp_best.pt", hidden_size=64, num_layers=1, bidirectional=False)
    as_the_reference_default(tiny_settings)
    tiny_settings.train.epochs, tiny_settings.train.load_checkpoint = 1, str(path)  # fine-tuning: the settings decide
    with pytest.raises(CheckpointError) as err:
        run(tiny_settings, Recorder(), RunControl())
    message = str(err.value)
    assert message.startswith(f"Checkpoint {path} was made for another architecture (shapes differ")
    assert "LSTM.weight_ih_l0 (256, 28) vs (1024, 28)" in message  # the tensors, as before
    assert message.endswith("; it fits --set model.num_layers=1 --set model.hidden_size=64 --set model.bidirectional=false.")


def test_the_message_names_the_sequence_and_another_class_count(tmp_path):
    found = architecture({k: v for k, v in LSTMClassifier(56, 14, 26, 80, 1, False).state_dict().items()}, tmp_path / "x.pt")
    model = architecture(LSTMClassifier(28, 28, 10, 80, 1, False).state_dict(), tmp_path / "y.pt")
    assert settings_that_fit(found, model) == (
        "it fits --set data.sequence_length=14 --set data.input_size=56; "
        "its 26 classes are not this data set's 10 (another data set?)"
    )


def test_evaluation_only_takes_the_checkpoints_architecture_and_logs_it(tiny_settings, tmp_path):
    path = reference_checkpoint(tmp_path / "cp_best.pt", hidden_size=64, num_layers=1, bidirectional=False)
    as_the_reference_default(tiny_settings)
    tiny_settings.train.epochs, tiny_settings.train.load_checkpoint = 0, str(path)
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    assert result.status == "completed" and result.summary["test_total"] == 200
    logged = [e.text for e in rec.of(ev.LogMessage) if e.level == "info"]
    assert (
        f"train.epochs = 0 evaluates {path} with the architecture of its weights: model.num_layers = 1 (not 3), "
        f"model.hidden_size = 64 (not 256), model.bidirectional = false (not true)."
    ) in logged
    recorded = tomllib.loads((Path(result.run_dir) / SETTINGS_FILE).read_text())["model"]
    assert (recorded["num_layers"], recorded["hidden_size"], recorded["bidirectional"]) == (1, 64, False)
    assert tiny_settings.model.hidden_size == 256  # the caller's settings are left as they were


def test_evaluation_only_takes_the_checkpoints_sequence_too(tiny_settings, tmp_path):
    path = reference_checkpoint(tmp_path / "rows.pt", sequence=14, inputs=56, hidden_size=16, num_layers=1, bidirectional=False)
    tiny_settings.train.epochs, tiny_settings.train.load_checkpoint = 0, str(path)
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    assert result.status == "completed"
    assert any(
        e.text.endswith("data.sequence_length = 14 (not 28), data.input_size = 56 (not 28).") for e in rec.of(ev.LogMessage)
    )


def test_evaluation_only_with_the_same_architecture_says_nothing_about_it(tiny_settings, tmp_path):
    path = reference_checkpoint(tmp_path / "same.pt", hidden_size=16, num_layers=1, bidirectional=False)
    tiny_settings.train.epochs, tiny_settings.train.load_checkpoint = 0, str(path)
    rec = Recorder()
    assert run(tiny_settings, rec, RunControl()).status == "completed"
    assert not [e for e in rec.of(ev.LogMessage) if "architecture of its weights" in e.text]
