"""A real grid sweep on the tiny MNIST-format data, end to end through the command line, with median pruning:
trials 1 and 2 learn (lr 1e-2); trials 3 and 4 barely move (lr 1e-6) and are cut after epoch 2 of 4, when they
trail the median of the earlier trials there."""

import json

import pytest
from sweeps import base_args, run_sweep, write_sweep

from lstm_vision.runs.folder import read_summary
from lstm_vision.runs.liveness import run_state
from lstm_vision.settings import load_settings
from lstm_vision.sweep.folder import read_folder_sweep, read_trials, sweep_state


@pytest.fixture(scope="module")
def grid_sweep(mnist_root, tmp_path_factory):
    home = tmp_path_factory.mktemp("grid")
    sweep = write_sweep(
        home / "lr-hidden.toml",
        'name = "lr-hidden"\nmethod = "grid"\nmetric = "val_loss"\nprune = "median"',
        '"optim.learning_rate" = [1e-2, 1e-6]\n"model.hidden_size" = [8, 12]',
    )
    done = run_sweep(sweep, *base_args(mnist_root, home / "runs", epochs=4))
    return home / "runs" / "lr-hidden", done


def test_every_point_of_the_grid_runs_once_as_an_ordinary_run(grid_sweep):
    folder, done = grid_sweep
    assert done.returncode == 0, done.stdout + done.stderr
    rows = read_trials(folder)
    assert [r.number for r in rows] == [1, 2, 3, 4]
    assert [(r.params["optim.learning_rate"], r.params["model.hidden_size"]) for r in rows] == [
        ("0.01", "8"),
        ("0.01", "12"),
        ("1e-06", "8"),
        ("1e-06", "12"),
    ]
    assert [r.state for r in rows] == ["complete", "complete", "pruned", "pruned"]
    for row in rows:
        assert row.metric is not None and row.duration_s > 0
        summary = read_summary(row.run_dir)
        assert summary["status"] == ("completed" if row.state == "complete" else "pruned")
        assert summary["run_dir"] == row.run_dir
        assert run_state(row.run_dir).status == summary["status"]  # what History and --attach read
        settings = load_settings(f"{row.run_dir}/settings.toml")
        assert (settings.optim.learning_rate, settings.model.hidden_size) == (
            float(row.params["optim.learning_rate"]),
            int(row.params["model.hidden_size"]),
        )
        # the metric is the last validated epoch's, as the trial's journal has it
        epochs = [json.loads(line) for line in open(f"{row.run_dir}/metrics.jsonl") if '"epoch_finished"' in line]
        assert row.metric == pytest.approx(epochs[-1]["val_loss"])
        assert len(epochs) == (4 if row.state == "complete" else 2)
    assert sweep_state(folder) == "finished"
    info = read_folder_sweep(folder)
    assert (info.name, info.method, info.total, info.direction, info.prune) == ("lr-hidden", "grid", 4, "minimize", "median")


def test_a_trial_whose_epochs_trail_is_pruned_and_says_so(grid_sweep):
    folder, done = grid_sweep
    for row in read_trials(folder)[2:]:
        summary = read_summary(row.run_dir)
        assert summary["epochs_completed"] == 2 and (folder / row.run_dir / "last.pt").is_file()
        assert "after epoch 2 trails the median of the complete trials there" in summary["pruned_reason"]
        logs = [json.loads(line) for line in open(f"{row.run_dir}/metrics.jsonl") if '"event":"log"' in line]
        assert any(r["text"].startswith("Pruned: val_loss ") for r in logs)
        assert "Pruned after epoch 2 of 4" in (folder / row.run_dir / "output.log").read_text()
    assert any(line.startswith("Trial 3 of 4: pruned in ") and "trails the median" in line for line in done.stdout.splitlines())


def test_the_lines_say_each_trial_its_result_and_the_best(grid_sweep):
    folder, done = grid_sweep
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Sweep lr-hidden: grid of 4 trials, minimizing val_loss")
    assert "Trial 1 of 4 (trial-0001): optim.learning_rate=0.01 model.hidden_size=8" in lines
    assert any(line.startswith("Trial 2 of 4: val_loss ") and "best so far: trial" in line for line in lines)
    assert lines[-1].startswith("Sweep lr-hidden done: 4 trials (2 complete, 2 pruned). Best: trial ")
    assert done.stderr == ""


def test_best_toml_is_the_best_trials_settings_and_loads_with_config(grid_sweep):
    folder, _ = grid_sweep
    rows = read_trials(folder)
    best = min((r for r in rows if r.state == "complete"), key=lambda r: r.metric)  # val_loss is minimised
    text = (folder / "best.toml").read_text()
    assert f"trial-{best.number:04d}" in text.splitlines()[0]
    assert load_settings(folder / "best.toml") == load_settings(f"{best.run_dir}/settings.toml")


def test_sweep_png_is_drawn(grid_sweep):
    folder, _ = grid_sweep
    data = (folder / "sweep.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_the_same_command_again_finds_the_study_done(grid_sweep, mnist_root):
    folder, _ = grid_sweep
    before = sorted(p.name for p in folder.iterdir() if p.name.startswith("trial-"))
    again = run_sweep(folder.parent.parent / "lr-hidden.toml", *base_args(mnist_root, folder.parent))
    assert again.returncode == 0, again.stderr
    assert "Sweep lr-hidden done: 4 trials" in again.stdout.splitlines()[-1]
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("trial-")) == before
