"""The command palette (ctrl+p): every action of the app by name, with the key that does it."""

from __future__ import annotations

from functools import partial

from textual.app import SystemCommand
from textual.screen import Screen

from app.host import Host
from app.state import TABS


class PaletteCommands(Host):
    def get_system_commands(self, screen: Screen):
        yield from super().get_system_commands(screen)
        commands = [
            ("Start run", "Start training with the settings in the form (F5)", self.action_start),
            (
                "Start run in the background",
                "A headless process of its own that outlives this app and its terminal; the app attaches to it (shift+F5)",
                self.action_start_background,
            ),
            ("Pause or resume run", "Pause the run between batches, or go on (F6)", self.action_pause),
            ("Stop run", "Finish the batch, save last.pt, stop (F8)", self.action_stop),
            ("Resume stopped run", "Continue the last stopped run from its last.pt (F7)", self.action_resume_run),
            (
                "Try the model",
                "Draw digits, open images and step through the test set's mistakes with the "
                "run just finished, or the one selected in History (t)",
                self.action_try_model,
            ),
            ("Try a checkpoint file…", "Try the model of any run folder or .pt file", self.action_try_file),
            ("Save settings", "Write the form to the settings file, keeping its comments (ctrl+s)", self.action_save),
            ("Save settings as…", "Write the form to another file", self.action_save_as),
            ("Open settings file…", "Load settings from a TOML file (ctrl+o)", self.action_open),
            ("Load preset…", "Load one of the shipped presets into the form", self.action_preset),
            (
                "New sweep",
                "Build a sweep over the form's settings: which settings vary, over which values (F10, then n)",
                self.action_new_sweep,
            ),
            ("Open sweep…", "Open a sweep file, or a sweep's folder to watch its trials (F10, then o)", self.action_open_sweep),
            ("Toggle light/dark theme", "Switch between the light and the dark theme", self.action_toggle_theme),
        ] + [(f"Show {name}", f"Go to the {name} screen", partial(self.action_show_tab, name)) for name in TABS]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)
