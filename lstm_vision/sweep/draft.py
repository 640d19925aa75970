"""A sweep as the app's builder holds it while it is edited (a draft): the text typed for each setting turned
into checked values (the same validation as ``--set``: ``lstm_vision.settings.parse_text``), read from a sweep
file and written back to one. The file is loaded by spec.py's reader with spec.py's defaults, and written here
only: a file opened and saved unchanged stays the same study, with the same text (docs/ARCHITECTURE.md, "The
sweep file").

The text of a setting's values is either a list, ``1e-3, 2e-3, 5e-3``, or (random and tpe only) a range,
``1e-4 .. 0.1 log``. No torch, no textual: the builder checks as the user types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit

from lstm_vision.errors import SettingsError
from lstm_vision.settings import SECTIONS, parse_text, section_fields
from lstm_vision.atomic import atomic_write_text
from lstm_vision.sweep.spec import DEFAULTS, DIRECTIONS, FIXED_SETTINGS, METHODS, PRUNERS, load_document

__all__ = ["METHODS", "METRICS", "PRUNERS"]

METRICS = tuple(DIRECTIONS)  # the engine's choices (lstm_vision/sweep): one owner for each
RANGE_SEPARATOR = ".."
VALUES_HINT = "a list, 1e-3, 2e-3; or (random, tpe) a range, 1e-4 .. 0.1 log"


@dataclass(frozen=True)
class Range:
    """Values drawn between low and high (random / tpe), on a log scale when ``log``."""

    low: float | int
    high: float | int
    log: bool = False


@dataclass
class SweepDraft:
    """What the builder's fields hold, checked: one sweep file's worth. The defaults are a sweep file's."""

    name: str
    method: str = DEFAULTS["method"]
    trials: int | None = None  # random / tpe; a grid runs every combination once
    metric: str = DEFAULTS["metric"]
    prune: str = DEFAULTS["prune"]
    repeats: int = DEFAULTS["repeats"]  # runs per point, each with its own seed
    base: str = ""  # the settings file every trial starts from, relative to the sweep file
    space: dict[str, list | Range] = field(default_factory=dict)

    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.space.values() if isinstance(v, list)) if self.space else 0


def check_setting_name(name: str) -> tuple[str, str]:
    """(section, key) of a dotted setting name, or the sentence ``--set`` gives for an unknown one."""
    section, dot, key = name.strip().partition(".")
    if not dot or not key:
        named = [f"{s}.{name.strip()}" for s in SECTIONS if name.strip() in section_fields(s)]
        example = named[0] if named else "optim.learning_rate"
        raise SettingsError(f"{name.strip()!r} is not a setting: give its dotted name, e.g. {example}.")
    if section not in SECTIONS or key not in section_fields(section):
        parse_text(section, key, "")  # raises: unknown section or key, with the closest name
    if f"{section}.{key}" in FIXED_SETTINGS:
        raise SettingsError(
            f"{section}.{key} cannot vary between trials: where runs go and how many processes one takes are the sweep's."
        )
    return section, key


def split_items(text: str) -> list[str]:
    """Items separated by commas outside brackets (``optim.betas`` values are lists themselves)."""
    items, depth, current = [], 0, []
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def parse_values(name: str, text: str, method: str) -> list | Range:
    """The values typed for one setting: a list of checked values, or a Range (random / tpe)."""
    section, key = check_setting_name(name)
    name = f"{section}.{key}"
    text = text.strip()
    if not text:
        raise SettingsError(f"{name}: give its values, {VALUES_HINT}.")
    if RANGE_SEPARATOR in text:
        return _parse_range(section, key, text, method)
    values = [parse_text(section, key, item) for item in split_items(text)]
    repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if repeated is not None:
        raise SettingsError(f"{name} lists {repeated!r} twice; give each value once.")
    return values


def _parse_range(section: str, key: str, text: str, method: str) -> Range:
    name = f"{section}.{key}"
    low_text, _, rest = text.partition(RANGE_SEPARATOR)
    high_text, *flags = rest.split() or [""]
    if flags not in ([], ["log"]):
        raise SettingsError(f"{name}: a range is 'low .. high' or 'low .. high log', not {text!r}.")
    if method == "grid":
        raise SettingsError(f"{name}: a range needs method random or tpe; a grid takes a list of values, e.g. 1e-3, 2e-3.")
    default = section_fields(section)[key].default
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        raise SettingsError(f"{name} is not a number, so it takes a list of values, not a range.")
    low, high = parse_text(section, key, low_text), parse_text(section, key, high_text)
    if not low < high:
        raise SettingsError(f"{name}: the range's low end must be below its high end, not {low!r} .. {high!r}.")
    if flags and low <= 0:
        raise SettingsError(f"{name}: a log range needs a low end above 0, not {low!r}.")
    return Range(low, high, bool(flags))


def values_text(values: list | Range) -> str:
    """The builder's text for values read from a sweep file (the inverse of parse_values)."""
    if isinstance(values, Range):
        return f"{values.low!r} {RANGE_SEPARATOR} {values.high!r}" + (" log" if values.log else "")
    return ", ".join(str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, float) else str(v) for v in values)


def check_name(name: str) -> None:
    """The sweep's folder is one plain name inside output.dir."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or name != name.strip() or "\x00" in name:
        raise SettingsError(f"sweep.name must be one plain folder name (no '/', no '..', no surrounding spaces), not {name!r}.")


def check_spec(spec: SweepDraft) -> None:
    """What a whole sweep needs beyond each setting's values (those parse_values checked)."""
    check_name(spec.name)
    if not spec.space:
        raise SettingsError("The sweep has no settings to vary: give at least one setting and its values.")
    if spec.method != "grid" and not spec.trials:
        raise SettingsError(f"sweep.trials: method {spec.method} needs a number of trials (a whole number above 0).")


def render_draft(draft: SweepDraft, path: Path, opened: Path | None = None) -> str:
    """The text of the sweep file ``path`` for ``draft``. With ``opened`` (the file the draft was read from), that
    file's text is kept wherever the draft did not change it: a key it left out stays out while the draft holds
    its default, ``base`` stays as written while it names the same file from ``path``, comments and the order of
    the [space] stay; what changed is written over it, what was removed goes."""
    doc = tomlkit.parse(Path(opened).read_text(encoding="utf-8")) if opened else tomlkit.document()
    if not opened:
        doc.add(tomlkit.comment("lstm-vision sweep: lstm-vision-tui --no-ui --sweep THIS_FILE (see the README, Sweeps)"))
    sweep = doc.setdefault("sweep", tomlkit.table())
    was = read_draft(opened) if opened else None
    given = {"name": draft.name, "method": draft.method, "metric": draft.metric, "prune": draft.prune, "repeats": draft.repeats}
    for key, value in given.items():
        if was is None or getattr(was, key) != value:
            sweep[key] = value
    if "name" not in sweep and Path(path).stem != draft.name:  # the file's name gave it: another file's would differ
        sweep["name"] = draft.name
    if draft.method == "grid":
        if was is None or was.method != "grid":  # a grid runs every combination once: a count would mislead
            sweep.pop("trials", None)
    elif draft.trials and (was is None or was.trials != draft.trials):
        sweep["trials"] = draft.trials
    _write_base(sweep, draft.base, path)
    space = doc.setdefault("space", tomlkit.table())
    for name in [n for n in space if n not in draft.space]:
        del space[name]
    for name, values in draft.space.items():
        if was is None or was.space.get(name) != values:
            space[name] = _toml_values(values)
    return tomlkit.dumps(doc)


def _write_base(sweep, base: str, path: Path) -> None:
    written = sweep.get("base")
    if not base:
        sweep.pop("base", None)
        return
    # kept as written while the written text names the same file from where the file now goes
    same = isinstance(written, str) and (Path(path).parent / written).resolve() == (Path(path).parent / base).resolve()
    if not same:
        sweep["base"] = base


def _toml_values(values: list | Range):
    if isinstance(values, Range):
        bounds = tomlkit.inline_table()
        bounds.update({"low": values.low, "high": values.high, "log": values.log})
        return bounds
    return values


def write_draft(draft: SweepDraft, path: Path, opened: Path | None = None) -> None:
    """Write the sweep file (render_draft's text) whole or not at all."""
    atomic_write_text(Path(path), render_draft(draft, path, opened))


def read_draft(path: str | Path) -> SweepDraft:
    """A sweep file as the builder shows it, with spec.py's defaults for what it leaves out (values not checked
    here: the builder checks them as it shows them)."""
    data = load_document(Path(path))
    sweep, space = data.get("sweep"), data.get("space")
    if not isinstance(sweep, dict) or not isinstance(space, dict):
        raise SettingsError(f"{path} is not a sweep file: it needs a [sweep] table and a [space] table.")
    values = {
        str(name): Range(v.get("low"), v.get("high"), bool(v.get("log"))) if isinstance(v, dict) else list(v)
        for name, v in space.items()
        if isinstance(v, (dict, list))
    }
    trials, repeats = sweep.get("trials"), sweep.get("repeats")
    return SweepDraft(
        name=str(sweep.get("name", Path(path).stem)),
        method=str(sweep.get("method", DEFAULTS["method"])),
        trials=trials if isinstance(trials, int) else None,
        metric=str(sweep.get("metric", DEFAULTS["metric"])),
        prune=str(sweep.get("prune", DEFAULTS["prune"])),
        repeats=repeats if isinstance(repeats, int) and not isinstance(repeats, bool) else DEFAULTS["repeats"],
        base=str(sweep.get("base", "")),
        space=values,
    )
