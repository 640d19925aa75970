"""The Sweep tab with real sweeps in background processes on the tiny data set: started from the app's builder
(the CLI's own --no-ui --sweep FILE --background), watched live, a running trial attached to, the sweep stopped;
and a sweep started from the command line, followed by the app to its end."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from textual.widgets import DataTable, Input

from lstm_vision.runs.liveness import run_state
from lstm_vision.settings import save_settings
from lstm_vision.sweep.folder import WORKERS_DIR, read_trials, sweep_state
from app.screens.history import HistoryView
from app.screens.sweep import WATCH, SweepView
from app.widgets.sweep_builder import SpaceRow
from app.widgets.trials import BEST_MARK
from conftest import tiny_run_settings
from apps import make_app, type_path, wait_for
from processes import cli, long_run


def end_workers(sweep_dir: Path) -> None:
    """Kill what is left of a sweep's workers (a test that failed halfway); they are this test's processes."""
    for info_path in (sweep_dir / WORKERS_DIR).glob("*/process.json"):
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("state") != "exited" and run_state(info_path.parent).live:
            try:
                os.kill(int(info["pid"]), signal.SIGKILL)
            except ProcessLookupError:
                pass


def running_trial(view: SweepView):
    """A row of the table whose trial trains (its own process.json says so), else None."""
    for row in view.watcher.rows:
        if row.state == "running" and run_state(row.run_dir).status == "running":
            return row
    return None


async def test_a_sweep_built_started_watched_attached_and_stopped_from_the_app(mnist_root, tmp_path):
    settings = long_run(tiny_run_settings(mnist_root, tmp_path / "runs"))  # trials that train until stopped
    sweep_dir = tmp_path / "runs" / "hidden"
    app = make_app(tmp_path, settings=settings)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f10")
            await wait_for(pilot, lambda: isinstance(app.focused, Input) and app.query(SpaceRow))
            row = app.query(SpaceRow)[0]
            row.query_one(".space-name", Input).value = "model.hidden_size"
            row.query_one(".space-values", Input).value = "8, 16"
            app.query_one("#sb-name", Input).value = "hidden"
            await pilot.pause()
            await pilot.press("f5")  # save, then start in the background
            await type_path(pilot, app, tmp_path / "hidden.sweep.toml")
            view = app.query_one(SweepView)
            await wait_for(pilot, lambda: view.showing == WATCH and view.watcher.sweep_dir == sweep_dir, "the sweep watched")
            trial = await wait_for(pilot, lambda: running_trial(view), "a trial training")
            assert view.watcher.state == "running" and "running" in str(view.query_one("#sweep-line").render())
            table = view.watcher.query_one(DataTable)
            table.focus()
            table.move_cursor(row=[r.number for r in view.watcher.rows].index(trial.number))
            await pilot.press("enter")  # attach to the trial: the Train tab follows it
            await wait_for(
                pilot, lambda: app.session.attached_to == Path(trial.run_dir) and app.session.state == "running", "attached"
            )
            assert app.query_one("#main-tabs").active == "tab-train"

            await pilot.press("f10")
            await wait_for(pilot, lambda: app.focused is table, "the trials table focused")
            await pilot.press("f8")  # stop the sweep: its worker stops the trial resumably
            await wait_for(pilot, lambda: view.watcher.state == "stopped", "the sweep stopped", timeout=180)
            assert "stopped" in str(view.query_one("#sweep-line").render())
            await wait_for(pilot, lambda: app.session.state == "stopped", "the attached trial stopped")
            assert (Path(trial.run_dir) / "last.pt").is_file()

            workers = set((sweep_dir / WORKERS_DIR).iterdir())
            await pilot.press("f5")  # F5 on a stopped sweep: the same command again, in the background
            await wait_for(pilot, lambda: set((sweep_dir / WORKERS_DIR).iterdir()) - workers, "a new worker")
            await wait_for(pilot, lambda: view.watcher.state == "running", "the sweep running again")
            await pilot.press("f8")
            await wait_for(pilot, lambda: view.watcher.state == "stopped", "the sweep stopped again", timeout=180)
    finally:
        end_workers(sweep_dir)


async def test_a_sweep_started_from_the_command_line_followed_to_its_end(mnist_root, tmp_path):
    settings = tiny_run_settings(mnist_root, tmp_path / "runs")
    settings.train.epochs = 1
    save_settings(settings, tmp_path / "base.toml")
    sweep_file = tmp_path / "lr.sweep.toml"
    sweep_file.write_text(
        '[sweep]\nname = "lr"\nmethod = "grid"\nbase = "base.toml"\n\n[space]\n"optim.learning_rate" = [0.01, 0.001]\n',
        encoding="utf-8",
    )
    started = cli("--no-ui", "--sweep", str(sweep_file), "--background")
    assert started.returncode == 0, started.stderr
    sweep_dir = tmp_path / "runs" / "lr"
    app = make_app(tmp_path, settings=settings)
    app.initial_attach = sweep_dir  # lstm-vision-tui --attach runs/lr
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            view = app.query_one(SweepView)
            await wait_for(pilot, lambda: view.watcher.state == "finished", "the sweep finished", timeout=300)
            await wait_for(pilot, lambda: view.watcher.table.row_count == 2, "both trials in the table")
            marks = [str(view.watcher.table.get_row_at(i)[0]) for i in range(2)]
            assert sum(BEST_MARK in m for m in marks) == 1 and [r.state for r in read_trials(sweep_dir)] == ["complete"] * 2
            assert "2/2 trials" in str(view.query_one("#sweep-line").render())
            await wait_for(pilot, lambda: len(view.watcher.query_one("#sweep-charts").accuracy.series) == 2, "two curves")
            await pilot.press("f9")
            history = app.query_one(HistoryView)
            await wait_for(pilot, lambda: any(r.sweep for r in history.runs), "the sweep in History")
            [row] = history.runs
            assert (row.name, row.status, row.sweep.trials) == ("lr", "finished", "2/2 trials")
    finally:
        end_workers(sweep_dir)
    assert sweep_state(sweep_dir) == "finished"


async def test_a_sweep_file_without_a_base_opened_in_the_app_runs_on_the_forms_settings(mnist_root, tmp_path):
    """The form's settings (what --preset and --set gave the app) are what an opened file without a base runs on:
    here data.root is the tiny data set, which the defaults (./data) would not find."""
    settings = tiny_run_settings(mnist_root, tmp_path / "runs")
    settings.train.epochs = 1
    sweep_file = tmp_path / "lr.sweep.toml"
    sweep_file.write_text('[sweep]\nname = "lr"\nmethod = "grid"\n\n[space]\n"optim.learning_rate" = [0.01]\n', encoding="utf-8")
    sweep_dir = tmp_path / "runs" / "lr"
    app = make_app(tmp_path, settings=settings)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f10")
            view = app.query_one(SweepView)
            view.open_file(sweep_file, app.settings_view.form.values())
            await pilot.pause()
            await pilot.press("f5")  # save (unchanged), then start in the background
            await type_path(pilot, app, sweep_file)
            await wait_for(pilot, lambda: view.watcher.state == "finished", "the sweep finished", timeout=300)
        assert [r.state for r in read_trials(sweep_dir)] == ["complete"]
    finally:
        end_workers(sweep_dir)
