"""The command palette (ctrl+p): every action of the app by name, with the key that does it."""

from __future__ import annotations

from app.state import TABS

# (title, what it does, the App's action: action_NAME, with its arguments)
COMMANDS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("Start run", "Start training with the settings in the form (F5)", "start", ()),
    (
        "Start run in the background",
        "A headless process of its own that outlives this app and its terminal; the app attaches to it (shift+F5)",
        "start_background",
        (),
    ),
    ("Pause or resume run", "Pause the run between batches, or go on (F6)", "pause", ()),
    ("Stop run", "Finish the batch, save last.pt, stop (F8)", "stop", ()),
    ("Resume stopped run", "Continue the last stopped run from its last.pt (F7)", "resume_run", ()),
    (
        "Try the model",
        "Draw digits, open images and step through the test set's mistakes with the "
        "run just finished, or the one selected in History (t)",
        "try_model",
        (),
    ),
    (
        "Pictures",
        "The pictures of the run or sweep shown (curves, confusion matrix, mistakes; sweep.png): in a browser (--serve) "
        "each opens in a tab of its own (p)",
        "pictures",
        (),
    ),
    ("Try a checkpoint file…", "Try the model of any run folder or .pt file", "try_file", ()),
    (
        "Save settings",
        "Write the form to the settings file, keeping its comments (ctrl+s but on the Sweep tab)",
        "save_settings",
        (),
    ),
    ("Save settings as…", "Write the form to another file", "save_settings_as", ()),
    ("Open settings file…", "Load settings from a TOML file (ctrl+o)", "open", ()),
    ("Load preset…", "Load one of the shipped presets into the form", "preset", ()),
    (
        "New sweep",
        "Build a sweep over the form's settings: which settings vary, over which values (n on the Sweep tab, outside its fields)",
        "new_sweep",
        (),
    ),
    (
        "Open sweep…",
        "Open a sweep file, or a sweep's folder to watch its trials (o on the Sweep tab, outside its fields)",
        "open_sweep",
        (),
    ),
    (
        "Filter runs",
        "Show only the History rows whose name, tags, notes or settings hold these words (/)",
        "in_history",
        ("filter",),
    ),
    (
        "Sort runs",
        "Sort History by its next column (s); a click on a header sorts by that one, a second click reverses",
        "in_history",
        ("sort",),
    ),
    ("Edit run notes", "Write or change the notes of the run selected in History (n)", "in_history", ("notes",)),
    ("Toggle light/dark theme", "Switch between the light and the dark theme", "toggle_theme", ()),
] + [(f"Show {name}", f"Go to the {name} screen", "show_tab", (name,)) for name in TABS]
