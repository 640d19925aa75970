"""Building a sweep from the form: which settings vary and over what values, the method, trials, metric and
pruning. Every field is checked as typed (lstm_vision/sweep/draft.py, on top of the same parse_text as ``--set``), and
what is wrong is one sentence under it. There is always one empty setting row at the end: typing a name in it
adds the next; a row left empty is not part of the sweep."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Select, Static

from lstm_vision.errors import SettingsError
from lstm_vision.settings import SECTIONS, section_fields
from lstm_vision.sweep.spec import MAX_REPEATS
from lstm_vision.sweep.draft import (
    METHODS,
    METRICS,
    PRUNERS,
    Range,
    SweepDraft,
    check_name,
    check_spec,
    parse_values,
    values_text,
)
from lstm_vision.text import plural
from app.widgets.form import FieldSelect, to_text

SETTING_NAMES = [f"{section}.{key}" for section in SECTIONS for key in section_fields(section)]


class SpaceRow(Vertical):
    """One setting of the sweep: its dotted name, its values, and a line under them (the reason, or what the
    values come to)."""

    def __init__(self, name: str = "", values: str = "") -> None:
        super().__init__(classes="space-row")
        self.initial = (name, values)
        self.error: str | None = None  # why the row is not part of the sweep as typed

    def compose(self) -> ComposeResult:
        with Horizontal(classes="space-line"):
            yield Input(
                self.initial[0],
                placeholder="a setting, e.g. model.dropout",
                suggester=SuggestFromList(SETTING_NAMES, case_sensitive=False),
                classes="space-name",
                compact=True,
            )
            yield Input(self.initial[1], placeholder="1e-3, 2e-3  or  1e-4 .. 0.1 log", classes="space-values", compact=True)
        yield Static("", classes="space-note")

    def _text(self, selector: str, initial: str) -> str:
        found = self.query(selector)  # a row just mounted has no children yet: what it was made with
        return found.first(Input).value if found else initial

    @property
    def setting(self) -> str:
        return self._text(".space-name", self.initial[0]).strip()

    @property
    def values(self) -> str:
        return self._text(".space-values", self.initial[1])

    @property
    def empty(self) -> bool:
        return not self.setting and not self.values.strip()

    def check(self, method: str, form_values: dict[str, Any]) -> list | Range | None:
        """The checked values (None for an empty row, or with ``error`` set); the line under the row says why
        not, or what they come to."""
        self.error = None
        if self.empty:
            self._note("")
            return None
        try:
            values = parse_values(self.setting, self.values, method)
        except SettingsError as err:
            self.flag(str(err))
            return None
        if isinstance(values, Range):
            what = f"{values.low!r} to {values.high!r}" + (", log scale" if values.log else "")
        else:
            what = plural(len(values), "value")
        now = form_values.get(self.setting)
        self._note(what + ("" if now is None else f"; the form has {to_text(now)}"))
        return values

    def flag(self, error: str) -> None:
        self.error = error
        self.add_class("-invalid")
        self._note_text(error)

    def _note(self, note: str) -> None:
        self.remove_class("-invalid")
        self._note_text(note)

    def _note_text(self, text: str) -> None:
        for note in self.query(".space-note").results(Static):  # none yet in a row just mounted
            note.update(text)


class SweepBuilder(Vertical):
    """The fields of one sweep file. ``spec()`` is what they hold, checked."""

    DEFAULT_CSS = """
    SweepBuilder { height: 1fr; }
    SweepBuilder .builder-line { height: 1; padding: 0 1; }
    SweepBuilder .builder-label { width: auto; padding: 0 1; color: $text-muted; }
    SweepBuilder #sb-name { width: 22; }
    SweepBuilder #sb-method { width: 12; }
    SweepBuilder #sb-trials { width: 7; }
    SweepBuilder .trials { display: none; }
    SweepBuilder #sb-metric { width: 17; }
    SweepBuilder #sb-prune { width: 14; }
    SweepBuilder #sb-repeats { width: 4; }
    SweepBuilder #sb-note { color: $error; text-style: bold; padding: 0 1; height: auto; }
    SweepBuilder #sb-head { color: $text-muted; padding: 0 1; height: 1; margin-top: 1; }
    SweepBuilder #sb-space { height: 1fr; }
    SweepBuilder .space-row { height: auto; padding: 0 1; }
    SweepBuilder .space-row:focus-within { background: $boost; }
    SweepBuilder .space-line { height: 1; }
    SweepBuilder .space-name { width: 30; }
    SweepBuilder .space-values { width: 1fr; margin-left: 1; }
    SweepBuilder .space-note { color: $text-muted; padding-left: 31; height: auto; }
    SweepBuilder .space-row.-invalid .space-note { color: $error; text-style: bold; }
    SweepBuilder #sb-bar { height: 1; padding: 0 1; }
    SweepBuilder #sb-summary { width: 1fr; }
    SweepBuilder #sb-bar Button { margin-left: 1; width: auto; min-width: 0; }
    """

    BINDINGS = [
        Binding("down", "app.focus_next", "Next field", show=False),
        Binding("up", "app.focus_previous", "Previous field", show=False),
    ]

    class SaveRequested(Message):
        """Save as…: write the sweep file."""

    class StartRequested(Message):
        """Start: save the sweep file, then run it in the background."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.form_values: dict[str, Any] = {}  # section.key -> the form's value: the rows say what it is now

    def compose(self) -> ComposeResult:
        with Horizontal(classes="builder-line"):
            yield Label("name", classes="builder-label")
            yield Input("sweep", id="sb-name", compact=True)
            yield Label("method", classes="builder-label")
            yield FieldSelect([(m, m) for m in METHODS], value="grid", allow_blank=False, id="sb-method", compact=True)
            yield Label("trials", classes="builder-label trials")
            yield Input("12", id="sb-trials", compact=True, classes="trials")
        with Horizontal(classes="builder-line"):
            yield Label("metric", classes="builder-label")
            yield FieldSelect([(m, m) for m in METRICS], value="val_accuracy", allow_blank=False, id="sb-metric", compact=True)
            yield Label("prune", classes="builder-label")
            yield FieldSelect([(p, p) for p in PRUNERS], value="none", allow_blank=False, id="sb-prune", compact=True)
            yield Label("repeats", classes="builder-label")
            yield Input("1", id="sb-repeats", compact=True, tooltip="Runs per point, each with its own seed")
        yield Static("", id="sb-note")
        yield Static(f"{'setting':<31}values (random, tpe: also low .. high log)", id="sb-head")
        with VerticalScroll(id="sb-space", can_focus=False):  # tab goes from field to field, not to the list
            yield SpaceRow()
        with Horizontal(id="sb-bar"):
            yield Static("", id="sb-summary")
            yield Button("Save as…", id="sb-save", compact=True)
            yield Button("Start F5", id="sb-start", variant="success", compact=True)

    @property
    def method(self) -> str:
        return str(self.query_one("#sb-method", Select).value)

    def rows(self) -> list[SpaceRow]:
        return list(self.query(SpaceRow))

    def fill(self, spec: SweepDraft | None, form_values: dict[str, Any]) -> None:
        """Show ``spec`` (a sweep file read back), or keep what is shown and take the form's values anew."""
        self.form_values = form_values
        if spec is not None:
            self.query_one("#sb-name", Input).value = spec.name
            self.query_one("#sb-method", Select).value = spec.method
            self.query_one("#sb-trials", Input).value = str(spec.trials or 12)
            self.query_one("#sb-metric", Select).value = spec.metric
            self.query_one("#sb-prune", Select).value = spec.prune
            self.query_one("#sb-repeats", Input).value = str(spec.repeats)
            self.query_one("#sb-space").remove_children()
            rows = [SpaceRow(name, values_text(values)) for name, values in spec.space.items()]
            self.query_one("#sb-space").mount_all([*rows, SpaceRow()])
        self.call_after_refresh(self.check_all)

    def focus_first(self) -> None:
        rows = self.rows()
        if not rows or not rows[0].empty:
            self.query_one("#sb-name", Input).focus()
            return
        names = rows[0].query(".space-name")
        if names:
            names.first().focus()
        else:  # the row was just mounted (a sweep opened) and has not composed its inputs yet
            self.call_after_refresh(self.focus_first)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        row = next((a for a in event.input.ancestors if isinstance(a, SpaceRow)), None)
        if row is not None:
            row.check(self.method, self.form_values)
            if row is self.rows()[-1] and not row.empty:
                self.query_one("#sb-space").mount(SpaceRow())  # the next empty row
        self._summary()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "sb-method":
            for widget in self.query(".trials"):  # a grid runs every combination once: no count to give
                widget.display = event.value != "grid"
            self.check_all()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.StartRequested() if event.button.id == "sb-start" else self.SaveRequested())

    def check_all(self) -> None:
        for row in self.rows():
            row.check(self.method, self.form_values)
        self._summary()

    def _options(self) -> SweepDraft:
        trials_text = self.query_one("#sb-trials", Input).value.strip()
        trials = None
        if self.method != "grid":
            if not trials_text.isdigit() or int(trials_text) < 1:
                raise SettingsError(f"sweep.trials must be a whole number above 0, not {trials_text!r}.")
            trials = int(trials_text)
        repeats_text = self.query_one("#sb-repeats", Input).value.strip()
        if not repeats_text.isdigit() or not 1 <= int(repeats_text) <= MAX_REPEATS:
            raise SettingsError(
                f"sweep.repeats must be a whole number from 1 to {MAX_REPEATS} (runs per point, each with its own "
                f"seed), not {repeats_text!r}."
            )
        return SweepDraft(
            name=self.query_one("#sb-name", Input).value.strip(),
            method=self.method,
            trials=trials,
            metric=str(self.query_one("#sb-metric", Select).value),
            prune=str(self.query_one("#sb-prune", Select).value),
            repeats=int(repeats_text),
        )

    def spec(self) -> SweepDraft:
        """The sweep the fields hold, or SettingsError with the first reason (each field shows its own)."""
        spec = self._options()
        errors = []
        for row in self.rows():
            values = row.check(self.method, self.form_values)
            if values is not None and row.setting in spec.space:
                row.flag(f"{row.setting} is in the sweep twice; give it one row.")
            elif values is not None:
                spec.space[row.setting] = values
            if row.error:
                errors.append(row.error)
        if errors:
            raise SettingsError(errors[0])
        check_spec(spec)
        return spec

    def _summary(self) -> None:
        """What the sweep comes to, or the first thing wrong with its name or trials."""
        note, summary = self.query_one("#sb-note", Static), self.query_one("#sb-summary", Static)
        try:
            options = self._options()
            check_name(options.name)
        except SettingsError as err:
            note.update(str(err))
            note.display = True
            summary.update("")
            return
        note.display = False
        checked = [values for values in (row.check(self.method, self.form_values) for row in self.rows()) if values is not None]
        seeds = f", each point over {options.repeats} seeds" if options.repeats > 1 else ""
        if not checked:
            summary.update("no setting varies yet")
        elif self.method == "grid":
            summary.update(f"a grid of {SweepDraft(options.name, space=dict(enumerate(checked))).grid_size()} trials{seeds}")
        else:
            summary.update(f"{options.trials} {options.method} trials{seeds}")
