"""output.tensorboard: event files in the run folder, read back with TensorBoard's own reader."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lstm_vision.settings import save_settings
from lstm_vision.control import RunControl
from lstm_vision.training.engine import run

pytest.importorskip("tensorboard")


def test_tensorboard_files_hold_the_runs_figures(tiny_settings):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tiny_settings.output.tensorboard = True
    result = run(tiny_settings, lambda e: None, RunControl())
    events = EventAccumulator(result.run_dir, size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {
        "train/loss",
        "train/accuracy",
        "train/learning_rate",
        "train/samples_per_s",
        "epoch/train_loss",
        "epoch/val_accuracy",
        "memory/host_rss_bytes",
        "test/accuracy",
    } <= tags
    assert [e.step for e in events.Scalars("epoch/val_accuracy")] == [1, 2]
    assert events.Scalars("test/accuracy")[0].value == pytest.approx(result.summary["test_accuracy"])
    assert "settings" in "".join(events.Tags()["tensors"])  # the settings, as text


def test_tensorboard_asked_for_without_the_package_is_one_sentence(tiny_settings, tmp_path):
    tiny_settings.output.tensorboard = True
    config = tmp_path / "tb.toml"
    save_settings(tiny_settings, config)
    # The CLI in a process where the tensorboard package cannot be found, as in an install without the extra.
    without_tensorboard = (
        "import importlib.util as u, sys; find = u.find_spec; "
        "u.find_spec = lambda name, *a: None if name == 'tensorboard' else find(name, *a); "
        "from lstm_vision.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", without_tensorboard, "--no-ui", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "output.tensorboard = true needs the tensorboard package" in result.stderr
    assert not (tmp_path / "runs").exists()  # refused before any file


def test_tensorboard_scalars_carry_the_clock_time_of_their_events(tiny_settings):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from processes import journal

    tiny_settings.output.tensorboard = True
    result = run(tiny_settings, lambda e: None, RunControl())
    events = EventAccumulator(result.run_dir, size_guidance={"scalars": 0})
    events.Reload()
    epochs = [row["wall_time"] for row in journal(result.run_dir) if row["event"] == "epoch_finished"]
    assert [e.wall_time for e in events.Scalars("epoch/val_accuracy")] == pytest.approx(epochs)
