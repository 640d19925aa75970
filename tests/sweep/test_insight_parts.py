"""The parts of a sweep that say why, on real Optuna studies in memory: importance's direction on studies whose
answer is known, a new point for every trial, the pruner judging a mean, the parallel view's axes, and the one
number formatter."""

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from lstm_vision.sweep.distinct import DistinctSampler, point_key, taken_points
from lstm_vision.sweep.folder import TrialRow
from lstm_vision.sweep.importance import importances
from lstm_vision.sweep.parallel import parallel_view
from lstm_vision.sweep.repeats import would_prune
from lstm_vision.sweep.spec import read_sweep
from lstm_vision.text import format_metric, format_number, format_share

optuna.logging.set_verbosity(optuna.logging.ERROR)


def spec_of(tmp_path: Path, space: str, sweep: str = 'method = "random"\ntrials = 20'):
    path = tmp_path / "s.toml"
    path.write_text(f"[sweep]\n{sweep}\n\n[space]\n{space}\n")
    return read_sweep(path)


def known_study(direction: str) -> optuna.Study:
    """Twenty trials on a lattice: ``x`` decides the best three (only a narrow band of it scores high), ``y`` adds
    a little everywhere. The worst trials are spread over x and sit at low y: read in the wrong direction, y would
    look the important one."""
    sign = 1.0 if direction == "maximize" else -1.0
    study = optuna.create_study(direction=direction)
    space = {"x": FloatDistribution(0, 1), "y": FloatDistribution(0, 1)}
    for i in range(20):
        x, y = (i + 0.5) / 20, ((7 * i) % 20 + 0.5) / 20
        value = sign * ((1.0 if abs(x - 0.5) < 0.08 else 0.0) + 0.5 * y)
        study.add_trial(optuna.trial.create_trial(params={"x": x, "y": y}, distributions=space, value=value))
    return study


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_importance_ranks_the_setting_that_decides_the_best_trials_first_either_way(direction):
    study = known_study(direction)
    spec = SimpleNamespace(param_names=["x", "y"])  # importances reads only the names from the sweep file
    ranked = importances(study, spec)
    assert [name for name, _ in ranked] == ["x", "y"]
    assert sum(share for _, share in ranked) == pytest.approx(1.0)
    assert ranked[0][1] > 0.7
    # the same trials judged as if the direction were the other one rank y first: the check above can fail
    flipped = optuna.create_study(direction="minimize" if direction == "maximize" else "maximize")
    flipped.add_trials(study.trials)
    assert importances(flipped, spec)[0][0] == "y"


def test_importance_counts_the_pruned_trials_at_the_metric_they_were_cut_at():
    """Every complete trial has lr 1e-2 (those at 1e-5 trailed and were pruned); the dropout varies among them:
    over the complete trials alone lr could not matter, over all it does."""
    study = optuna.create_study(direction="maximize")
    space = {"lr": CategoricalDistribution([1e-2, 1e-5]), "dropout": CategoricalDistribution([0.0, 0.2])}
    for i in range(10):
        lr, dropout = (1e-2 if i < 5 else 1e-5), (0.0, 0.2)[i % 2]
        value = (0.98 if lr == 1e-2 else 0.5) + 0.001 * (i % 3)
        pruned = lr == 1e-5
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": lr, "dropout": dropout},
                distributions=space,
                value=None if pruned else value,
                intermediate_values={1: value},
                state=optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.COMPLETE,
            )
        )
    assert importances(study, SimpleNamespace(param_names=["lr", "dropout"]))[0][0] == "lr"


def test_importance_waits_for_four_complete_trials():
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert importances(study, SimpleNamespace(param_names=["x"])) is None


def test_a_sampler_over_lists_never_proposes_a_point_the_study_holds(tmp_path):
    spec = spec_of(tmp_path, '"optim.learning_rate" = [1e-2, 1e-3]\n"model.hidden_size" = [8, 12, 16]')
    for base in (optuna.samplers.RandomSampler(seed=0), optuna.samplers.TPESampler(seed=0, n_startup_trials=2)):
        study = optuna.create_study(direction="maximize", sampler=DistinctSampler(base, spec))
        running = study.ask()  # one trial running, as another worker's is while this one asks
        running.suggest_categorical("optim.learning_rate", [1e-2, 1e-3])
        running.suggest_categorical("model.hidden_size", [8, 12, 16])
        for _ in range(5):
            trial = study.ask()
            lr = trial.suggest_categorical("optim.learning_rate", [1e-2, 1e-3])
            hidden = trial.suggest_categorical("model.hidden_size", [8, 12, 16])
            study.tell(trial, lr * hidden)
        points = [point_key(t.params) for t in study.trials]
        assert len(set(points)) == 6 == spec.points  # all six points, each once
        assert taken_points(study.trials) == set(points)


def test_tpe_over_lists_with_more_trials_than_points_counts_the_points(tmp_path):
    spec = spec_of(tmp_path, '"optim.learning_rate" = [1e-2, 1e-3]\n"model.hidden_size" = [8, 12]', 'method = "tpe"\ntrials = 6')
    assert (spec.points, spec.total, spec.fewer_points) == (4, 4, True)
    ranged = spec_of(tmp_path, '"optim.learning_rate" = { low = 1e-3, high = 1e-1 }\n"model.hidden_size" = [8]')
    assert (ranged.points, ranged.total, ranged.fewer_points) == (None, 20, False)


def test_the_pruner_judges_a_trials_mean(tmp_path):
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    for value in (0.8, 0.9):  # complete trials: their (mean) value after epoch 1
        trial = study.ask()
        trial.report(value, 1)
        study.tell(trial, value)
    trial = study.ask()
    assert would_prune(trial, {1: 0.5}) and not would_prune(trial, {1: 0.95})
    assert trial.should_prune() is False  # nothing reported: the verdicts were on copies


def test_parallel_view_normalises_each_axis_and_draws_the_best_last(tmp_path):
    space = (
        '"optim.learning_rate" = { low = 1e-4, high = 1e-2, log = true }\n"model.hidden_size" = [64, 16, 32]\n'
        '"optim.schedule" = ["constant", "onecycle"]'
    )
    spec = spec_of(tmp_path, space)

    def row(n, state, lr, hidden, schedule, metric):
        params = {"optim.learning_rate": lr, "model.hidden_size": hidden, "optim.schedule": schedule}
        return TrialRow(n, state, params, metric, 1.0, "")

    rows = [
        row(1, "complete", "0.01", "16", "onecycle", 0.9),
        row(2, "complete", "0.001", "64", "constant", 0.95),
        row(3, "pruned", "0.0001", "32", "onecycle", 0.1),
        row(4, "complete", "0.0001", "32", "constant", 0.5),
    ]
    view = parallel_view(spec, rows)
    assert [a.name for a in view.axes] == ["optim.learning_rate", "model.hidden_size", "optim.schedule", "val_accuracy"]
    assert view.axes[0].log and [label for _, label in view.axes[0].ticks] == ["0.0001", "0.001", "0.01"]
    assert [label for _, label in view.axes[1].ticks] == ["16", "32", "64"]  # numbers go up the axis
    assert [line.number for line in view.lines] == [1, 4, 2]  # complete only, the best last
    by_number = {line.number: line for line in view.lines}
    assert by_number[2].best and by_number[2].positions == pytest.approx((0.5, 1.0, 0.0, 1.0))
    assert by_number[1].positions == pytest.approx((1.0, 0.0, 1.0, (0.9 - 0.5) / (0.95 - 0.5)))
    assert (by_number[4].shade, by_number[2].shade) == (0.0, 1.0)
    # a minimised metric: the lowest is the best, with the brightest shade
    loss = parallel_view(spec_of(tmp_path, space, 'method = "random"\ntrials = 4\nmetric = "val_loss"'), rows)
    assert loss.lines[-1].number == 4 and loss.lines[-1].shade == 1.0


def test_numbers_read_to_four_significant_digits():
    assert format_number(0.014956347886667344) == "0.01496" == format_number("0.014956347886667344")
    assert [format_number(v) for v in ("1e-06", "128", "adamw", "[0.9, 0.99]", True, 3, None)] == [
        "1e-06",
        "128",
        "adamw",
        "[0.9, 0.99]",
        "true",
        "3",
        "-",
    ]
    assert format_metric("val_accuracy", 0.97314, 0.00123) == "val_accuracy 97.31% +- 0.12%"
    assert format_metric("val_loss", 0.08123) == "val_loss 0.0812"


def test_a_share_of_the_importance_reads_the_same_in_the_picture_the_tab_and_the_final_line():
    """One formatter for all three (the picture said 1% where the Sweep tab said 0.6%)."""
    assert [format_share(s) for s in (0.930859, 0.049964, 0.005949, 0.0)] == ["93%", "5%", "0.6%", "0.0%"]
