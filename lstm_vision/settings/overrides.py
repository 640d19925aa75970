"""``--set section.key=value``: our settings by their dotted names, and the reference conf.yaml's names
(training.num_epochs), converted as the conf.yaml reader converts them. Apart from validate.py, which both
the TOML reader and the reference's readers build on, so that no module of settings/ imports in a circle."""

from __future__ import annotations

from lstm_vision.errors import SettingsError
from lstm_vision.settings.reference_keys import KEYS, SECTIONS_OF_THE_REFERENCE
from lstm_vision.settings.reference_yaml import apply_reference_override
from lstm_vision.settings.schema import SECTIONS, Settings, section_fields
from lstm_vision.settings.validate import parse_text


def apply_overrides(settings: Settings, overrides: list[str], notes: list[str] | None = None) -> Settings:
    """Each ``--set section.key=value``; a name of the reference's conf.yaml (training.num_epochs) is converted
    as the conf.yaml reader does, and ``notes`` gets the sentence that names our setting."""
    for item in overrides:
        name, sep, text = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot:
            raise SettingsError(f"--set {item!r} must look like section.key=value, e.g. train.epochs=5.")
        if section not in SECTIONS or key not in section_fields(section):
            if name.strip().lstrip("+") in KEYS or section.lstrip("+") in SECTIONS_OF_THE_REFERENCE:
                apply_reference_override(settings, name, text, notes)
                continue
        value = parse_text(section, key, text)  # raises for an unknown section or key
        setattr(getattr(settings, section), key, value)
    return settings
