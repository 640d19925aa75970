"""What tells runs apart: the settings whose values differ between the run folders listed (History's computed
columns). Each run's settings are those it went on with: its settings.toml with what its resumes changed
(runs/follow.py run_settings)."""

from __future__ import annotations

import os
from typing import Any, Sequence

from lstm_vision.errors import SettingsError
from lstm_vision.runs.follow import run_settings
from lstm_vision.settings import Settings

# Shown in columns of their own (the name, the tags) or not settings of the model at all (the notes).
NOT_COMPARED = frozenset({"output.run_name", "output.tags", "output.notes"})


def flat_settings(settings: Settings) -> dict[str, Any]:
    """Every setting under its dotted name (section.key), in the schema's order."""
    return {f"{section}.{key}": value for section, values in settings.to_dict().items() for key, value in values.items()}


def differing_settings(run_dirs: Sequence[str | os.PathLike]) -> dict[str, list[Any]]:
    """{dotted name: [its value in each run, in the order of ``run_dirs``]} for each setting that is not the same
    in all of them, in the schema's order. A folder whose settings cannot be read has None for every setting and
    is left out of the comparison (it makes no setting differ); fewer than two readable runs: {}."""
    flats: list[dict[str, Any] | None] = []
    for run_dir in run_dirs:
        try:
            flats.append(flat_settings(run_settings(run_dir)))
        except (SettingsError, OSError):
            flats.append(None)
    readable = [flat for flat in flats if flat is not None]
    if len(readable) < 2:
        return {}
    names = [name for name in readable[0] if name not in NOT_COMPARED]
    differ = [name for name in names if any(flat[name] != readable[0][name] for flat in readable[1:])]
    return {name: [flat[name] if flat is not None else None for flat in flats] for name in differ}
