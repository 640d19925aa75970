"""Which setting mattered: each setting's share of the metric's importance, from Optuna's PED-ANOVA evaluator.

Why PED-ANOVA: it is built into Optuna (fANOVA and mean decrease impurity need scikit-learn and fit a random
forest, which a sweep of 12 trials cannot feed) and it is made for few trials: it compares where the best trials
lie in each setting's range with where all the trials lie. It judges the complete trials only (a pruned trial
has no final metric) and reads the study's direction itself, so a maximised val_accuracy and a minimised val_loss
both count the best trials as the top ones (tests/sweep/test_importance.py checks it on studies whose answer is
known, as importance for a maximised metric has been reported wrong elsewhere).
"""

from __future__ import annotations

import warnings

import optuna
from optuna.trial import TrialState

from lstm_vision.sweep.spec import SweepSpec

MIN_COMPLETE = 4  # fewer complete trials say nothing about importance
TOP_TRIALS = 3  # "the best trials": about this many, and never under a tenth nor over 40% of the complete ones


def target_quantile(complete: int) -> float:
    """Optuna's default top 10% is one trial out of ten; a small sweep's best few say more."""
    return max(0.1, min(0.4, TOP_TRIALS / max(complete, 1)))


def importances(study: optuna.Study, spec: SweepSpec) -> list[tuple[str, float]] | None:
    """(setting, share) for every setting of [space], most important first, the shares summing to 1 (equal shares
    when nothing stands out); None until MIN_COMPLETE trials are complete."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_COMPLETE:
        return None
    evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=target_quantile(len(complete)))
    with warnings.catch_warnings():  # "quantiles select the same trials": equal shares, which is what it means
        warnings.simplefilter("ignore")
        found = optuna.importance.get_param_importances(study, evaluator=evaluator, params=spec.param_names)
    shares = {name: float(found.get(name, 0.0)) for name in spec.param_names}
    order = sorted(shares, key=lambda name: (-shares[name], spec.param_names.index(name)))
    return [(name, shares[name]) for name in order]


def importance_text(ranked: list[tuple[str, float]] | None) -> str | None:
    """The final line's clause: ``the most important setting: optim.learning_rate (71% of the importance)``."""
    if not ranked:
        return None
    name, share = ranked[0]
    return f"the most important setting: {name} ({100 * share:.0f}% of the importance)"
