"""Small modal screens: confirm, ask for a path, pick a preset, edit a run's notes. All keyboard-driven."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 70; max-width: 95%; height: auto; max-height: 90%;
    border: thick $primary; background: $surface; padding: 1 2;
}}
{name} .dialog-title {{ text-style: bold; margin-bottom: 1; }}
{name} .dialog-error {{ color: $error; height: auto; }}
{name} Horizontal {{ height: auto; align-horizontal: right; margin-top: 1; }}
{name} Button {{ margin-left: 2; }}
"""


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = DIALOG_CSS.format(name="ConfirmScreen")
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="dialog-title")
            with Horizontal():
                yield Button(f"{self.no} (n)", id="no")
                yield Button(f"{self.yes} (y)", id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class UnsavedScreen(ModalScreen[str]):
    """Quitting (or replacing the form) with unsaved edits: "save", "discard" or "cancel", in ConfirmScreen's
    style; ``save`` names what the save button does (first save, then quit or what else was asked)."""

    DEFAULT_CSS = DIALOG_CSS.format(name="UnsavedScreen")
    BINDINGS = [
        Binding("s", "answer('save')", "Save"),
        Binding("d", "answer('discard')", "Don't save"),
        Binding("escape", "answer('cancel')", "Cancel"),
    ]

    def __init__(self, question: str, save: str = "Save first") -> None:
        super().__init__()
        self.question, self.save = question, save

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="dialog-title")
            with Horizontal():
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Don't save (d)", id="discard", variant="error")
                yield Button(f"{self.save} (s)", id="save", variant="success")

    def on_mount(self) -> None:
        self.query_one("#save", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id)

    def action_answer(self, value: str) -> None:
        self.dismiss(value)


class PathScreen(ModalScreen["Path | None"]):
    """Ask for a file path; ``must_exist`` for opening, not for saving; ``folders``: an existing folder will do too."""

    DEFAULT_CSS = DIALOG_CSS.format(name="PathScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, initial: str, must_exist: bool, folders: bool = False, example: str = "path/to/settings.toml"
    ) -> None:
        super().__init__()
        self.title_text, self.initial, self.must_exist, self.folders = title, initial, must_exist, folders
        self.example = example  # what the empty field shows: the kind of path this dialog asks for

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="dialog-title")
            # the cursor after the text, nothing selected: typing a name adds it to the folder shown
            yield Input(self.initial, id="path-input", placeholder=self.example, select_on_focus=False)
            yield Static("", classes="dialog-error")
            yield Static("enter: OK · escape: cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        error = self.query_one(".dialog-error", Static)
        if not text:
            error.update("Type a path.")
            return
        path = Path(text).expanduser()
        if self.must_exist and not path.exists():
            error.update(f"{path} does not exist.")
            return
        if self.must_exist and not (path.is_file() or (self.folders and path.is_dir())):
            error.update(f"{path} is a folder; name a file in it.")
            return
        if not self.must_exist and path.is_dir():
            error.update(f"{path} is a folder; name a file in it.")
            return
        if not self.must_exist and not path.parent.is_dir():
            error.update(f"The folder {path.parent} does not exist.")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PresetScreen(ModalScreen["str | None"]):
    DEFAULT_CSS = DIALOG_CSS.format(name="PresetScreen") + "PresetScreen OptionList { height: auto; max-height: 16; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Load a preset (enter) · escape: cancel", classes="dialog-title")
            if self.names:
                yield OptionList(*[Option(n, id=n) for n in self.names], id="presets")
            else:
                yield Static("No presets are shipped.", classes="dialog-error")

    def on_mount(self) -> None:
        if self.names:
            self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NotesScreen(ModalScreen["str | None"]):
    """A run's notes, edited in a text area (History's n): tab to Save and enter, or ctrl+s, keeps them; escape
    leaves them as they were. Dismissed with the text, or None. Save comes first in the row: the one tab from the
    text lands on it (it landed on Cancel, so tab, enter as the hint said threw the edit away)."""

    DEFAULT_CSS = DIALOG_CSS.format(name="NotesScreen") + "NotesScreen TextArea { height: 8; }"
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(self, title: str, notes: str) -> None:
        super().__init__()
        self.title_text, self.notes = title, notes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="dialog-title")
            yield TextArea(self.notes, id="notes-text", soft_wrap=True, tab_behavior="focus")
            yield Static("tab, enter or ctrl+s: save · escape: cancel", classes="dialog-hint")
            with Horizontal():
                yield Button("Save", id="save", variant="success")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.query_one(TextArea).text if event.button.id == "save" else None)

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)
