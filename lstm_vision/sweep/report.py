"""The sweep folder's reports, rewritten from the study after every trial (and trials.csv when one starts):
trials.csv, best.toml and sweep.png (matplotlib's object API, as report/plots.py draws a run's pictures)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from lstm_vision.atomic import atomic_write_text
from lstm_vision.runs.folder import SETTINGS_FILE
from lstm_vision.settings import Settings, render_toml
from lstm_vision.sweep.folder import BEST_TOML, SWEEP_PNG, TrialRow, trial_dir_name, write_trials
from lstm_vision.sweep.spec import SweepSpec, trial_settings, value_text
from lstm_vision.sweep.trial import elapsed_s, metric_text


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
        rows.append(
            TrialRow(
                frozen.number + 1,
                state,
                params,
                trial_metric(frozen),
                elapsed_s(frozen),
                str(sweep_dir / trial_dir_name(frozen.number + 1)),
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
    head = (
        f"# The best trial of sweep {spec.name} ({complete} complete): {trial_dir_name(best.number + 1)}, "
        f"{metric_text(spec.metric, best.value)} with {', '.join(f'{k} = {value_text(v)}' for k, v in best.params.items())}.\n"
        f"# Train with these settings again: lstm-vision-tui --no-ui --config {sweep_dir / BEST_TOML}\n"
    )
    atomic_write_text(sweep_dir / BEST_TOML, head + body)


def update_reports(study: optuna.Study, spec: SweepSpec, sweep_dir: Path, base: Settings, picture: bool = True) -> None:
    rows = trial_rows(study, sweep_dir)
    write_trials(sweep_dir, spec.metric, spec.param_names, rows)
    best = best_trial(study)
    if best is not None:
        write_best(spec, sweep_dir, base, best, sum(row.state == "complete" for row in rows))
    if picture:
        draw_sweep(spec, rows, sweep_dir / SWEEP_PNG)


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def draw_sweep(spec: SweepSpec, rows: list[TrialRow], path: Path) -> None:
    """The metric per trial with the best so far, then one panel per parameter against the metric."""
    from lstm_vision.report.plots import new_figure, save_png

    scale = 100.0 if spec.metric == "val_accuracy" else 1.0
    label = "val accuracy (%)" if spec.metric == "val_accuracy" else "val loss"
    shown = [r for r in rows if r.state in ("complete", "pruned") and r.metric is not None]
    panels = 1 + len(spec.space)
    columns = min(3, panels)
    lines = -(-panels // columns)
    figure = new_figure(4.2 * columns, 3.3 * lines)
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    _trials_panel(axes[0], spec, shown, scale, label)
    for ax, dim in zip(axes[1:], spec.space):
        _param_panel(ax, dim, shown, scale, label)
    for ax in axes[panels:]:
        ax.set_visible(False)
    figure.suptitle(f"Sweep {spec.name}: {spec.method}, {len(shown)} trials judged", fontsize=11)
    save_png(figure, path)


def _trials_panel(ax, spec: SweepSpec, shown: list[TrialRow], scale: float, label: str) -> None:
    complete = [r for r in shown if r.state == "complete"]
    pruned = [r for r in shown if r.state == "pruned"]
    ax.scatter(
        [r.number for r in complete], [scale * r.metric for r in complete], s=28, color="tab:blue", label="complete", zorder=3
    )
    if pruned:
        ax.scatter(
            [r.number for r in pruned],
            [scale * r.metric for r in pruned],
            s=30,
            marker="x",
            color="tab:gray",
            label="pruned (last epoch)",
            zorder=3,
        )
    best, xs, ys = None, [], []
    for row in sorted(complete, key=lambda r: r.number):
        if best is None or (row.metric > best if spec.direction == "maximize" else row.metric < best):
            best = row.metric
        xs.append(row.number)
        ys.append(scale * best)
    if xs:
        ax.step(xs, ys, where="post", color="tab:orange", label="best so far", zorder=2)
    ax.set_xlabel("trial")
    ax.set_ylabel(label)
    ax.set_title(f"{spec.metric} per trial")
    ax.grid(alpha=0.3)
    if shown:
        ax.legend(fontsize=8, loc="lower right" if spec.direction == "maximize" else "upper right")


def _param_panel(ax, dim, shown: list[TrialRow], scale: float, label: str) -> None:
    texts = [r.params.get(dim.name, "") for r in shown]
    numbers = [_as_number(t) for t in texts]
    categorical = dim.values is not None and (any(n is None for n in numbers) or len(dim.values) <= 1)
    if categorical:
        order = [value_text(v) for v in dim.values]
        xs = [order.index(t) if t in order else -1 for t in texts]
        ax.set_xticks(range(len(order)), order, fontsize=8)
    else:
        xs = numbers
        values = [v for v in (dim.values or (dim.low, dim.high)) if isinstance(v, (int, float))]
        if dim.log or (values and min(values) > 0 and max(values) / min(values) >= 20):
            ax.set_xscale("log")
    colours = ["tab:blue" if r.state == "complete" else "tab:gray" for r in shown]
    markers_complete = [i for i, r in enumerate(shown) if r.state == "complete"]
    markers_pruned = [i for i, r in enumerate(shown) if r.state == "pruned"]
    for group, marker in ((markers_complete, "o"), (markers_pruned, "x")):
        if group:
            ax.scatter(
                [xs[i] for i in group],
                [scale * shown[i].metric for i in group],
                s=28,
                marker=marker,
                color=[colours[i] for i in group],
                zorder=3,
            )
    ax.set_xlabel(dim.name)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
