"""The settings form, generated from the settings dataclasses.

bool -> Switch, str with choices -> Select, anything else -> Input checked as
typed by ``settings.parse_text`` (the same code that checks TOML files and
``--set``), so a new setting needs one line in settings/schema.py and nothing here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch, TabbedContent, TabPane

from lstm_vision.settings import SECTIONS, Settings, check_sequence_shape, parse_text, section_fields
from lstm_vision.errors import SettingsError
from lstm_vision.text import plural

# What the image shape and the sequence shape depend on; the error shows under data.sequence_length.
SHAPE_KEYS = ("dataset", "channels", "image_size", "sequence_length", "input_size")


class SettingValidator(Validator):
    def __init__(self, section: str, key: str) -> None:
        super().__init__()
        self.section, self.key = section, key

    def validate(self, value: str) -> ValidationResult:
        try:
            parse_text(self.section, self.key, value)
        except SettingsError as err:
            return self.failure(str(err))
        return self.success()


def field_kind(f: dataclasses.Field) -> str:
    default = f.default if f.default is not dataclasses.MISSING else None
    if isinstance(default, bool):
        return "bool"
    if f.metadata.get("choices"):
        return "choice"
    return "text"


def to_text(value: Any, words: bool = False) -> str:
    """A value as its field shows it; ``words``: a list of words (output.tags) in its TOML form, as in the file."""
    if words or isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value):
        return "[" + ", ".join(json.dumps(str(v)) for v in value) + "]"
    if isinstance(value, (list, tuple)):
        return ", ".join(repr(float(v)) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def on_off(value: bool) -> str:
    return " on" if value else " off"


def flat_values(settings: Settings) -> dict[str, Any]:
    return {f"{section}.{key}": value for section, values in settings.to_dict().items() for key, value in values.items()}


def widget_id(section: str, key: str) -> str:
    return f"f-{section}-{key}"


class FieldSelect(Select, inherit_bindings=False):
    """A Select that leaves up/down to the form (they move between fields); enter or space opens it."""

    BINDINGS = [Binding("enter,space", "show_overlay", "Show menu", show=False)]


class SectionScroll(VerticalScroll, inherit_bindings=False, can_focus=False):
    """A section's fields. Up/down are the form's (next/previous field, the focus scrolled into view):
    as scroll keys here they moved the view and left the focused field off screen. Not a focus stop of its
    own: tab goes from the section's tabs to its first field (a stop here swallowed the first keys typed)."""

    BINDINGS = [
        Binding(key, action, show=False)
        for key, action in (("pageup", "page_up"), ("pagedown", "page_down"), ("home", "scroll_home"), ("end", "scroll_end"))
    ]


class FieldRow(Vertical):
    """Name, editor, help line, and the reason when the typed value is invalid. Before it is mounted (the
    sections not shown at first are mounted after the first paint) it answers with the value it holds."""

    def __init__(self, section: str, f: dataclasses.Field, value: Any) -> None:
        super().__init__(classes="field-row")
        self.section, self.key, self.field = section, f.name, f
        self.kind = field_kind(f)
        self.initial = value
        self.ready = False  # mounted with its editor showing ``initial`` (a Select sets its value as it mounts)

    def compose(self) -> ComposeResult:
        wid = widget_id(self.section, self.key)
        self.shown = self.initial
        with Horizontal(classes="field-line"):
            yield Label(self.key, classes="field-name")
            if self.kind == "bool":
                yield Switch(value=bool(self.initial), id=wid, animate=False)
                yield Label(on_off(bool(self.initial)), classes="switch-state")
            elif self.kind == "choice":
                choices = self.field.metadata["choices"]
                yield FieldSelect([(c, c) for c in choices], value=self.initial, allow_blank=False, id=wid, compact=True)
            else:
                yield Input(
                    to_text(self.initial, self.field.metadata.get("words", False)),
                    id=wid,
                    compact=True,
                    validators=[SettingValidator(self.section, self.key)],
                    validate_on=["changed", "submitted", "blur"],
                )
        yield Static(self.field.metadata.get("help", ""), classes="field-help")
        yield Static("", classes="field-error")

    @property
    def editor(self) -> Widget:
        return self.query_one(f"#{widget_id(self.section, self.key)}")

    @property
    def name_path(self) -> str:
        return f"{self.section}.{self.key}"

    def set_value(self, value: Any) -> None:
        if not self.ready:
            self.initial = value  # what its editor will show
            return
        editor = self.editor
        if isinstance(editor, Switch):
            editor.value = bool(value)
        elif isinstance(editor, Select):
            editor.value = value
        elif isinstance(editor, Input):
            editor.value = to_text(value, self.field.metadata.get("words", False))
            self.show_error(None)

    def value(self) -> Any:
        """The checked value, or raise SettingsError with the reason."""
        if not self.ready:
            return self.initial
        editor = self.editor
        if isinstance(editor, Switch):
            return editor.value
        if isinstance(editor, Select):
            return parse_text(self.section, self.key, str(editor.value))
        return parse_text(self.section, self.key, editor.value)

    def show_error(self, message: str | None) -> None:
        if not self.ready:
            return  # it holds a valid value
        self.set_class(bool(message), "-invalid")
        self.query_one(".field-error", Static).update(message or "")


class SettingsForm(Vertical):
    """One tab per settings section; up/down move between fields (tab/shift+tab as well)."""

    BINDINGS = [
        Binding("down", "app.focus_next", "Next field", show=False),
        Binding("up", "app.focus_previous", "Previous field", show=False),
    ]

    class Modified(Message):
        """The form's values came to differ from the file's (or back): the app marks the settings unsaved."""

        def __init__(self, modified: bool) -> None:
            super().__init__()
            self.modified = modified

    class Edited(Message):
        """A value of the form changed (typed, or loaded from a file): what was said about the settings may no
        longer hold."""

    def __init__(self, settings: Settings, lazy: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lazy = lazy  # only the rows the first screen shows, until mount_other_rows (the app calls it after its first paint)
        self._mark_when_mounted = False  # mark_shown_as_saved waits for the rows not mounted yet
        self._settings = settings
        self._saved = flat_values(settings)  # what the settings file holds: edits are measured against it
        self.modified = False
        self._rows = {
            section: [
                FieldRow(section, f, getattr(getattr(settings, section), name)) for name, f in section_fields(section).items()
            ]
            for section in SECTIONS
        }
        self._shown: dict[str, Any] | None = None  # the values last checked: a Changed that changes none is no edit

    def compose(self) -> ComposeResult:
        # The rows the first screen shows are mounted with the form; the others (below those, and the hidden
        # sections) by mount_other_rows, once the screen is painted: mounting all 47 rows first made the first
        # paint seconds slower.
        first = next(iter(SECTIONS))
        shown = self._rows[first] if not self._lazy else self._rows[first][: self.app.size.height // 3 + 1]
        self._composed = shown  # a row is 3 lines or more: the rest of the section is below the screen
        with TabbedContent(id="sections"):
            for section in SECTIONS:
                with TabPane(section, id=f"sec-{section}"):
                    with SectionScroll(classes="section-scroll", id=f"scroll-{section}"):
                        if section == first:
                            yield from shown

    def on_mount(self) -> None:
        for row in self._composed:
            row.ready = True
        if not self._lazy:
            # queued now (not after a refresh): whoever waits for the form's pending work waits for these rows
            # too, while the screen paints in the meantime (mounting yields to the event loop between its steps)
            self.call_later(self.mount_other_rows)

    async def mount_other_rows(self) -> None:
        """The fields compose left out: below the first screen, and in the sections hidden until chosen."""
        for section in SECTIONS:
            waiting = [row for row in self._rows[section] if row not in self._composed]
            if not waiting:
                continue
            await self.query_one(f"#scroll-{section}", SectionScroll).mount_all(waiting)
            for row in waiting:
                row.ready = True
                if row.initial != row.shown:  # set (a file opened) between its compose and now
                    row.set_value(row.initial)
        if self._mark_when_mounted:
            self.mark_shown_as_saved()

    def rows(self) -> list[FieldRow]:
        """Every field, mounted or not yet, in the form's order."""
        return [row for section in SECTIONS for row in self._rows[section]]

    def row(self, section: str, key: str) -> FieldRow:
        for r in self.rows():
            if r.section == section and r.key == key:
                return r
        raise KeyError(f"{section}.{key}")

    def on_switch_changed(self, event: Switch.Changed) -> None:
        row = next((a for a in event.switch.ancestors if isinstance(a, FieldRow)), None)
        if row is not None:
            row.query_one(".switch-state", Label).update(on_off(event.value))
        self._check_modified()

    def on_select_changed(self, event: Select.Changed) -> None:
        self._check_modified()
        self._show_shape_error()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._check_modified()
        row = next((a for a in event.input.ancestors if isinstance(a, FieldRow)), None)
        if row is None or event.validation_result is None:
            return
        result = event.validation_result
        row.show_error(None if result.is_valid else "; ".join(result.failure_descriptions))
        if row.section == "data" and row.key in SHAPE_KEYS:
            self._show_shape_error()

    def shape_error(self) -> str | None:
        """Why the data set's images cannot be read as data.sequence_length x data.input_size (known only for
        the data sets whose image size the settings tell); None when they can, or while a field is invalid."""
        settings = Settings()
        try:
            for key in SHAPE_KEYS:
                setattr(settings.data, key, self.row("data", key).value())
        except SettingsError:
            return None  # that field says what is wrong with it
        try:
            check_sequence_shape(settings)
        except SettingsError as err:
            return str(err)
        return None

    def _show_shape_error(self) -> None:
        row = self.row("data", "sequence_length")
        try:
            row.value()
        except SettingsError:
            return  # its own error stays
        row.show_error(self.shape_error())

    def _check_modified(self) -> None:
        # Compared by value, not by "an editor changed": set_settings fires the same Changed events as
        # typing does (later, as messages), and an edit typed back to the saved value is no edit.
        values = self.values()
        if self._shown is not None and values != self._shown:
            self.post_message(self.Edited())
        self._shown = values
        modified = values != self._saved
        if modified != self.modified:
            self.modified = modified
            self.post_message(self.Modified(modified))

    def values(self) -> dict[str, Any]:
        """section.key -> the checked value, or the text itself where it is not valid."""
        out: dict[str, Any] = {}
        for r in self.rows():
            try:
                out[r.name_path] = r.value()
            except SettingsError:
                out[r.name_path] = ("invalid", r.editor.value)
        return out

    def set_settings(self, settings: Settings, saved: bool = False) -> None:
        """Show ``settings``; ``saved``: they are what the settings file now holds (opened or saved)."""
        self._settings = settings
        for r in self.rows():
            r.set_value(getattr(getattr(settings, r.section), r.key))
        if saved:
            self.mark_saved(settings)
        else:
            self._check_modified()

    def mark_saved(self, settings: Settings) -> None:
        self._saved = flat_values(settings)
        self._check_modified()

    def mark_shown_as_saved(self) -> None:
        """What the form shows is the file's, invalid values and all (an invalid file opened): no edit of the user.
        A row not mounted yet answers with the value it holds, unchecked: marked again once every row is."""
        self._saved = self.values()
        self._mark_when_mounted = not all(row.ready for row in self.rows())
        self._check_modified()

    def errors(self) -> list[tuple[str, str]]:
        """(section.key, reason) for every field whose current text is not a valid value."""
        found = []
        for r in self.rows():
            try:
                r.value()
            except SettingsError as err:
                found.append((r.name_path, str(err)))
                r.show_error(str(err))
        shape = self.shape_error()
        if shape:
            found.append(("data.sequence_length", shape))
            self.row("data", "sequence_length").show_error(shape)
        return found

    def collect(self) -> Settings:
        """The settings the form shows, or SettingsError naming every invalid field."""
        errors = self.errors()
        if errors:
            names = ", ".join(name for name, _ in errors)
            first = errors[0][1]
            raise SettingsError(f"{plural(len(errors), 'invalid setting')} ({names}): {first}")
        settings = Settings()
        for r in self.rows():
            setattr(getattr(settings, r.section), r.key, r.value())
        return settings

    def current(self, fallback: Settings) -> Settings:
        """The form's values, taking ``fallback``'s for fields whose text is not valid (yet)."""
        settings = copy.deepcopy(fallback)
        for r in self.rows():
            try:
                setattr(getattr(settings, r.section), r.key, r.value())
            except SettingsError:
                pass
        return settings

    def focus_first(self) -> None:
        """Focus the first field of the section tab that is showing."""
        active = self.query_one("#sections", TabbedContent).active
        section = active.removeprefix("sec-") if active else next(iter(SECTIONS))
        rows = [r for r in self.rows() if r.section == section]
        if rows and not any(r.has_focus_within for r in rows):
            rows[0].editor.focus()

    def focus_field(self, name_path: str) -> None:
        section, _, key = name_path.partition(".")
        self.query_one("#sections", TabbedContent).active = f"sec-{section}"
        row = self.row(section, key)
        row.editor.focus()
        row.scroll_visible()
