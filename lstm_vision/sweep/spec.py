"""A sweep file, read and checked: every key of [sweep] and every value of [space], by the same code as --set
(settings.parse_text / check_value), before anything is written. Each refusal is one sentence naming the file,
the key and what would be valid (a SettingsError, exit 2).

    [sweep]
    name = "lr-hidden"        # the sweep folder: <output.dir>/<name>/ (default: the file's name)
    method = "grid"           # grid | random | tpe
    trials = 12               # random / tpe (a grid runs every combination once)
    metric = "val_accuracy"   # val_accuracy (maximised) | val_loss (minimised)
    prune = "median"          # none | median | hyperband
    base = "settings.toml"    # the settings every trial starts from, relative to this file (optional)
    repeats = 1               # runs per point, seeds train.seed + 0..K-1; the point's metric is their mean

    [space]                   # any setting by its dotted name: a list of values, or a range (random / tpe)
    "optim.learning_rate" = [1e-3, 2e-3, 5e-3]
    "optim.weight_decay" = { low = 1e-4, high = 0.1, log = true }
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_vision.errors import SettingsError
from lstm_vision.settings import (
    SECTIONS,
    Settings,
    check_batch_split,
    check_sequence_shape,
    check_value,
    parse_text,
    section_fields,
)
from lstm_vision.settings.validate import check_run_name

METHODS = ("grid", "random", "tpe")
DIRECTIONS = {"val_accuracy": "maximize", "val_loss": "minimize"}  # the metrics a sweep can optimise
PRUNERS = ("none", "median", "hyperband")
SWEEP_KEYS = ("name", "method", "trials", "metric", "prune", "base", "repeats")
MAX_REPEATS = 20  # seeds per point: beyond this a sweep is a benchmark
RANGE_KEYS = ("low", "high", "log")
# What a sweep file means by a key it leaves out: every reader of a sweep file (the runner, the sweep folder's
# viewers, the app's builder) takes these, so one file is one study wherever it is opened.
DEFAULTS = {"method": "tpe", "metric": "val_accuracy", "prune": "none", "repeats": 1}
# What a trial may not vary: where runs go is the sweep's, and a trial is one process (--workers spreads trials).
FIXED_SETTINGS = ("output.dir", "output.run_name", "system.nproc", "system.ddp")


@dataclass(frozen=True)
class Dimension:
    """One setting the sweep varies: a list of checked values, or a range [low, high] (log-uniform if log)."""

    name: str  # dotted: optim.learning_rate
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False  # a whole-number setting: its range is sampled as integers

    @property
    def section(self) -> str:
        return self.name.partition(".")[0]

    @property
    def key(self) -> str:
        return self.name.partition(".")[2]


@dataclass(frozen=True)
class SweepSpec:
    path: Path
    name: str
    method: str
    trials: int | None  # random / tpe; None for a grid
    metric: str
    prune: str
    base: Path | None
    space: tuple[Dimension, ...]
    document: dict[str, Any]  # the file as read, for the sweep folder's copy
    repeats: int = 1  # runs per point (seeds train.seed + 0..K-1); its metric is their mean

    @property
    def direction(self) -> str:
        return DIRECTIONS[self.metric]

    @property
    def param_names(self) -> list[str]:
        return [d.name for d in self.space]

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of a grid's values, the first dimension varying slowest."""
        names = self.param_names
        return [dict(zip(names, combo)) for combo in itertools.product(*(d.values or () for d in self.space))]

    @property
    def points(self) -> int | None:
        """How many points a space of lists holds (None when a range is in it: no end to them)."""
        if any(d.values is None for d in self.space):
            return None
        return len(self.grid_points())

    @property
    def total(self) -> int:
        """How many trials the study runs: random and tpe over lists run each point once at most."""
        if self.method == "grid":
            return len(self.grid_points())
        trials = int(self.trials or 0)
        return trials if self.points is None else min(trials, self.points)

    @property
    def fewer_points(self) -> bool:
        """random / tpe asked for more trials than its lists have points: each point runs once."""
        return self.method != "grid" and self.points is not None and self.points < int(self.trials or 0)

    def identity(self) -> str:
        """What makes two sweep files one study (the trials' count may grow between runs of it)."""
        space = {d.name: list(d.values) if d.values is not None else [d.low, d.high, d.log] for d in self.space}
        made = {"method": self.method, "metric": self.metric, "prune": self.prune, "space": space}
        if self.repeats != 1:  # means over K seeds are not one run's values; 1 keeps the studies made before repeats
            made["repeats"] = self.repeats
        return json.dumps(made, sort_keys=True)


def _closest(name: str, options) -> str:
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else f"; valid: {', '.join(options)}"


def load_document(path: Path) -> dict[str, Any]:
    """A sweep file's TOML, or the sentence that says why it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"Sweep file {path} does not exist.") from None
    except OSError as err:
        raise SettingsError(f"Sweep file {path} cannot be read: {err.strerror or err}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SettingsError(f"Sweep file {path} is not valid TOML: {err}.") from None


def read_sweep(path: str | Path, check_base: bool = True) -> SweepSpec:
    """The sweep file, checked whole. ``check_base=False`` for a sweep folder's copy, read by a viewer: the
    settings file it started from may have gone since, and a viewer does not need it."""
    path = Path(path).expanduser()
    document = load_document(path)
    unknown = [table for table in document if table not in ("sweep", "space")]
    if unknown:
        raise SettingsError(f"Sweep file {path}: unknown table [{unknown[0]}]; a sweep file has [sweep] and [space].")
    sweep, space = document.get("sweep", {}), document.get("space")
    if not isinstance(sweep, dict):
        raise SettingsError(f"Sweep file {path}: [sweep] must be a table of keys ({', '.join(SWEEP_KEYS)}).")
    for key in sweep:
        if key not in SWEEP_KEYS:
            raise SettingsError(f"Sweep file {path}: unknown key sweep.{key}{_closest(key, SWEEP_KEYS)}.")
    method = _choice(path, sweep, "method", METHODS)
    return SweepSpec(
        path=path,
        name=_name(path, sweep),
        method=method,
        trials=_trials(path, sweep, method),
        metric=_choice(path, sweep, "metric", tuple(DIRECTIONS)),
        prune=_choice(path, sweep, "prune", PRUNERS),
        base=_base(path, sweep, check_base),
        space=_space(path, space, method),
        document=document,
        repeats=_repeats(path, sweep),
    )


def _choice(path: Path, sweep: dict, key: str, options: tuple[str, ...]) -> str:
    value = sweep.get(key, DEFAULTS[key])
    if value not in options:
        raise SettingsError(f"Sweep file {path}: sweep.{key} must be one of {', '.join(options)}, not {value!r}.")
    return value


def _name(path: Path, sweep: dict) -> str:
    name = sweep.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise SettingsError(f"Sweep file {path}: sweep.name must be a folder name, not {name!r}.")
    try:
        check_run_name(name)
    except SettingsError:
        raise SettingsError(
            f"Sweep file {path}: sweep.name must be one plain folder name (no '/', no '..'), not {name!r}; "
            f"the sweep's folder is output.dir/<name>."
        ) from None
    return name


def _trials(path: Path, sweep: dict, method: str) -> int | None:
    trials = sweep.get("trials")
    if method == "grid":
        return None
    if trials is None:
        if "method" not in sweep:  # the user chose no method: say that tpe is the default, and how to run a grid
            raise SettingsError(
                f"Sweep file {path}: sweep.method is not given, so it is tpe, which needs sweep.trials, the number of "
                f'trials to run (e.g. 12); or give method = "grid" to run every combination of the lists once.'
            )
        raise SettingsError(f"Sweep file {path}: method = {method} needs sweep.trials, the number of trials to run (e.g. 12).")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise SettingsError(f"Sweep file {path}: sweep.trials must be a whole number >= 1, not {trials!r}.")
    return trials


def _repeats(path: Path, sweep: dict) -> int:
    repeats = sweep.get("repeats", DEFAULTS["repeats"])
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS:
        raise SettingsError(
            f"Sweep file {path}: sweep.repeats must be a whole number from 1 to {MAX_REPEATS} (runs per point, "
            f"each with its own seed), not {repeats!r}."
        )
    return repeats


def _base(path: Path, sweep: dict, check: bool = True) -> Path | None:
    base = sweep.get("base")
    if base is None:
        return None
    if not isinstance(base, str) or not base:
        raise SettingsError(f"Sweep file {path}: sweep.base must be the path of a settings file, not {base!r}.")
    resolved = (path.parent / Path(base).expanduser()).resolve()
    if check and not resolved.is_file():
        raise SettingsError(f"Sweep file {path}: sweep.base {base} does not exist (looked for {resolved}).")
    return resolved


def _space(path: Path, space: Any, method: str) -> tuple[Dimension, ...]:
    if space is None or (isinstance(space, dict) and not space):
        raise SettingsError(
            f'Sweep file {path}: [space] is empty; name at least one setting to vary, e.g. "optim.learning_rate" = [1e-3, 3e-3].'
        )
    if not isinstance(space, dict):
        raise SettingsError(f"Sweep file {path}: [space] must be a table of settings by dotted name.")
    return tuple(_dimension(path, name, value, method) for name, value in space.items())


def _setting_field(path: Path, name: str):
    section, dot, key = name.partition(".")
    if not dot or section not in SECTIONS:
        close = difflib.get_close_matches(name, _all_settings(), n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else "; give section.key, e.g. optim.learning_rate"
        raise SettingsError(f'Sweep file {path}: [space] "{name}" is not a setting{hint}.')
    fields = section_fields(section)
    if key not in fields:
        close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.5)
        hint = f" (did you mean '{section}.{close[0]}'?)" if close else f"; [{section}] has {', '.join(fields)}"
        raise SettingsError(f'Sweep file {path}: [space] "{name}" is not a setting{hint}.')
    if name in FIXED_SETTINGS:
        why = (
            "output settings are the sweep's (its folder is output.dir/<name>)"
            if section == "output"
            else "each trial is one process (--workers N runs trials side by side)"
        )
        raise SettingsError(f'Sweep file {path}: [space] "{name}" cannot vary between trials: {why}.')
    return fields[key]


def _all_settings() -> list[str]:
    return [f"{section}.{key}" for section in SECTIONS for key in section_fields(section)]


def _checked(path: Path, name: str, value: Any) -> Any:
    """A value checked as --set checks it: text through parse_text, a TOML value through check_value."""
    section, _, key = name.partition(".")
    try:
        if isinstance(value, str):
            return parse_text(section, key, value)
        return check_value(section, key, value)
    except SettingsError as err:
        raise SettingsError(f'Sweep file {path}: [space] "{name}": {err}') from None


def _dimension(path: Path, name: str, value: Any, method: str) -> Dimension:
    if name in SECTIONS and isinstance(value, dict) and value:  # model.hidden_size = [...] without its quotes
        key = next(iter(value))
        raise SettingsError(
            f"Sweep file {path}: [space] reads {name}.{key} without quotes as a table [{name}]; write each setting's "
            f'dotted name in quotes: "{name}.{key}" = ...'
        )
    field = _setting_field(path, name)
    if isinstance(value, list):
        if not value:
            raise SettingsError(f'Sweep file {path}: [space] "{name}" is an empty list; give at least one value.')
        values = tuple(_checked(path, name, v) for v in value)
        if any(isinstance(v, list) for v in values):  # optim.betas: a choice between lists, as text
            values = tuple(value_text(v) for v in values)
        if len(set(map(value_text, values))) != len(values):
            raise SettingsError(f'Sweep file {path}: [space] "{name}" lists a value twice: {value!r}.')
        return Dimension(name, values=values)
    if not isinstance(value, dict):
        raise SettingsError(
            f'Sweep file {path}: [space] "{name}" must be a list of values or a range {{ low = ..., high = ... }}, not {value!r}.'
        )
    if method == "grid":
        raise SettingsError(
            f'Sweep file {path}: [space] "{name}" is a range, and method = grid runs a list of values; give a list '
            f"(e.g. [{value.get('low')}, {value.get('high')}]) or use method = random or tpe."
        )
    return _range(path, name, value, field)


def _range(path: Path, name: str, value: dict, field) -> Dimension:
    for key in value:
        if key not in RANGE_KEYS:
            raise SettingsError(f'Sweep file {path}: [space] "{name}": unknown range key {key!r}; a range has low, high and log.')
    kind = type(field.default)
    if kind not in (int, float):
        raise SettingsError(f'Sweep file {path}: [space] "{name}" is not a number; give a list of its values instead of a range.')
    if "low" not in value or "high" not in value:
        raise SettingsError(f'Sweep file {path}: [space] "{name}" needs both low and high.')
    low, high = _checked(path, name, value["low"]), _checked(path, name, value["high"])
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise SettingsError(f'Sweep file {path}: [space] "{name}": log must be true or false, not {log!r}.')
    if not low < high:
        raise SettingsError(f'Sweep file {path}: [space] "{name}": low must be below high, not {low!r} and {high!r}.')
    if log and low <= 0:
        raise SettingsError(f'Sweep file {path}: [space] "{name}": a log range needs low > 0, not {low!r}.')
    return Dimension(name, low=low, high=high, log=log, integer=kind is int)


def value_text(value: Any) -> str:
    """A value as trials.csv and the progress lines write it, and as --set reads it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return str(value)


def trial_settings(base: Settings, params: dict[str, Any]) -> Settings:
    """``base`` with a trial's values, each checked as --set checks it, and the combinations the data set
    allows (a sequence shape, a batch split) checked before anything is written."""
    settings = copy.deepcopy(base)
    for name, value in params.items():
        section, _, key = name.partition(".")
        is_text = isinstance(value, str) and not isinstance(section_fields(section)[key].default, str)
        setattr(getattr(settings, section), key, parse_text(section, key, value) if is_text else check_value(section, key, value))
    check_sequence_shape(settings)
    check_batch_split(settings.train.batch_size, settings.train.grad_accum_steps, 1)
    return settings
