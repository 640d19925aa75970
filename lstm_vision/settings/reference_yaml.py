"""The reference project's Hydra config (its configs/conf.yaml) as lstm-vision settings: ``--config conf.yaml``
(a .yaml or .yml name) and ``--set`` with its names (``--set training.num_epochs=1``).

One table, reference_keys.KEYS, says for every key of the reference's conf.yaml which of our settings it is and
how its value converts; the YAML reader, the --set translation and the README's "Coming from the reference"
table (``readme_table``, held to the README by tests/settings/test_reference_yaml.py) all follow it. Where a
meaning differs the conversion says so in one sentence, a note the command line prints; a key that neither
project knows is refused by name.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any

from lstm_vision.errors import SettingsError
from lstm_vision.settings.reference_keys import BASELINE, KEYS, shown
from lstm_vision.settings.schema import SECTIONS, Settings, section_fields
from lstm_vision.settings.validate import check_value

SUFFIXES = (".yaml", ".yml")


def is_reference_yaml(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def load_reference_yaml(path: str | Path, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """``base`` with the file's keys applied (the reference's names, or lstm-vision's own), and the notes (one
    sentence each) on what converts with another meaning. What the reference's code does whatever its config
    says (its input normalization, a constant learning rate unless optim.T_0 is given) is set first."""
    path = Path(path)
    sections = _read_yaml(path)
    values = _flatten(sections, path)
    unknown = [name for name in values if name not in KEYS and not _is_ours(name)]
    if unknown:
        raise SettingsError(_unknown_sentence(unknown, str(path)))
    settings = copy.deepcopy(base) if base is not None else Settings()
    for name, value in BASELINE.items():
        _assign(settings, name, value, f"{path}: {name}")
    notes: list[str] = []
    set_by_file: set[str] = set()
    for name in _in_table_order(values):
        if name in KEYS:
            try:
                changes, note = KEYS[name].convert(values[name], settings)
            except SettingsError as err:  # the sentence names the key and its value
                raise SettingsError(f"{path}: {err}") from None
            notes += [note] if note else []
        else:  # one of lstm-vision's own names
            changes = {name: values[name]}
        for ours, value in changes.items():
            _assign(settings, ours, value, f"{path}: {name} = {shown(values[name])}")
        set_by_file.update(changes)
    kept = [f"{name} = {shown(value)}" for name, value in BASELINE.items() if name not in set_by_file]
    if kept:
        notes.insert(0, f"{path.name} is read as the reference's code runs it, so also {', '.join(kept)}.")
    if "hydra" in sections:
        notes.append(f"{path.name}: the hydra section configures Hydra itself (its folders, its logs); ignored.")
    return settings, notes


def apply_reference_override(settings: Settings, name: str, text: str, notes: list[str] | None = None) -> Settings:
    """``--set`` with a reference name (training.num_epochs=1), converted as in a conf.yaml; ``notes`` gets the
    sentence that names our setting. A name that neither project knows is refused, with the closest of them."""
    name = name.strip().lstrip("+")  # Hydra's +key=value (add a key) and ++key=value (add or override)
    if name.startswith("hydra."):
        raise SettingsError(f"--set {name}: a setting of Hydra itself, which lstm-vision does not use; it has no equal here.")
    if name not in KEYS:
        raise SettingsError(_unknown_sentence([name], "--set"))
    value = _parse_value(name, text)
    changes, note = KEYS[name].convert(value, settings)
    for ours, converted in changes.items():
        _assign(settings, ours, converted, f"--set {name}={text.strip()}")
    if notes is not None:
        said = " ".join(f"--set {ours}={shown(v).strip(chr(34))}" for ours, v in changes.items())
        notes += [f"--set {name}={text.strip()} is {said} in lstm-vision."] if said else []
        notes += [note] if note else []
    return settings


def readme_table() -> str:
    """The README's "Coming from the reference" table, from the table of keys and our defaults."""
    rows = [
        "| conf.yaml key | lstm-vision setting | reference default | lstm-vision default | what differs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, key in KEYS.items():
        ours, default = (f"`{key.ours}`", shown(_default_of(key.ours))) if key.ours else ("none", "")
        rows.append(f"| `{name}` | {ours} | {key.reference_default} | {default} | {key.differs} |")
    return "\n".join(rows) + "\n"


def _read_yaml(path: Path) -> dict:
    import yaml  # only when a YAML file is read: the command line starts without it

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SettingsError(f"Settings file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"Settings file {path} cannot be read: {err}.") from None
    try:
        data = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SettingsError(f"Settings file {path} is not valid YAML{where}: {getattr(err, 'problem', None) or err}.") from None
    if data is None:  # an empty file: nothing to change
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"Settings file {path} must hold sections (dataset:, model:, training:, ...), not {shown(data)}.")
    return data


def _loader() -> type:
    """YAML as Hydra (OmegaConf) reads it: 2e-3 and 1e-8 are numbers (YAML 1.1 alone wants 2.0e-3)."""
    import yaml

    class HydraLoader(yaml.SafeLoader):
        pass

    HydraLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
    )
    return HydraLoader


def _parse_value(name: str, text: str) -> Any:
    """A value typed after --set as Hydra reads it: null, true, 2e-3, '"29500"' (text)."""
    import yaml

    try:
        value = yaml.load(text, Loader=_loader()) if text.strip() else None
    except yaml.YAMLError:
        value = [text]  # refused below
    if isinstance(value, (dict, list)):
        raise SettingsError(f"--set {name}={text}: the value must be one number, true, false, null or text.")
    return value


def _flatten(sections: dict, path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for section, keys in sections.items():
        if section == "hydra":
            continue
        if not isinstance(keys, dict):
            raise SettingsError(
                f"{path}: {section}: {shown(keys)} is outside any section; settings go under dataset:, model:, optim:, training:."
            )
        values.update({f"{section}.{key}": value for key, value in keys.items()})
    return values


def _is_ours(name: str) -> bool:
    section, _, key = name.partition(".")
    return section in SECTIONS and key in section_fields(section)


def _unknown_sentence(names: list[str], source: str) -> str:
    known = [*KEYS, *(f"{section}.{key}" for section in SECTIONS for key in section_fields(section))]
    described = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        described.append(f"{name} (did you mean {close[0]}?)" if close else name)
    listed = f"{', '.join(described[:-1])} and {described[-1]}" if len(described) > 1 else described[0]
    verb = "are settings" if len(names) > 1 else "is a setting"
    return (
        f"{source}: {listed} {verb} of neither the reference's conf.yaml nor lstm-vision "
        f"(the reference's keys: README, Coming from the reference; ours: lstm-vision-tui --help)."
    )


def _in_table_order(values: dict[str, Any]) -> list[str]:
    """The table's order (num_epochs before num_additional_cps, use_ddp before batch_size), then our own names."""
    order = {name: i for i, name in enumerate(KEYS)}
    return sorted(values, key=lambda name: order.get(name, len(order)))


def _assign(settings: Settings, ours: str, value: Any, where: str) -> None:
    section, _, key = ours.partition(".")
    try:
        checked = check_value(section, key, value)
    except SettingsError as err:
        message = str(err).replace(" not None.", " not null.") if value is None else str(err)  # YAML's word for it
        raise SettingsError(f"{where}: {message}") from None
    setattr(getattr(settings, section), key, checked)


def _default_of(name: str) -> Any:
    """Our default of ``name``; "optim.betas[0]" is one item of a list."""
    match = re.fullmatch(r"(\w+)\.(\w+)(?:\[(\d+)\])?", name)
    section, key, index = match.groups()
    value = getattr(getattr(Settings(), section), key)
    return value[int(index)] if index is not None else value
