"""Settings files: reading them (one sentence for a file that is not valid TOML), the shipped presets, and
writing them with their comments kept."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import tomlkit
import tomlkit.exceptions

from lstm_vision.atomic import atomic_write_text
from lstm_vision.errors import SettingsError
from lstm_vision.settings.schema import HEADER, SECTIONS, Settings
from lstm_vision.settings.validate import apply_dict


def read_toml(path: str | Path) -> tomlkit.TOMLDocument:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows editors start files with a byte-order mark
    except FileNotFoundError:
        raise SettingsError(f"Settings file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"Settings file {path} cannot be read: {err}.") from None
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as err:
        hint = " (a reference conf.yaml is read as one when its name ends in .yaml or .yml)" if _looks_like_yaml(text) else ""
        raise SettingsError(
            f"Settings file {path} is not valid TOML at line {err.line}, column {err.col}: {_parse_reason(err)}{hint}."
        ) from None
    except tomlkit.exceptions.TOMLKitError as err:
        raise SettingsError(f"Settings file {path} is not valid TOML: {err}.") from None


def _looks_like_yaml(text: str) -> bool:
    """A line that opens a YAML section ("training:") where TOML would have "[train]"."""
    return re.search(r"(?m)^[A-Za-z_][\w-]*:[ \t]*(#.*)?$", text) is not None


def _parse_reason(err: Exception) -> str:
    text = str(err)
    return text.split(" at line ")[0] if " at line " in text else text


def load_settings(path: str | Path, base: Settings | None = None) -> Settings:
    doc = read_toml(path)
    return apply_dict(base or Settings(), doc.unwrap(), str(path))


PRESET_DIR = Path(__file__).parent / "presets"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise SettingsError(f"Unknown preset {name!r}; shipped presets: {', '.join(preset_names())}.")
    return path


def render_toml(settings: Settings, template: tomlkit.TOMLDocument | None = None) -> str:
    """Settings as TOML; values are written into ``template`` so its comments survive."""
    doc = template if template is not None else _commented_document()
    known = settings.to_dict()
    # a section or key the schema does not know is not written back: it is no setting (the app opens a file
    # holding one with the reason shown, and saving the form over it is how the user fixes it)
    for section in [name for name in doc if name not in known]:
        del doc[section]
    for section, values in known.items():
        if section not in doc:
            doc[section] = tomlkit.table()
        table = doc[section]
        for key in [name for name in table if name not in values]:
            del table[key]
        for key, value in values.items():
            table[key] = value
    return tomlkit.dumps(doc)


def file_values(path: str | Path) -> dict[str, object]:
    """``section.key`` -> the value a settings file gives, for every known setting it names, valid or not (the
    app shows an invalid file's values in the form, each checked there); {} when it is not readable TOML."""
    try:
        doc = read_toml(path).unwrap()
    except SettingsError:
        return {}
    return {
        f"{section}.{key}": value
        for section, table in doc.items()
        if section in SECTIONS and isinstance(table, dict)
        for key, value in table.items()
        if key in {f.name for f in dataclasses.fields(SECTIONS[section])}
    }


def _commented_document() -> tomlkit.TOMLDocument:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(HEADER))
    for section, cls in SECTIONS.items():
        table = tomlkit.table()
        for f in dataclasses.fields(cls):
            table.add(tomlkit.comment(f.metadata["help"]))
            table.add(f.name, getattr(cls(), f.name))
        doc.add(tomlkit.nl())
        doc[section] = table
    return doc


def save_settings(settings: Settings, path: str | Path, keep_comments_of: str | Path | None = None) -> None:
    """Write settings atomically, keeping the comments of an existing file when there is one: of ``path``
    itself as they are, of another file (``keep_comments_of``) only where they still hold (settings/comments.py)."""
    path = Path(path)
    if not path.parent.is_dir():  # else the error would name the temporary file written beside it
        raise SettingsError(f"Cannot save {path}: the folder {path.parent} does not exist.")
    template = None
    source = Path(keep_comments_of) if keep_comments_of else path
    if source.is_file():
        try:
            template = tomlkit.parse(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError):
            template = None  # an unreadable old file is replaced, not merged
    if template is not None and source.resolve() != path.resolve():
        from lstm_vision.settings.comments import comments_true_of

        template = comments_true_of(template, settings)
    atomic_write_text(path, render_toml(settings, template))
