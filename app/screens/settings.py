"""The Settings tab: the form and the file it is saved to (open, preset, save, save as), the question about
edits that file lacks, a run's settings put in the form, and the base settings of a sweep built in the app."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Label

from lstm_vision.errors import SettingsError
from lstm_vision.runs.folder import SETTINGS_FILE
from lstm_vision.runs.follow import run_settings
from lstm_vision.settings import Settings, load_settings, preset_names, preset_path, save_settings
from lstm_vision.settings.toml import file_values
from app.messages import LogLine
from app.screens.dialogs import PathScreen, PresetScreen, UnsavedScreen
from app.stale_notes import FILE_NOTE, SETTINGS_NOTE, StaleNotes
from app.widgets.form import SettingsForm


class SettingsView(Vertical):
    """Its keys are the App's (ctrl+s, ctrl+o act on every tab: the App passes them here)."""

    DEFAULT_CSS = "SettingsView { height: 1fr; }"

    class FileShown(Message):
        """The settings file the form stands for, and whether it holds edits that file lacks (the status line)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, settings: Settings, path: Path, notes: StaleNotes, note: str = "", invalid: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.invalid = invalid  # why the file ctrl+s writes is not valid: nothing starts until it is saved fixed
        self.settings = settings  # the settings last loaded or saved: a preset keeps what it does not set
        self.path = path  # the file ctrl+s writes
        self._notes = notes
        self._path_note = note  # what show_path writes after the file's name ("saved", "(preset …)", the --set)

    def compose(self) -> ComposeResult:
        with Horizontal(id="settings-bar"):
            yield Label("", id="settings-path")
            yield Button("Start F5", id="btn-start", variant="success", compact=True, action="app.start")
            yield Button("Preset…", id="btn-preset", compact=True, action="app.preset")
            yield Button("Open…", id="btn-open", compact=True, action="app.open")
            yield Button("Save", id="btn-save", compact=True, action="app.save")
            yield Button("Save as…", id="btn-save-as", compact=True, action="app.save_as")
        # lazy: the fields the first screen shows; the app mounts the others once that screen is up
        yield SettingsForm(self.settings, id="form", lazy=True)

    def on_mount(self) -> None:
        self.show_path(self._path_note)  # in the first paint: the file the form holds, and what the command line added
        if self.invalid:
            self._show_invalid_file()

    def _show_invalid_file(self) -> None:
        """The file's own values in the form, where a field checks each (the wrong one turns red with its
        reason), and the file's sentence: it may be about no field (not TOML, an unknown setting)."""
        for name, value in file_values(self.path).items():
            section, _, key = name.partition(".")
            try:
                self.form.row(section, key).set_value(value)
            except (TypeError, ValueError):  # a value of another type than the field's (a list for a number)
                self.form.row(section, key).set_value(str(value))
        self.form.mark_shown_as_saved()  # no "*" nor "unsaved edits": the user has changed nothing yet
        self.call_after_refresh(self.form.errors)  # the reason under each wrong field
        self._notes.about(FILE_NOTE, self._invalid_sentence(), title="Invalid settings file", severity="error", timeout=20)

    def _invalid_sentence(self) -> str:
        return f"{self.invalid} Fix it in the form and save it (ctrl+s): F5 starts once {self.path} is valid."

    @property
    def form(self) -> SettingsForm:
        return self.query_one(SettingsForm)

    def show_path(self, note: str = "") -> None:
        """The file ctrl+s writes, a * before it while the form holds edits that file lacks."""
        modified = self.form.modified
        self._path_note = note
        self.query_one("#settings-path", Label).update(f"{'*' if modified else ''}{self.path}{'  ' + note if note else ''}")
        self.post_message(self.FileShown(f"{self.path}{' (unsaved edits)' if modified else ''}"))

    def on_settings_form_modified(self, message: SettingsForm.Modified) -> None:
        note = self._path_note
        self.show_path("" if message.modified and note == "saved" else note)  # "saved" holds no more

    def on_settings_form_edited(self, message: SettingsForm.Edited) -> None:
        self._notes.forget(SETTINGS_NOTE)  # what a note said of the settings was of the settings before this edit

    def output_dir(self) -> str:
        """Where runs go: the form's output.dir while it is valid, else the settings last loaded or saved."""
        try:
            return self.form.row("output", "dir").value()
        except SettingsError:
            return self.settings.output.dir

    def collect_or_warn(self, what: str, saving: bool = False) -> Settings | None:
        """The form's settings, or None with a note that names the invalid field (or the settings file, when it
        is not valid and this is not its saving)."""
        if self.invalid and not saving:
            self._notes.about(
                SETTINGS_NOTE,
                f"Cannot {what}: {self._invalid_sentence()}",
                title="Invalid settings file",
                severity="error",
                timeout=10,
            )
            return None
        try:
            return self.form.collect()
        except SettingsError as err:
            self._notes.about(SETTINGS_NOTE, f"Cannot {what}: {err}", title="Invalid settings", severity="error", timeout=8)
            return None

    def save_to(self, path: Path) -> bool:
        settings = self.collect_or_warn("save", saving=True)
        if settings is None:
            return False
        try:
            # comments come from the target if it exists, else from the file these settings came from
            keep = path if path.is_file() else (self.path if self.path.is_file() else None)
            save_settings(settings, path, keep_comments_of=keep)
        except SettingsError as err:  # the folder is gone: one sentence that names it
            self.notify(str(err), severity="error", timeout=8)
            return False
        except OSError as err:  # its own words: the error's file name is the temporary file beside path
            self.notify(f"Could not save {path}: {err.strerror or err}.", severity="error", timeout=8)
            return False
        if self.invalid:
            self.invalid = ""  # the file ctrl+s writes is written from the form, checked field by field: valid
            self._notes.forget(FILE_NOTE)
        self.settings = settings
        self.path = path
        self.form.mark_saved(settings)
        self.show_path("saved")
        self.post_message(LogLine(f"Saved settings to {path}."))
        self.notify(f"Saved {path}")
        return True

    def save(self) -> None:
        self.save_to(self.path)

    def save_as(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.save_to(path)

        self.app.push_screen(PathScreen("Save settings as", str(self.path), must_exist=False), chosen)

    def apply_loaded(self, settings: Settings, source: str, saved: bool = False) -> None:
        """Show loaded settings; ``saved``: they are the file ctrl+s writes, so the form holds no edits."""
        self.settings = settings
        self.form.set_settings(settings, saved=saved)
        self.post_message(LogLine(f"Loaded settings from {source}."))
        self.notify(f"Loaded {source}")

    def load_file(self, path: Path, make_current: bool = True) -> bool:
        try:
            settings = load_settings(path)
        except SettingsError as err:
            self.notify(str(err), title="Cannot load", severity="error", timeout=10)
            return False
        self.apply_loaded(settings, str(path), saved=make_current)
        if make_current:
            self.path, self.invalid = path, ""
            self._notes.forget(FILE_NOTE)
            self.show_path()
        return True

    def open(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.load_file(path)

        self.unless_unsaved(
            "opening another file",
            lambda: self.app.push_screen(PathScreen("Open settings file", str(self.path), must_exist=True), chosen),
        )

    def preset(self) -> None:
        def chosen(name: str | None) -> None:
            if not name:
                return
            try:
                # a preset is about the model and training: the form keeps what it does not set (data.root,
                # data.download, output.dir...), so F5 after a preset still finds the user's data
                settings = load_settings(preset_path(name), base=self.form.current(self.settings))
            except SettingsError as err:
                self.notify(str(err), title="Cannot load preset", severity="error")
                return
            # the preset fills the form; ctrl+s still writes to the user's own file
            self.apply_loaded(settings, f"preset {name}")
            self.show_path(f"(preset {name})")  # the * says it is not saved

        self.app.push_screen(PresetScreen(preset_names()), chosen)

    def unless_unsaved(self, doing: str, then: Callable[[], None]) -> None:
        """``then()`` at once if the form holds no edits the settings file lacks; else ask: save them first,
        don't save, or cancel (what ``doing`` would replace is kept)."""
        if not self.form.modified:
            then()
            return
        if isinstance(self.app.screen, UnsavedScreen):
            return  # asked again (ctrl+q twice): the question is on screen already

        def answered(choice: str | None) -> None:
            if choice == "discard" or (choice == "save" and self.save_to(self.path)):
                then()

        self.app.push_screen(
            UnsavedScreen(
                f"The settings have edits that {self.path} lacks. Save them before {doing}?",
                save="Save and quit" if doing == "quitting" else "Save first",
            ),
            answered,
        )

    def read_run_settings(self, run_dir: Path, as_started: bool = False) -> Settings | None:
        """A run's own settings: its settings.toml, with what its resumes changed unless ``as_started``; None,
        saying why, when they cannot be read."""
        if not (run_dir / SETTINGS_FILE).is_file():
            self.notify(f"{run_dir.name} has no settings.toml.", severity="warning")
            return None
        try:
            return run_settings(run_dir, as_started=as_started)
        except SettingsError as err:
            self.notify(str(err), title="Cannot load", severity="error", timeout=10)
            return None

    def load_run_settings(self, run_dir: Path) -> bool:
        """History's l: put the settings a run started with in the form (not making them the file ctrl+s
        writes), all but its run_name: that names the run's folder, and a new run from these settings gets a
        folder of its own."""
        settings = self.read_run_settings(run_dir, as_started=True)
        if settings is None:
            return False
        settings.output.run_name = self.form.row("output", "run_name").value()
        self.apply_loaded(settings, str(run_dir / SETTINGS_FILE))
        return True

    def base_for_sweep(self, sweep_file: Path) -> tuple[str, str]:
        """The base settings of a sweep built in the app: the form's. (base as the sweep file names it, a note for
        the Sweep tab's bar.) The settings file itself when it holds what the form shows; else the form is saved
        beside the sweep file (``NAME.base.toml``), so the sweep runs what the form showed, unsaved edits too."""
        settings = self.form.collect()  # SettingsError names the invalid fields
        folder = sweep_file.parent.resolve()
        try:
            same = self.path.is_file() and load_settings(self.path) == settings
        except SettingsError:
            same = False
        if same:
            return os.path.relpath(self.path.resolve(), folder), f" · base {self.path}"
        base = sweep_file.with_name(sweep_file.name.removesuffix(".toml") + ".base.toml")
        save_settings(settings, base)
        return base.name, f" · base {base.name} (the form's settings)"
