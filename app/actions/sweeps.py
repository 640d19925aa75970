"""Sweeps from the app: the Sweep tab's requests (start a sweep file in the background, stop a sweep, a trial
chosen), History's sweep row, and --attach of a sweep folder. The sweep's processes are the headless ones
(``--no-ui --sweep FILE --background``); the app starts them as it starts a background run and then only
reads the sweep folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from lstm_vision.errors import SettingsError
from lstm_vision.runs.liveness import run_state
from lstm_vision.settings import load_settings, save_settings
from lstm_vision.sweep.folder import SWEEP_TOML, WORKERS_DIR, request_workers, sweep_state
from app.host import Host
from app.record import RunRecord
from lstm_vision.runs.folder import METRICS_FILE

if TYPE_CHECKING:  # loaded with their tabs, after the first paint (app/panes.py)
    from app.screens.history import HistoryView
    from app.screens.sweep import SweepView


LAUNCH_WINDOW_S = 60.0  # the processes of one launch (a --workers N parent and its workers) start within this
START_TIMEOUT_S = 120.0  # the CLI checks the sweep and starts its worker; only a hung file system takes this long
SWEEP_FOLDER_LINE = "Sweep folder: "  # the CLI's first line of a background sweep names its folder


def last_launch(sweep_dir: Path) -> list[str]:
    """The arguments the sweep was last started with, from its workers' process.json (each keeps its command
    line): the same command continues a sweep, with its --set, --storage and --workers. Of the last launch's
    processes the first, which is the parent of --workers N; the sweep folder's copy of the sweep file when the
    original is gone."""
    launches = []
    for path in (sweep_dir / WORKERS_DIR).glob("*/process.json"):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        argv, started = info.get("argv"), info.get("started")
        if isinstance(argv, list) and "--sweep" in argv[:-1] and isinstance(started, (int, float)):
            launches.append((float(started), [str(a) for a in argv[1:] if a != "--background"]))
    if not launches:
        return ["--no-ui", "--sweep", str(sweep_dir / SWEEP_TOML)]
    latest = max(started for started, _ in launches)
    _, args = min((launch for launch in launches if launch[0] >= latest - LAUNCH_WINDOW_S), key=lambda launch: launch[0])
    where = args.index("--sweep") + 1
    if not Path(args[where]).is_file():
        args[where] = str(sweep_dir / SWEEP_TOML)
    return args


class SweepActions(Host):
    """Mixed into the App: what the Sweep tab (F10) asks of it."""

    def open_sweep(self, sweep_dir: Path) -> None:
        """The Sweep tab, watching ``sweep_dir`` (--attach of a sweep folder, History's sweep row)."""
        self.action_show_tab("sweep")
        self.sweep_view.watch_folder(Path(sweep_dir))

    left_sweep: Path | None = None  # the sweep the Sweep tab followed when the app quit, while it goes on

    def sweep_left_running(self) -> Path | None:
        """The sweep the Sweep tab follows, when its workers go on after the app quits (for the line it prints)."""
        if not self.query("#sweep"):
            return None  # quit before the app's first screen was up: no sweep followed
        watcher = self.sweep_view.watcher
        return watcher.sweep_dir if watcher.sweep_dir is not None and sweep_state(watcher.sweep_dir) == "running" else None

    def action_new_sweep(self) -> None:
        self.action_show_tab("sweep")
        self.sweep_view.action_new()

    def action_open_sweep(self) -> None:
        self.action_show_tab("sweep")
        self.sweep_view.action_open()

    def base_for_sweep(self, sweep_file: Path) -> tuple[str, str]:
        """The base settings of a sweep built here: the form's. (base as the sweep file names it, a note for the
        Sweep tab's bar.) The settings file itself when it holds what the form shows; else the form is saved
        beside the sweep file (``NAME.base.toml``), so the sweep runs what the form showed, unsaved edits too."""
        settings = self.form.collect()  # SettingsError names the invalid fields
        folder = sweep_file.parent.resolve()
        try:
            same = self.settings_path.is_file() and load_settings(self.settings_path) == settings
        except SettingsError:
            same = False
        if same:
            return os.path.relpath(self.settings_path.resolve(), folder), f" · base {self.settings_path}"
        base = sweep_file.with_name(sweep_file.name.removesuffix(".toml") + ".base.toml")
        save_settings(settings, base)
        return base.name, f" · base {base.name} (the form's settings)"

    def on_sweep_view_start(self, message: SweepView.Start) -> None:
        if message.sweep_dir is not None:  # a stopped or lost sweep: the command it was started with, again
            args, what = last_launch(message.sweep_dir), f"Continuing the sweep {message.sweep_dir.name}"
        else:
            args, what = (
                ["--no-ui", "--sweep", str(message.sweep_file.absolute())],
                f"Starting the sweep {message.sweep_file.name}",
            )
        self.notify(f"{what} in the background…")
        self.run_worker(partial(self._start_sweep, args), group="sweep-start", thread=True, exit_on_error=False)

    def _start_sweep(self, args: list[str]) -> None:
        """The CLI's own --no-ui --sweep FILE --background (its checks, its folder, its detached worker), in a
        thread: it returns once the worker is started, or with the one sentence that refuses the sweep."""
        command = [sys.executable, "-m", "lstm_vision", *args, "--background"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=START_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as err:
            self.call_from_thread(self.notify, f"Cannot start the sweep: {err}", severity="error", timeout=12)
            return
        folder = next(
            (line.partition(SWEEP_FOLDER_LINE)[2] for line in done.stdout.splitlines() if line.startswith(SWEEP_FOLDER_LINE)), ""
        )
        if done.returncode != 0 or not folder:
            lines = [line for line in done.stderr.splitlines() if line.strip()] or [f"exit code {done.returncode}"]
            why = lines[-1].removeprefix("error: ")
            self.call_from_thread(self.notify, why, title="Cannot start the sweep", severity="error", timeout=15)
            return
        self.call_from_thread(self._sweep_started, Path(folder.strip()), done.stdout)

    def _sweep_started(self, sweep_dir: Path, lines: str) -> None:
        for line in lines.splitlines():
            self.log_panel.add(line, "app")
        self.notify(f"Sweep {sweep_dir.name} started in the background; it goes on if this app or its terminal goes away.")
        self.open_sweep(sweep_dir)

    def stop_sweep(self, sweep_dir: Path | None) -> None:
        """Ask every live worker of the sweep to stop: each ends its trial resumably (F5 later goes on)."""
        if sweep_dir is None:
            return
        asked = request_workers(sweep_dir, "stop")
        if asked:
            self.notify(f"Asked {asked} worker{'s' if asked > 1 else ''} of {sweep_dir.name} to stop.")
        else:
            self.notify(f"{sweep_dir.name} has no running worker to stop.", severity="warning")

    def on_sweep_view_trial_chosen(self, message: SweepView.TrialChosen) -> None:
        run_dir = message.run_dir
        if run_state(run_dir).live:
            self.attach(run_dir)
            return
        if not (run_dir / METRICS_FILE).is_file():
            self.notify(f"{run_dir.name} has not started yet.", severity="warning")
            return
        record = RunRecord.from_jsonl(run_dir / METRICS_FILE, name=run_dir.name)
        from app.screens.history import HistoryView

        self.post_message(HistoryView.RunOpened(run_dir, record))  # as History's enter: its results under F4

    def on_history_view_sweep_opened(self, message: HistoryView.SweepOpened) -> None:
        self.open_sweep(message.sweep_dir)
