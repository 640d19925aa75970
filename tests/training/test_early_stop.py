"""train.early_stop_patience: a run whose validation loss cannot fall stops after `patience` validated epochs,
tests, and ends as completed with best.pt the best epoch's."""

from __future__ import annotations

import json
from pathlib import Path

from processes import cli, journal, tiny_args
from sweeps import base_args, run_sweep, write_sweep
from lstm_vision.control import RunControl
from lstm_vision.model.checkpoint import load_checkpoint
from lstm_vision.sweep.folder import read_trials
from lstm_vision.training.early_stop import EarlyStop
from lstm_vision.training.engine import run


def test_a_run_that_cannot_improve_stops_after_patience_validated_epochs_as_completed(tiny_settings):
    tiny_settings.train.epochs = 8
    tiny_settings.optim.learning_rate = 1e-9  # the validation loss moves by far less than min_delta
    tiny_settings.train.early_stop_patience, tiny_settings.train.early_stop_min_delta = 2, 1e-4
    result = run(tiny_settings, lambda e: None, RunControl())
    assert result.status == "completed" and result.exit_code == 0
    summary = json.loads((Path(result.run_dir) / "summary.json").read_text())
    # epoch 1 sets the mark, epochs 2 and 3 do not beat it by 1e-4: stopped after epoch 3
    assert summary["early_stopped_epoch"] == 3 and summary["epochs_completed"] == 3 and summary["epochs"] == 8
    assert summary["test_accuracy"] is not None and summary["status"] == "completed"
    best = load_checkpoint(Path(result.run_dir) / "best.pt")
    assert best["epoch"] == summary["best_val_epoch"] and best["val_loss"] == summary["best_val_loss"]
    rows = journal(result.run_dir)
    assert [r["epoch"] for r in rows if r["event"] == "epoch_finished"] == [1, 2, 3]
    said = [r["text"] for r in rows if r["event"] == "log" and r["text"].startswith("Early stop")]
    assert len(said) == 1 and "after epoch 3" in said[0] and "train.early_stop_patience = 2" in said[0], said
    assert rows[-1]["event"] == "run_finished"


def test_without_patience_a_run_trains_every_epoch_and_says_none(tiny_settings):
    tiny_settings.optim.learning_rate = 1e-9
    result = run(tiny_settings, lambda e: None, RunControl())
    assert result.summary["early_stopped_epoch"] is None and result.summary["epochs_completed"] == 2


def test_a_fall_counts_only_when_it_is_more_than_min_delta():
    stop = EarlyStop()
    for loss in (1.0, 0.95, 0.951, 0.9, 0.899):
        stop.observe(loss, min_delta=0.02)
    # 1.0 sets the mark; 0.95 beats it by more than 0.02 (the new mark); 0.951 does not (1); 0.9 does; 0.899 does not (1)
    assert (stop.reference, stop.stale) == (0.9, 1) and not stop.due(2) and stop.due(1) and not stop.due(0)
    assert EarlyStop.from_state(stop.to_state()) == stop and EarlyStop.from_state(None) == EarlyStop()


def test_the_command_line_says_the_early_stop_and_exits_0(mnist_root, tmp_path):
    args = tiny_args(mnist_root, tmp_path)
    args += ["--set", "train.epochs=6", "--set", "optim.learning_rate=1e-9", "--set", "optim.schedule=constant"]
    args += ["--set", "train.early_stop_patience=1", "--set", "train.early_stop_min_delta=0.001"]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert "Early stop after epoch 2" in result.stdout and "Completed: 2 epochs of 6 (early stop)" in result.stdout


def test_a_sweeps_trial_that_stops_early_is_a_complete_trial(mnist_root, tmp_path):
    sweep = write_sweep(tmp_path / "early.toml", 'name = "early"\nmethod = "grid"', '"optim.learning_rate" = [1e-9]')
    args = [*base_args(mnist_root, tmp_path / "runs", epochs=6), "--set", "train.early_stop_patience=1"]
    done = run_sweep(sweep, *args, "--set", "train.early_stop_min_delta=0.001")
    assert done.returncode == 0, done.stdout + done.stderr
    [row] = read_trials(tmp_path / "runs" / "early")
    assert row.state == "complete" and row.metric is not None
    summary = json.loads((tmp_path / "runs" / "early" / row.run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["early_stopped_epoch"] == 2
    assert "(1 complete)" in done.stdout
