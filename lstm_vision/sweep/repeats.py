"""A point run with K seeds (``repeats = K`` in [sweep]): repeat k trains with train.seed + k - 1 in its own
ordinary run folder (trial-0007, trial-0007-r2, ...), one after the other; the trial's metric is the mean of the
K runs' last validated epochs, and trials.csv gives their standard deviation.

Pruning judges the mean: after each epoch of repeat k the pruner sees the mean, at each epoch, of the repeats
run so far (the earlier ones whole, this one up to here), asked of the study's own pruner on a copy of the trial
with those means, since Optuna takes one report per epoch and a trial's means are known only as its repeats end.
Each epoch's mean over all K is reported to Optuna when the last repeat ends, so the complete trials other trials
are compared with hold means too. A pruned trial reports the means it reached. (HyperbandPruner records a rung's
value when the trial first reaches it: with repeats, the mean of the seeds run by then.)
"""

from __future__ import annotations

import copy
import shutil
import statistics
from pathlib import Path
from typing import Callable

import optuna

from lstm_vision import events as ev
from lstm_vision.control import RunControl
from lstm_vision.runs.folder import CONTROL_FILE, OUTPUT_LOG, PROCESS_FILE, read_summary
from lstm_vision.settings import Settings
from lstm_vision.sweep.folder import repeat_dir_name
from lstm_vision.sweep.trial import TrialRunner, continue_from, journal_values, metric_text, prune_reason

METRIC_STD_ATTR = "lstm_vision.metric_std"  # a trial's user attributes: the spread of its repeats' metrics,
REPEATS_ATTR = "lstm_vision.repeats"  # and how many repeats ran (fewer than K when it was pruned)


class RepeatingRunner(TrialRunner):
    """The trial runner of a sweep with ``repeats`` above 1 (sweep/worker.py chooses it)."""

    def _run(self, trial: optuna.Trial, settings: Settings, run_dir: Path, resume: str | None, previous: str | None) -> float:
        return run_repeats(self, trial, settings, previous, resume)


def run_repeats(runner: TrialRunner, trial: optuna.Trial, settings: Settings, previous: str | None, resume: str | None) -> float:
    spec, number = runner.spec, trial.number + 1
    curves: list[dict[int, float]] = []  # each finished repeat's metric per validated epoch
    finals: list[float] = []
    for k in range(1, spec.repeats + 1):
        seeded = copy.deepcopy(settings)
        seeded.train.seed = settings.train.seed + k - 1
        run_dir = runner.sweep_dir / repeat_dir_name(number, k)
        before = f"{previous}-r{k}" if previous and k > 1 else previous  # the predecessor's repeat k (a retry)
        resumed = resume if k == 1 else continue_from(runner.sweep_dir, before, run_dir)
        run_dir.mkdir(exist_ok=True)
        runner.say(f"  trial {number} repeat {k} of {spec.repeats} ({run_dir.name}, train.seed = {seeded.train.seed})")
        reported = _completed_before(runner.sweep_dir, before, run_dir, spec.metric)
        if reported is None:
            reported = journal_values(run_dir, spec.metric) if resumed else {}
            judge = _judge(runner, trial, curves, reported, k)
            result = runner.train(trial, seeded, run_dir, resumed, judge)
            if result.status == "pruned":  # its row shows the mean it was pruned at
                _report_means(trial, [*curves, reported])
                trial.set_user_attr(REPEATS_ATTR, k)
            final = runner._outcome(trial, result, reported)  # raises for a pruned, stopped or failed run
        else:
            final = reported[max(reported)]
        curves.append(reported)
        finals.append(final)
    _report_means(trial, curves)
    trial.set_user_attr(METRIC_STD_ATTR, statistics.stdev(finals))
    trial.set_user_attr(REPEATS_ATTR, len(finals))
    return statistics.fmean(finals)


def _completed_before(sweep_dir: Path, before: str | None, run_dir: Path, metric: str) -> dict[int, float] | None:
    """A retried trial keeps the repeats its predecessor completed: copied into its own folder, not run again."""
    if not before or before == run_dir.name or read_summary(sweep_dir / before).get("status") != "completed":
        return None
    values = journal_values(sweep_dir / before, metric)
    if not values:
        return None
    shutil.copytree(
        sweep_dir / before, run_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(PROCESS_FILE, CONTROL_FILE, OUTPUT_LOG)
    )
    return values


def _means(curves: list[dict[int, float]]) -> dict[int, float]:
    epochs = sorted({epoch for curve in curves for epoch in curve})
    return {e: statistics.fmean(c[e] for c in curves if e in c) for e in epochs}


def _report_means(trial: optuna.Trial, curves: list[dict[int, float]]) -> None:
    for epoch, mean in _means(curves).items():
        trial.report(mean, epoch)


def would_prune(trial: optuna.Trial, means: dict[int, float]) -> bool:
    """The study's pruner's verdict on the trial had it reported ``means``."""
    study = trial.study
    frozen = copy.copy(next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number))
    frozen.intermediate_values = dict(means)
    return study.pruner.prune(study, frozen)


def _judge(
    runner: TrialRunner, trial: optuna.Trial, curves: list[dict[int, float]], reported: dict[int, float], k: int
) -> Callable[[RunControl], Callable[[ev.Event], None]]:
    spec = runner.spec

    def make(control: RunControl) -> Callable[[ev.Event], None]:
        def judge(event: ev.Event) -> None:
            if not isinstance(event, ev.EpochFinished) or getattr(event, spec.metric) is None:
                return
            value = float(getattr(event, spec.metric))
            reported[event.epoch] = value
            means = {e: m for e, m in _means([*curves, reported]).items() if e <= event.epoch}
            runner.say(
                f"  trial {trial.number + 1} repeat {k} epoch {event.epoch}/{event.epochs}: {metric_text(spec.metric, value)}; "
                f"mean of {k}: {metric_text(spec.metric, means[event.epoch])}"
            )
            runner.on_epoch()
            if event.epoch < event.epochs and not control.stop_requested and would_prune(trial, means):
                control.prune(prune_reason(trial, spec, event.epoch, means[event.epoch]))

        return judge

    return make
