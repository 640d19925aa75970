"""Which setting mattered: each setting's share of the metric's importance, from Optuna's PED-ANOVA evaluator.

Why PED-ANOVA: it is built into Optuna (fANOVA and mean decrease impurity need scikit-learn and fit a random
forest, which a sweep of 12 trials cannot feed) and it is made for few trials: it compares where the best trials
lie in each setting's range with where all the trials lie. It judges the complete trials and the pruned ones (at
the metric they were cut at, see ``judged``) and reads the study's direction itself, so a maximised val_accuracy and a minimised val_loss
both count the best trials as the top ones (tests/sweep/test_importance.py checks it on studies whose answer is
known, as importance for a maximised metric has been reported wrong elsewhere).
"""

from __future__ import annotations

import warnings

import optuna
from optuna.trial import TrialState

from lstm_vision.sweep.spec import SweepSpec
from lstm_vision.text import format_share

MIN_JUDGED = 4  # fewer trials say nothing about importance
TOP_TRIALS = 3  # "the best trials": about this many, and never under a tenth nor over 40% of those judged


def target_quantile(complete: int) -> float:
    """Optuna's default top 10% is one trial out of ten; a small sweep's best few say more."""
    return max(0.1, min(0.4, TOP_TRIALS / max(complete, 1)))


def judged(study: optuna.Study) -> optuna.Study:
    """The trials importance judges, in a study of their own in memory: the complete ones at their metric and
    the pruned ones at the metric they were cut at. Pruned trials trailed, and leaving them out hides what made
    them trail: in a pruned sweep the complete trials may all share the learning rate that mattered."""
    copy = optuna.create_study(direction=study.direction)
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        value = frozen.value if frozen.state == TrialState.COMPLETE else _last(frozen)
        if value is not None and frozen.params:
            copy.add_trial(optuna.trial.create_trial(params=frozen.params, distributions=frozen.distributions, value=value))
    return copy


def _last(frozen: optuna.trial.FrozenTrial) -> float | None:
    return frozen.intermediate_values[max(frozen.intermediate_values)] if frozen.intermediate_values else None


def importances(study: optuna.Study, spec: SweepSpec) -> list[tuple[str, float]] | None:
    """(setting, share) for every setting of [space], most important first, the shares summing to 1 (equal shares
    when nothing stands out); None until MIN_JUDGED trials are complete or pruned, one of them complete."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    trials = judged(study)
    if len(trials.trials) < MIN_JUDGED:
        return None
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=target_quantile(len(trials.trials)))
    with warnings.catch_warnings():  # "quantiles select the same trials": equal shares, which is what it means
        warnings.simplefilter("ignore")
        found = optuna.importance.get_param_importances(trials, evaluator=evaluator, params=spec.param_names)
    shares = {name: float(found.get(name, 0.0)) for name in spec.param_names}
    order = sorted(shares, key=lambda name: (-shares[name], spec.param_names.index(name)))
    return [(name, shares[name]) for name in order]


def importance_text(ranked: list[tuple[str, float]] | None) -> str | None:
    """The final line's clause: ``the most important setting: optim.learning_rate (71% of the importance)``."""
    if not ranked:
        return None
    name, share = ranked[0]
    return f"the most important setting: {name} ({format_share(share)} of the importance)"
