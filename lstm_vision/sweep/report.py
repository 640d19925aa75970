"""The sweep folder's reports, rewritten from the study after every trial (and trials.csv when one starts):
trials.csv, best.toml, importance.csv (sweep/importance.py), sweep.png (sweep/picture.py) and parallel.png
(sweep/parallel.py)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from lstm_vision.atomic import atomic_write_text
from lstm_vision.runs.folder import SETTINGS_FILE
from lstm_vision.settings import Settings, render_toml
from lstm_vision.sweep.folder import (
    BEST_TOML,
    IMPORTANCE_CSV,
    PARALLEL_PNG,
    SWEEP_PNG,
    TrialRow,
    trial_dir_name,
    write_importance,
    write_trials,
)
from lstm_vision.sweep.importance import importances
from lstm_vision.sweep.parallel import draw_parallel, parallel_view
from lstm_vision.sweep.picture import draw_sweep
from lstm_vision.sweep.repeats import METRIC_STD_ATTR, REPEATS_ATTR
from lstm_vision.sweep.spec import SweepSpec, trial_settings, value_text
from lstm_vision.sweep.trial import STOPPED_ATTR, elapsed_s, metric_text


def trial_params(frozen: FrozenTrial) -> dict:
    """A trial's values; a queued grid point's are still Optuna's fixed params."""
    return dict(frozen.params) or dict(frozen.system_attrs.get("fixed_params") or {})


def trial_metric(frozen: FrozenTrial) -> float | None:
    if frozen.state == TrialState.COMPLETE:
        return frozen.value
    return frozen.intermediate_values[max(frozen.intermediate_values)] if frozen.intermediate_values else None


def trial_rows(study: optuna.Study, sweep_dir: Path) -> list[TrialRow]:
    rows = []
    for frozen in study.get_trials(deepcopy=False):
        params = {name: value_text(value) for name, value in trial_params(frozen).items()}
        state = frozen.state.name.lower()
        if frozen.state == TrialState.FAIL and frozen.user_attrs.get(STOPPED_ATTR):
            state = "stopped"  # Optuna fails a trial its worker's stop ended; it is queued again, no failure of its own
        rows.append(
            TrialRow(
                frozen.number + 1,
                state,
                params,
                trial_metric(frozen),
                elapsed_s(frozen),
                str(sweep_dir / trial_dir_name(frozen.number + 1)),
                metric_std=frozen.user_attrs.get(METRIC_STD_ATTR),
                repeats=int(frozen.user_attrs.get(REPEATS_ATTR, 1)),
            )
        )
    return rows


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    return pick(complete, key=lambda t: t.value)


def write_best(spec: SweepSpec, sweep_dir: Path, base: Settings, best: FrozenTrial, complete: int) -> None:
    """best.toml: the best trial's own settings.toml (the exact settings it ran with), or its settings made again
    from the base and its values when its folder is on another box."""
    folder = sweep_dir / trial_dir_name(best.number + 1)
    try:
        body = (folder / SETTINGS_FILE).read_text(encoding="utf-8")
    except OSError:
        body = render_toml(trial_settings(base, best.params))
    seeds = f" (the mean of {spec.repeats} seeds; this is its first's)" if spec.repeats > 1 else ""
    head = (
        f"# The best trial of sweep {spec.name} ({complete} complete): {trial_dir_name(best.number + 1)}, "
        f"{metric_text(spec.metric, best.value, best.user_attrs.get(METRIC_STD_ATTR))}{seeds} with {', '.join(f'{k} = {value_text(v)}' for k, v in best.params.items())}.\n"
        f"# Train with these settings again: lstm-vision-tui --no-ui --config {sweep_dir / BEST_TOML}\n"
    )
    atomic_write_text(sweep_dir / BEST_TOML, head + body)


def update_reports(study: optuna.Study, spec: SweepSpec, sweep_dir: Path, base: Settings, picture: bool = True) -> str | None:
    """Rewrite the reports; returns a warning when a picture could not be drawn (a picture never ends a sweep).
    ``picture`` False (a trial started, an epoch ended): trials.csv and best.toml only; importance.csv and the
    pictures follow the trials' ends."""
    rows = trial_rows(study, sweep_dir)
    write_trials(sweep_dir, spec.metric, spec.param_names, rows)
    best = best_trial(study)
    if best is not None:
        write_best(spec, sweep_dir, base, best, sum(row.state == "complete" for row in rows))
    if not picture:
        return None
    warning, ranked = None, None
    try:
        ranked = importances(study, spec)
    except Exception as err:  # an evaluator failing on an odd study must not end the sweep either
        warning = f"{IMPORTANCE_CSV} not written: {err.__class__.__name__}: {err}"
    if ranked is not None:
        write_importance(sweep_dir, ranked)
    try:
        draw_sweep(spec, rows, sweep_dir / SWEEP_PNG, ranked)
        view = parallel_view(spec, rows)
        done = f"{len(view.lines)} complete trial{'' if len(view.lines) == 1 else 's'}"
        draw_parallel(view, sweep_dir / PARALLEL_PNG, f"Sweep {spec.name}: {done}, an axis per setting")
    except Exception as err:  # matplotlib missing or failing
        return f"{SWEEP_PNG} or {PARALLEL_PNG} not drawn: {err.__class__.__name__}: {err}"
    return warning
