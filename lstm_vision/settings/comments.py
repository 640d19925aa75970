"""Comments copied from one settings file into another ("Save as") must still describe the values beside them.

The rule: a comment that sits on or directly above a key is copied only when the key keeps the value it
has in the file the comment comes from; a changed key gets its setting's help text instead. The file's top
comment is copied only when every value is the same (it may describe them all). Section-level comments
(those set apart by a blank line) are copied as they are. A file saved over keeps its own comments: they
are the user's words in the user's file.
"""

from __future__ import annotations

import tomlkit
from tomlkit.items import Comment, Table

from lstm_vision.settings.schema import HEADER, Settings, section_fields
from lstm_vision.errors import SettingsError
from lstm_vision.settings.validate import apply_dict, check_value


def comments_true_of(doc: tomlkit.TOMLDocument, settings: Settings) -> tomlkit.TOMLDocument:
    """A new document with ``doc``'s layout and only those of its comments that still hold for ``settings``."""
    try:
        same_values = apply_dict(Settings(), doc.unwrap(), "") == settings
    except SettingsError:
        same_values = False
    values = settings.to_dict()
    out = tomlkit.document()
    if not same_values:
        out.add(tomlkit.comment(HEADER))
    before_tables = True
    for key, item in doc.body:
        if isinstance(item, Table) and key is not None and key.key in values:
            before_tables = False
            out.append(key, _table(key.key, item, values[key.key]))
        elif key is None and before_tables:  # the top comment
            if same_values:
                out.append(None, item)
        else:
            out.append(key, item)
    for section in values:  # sections the file leaves out: their keys with their help
        if section not in out:
            out.add(tomlkit.nl())
            out.append(section, _table(section, tomlkit.table(), values[section]))
    return out


def _table(section: str, table: Table, values: dict) -> Table:
    fields = section_fields(section)
    new = tomlkit.table()
    above: list = []  # comments directly above the next key
    for key, item in table.value.body:
        if key is None and isinstance(item, Comment):
            above.append(item)
            continue
        if key is None or key.key not in fields:
            for comment in above:
                new.value.append(None, comment)
            above = []
            new.value.append(key, item)
            continue
        if _same(section, key.key, item, values.get(key.key)):
            for comment in above:
                new.value.append(None, comment)
            new.value.append(key, item)
        else:  # the old comments were about the old value
            new.add(tomlkit.comment(fields[key.key].metadata["help"]))
            new.add(key.key, values.get(key.key))
        above = []
    # keys the file leaves out, each with its help, before what ends the section (a blank line, a comment
    # about the next section), so that no such comment ends up above one of them
    tail = []
    while new.value.body and new.value.body[-1][0] is None:
        tail.insert(0, new.value.body.pop()[1])
    written = {key.key for key, _ in new.value.body if key is not None}
    for name, f in fields.items():
        if name not in written and name in values:
            new.add(tomlkit.comment(f.metadata["help"]))
            new.add(name, values[name])
    for item in tail + above:
        new.value.append(None, item)
    return new


def _same(section: str, key: str, item, value) -> bool:
    try:
        return check_value(section, key, item.unwrap() if hasattr(item, "unwrap") else item) == value
    except SettingsError:
        return False
