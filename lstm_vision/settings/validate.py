"""Checking settings: one value (typed in the form or after --set, or read from a file), a whole file's
mapping, and the combinations the data set or the processes must allow. Every message is one sentence that
names the setting and what would be valid."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from typing import Any

from lstm_vision.errors import SettingsError
from lstm_vision.settings.schema import DATASETS, EMNIST_SPLITS, SECTIONS, Settings, known_image_shape, section_fields


def _closest(name: str, options) -> str:
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else f"; valid: {', '.join(options)}"


def _field(section: str, key: str) -> dataclasses.Field:
    if section not in SECTIONS:
        raise SettingsError(f"Unknown settings section [{section}]{_closest(section, SECTIONS)}.")
    fields = section_fields(section)
    if key not in fields:
        raise SettingsError(f"Unknown setting {section}.{key}{_closest(key, fields)}.")
    return fields[key]


def _kind(f: dataclasses.Field) -> type:
    return type(f.default) if f.default is not dataclasses.MISSING else list


def check_dataset_name(name: str) -> None:
    if name in DATASETS or (name.startswith("emnist-") and name.removeprefix("emnist-") in EMNIST_SPLITS):
        return
    raise SettingsError(
        f"data.dataset {name!r} is not known; valid: {', '.join(DATASETS)} (emnist splits: {', '.join(EMNIST_SPLITS)})."
    )


def check_run_name(name: str) -> None:
    """A run's folder is one plain name inside output.dir: a path would write the run elsewhere."""
    if name and (name in (".", "..") or "/" in name or "\\" in name or name != name.strip() or "\x00" in name):
        raise SettingsError(
            f"output.run_name must be one plain folder name (no '/', no '..', no surrounding spaces), "
            f"not {name!r}; output.dir chooses where runs go."
        )


def sequence_shape(settings: Settings, image_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(sequence_length, input_size); 0 means derive from the image: rows as steps."""
    height, width, channels = image_shape
    pixels = height * width * channels
    asked_seq, asked_inp = settings.data.sequence_length, settings.data.input_size
    seq = asked_seq or (pixels // asked_inp if asked_inp else height)
    inp = asked_inp or (pixels // seq if seq else 0)
    if seq * inp != pixels or not seq:
        raise SettingsError(_shape_advice(asked_seq, asked_inp, image_shape))
    return seq, inp


def _shape_advice(asked_seq: int, asked_inp: int, image_shape: tuple[int, int, int]) -> str:
    """Which of the two settings does not fit and the values that do, those reading whole rows a step nearest
    the asked ones: a preset's value (the cpu preset's 14 two-row steps) is named, not one derived from it."""
    height, width, channels = image_shape
    pixels, row = height * width * channels, width * channels
    image = f"the image's H x W x C = {height} x {width} x {channels} = {pixels}"
    rows = [k for k in range(1, height + 1) if height % k == 0]  # rows a step that tile the image
    near = lambda values, asked: sorted(sorted(values, key=lambda v: (abs(v - asked), v))[:4], reverse=True)  # noqa: E731
    which = "both" if asked_seq and asked_inp else "data.sequence_length" if asked_seq else "data.input_size"
    by_row = f"set {which} to 0 (row by row: {height} steps of {row})"
    if asked_seq and asked_inp:
        pairs = near([height // k for k in rows], asked_seq)
        return (
            f"data.sequence_length x data.input_size = {asked_seq} x {asked_inp} = {asked_seq * asked_inp} must equal "
            f"{image}: {by_row}, or to a pair whose product is {pixels}: {_either([f'{s} x {pixels // s}' for s in pairs])}."
        )
    if asked_seq:
        fits = near([height // k for k in rows], asked_seq)
        return (
            f"data.sequence_length = {asked_seq} does not divide {image} values (data.input_size = 0 takes the rest): "
            f"{by_row} or to {_either([str(s) for s in fits])} "
            f"({_either([str(height // s) for s in fits])} rows a step)."
        )
    fits = near([k * row for k in rows], asked_inp)
    return (
        f"data.input_size = {asked_inp} does not divide {image} values (data.sequence_length = 0 takes the rest): "
        f"{by_row} or to {_either([str(i) for i in fits])} ({_either([str(i // row) for i in fits])} "
        f"rows a step)."
    )


def _either(values: list[str]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def check_sequence_shape(settings: Settings) -> None:
    """Refuse a sequence_length x input_size that the data set's images cannot have, before any data loads."""
    shape = known_image_shape(settings.data)
    if shape is not None:
        sequence_shape(settings, shape)


def as_written(number: float) -> str:
    """A bound as a person writes it: 1048576 and 4294967295, not 1.04858e+06 (":g" rounds to 6 digits)."""
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e16 else repr(float(number))


def _describe_range(meta: dict) -> str:
    low, high = meta["low"], meta["high"]
    lo = "" if low is None else (f"> {as_written(low)}" if meta["low_open"] else f">= {as_written(low)}")
    hi = "" if high is None else (f"< {as_written(high)}" if meta["high_open"] else f"<= {as_written(high)}")
    return " and ".join(p for p in (lo, hi) if p)


def _quoted(value: Any, kind: type, example: str) -> str:
    """For a number or true/false written in quotes (epochs = "2"): the sentence's end that says so, with
    ``example`` (the key as the user writes it, e.g. 'epochs = ' in a file) before the unquoted text; else ''."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    fits = text.lower() in ("true", "false") if kind is bool else bool(_NUMBER.fullmatch(text))
    shown = text.lower() if kind is bool else text
    return f'the text "{text}": write it without quotes, {example}{shown}' if fits else ""


def check_value(section: str, key: str, value: Any) -> Any:
    """Return ``value`` converted to the field's type, or raise SettingsError naming the setting."""
    f = _field(section, key)
    kind, meta, name = _kind(f), f.metadata, f"{section}.{key}"
    quoted = _quoted(value, kind, f"{key} = ") if kind in (bool, int, float) else ""
    if kind is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{name} must be true or false, not {quoted or repr(value)}.")
        return value
    if kind is list and meta.get("words"):
        return check_words(name, value)
    if kind is list:  # betas: two numbers in [0, 1)
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise SettingsError(f"{name} must be a list of two numbers like [0.9, 0.999], not {value!r}.")
        if not all(0 <= v < 1 for v in value):
            raise SettingsError(f"{name} must hold two numbers in [0, 1), not {list(value)!r}.")
        return [float(v) for v in value]
    if kind is str:
        if not isinstance(value, str):
            raise SettingsError(f"{name} must be text, not {value!r}.")
        if meta["choices"] and value not in meta["choices"]:
            raise SettingsError(f"{name} must be one of {', '.join(meta['choices'])}, not {value!r}.")
        if name == "data.dataset":
            check_dataset_name(value)
        if name == "output.run_name":
            check_run_name(value)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{name} must be a {'whole number' if kind is int else 'number'}, not {quoted or repr(value)}.")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise SettingsError(f"{name} must be a whole number, not {value!r}.")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise SettingsError(f"{name} must be a finite number, not {value!r}.")
    low, high = meta["low"], meta["high"]
    too_low = low is not None and (value <= low if meta["low_open"] else value < low)
    too_high = high is not None and (value >= high if meta["high_open"] else value > high)
    if too_low or too_high:
        raise SettingsError(f"{name} must be {_describe_range(meta)}, not {value!r}.")
    return value


WORDS_EXAMPLE = '["baseline", "small"]'


def check_words(name: str, value: Any) -> list[str]:
    """A list of words (output.tags): each one piece of text without spaces or commas, each once, in order."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{name} must be a list of words like {WORDS_EXAMPLE}, not {value!r}.")
    bad = [v for v in value if not v or any(c.isspace() or c in ",[]\"'" for c in v)]
    if bad:
        raise SettingsError(
            f"{name} takes words without spaces, commas, brackets or quotes, like {WORDS_EXAMPLE}, not {bad[0]!r}."
        )
    return list(dict.fromkeys(value))


def words_of_text(name: str, text: str) -> list[str]:
    """A typed list of words: TOML's ["baseline", "small"] as in a settings file, or plain baseline, small."""
    import tomllib

    if not text.startswith("["):
        return [w for w in text.replace(",", " ").split() if w]
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        raise SettingsError(f"{name} must be a list of words like {WORDS_EXAMPLE}, not {text!r}.") from None


# Python's int() and float() also take "64_0" and non-ASCII digits ("٦٤"): a typo or a pasted
# look-alike would then run as a number the user never typed. Typed numbers are plain ASCII.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_text(section: str, key: str, text: str) -> Any:
    """Turn the text a user typed (``--set`` or a form field) into a checked value."""
    kind = _kind(_field(section, key))
    text = text.strip()
    name = f"{section}.{key}"
    if kind in (bool, int, float) and len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        quoted = _quoted(text[1:-1], kind, f"{name}=")
        if quoted:
            what = "true or false" if kind is bool else f"a {'whole number' if kind is int else 'number'}"
            raise SettingsError(f"{name} must be {what}, not {quoted}.")
    if kind is str:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1]
        return check_value(section, key, text)
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return check_value(section, key, True)
        if lowered in ("false", "no", "off", "0"):
            return check_value(section, key, False)
        raise SettingsError(f"{name} must be true or false, not {text!r}.")
    if kind is list and _field(section, key).metadata.get("words"):
        return check_value(section, key, words_of_text(name, text))
    if kind is list:
        parts = [p for p in text.strip("[]() ").replace(",", " ").split() if p]
        try:
            if not all(_NUMBER.fullmatch(p) for p in parts):
                raise ValueError(text)
            numbers = [float(p) for p in parts]
        except ValueError:
            raise SettingsError(f"{name} must be a list of two numbers like [0.9, 0.999], not {text!r}.") from None
        return check_value(section, key, numbers)
    if not _NUMBER.fullmatch(text):
        raise SettingsError(f"{name} must be a {'whole number' if kind is int else 'number'} (digits 0-9), not {text!r}.")
    try:
        number: Any = int(text) if kind is int else float(text)
    except ValueError:
        try:
            number = float(text)  # "1e3" for an int field is fine when whole
        except ValueError:
            raise SettingsError(f"{name} must be a {'whole number' if kind is int else 'number'}, not {text!r}.") from None
    return check_value(section, key, number)


def apply_dict(settings: Settings, data: dict, source: str) -> Settings:
    """Overlay a parsed {section: {key: value}} mapping on settings."""
    for section, values in data.items():
        if section not in SECTIONS and not isinstance(values, dict):
            raise SettingsError(f"{source}: {section} = {_plain(values)!r} is outside any section; {_home_of(section)}.")
        if section not in SECTIONS:
            raise SettingsError(f"{source}: unknown section [{section}]{_closest(section, SECTIONS)}.")
        if not isinstance(values, dict):
            raise SettingsError(f"{source}: [{section}] must be a table of settings, not {values!r}.")
        for key, value in values.items():
            try:
                checked = check_value(section, key, _plain(value))
            except SettingsError as err:
                raise SettingsError(f"{source}: {err}") from None
            setattr(getattr(settings, section), key, checked)
    return settings


def _home_of(key: str) -> str:
    """Where a key written above every [section] belongs (TOML puts it in no section)."""
    homes = [f"[{section}]" for section in SECTIONS if key in section_fields(section)]
    if homes:
        return f"put it under {' or '.join(homes)}"
    return "each setting belongs under its section, e.g. [train] for epochs"


def _plain(value: Any) -> Any:
    """tomlkit items -> plain Python values."""
    return value.unwrap() if hasattr(value, "unwrap") else value


def check_batch_split(batch_size: int, grad_accum_steps: int, processes: int) -> None:
    """Refuse a global batch that the processes and then the accumulation steps cannot share evenly:
    the launcher asks before it starts the processes, each process again before it loads data."""
    if batch_size % (processes * grad_accum_steps):
        raise SettingsError(
            f"train.batch_size = {batch_size} must be divisible by system.nproc x train.grad_accum_steps "
            f"= {processes} x {grad_accum_steps} = {processes * grad_accum_steps} (the batch size is global: "
            f"each process takes batch_size / nproc samples per step)."
        )
