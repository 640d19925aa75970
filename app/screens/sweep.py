"""The Sweep tab (F10): build a sweep from the form or open a sweep file, start it in the background, and watch
its trials live (app/widgets/trials.py). A sweep, like a run, belongs to its own processes: this view only
reads its folder and writes control requests to its workers.

Two faces in one tab: the builder (a sweep file's fields) and the trials of the sweep folder being watched;
n, o, b and w switch between them and what they show, F5 starts the sweep, F8 stops it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from functools import partial
from textual.widgets import Button, ContentSwitcher, DataTable, Input, Label

from lstm_vision.errors import SettingsError
from lstm_vision.sweep.folder import SWEEP_TOML, TrialRow, is_sweep_dir, last_launch, request_workers, sweep_state
from app.messages import LogLine, TabWanted
from app.record import short_paths
from app.screens.dialogs import PathScreen
from lstm_vision.sweep.draft import SweepDraft, read_draft, write_draft
from lstm_vision.text import plural
from app.widgets.sweep_builder import SweepBuilder
from app.widgets.trials import PANELS, SweepWatch, trial_path

if TYPE_CHECKING:
    from app.screens.settings import SettingsView

BUILD, WATCH = "sweep-build", "sweep-watch"
START_TIMEOUT_S = 120.0  # the CLI checks the sweep and starts its worker; only a hung file system takes this long
SWEEP_FOLDER_LINE = "Sweep folder: "  # the CLI's first line of a background sweep names its folder
FOCUS_CHECK_S = 0.25
WATCH_KEYS = ("new", "open", "build", "stop")  # letter keys: typed into the builder's fields there, so hidden


class SweepView(Vertical):
    """The sweep being built (``sweep_file``) and the sweep folder being watched (``sweep_dir``). Its sweeps run
    in the headless processes (``--no-ui --sweep FILE --background``), which this view starts as the app starts
    a background run, and then only reads the sweep folder."""

    BINDINGS = [
        Binding("f5", "start", "Start sweep", key_display="F5"),
        Binding("f8", "stop", "Stop sweep", key_display="F8"),
        Binding("n", "new", "New"),
        Binding("o", "open", "Open"),
        Binding("b", "build", "Builder"),
        Binding("w", "watch", "Trials", show=False),
        Binding("space", "pick", "Compare"),
        Binding("v", "panel", "View"),
    ]
    DEFAULT_CSS = """
    SweepView #sweep-bar { height: 1; padding: 0 1; }
    SweepView #sweep-path { width: 1fr; color: $text-muted; }
    SweepView #sweep-bar Button { margin-left: 1; width: auto; min-width: 0; }
    SweepView ContentSwitcher { height: 1fr; }
    """

    class TrialChosen(Message):
        """Enter on a trial: attach to it while it trains, else show its results."""

        def __init__(self, run_dir: Path, row: TrialRow) -> None:
            super().__init__()
            self.run_dir, self.row = run_dir, row

    def __init__(self, settings_view: Callable[[], SettingsView], **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings_view = settings_view  # the Settings tab's view: the form a sweep is built over, its file
        self.sweep_file: Path | None = None  # the file the builder shows (read or last saved)
        self.opened: Path | None = None  # the file its draft was read from: saving keeps its text where unchanged
        self.base_note = ""  # where the base settings of the last saved file came from
        self._focus_pending = False  # a sweep was opened: the focus goes to its trials once it can
        self.file_base: Path | None = None  # the base settings of the sweep file opened, kept when it is saved

    def compose(self) -> ComposeResult:
        with Horizontal(id="sweep-bar"):
            yield Label("", id="sweep-path")
            yield Button("New", id="sweep-new", compact=True)
            yield Button("Open…", id="sweep-open", compact=True)
            yield Button("Trials", id="sweep-trials", compact=True)
        with ContentSwitcher(initial=BUILD):
            yield SweepBuilder(id=BUILD)
            yield SweepWatch(id=WATCH)

    @property
    def builder(self) -> SweepBuilder:
        return self.query_one(SweepBuilder)

    @property
    def watcher(self) -> SweepWatch:
        return self.query_one(SweepWatch)

    @property
    def showing(self) -> str:
        return self.query_one(ContentSwitcher).current or BUILD

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WATCH_KEYS and self.showing == BUILD and isinstance(self.app.focused, Input):
            return False  # the key is the field's: the footer does not promise what it would not do
        running = self.showing == WATCH and self.watcher.state == "running"
        if action == "stop":
            return running
        if action == "start":  # a running sweep is started already (F8 shows then), a finished one has no trial left
            return not running and not (self.showing == WATCH and self.watcher.state == "finished")
        if action == "watch":
            return self.watcher.sweep_dir is not None
        if action in ("pick", "panel"):  # the trials' keys
            return self.showing == WATCH and self.watcher.sweep_dir is not None
        return True

    def on_mount(self) -> None:
        self._show(BUILD, focus=False)
        self.set_interval(FOCUS_CHECK_S, self._settle_focus)

    def _settle_focus(self) -> None:
        """After a sweep was opened, until the focus has been in this tab once: put it on the trials. At start-up
        (--attach SWEEP_DIR) the screen's first focus can land after ours, on the tab bar, where the footer then
        offers none of this tab's keys."""
        if not self._focus_pending or not self.watcher.is_on_screen:
            return
        focused = self.app.focused
        if focused is not None and self in focused.ancestors:
            self._focus_pending = False
        else:
            self.focus_default()

    def activate(self) -> None:
        """The tab came to the front: the builder's rows say what the form holds now; the focus where keys act."""
        self.builder.fill(None, self.settings_view().form.values())
        self.focus_default()

    def focus_default(self) -> None:
        if self.showing == WATCH:
            self.watcher.table.focus()
        else:
            self.builder.focus_first()

    def _show(self, face: str, focus: bool = True) -> None:
        self.query_one(ContentSwitcher).current = face
        self.query_one("#sweep-trials", Button).display = self.watcher.sweep_dir is not None and face == BUILD
        self._bar()
        if focus:
            self.call_after_refresh(self.focus_default)
        self.app.refresh_bindings()

    def _bar(self) -> None:
        if self.showing == WATCH and self.watcher.sweep_dir is not None:
            text = f"{self.watcher.sweep_dir} · enter: a trial (attach, or results)"
            if self.watcher.panel != PANELS[0]:
                what = "importance of each setting" if self.watcher.panel == "sweep-importance" else "parallel coordinates"
                text = f"{self.watcher.sweep_dir} · {what} below; v: the next view"
            elif self.watcher.pinned is not None:
                text = f"{self.watcher.sweep_dir} · trial {self.watcher.pinned} below; enter again: the best"
            elif self.watcher.table.picked:
                picked = ", ".join(f"#{n}" for n in self.watcher.table.picked)
                text = f"{self.watcher.sweep_dir} · comparing {picked}; space adds or takes out"
        elif self.sweep_file is not None:
            text = f"sweep file {self.sweep_file}{self.base_note}"
        elif self.file_base is not None:
            text = f"{self.watcher.sweep_dir}'s sweep{self.base_note}; F5 saves it anew and starts it"
        else:
            text = "A new sweep over the form's settings; F5 saves and starts it."
        self.query_one("#sweep-path", Label).update(short_paths(text))

    # ---- what is shown ------------------------------------------------------------------------------
    def new(self, form_values: dict) -> None:
        """The builder, over the form's settings as they are now."""
        self.builder.fill(None, form_values)
        self._show(BUILD)

    def open_file(self, path: Path, form_values: dict) -> None:
        try:
            spec = read_draft(path)
        except SettingsError as err:
            self.notify(str(err), severity="error", timeout=10)
            return
        self.sweep_file = self.opened = path
        # its own base stays its base (relative to the file); a file without one runs on the form's settings
        self.file_base = (path.parent / spec.base).resolve() if spec.base else None
        self.base_note = f" · base {self.file_base}" if self.file_base else ""
        self.builder.fill(spec, form_values)
        self._show(BUILD)

    def watch_folder(self, sweep_dir: Path) -> None:
        self.watcher.watch(sweep_dir)
        self._focus_pending = True
        self._show(WATCH)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        {"sweep-new": self.action_new, "sweep-open": self.action_open, "sweep-trials": self.action_watch}[event.button.id]()

    # ---- keys -----------------------------------------------------------------------------------------
    def action_new(self) -> None:
        self.sweep_file, self.opened, self.file_base, self.base_note = None, None, None, ""
        self.new(self.settings_view().form.values())

    def action_build(self) -> None:
        """The builder; on a watched sweep, with that sweep's file as its folder keeps it (saved elsewhere: the
        same study goes on with more trials, a changed one needs another name)."""
        if self.showing == WATCH and self.watcher.sweep_dir is not None:
            self.open_file(self.watcher.sweep_dir / SWEEP_TOML, self.settings_view().form.values())
            self.sweep_file = None  # never written over the folder's copy
            self._bar()
        else:
            self._show(BUILD)

    def action_watch(self) -> None:
        if self.watcher.sweep_dir is not None:
            self._show(WATCH)

    def action_open(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is None:
                return
            if path.is_dir() and is_sweep_dir(path):
                self.watch_folder(path)
            elif path.is_dir():
                self.notify(f"{path} is not a sweep folder (it holds no {SWEEP_TOML}).", severity="warning", timeout=8)
            else:
                self.open_file(path, self.settings_view().form.values())

        start = self.sweep_file or self.watcher.sweep_dir or Path(self.settings_view().settings.output.dir)
        self.app.push_screen(
            PathScreen(
                "Open a sweep file, or a sweep's folder",
                str(start),
                must_exist=True,
                folders=True,
                example="path/to/sweep.toml or runs/SWEEP",
            ),
            chosen,
        )

    def action_start(self) -> None:
        if self.showing == WATCH and self.watcher.sweep_dir is not None:
            if self.watcher.state in ("running", "finished"):
                self.notify(
                    f"{self.watcher.sweep_dir.name} is {self.watcher.state}"
                    + (
                        "; F8 stops it."
                        if self.watcher.state == "running"
                        else ": every trial ran. b shows its file, n a new one."
                    ),
                    severity="warning",
                )
                return
            # a stopped or lost sweep goes on where it stopped: its command again (the study skips what is done)
            self.start(self.watcher.sweep_dir / SWEEP_TOML, self.watcher.sweep_dir)
            return
        self.on_sweep_builder_start_requested(SweepBuilder.StartRequested())

    def action_stop(self) -> None:
        """Ask every live worker of the sweep to stop: each ends its trial resumably (F5 later goes on)."""
        sweep_dir = self.watcher.sweep_dir
        if sweep_dir is None:
            return
        asked = request_workers(sweep_dir, "stop")
        if asked:
            self.notify(f"Asked {plural(asked, 'worker')} of {sweep_dir.name} to stop.")
        else:
            self.notify(f"{sweep_dir.name} has no running worker to stop.", severity="warning")

    def left_running(self) -> Path | None:
        """The sweep followed here, when its workers go on after the app quits (for the line the app prints)."""
        sweep_dir = self.watcher.sweep_dir
        return sweep_dir if sweep_dir is not None and sweep_state(sweep_dir) == "running" else None

    # ---- starting a sweep ----------------------------------------------------------------------------
    def start(self, sweep_file: Path, sweep_dir: Path | None = None) -> None:
        """Start the sweep file in the background, or continue the stopped or lost sweep of ``sweep_dir`` with the
        command it was started with."""
        if sweep_dir is not None:
            args, what = last_launch(sweep_dir), f"Continuing the sweep {sweep_dir.name}"
        else:
            args, what = ["--no-ui", "--sweep", str(sweep_file.absolute())], f"Starting the sweep {sweep_file.name}"
            if self.file_base is None and self.opened is not None:  # an opened file without a base of its own
                base = self._form_base(sweep_file)
                if base is None:
                    return
                args += ["--config", str(base)]
        self.notify(f"{what} in the background…")
        body = partial(self._start_sweep, args, self.app.call_from_thread)
        self.run_worker(body, group="sweep-start", thread=True, exit_on_error=False)

    def _form_base(self, sweep_file: Path) -> Path | None:
        """The settings a sweep file without a base runs on when started here: the form's, as the builder shows
        them ("the form has ..."), the app's --preset and --set included (without them, it ran on the defaults:
        a trial of a sweep opened with --set data.root=... looked for the data in ./data)."""
        try:
            base, _ = self.settings_view().base_for_sweep(sweep_file)
        except SettingsError as err:
            self.notify(f"Cannot start the sweep: {err}", severity="error", timeout=10)
            return None
        return (sweep_file.parent / base).resolve()

    def _start_sweep(self, args: list[str], call: Callable[..., object]) -> None:
        """The CLI's own --no-ui --sweep FILE --background (its checks, its folder, its detached worker), in a
        thread: it returns once the worker is started, or with the one sentence that refuses the sweep."""
        command = [sys.executable, "-m", "lstm_vision", *args, "--background"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=START_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as err:
            call(self.notify, f"Cannot start the sweep: {err}", severity="error", timeout=12)
            return
        lines = done.stdout.splitlines()
        folder = next((line.partition(SWEEP_FOLDER_LINE)[2] for line in lines if line.startswith(SWEEP_FOLDER_LINE)), "")
        if done.returncode != 0 or not folder:
            errors = [line for line in done.stderr.splitlines() if line.strip()] or [f"exit code {done.returncode}"]
            call(self.notify, errors[-1].removeprefix("error: "), title="Cannot start the sweep", severity="error", timeout=15)
            return
        call(self._sweep_started, Path(folder.strip()), lines)

    def _sweep_started(self, sweep_dir: Path, lines: list[str]) -> None:
        for line in lines:
            self.post_message(LogLine(line))
        self.notify(f"Sweep {sweep_dir.name} started in the background; it goes on if this app or its terminal goes away.")
        self.post_message(TabWanted("sweep"))
        self.watch_folder(sweep_dir)

    # ---- ctrl+s on this tab: the sweep file, never the settings file ----------------------------------
    def save(self) -> None:
        """The builder's sweep to the file it was opened from or last saved to (asked for when it has none)."""
        if self.showing == WATCH:
            self.notify("The sweep shown is its folder's; b opens its file in the builder, where ctrl+s saves a copy.")
            return
        spec = self._checked()
        if spec is None:
            return
        if self.sweep_file is None:
            self._ask_path(spec, then_start=False)
        else:
            self._save(spec, self.sweep_file)

    def save_as(self) -> None:
        if self.showing == BUILD:
            self.on_sweep_builder_save_requested(SweepBuilder.SaveRequested())
        else:
            self.save()

    # ---- the builder's buttons -------------------------------------------------------------------
    def on_sweep_builder_save_requested(self, message: SweepBuilder.SaveRequested) -> None:
        message.stop()
        spec = self._checked()
        if spec is not None:
            self._ask_path(spec, then_start=False)

    def on_sweep_builder_start_requested(self, message: SweepBuilder.StartRequested) -> None:
        message.stop()
        spec = self._checked()
        if spec is not None:
            self._ask_path(spec, then_start=True)

    def _checked(self) -> SweepDraft | None:
        try:
            return self.builder.spec()
        except SettingsError as err:
            self.notify(f"The sweep is not ready: {err}", severity="error", timeout=10)
            return None

    def _ask_path(self, spec: SweepDraft, then_start: bool) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None and self._save(spec, path) and then_start:
                self.start(path)

        default = self.sweep_file or self.settings_view().path.parent / f"{spec.name}.sweep.toml"
        title = "Save the sweep, then start it in the background" if then_start else "Save the sweep as"
        self.app.push_screen(PathScreen(title, str(default), must_exist=False, example="path/to/sweep.toml"), chosen)

    def _save(self, spec: SweepDraft, path: Path) -> bool:
        """Write the sweep file; its base is the opened file's, else the form's settings (the settings file itself
        when the form holds nothing else, else a copy of the form beside the sweep file); a file opened without one
        keeps none."""
        try:
            if self.file_base is not None:
                spec.base = os.path.relpath(self.file_base, path.parent.resolve())
            elif self.opened is None:  # built here: the form's settings are its base
                spec.base, self.base_note = self.settings_view().base_for_sweep(path)
            # an opened file without a base keeps none: it runs on the settings its command line gives, as before
            write_draft(spec, path, self.opened)
        except SettingsError as err:
            self.notify(f"Cannot save the sweep: {err}", severity="error", timeout=10)
            return False
        except OSError as err:
            self.notify(f"Could not save {path}: {err.strerror or err}.", severity="error", timeout=10)
            return False
        self.sweep_file = self.opened = path
        self._bar()
        self.notify(f"Saved {path}")
        return True

    # ---- the trials ---------------------------------------------------------------------------------
    def action_pick(self) -> None:
        row = self.watcher.selected()
        if row is not None:
            self.watcher.pick(row)
            self._bar()

    def action_panel(self) -> None:
        self.watcher.next_panel()
        self._bar()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.watcher.selected()
        if row is None or self.watcher.sweep_dir is None:
            return
        if row.state != "running":  # its curves alone below (enter again: the best few), its results under F4
            self.watcher.pin(None if self.watcher.pinned == row.number else row.number)
            self._bar()
            if self.watcher.pinned is None:
                return
        self.post_message(self.TrialChosen(trial_path(self.watcher.sweep_dir, row), row))
