"""Every trial a new point: random and tpe over a space of lists only never propose a point already run, running
or queued in the study.

Optuna's samplers choose each setting on its own and do not look at whole points, so over a 2 x 2 space a TPE
sweep of 3 trials ran trial 3 on trial 1's point. DistinctSampler wraps the chosen sampler: it asks it for the
whole point at the trial's start (Optuna's relative sampling, so the point is decided at once), turns down a
point the study holds already and asks again, and after a few refusals takes one of the points left at random.
A worker creates its trial under the sweep's hand-out lock (sweep/worker.py), so the points of trials other
workers are running are in the study when it decides. A space with a range is left to the sampler as it is.
"""

from __future__ import annotations

import json
import random
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from lstm_vision.sweep.spec import SweepSpec, value_text

PROPOSALS = 8  # the sampler's tries at a new point before one of the points left is taken at random
DUPLICATES_ATTR = "lstm_vision.duplicates_avoided"  # a trial's user attribute: proposals turned down for it


def point_key(params: dict[str, Any]) -> str:
    """One text for a point, whatever the order of its settings (1 and 1.0 alike as trials.csv writes them)."""
    return json.dumps({name: value_text(value) for name, value in params.items()}, sort_keys=True)


def taken_points(trials: list[FrozenTrial], but: int | None = None) -> set[str]:
    """The points of the study's trials that count (running, queued, ended), trial ``but`` aside. A failed trial
    that was queued again leaves its point to its retry, which is queued with the same values."""
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    taken = set()
    for frozen in trials:
        if frozen.number == but or (frozen.state == TrialState.FAIL and frozen.number in retried):
            continue
        params = dict(frozen.params) or dict(frozen.system_attrs.get("fixed_params") or {})
        if params:
            taken.add(point_key(params))
    return taken


class DistinctSampler(optuna.samplers.BaseSampler):
    """``base`` (RandomSampler, TPESampler) asked for whole points, each new to the study."""

    def __init__(self, base: optuna.samplers.BaseSampler, spec: SweepSpec) -> None:
        self.base, self.spec = base, spec
        self._space = {d.name: CategoricalDistribution(list(d.values or ())) for d in spec.space}
        self._rng = random.Random()
        self.avoided: dict[int, int] = {}  # trial number -> the proposals turned down before its point

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._space)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if trial.system_attrs.get("fixed_params") or not search_space:
            return {}  # a queued trial (a retry) runs the values it was queued with
        taken = taken_points(study.get_trials(deepcopy=False), but=trial.number)
        point: dict[str, Any] = {}
        for turned_down in range(PROPOSALS):
            point = {name: self.base.sample_independent(study, trial, name, dist) for name, dist in search_space.items()}
            if point_key(point) not in taken:
                self.avoided[trial.number] = turned_down
                return point
        left = [p for p in self.spec.grid_points() if point_key(p) not in taken]
        self.avoided[trial.number] = PROPOSALS
        return self._rng.choice(left) if left else point  # none left: the worker takes no more trials (spec.total)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self._rng = random.Random()
