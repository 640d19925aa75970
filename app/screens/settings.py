"""Loading and saving settings from the app: open, preset, save, save as."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from textual.widgets import Label

from lstm_vision.settings import Settings, load_settings, preset_names, preset_path, save_settings
from lstm_vision.errors import SettingsError
from app.screens.dialogs import PathScreen, PresetScreen, UnsavedScreen
from app.widgets.form import SettingsForm
from app.actions.notes import SETTINGS_NOTE
from app.host import Host
from app.widgets.panels import StatusLine
from lstm_vision.runs.folder import SETTINGS_FILE
from lstm_vision.runs.follow import run_settings


class SettingsFileActions(Host):
    """Mixed into the App: ctrl+s, ctrl+o, presets, and the question about unsaved edits on quitting."""

    _path_note = ""  # what show_settings_path wrote after the file's name ("saved", "(preset …)")

    def show_settings_path(self, note: str = "") -> None:
        """The file ctrl+s writes, a * before it while the form holds edits that file lacks."""
        modified = self.form.modified
        self._path_note = note
        label = self.query_one("#settings-path", Label)
        label.update(f"{'*' if modified else ''}{self.settings_path}{'  ' + note if note else ''}")
        self.query_one(StatusLine).set_settings_name(f"{self.settings_path}{' (unsaved edits)' if modified else ''}")

    def on_settings_form_modified(self, message: SettingsForm.Modified) -> None:
        note = self._path_note
        self.show_settings_path("" if message.modified and note == "saved" else note)  # "saved" holds no more

    def on_settings_form_edited(self, message: SettingsForm.Edited) -> None:
        self.forget(SETTINGS_NOTE)  # what a note said of the settings was of the settings before this edit

    def _collect_or_warn(self, what: str) -> Settings | None:
        try:
            return self.form.collect()
        except SettingsError as err:
            self.notify_about(SETTINGS_NOTE, f"Cannot {what}: {err}", title="Invalid settings", severity="error", timeout=8)
            return None

    def save_to(self, path: Path) -> bool:
        settings = self._collect_or_warn("save")
        if settings is None:
            return False
        try:
            # comments come from the target if it exists, else from the file these settings came from
            keep = path if path.is_file() else (self.settings_path if self.settings_path.is_file() else None)
            save_settings(settings, path, keep_comments_of=keep)
        except SettingsError as err:  # the folder is gone: one sentence that names it
            self.notify(str(err), severity="error", timeout=8)
            return False
        except OSError as err:  # its own words: the error's file name is the temporary file beside path
            self.notify(f"Could not save {path}: {err.strerror or err}.", severity="error", timeout=8)
            return False
        self.settings = settings
        self.settings_path = path
        self.form.mark_saved(settings)
        self.show_settings_path("saved")
        self.log_panel.add(f"Saved settings to {path}.", "app")
        self.notify(f"Saved {path}")
        return True

    def action_save(self) -> None:
        self.save_to(self.settings_path)

    def action_save_as(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.save_to(path)

        self.push_screen(PathScreen("Save settings as", str(self.settings_path), must_exist=False), chosen)

    def apply_loaded(self, settings: Settings, source: str, saved: bool = False) -> None:
        """Show loaded settings; ``saved``: they are the file ctrl+s writes, so the form holds no edits."""
        self.settings = settings
        self.form.set_settings(settings, saved=saved)
        self.log_panel.add(f"Loaded settings from {source}.", "app")
        self.notify(f"Loaded {source}")

    def load_file(self, path: Path, make_current: bool = True) -> bool:
        try:
            settings = load_settings(path)
        except SettingsError as err:
            self.notify(str(err), title="Cannot load", severity="error", timeout=10)
            return False
        self.apply_loaded(settings, str(path), saved=make_current)
        if make_current:
            self.settings_path = path
            self.show_settings_path()
        return True

    def action_open(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None:
                self.load_file(path)

        self.unless_unsaved(
            "opening another file",
            lambda: self.push_screen(PathScreen("Open settings file", str(self.settings_path), must_exist=True), chosen),
        )

    def action_preset(self) -> None:
        def chosen(name: str | None) -> None:
            if not name:
                return
            try:
                # a preset is about the model and training: the form keeps what it does not set (data.root,
                # data.download, output.dir...), so F5 after a preset still finds the user's data
                base = self.form.current(self.settings)
                settings = load_settings(preset_path(name), base=base)
            except SettingsError as err:
                self.notify(str(err), title="Cannot load preset", severity="error")
                return
            # the preset fills the form; ctrl+s still writes to the user's own file
            self.apply_loaded(settings, f"preset {name}")
            self.show_settings_path(f"(preset {name})")  # the * says it is not saved

        self.push_screen(PresetScreen(preset_names()), chosen)

    def quit_unless_unsaved(self, code: int) -> None:
        """Quit, first asking what to do with edits the settings file lacks."""
        self.unless_unsaved("quitting", lambda: self._quit_with(code))

    def unless_unsaved(self, doing: str, then: Callable[[], None]) -> None:
        """``then()`` at once if the form holds no edits the settings file lacks; else ask: save them first,
        don't save, or cancel (what ``doing`` would replace is kept)."""
        if not self.form.modified:
            then()
            return
        if isinstance(self.screen, UnsavedScreen):
            return  # asked again (ctrl+q twice): the question is on screen already

        def answered(choice: str | None) -> None:
            if choice == "discard" or (choice == "save" and self.save_to(self.settings_path)):
                then()

        self.push_screen(
            UnsavedScreen(
                f"The settings have edits that {self.settings_path} lacks. Save them before {doing}?",
                save="Save and quit" if doing == "quitting" else "Save first",
            ),
            answered,
        )

    def load_run_settings(self, run_dir: Path, as_started: bool = False) -> bool:
        """Put a run's own settings in the form (not making them the file ctrl+s writes), all but its run_name:
        that names the run's folder, and a new run from these settings gets a folder of its own. ``as_started``:
        its settings.toml alone, as the run started (History's l), else with what its resumes changed (r)."""
        path = run_dir / SETTINGS_FILE
        if not path.is_file():
            self.notify(f"{run_dir.name} has no settings.toml.", severity="warning")
            return False
        try:
            settings = run_settings(run_dir, as_started=as_started)
        except SettingsError as err:
            self.notify(str(err), title="Cannot load", severity="error", timeout=10)
            return False
        settings.output.run_name = self.form.row("output", "run_name").value()
        self.apply_loaded(settings, str(path))
        return True
