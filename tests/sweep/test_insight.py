"""Sweeps that say why, end to end through the command line on the tiny MNIST-format data: which setting
mattered (importance.csv, the pictures, the final line), every trial a new point (one worker and two), and points
run over several seeds (repeats)."""

import statistics
from collections import Counter

import pytest
from sweeps import base_args, run_sweep, write_sweep

from lstm_vision.runs.folder import read_summary
from lstm_vision.settings import load_settings
from lstm_vision.sweep.folder import read_folder_sweep, read_importance, read_trials
from lstm_vision.sweep.trial import journal_values

PNG = b"\x89PNG\r\n\x1a\n"


def point(row) -> tuple[str, ...]:
    return tuple(row.params.values())


@pytest.fixture(scope="module")
def lr_against_dropout(mnist_root, tmp_path_factory):
    """Learning rates from 1e-4 (barely moves in an epoch) to 3e-2 (learns the bars) against two dropouts too close
    to matter. Random over lists runs each of the 10 points once, in an order of its own, so what importance is
    given does not hang on the draw: with a range, the few trials that learned could all share a dropout by chance
    (it happened: 2 of 10 learned and dropout came first)."""
    home = tmp_path_factory.mktemp("importance")
    sweep = write_sweep(
        home / "why.toml",
        'name = "why"\nmethod = "random"\ntrials = 10',
        '"optim.learning_rate" = [1e-4, 1e-3, 3e-3, 1e-2, 3e-2]\n"model.dropout" = [0.0, 0.001]',
    )
    done = run_sweep(sweep, *base_args(mnist_root, home / "runs", epochs=1))
    return home / "runs" / "why", done


def test_importance_csv_ranks_the_setting_that_matters_first(lr_against_dropout):
    folder, done = lr_against_dropout
    assert done.returncode == 0, done.stdout + done.stderr
    ranked = read_importance(folder)
    assert [name for name, _ in ranked] == ["optim.learning_rate", "model.dropout"]
    assert sum(share for _, share in ranked) == pytest.approx(1.0)
    assert ranked[0][1] > 0.5
    assert (folder / "importance.csv").read_text().splitlines()[0] == "setting,importance"
    share = f"{100 * ranked[0][1]:.0f}%"
    last = done.stdout.splitlines()[-1]
    assert f"the most important setting: optim.learning_rate ({share} of the importance): {folder / 'importance.csv'}" in last


def test_parallel_png_and_sweep_png_are_drawn(lr_against_dropout):
    folder, _ = lr_against_dropout
    for name in ("parallel.png", "sweep.png"):
        data = (folder / name).read_bytes()
        assert data[:8] == PNG and len(data) > 10_000, name


def test_tpe_over_a_2x2_space_with_6_trials_runs_the_four_points_once_and_says_so(mnist_root, tmp_path):
    sweep = write_sweep(
        tmp_path / "four.toml",
        'name = "four"\nmethod = "tpe"\ntrials = 6',
        '"optim.learning_rate" = [1e-2, 3e-2]\n"model.hidden_size" = [8, 12]',
    )
    done = run_sweep(sweep, *base_args(mnist_root, tmp_path / "runs", epochs=1))
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "runs" / "four"
    rows = read_trials(folder)
    assert [r.state for r in rows] == ["complete"] * 4
    assert len(Counter(point(r) for r in rows)) == 4
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Sweep four: tpe, 4 trials, maximizing val_accuracy")
    assert lines[0].endswith("Its lists hold only 4 points, fewer than trials = 6: each point runs once, 4 trials in all.")
    assert "Trial 4 of 4 (trial-0004):" in " ".join(lines)
    assert lines[-1].startswith("Sweep four done: 4 trials (4 complete")
    assert read_folder_sweep(folder).total == 4  # what the app shows as the sweep's size


def test_two_workers_never_run_the_same_point(mnist_root, tmp_path):
    """Random over 2 x 2 lists with 4 trials: a sampler left alone repeats a point 9 times in 10 (1 - 4!/4^4)."""
    sweep = write_sweep(
        tmp_path / "pair.toml",
        'name = "pair"\nmethod = "random"\ntrials = 4',
        '"optim.learning_rate" = [1e-2, 3e-2]\n"model.hidden_size" = [8, 12]',
    )
    done = run_sweep(sweep, "--workers", "2", *base_args(mnist_root, tmp_path / "runs", epochs=1))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = read_trials(tmp_path / "runs" / "pair")
    assert [r.state for r in rows] == ["complete"] * 4
    assert sorted(Counter(point(r) for r in rows).values()) == [1, 1, 1, 1]


def test_repeats_2_runs_each_point_in_two_run_folders_and_takes_their_mean(mnist_root, tmp_path):
    sweep = write_sweep(
        tmp_path / "seeds.toml",
        'name = "seeds"\nmethod = "grid"\nrepeats = 2',
        '"optim.learning_rate" = [3e-3, 1e-2]',
    )
    done = run_sweep(sweep, *base_args(mnist_root, tmp_path / "runs", epochs=2))
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "runs" / "seeds"
    rows = read_trials(folder)
    assert [(r.state, r.repeats) for r in rows] == [("complete", 2)] * 2
    for row in rows:
        runs = [folder / f"trial-{row.number:04d}", folder / f"trial-{row.number:04d}-r2"]
        assert [read_summary(run)["status"] for run in runs] == ["completed", "completed"]  # ordinary run folders
        assert [load_settings(run / "settings.toml").train.seed for run in runs] == [0, 1]
        finals = [journal_values(run, "val_accuracy")[2] for run in runs]
        assert row.metric == pytest.approx(statistics.fmean(finals))
        assert row.metric_std == pytest.approx(statistics.stdev(finals))
    best = max(rows, key=lambda r: r.metric)
    assert f"trial-{best.number:04d}" in (folder / "best.toml").read_text().splitlines()[0]
    last = done.stdout.splitlines()[-1]
    assert f"Best: trial {best.number}, val_accuracy " in last and " +- " in last and "(mean +- std of 2 seeds)" in last
    assert done.stdout.splitlines()[0].startswith("Sweep seeds: grid of 2 trials, each point 2 times")


def test_with_repeats_the_pruner_judges_the_mean_and_a_pruned_point_runs_no_more_seeds(mnist_root, tmp_path):
    """lr 1e-2 learns the bars, 1e-6 barely moves: trial 2's mean after epoch 2 of its first seed trails trial
    1's (the mean of its two seeds there), so it is pruned and its second seed never runs."""
    sweep = write_sweep(
        tmp_path / "cut.toml",
        'name = "cut"\nmethod = "grid"\nrepeats = 2\nprune = "median"',
        '"optim.learning_rate" = [1e-2, 1e-6]',
    )
    done = run_sweep(sweep, *base_args(mnist_root, tmp_path / "runs", epochs=3))
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "runs" / "cut"
    first, second = read_trials(folder)
    assert (first.state, first.repeats, second.state, second.repeats) == ("complete", 2, "pruned", 1)
    assert read_summary(folder / "trial-0002")["status"] == "pruned"
    assert not (folder / "trial-0002-r2").exists()
    assert second.metric == pytest.approx(journal_values(folder / "trial-0002", "val_accuracy")[2])  # the mean of 1
    means = [statistics.fmean(journal_values(folder / name, "val_accuracy")[2] for name in ("trial-0001", "trial-0001-r2"))]
    reason = read_summary(folder / "trial-0002")["pruned_reason"]
    assert "after epoch 2 trails the median of the complete trials there" in reason
    assert f"{100 * means[0]:.2f}%" in reason  # what it was compared with: trial 1's mean over its seeds
