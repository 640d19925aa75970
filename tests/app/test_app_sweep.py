"""The Sweep tab (F10) on sweep folders written in the engine's format (tests/apps.py write_sweep): the trials
table and its best, following trials.csv, History's sweep row, --attach of a sweep folder, and the builder."""

from __future__ import annotations

import json
import os
import socket

from textual.widgets import DataTable, Input, Select

from lstm_vision.cli import build_parser, resolve_settings
from lstm_vision.control import RunControl
from lstm_vision.runs.liveness import Beacon
from lstm_vision.settings import load_settings
from lstm_vision.sweep.folder import TrialRow, read_trials, worker_dir, write_trials
from lstm_vision.sweep.spec import read_sweep
from lstm_vision.sweep.folder import last_launch
from app.screens.history import HistoryView, scan_runs
from app.screens.dialogs import PathScreen
from app.screens.sweep import BUILD, WATCH, SweepView
from app.widgets.sweep_builder import SpaceRow, SweepBuilder
from app.widgets.trials import BEST_MARK, SweepWatch, trials_done
from apps import make_app, type_path, wait_for, write_run, write_sweep

TRIALS = [("complete", 0.001, 8, 0.91), ("complete", 0.001, 16, 0.97), ("pruned", 0.01, 8, 0.5), ("running", 0.01, 16, 0.93)]


def cells(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_the_sweep_tab_shows_each_trial_and_marks_the_best_complete_one(tmp_path):
    sweep_dir = write_sweep(tmp_path / "runs", "lr-hidden", TRIALS, worker_exit=130)
    app = make_app(tmp_path)
    app.initial_attach = sweep_dir  # lstm-vision-tui --attach SWEEP_DIR
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(SweepView)
        await wait_for(pilot, lambda: view.showing == WATCH and view.watcher.table.row_count == 4)
        assert app.query_one("#main-tabs").active == "tab-sweep" and app.session.attached_to is None
        rows = cells(view.watcher.table)
        assert [r[0] for r in rows] == ["1", f"2{BEST_MARK}", "3", "4"]  # the running 93 % is no result yet
        assert rows[1][1:] == ["complete", "0.001", "16", "97.00%", "0:08"]
        line = str(view.query_one("#sweep-line").render())
        assert "stopped" in line and "3/4 trials" in line and "best 97.00% val_accuracy (#2)" in line
        # the best complete trials' curves, then the running one
        overlay = view.watcher.query_one("#sweep-charts").loss.series
        assert [s.short for s in overlay] == ["#2", "#1", "#4"] and all(s.ys for s in overlay)
        await pilot.press("b")  # the sweep's file in the builder, to run it again with more, or to change it
        await wait_for(pilot, lambda: view.showing == BUILD and len(app.query(SpaceRow)) == 3)
        assert [(r.setting, r.values) for r in app.query(SpaceRow)] == [
            ("optim.learning_rate", "0.001, 0.01"),
            ("model.hidden_size", "8, 16"),
            ("", ""),
        ]
        assert view.sweep_file is None  # saving asks where: never over the folder's copy
        view.action_watch()
        await wait_for(pilot, lambda: view.showing == WATCH)


async def test_the_table_follows_trials_csv_and_reads_it_only_when_it_changed(tmp_path):
    sweep_dir = write_sweep(tmp_path / "runs", "lr", TRIALS[:2], worker_exit=None)
    worker = Beacon(worker_dir(sweep_dir, socket.gethostname(), os.getpid()), RunControl())  # a live worker: this process
    worker.run_dir.mkdir(parents=True)
    worker.start()
    app = make_app(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            app.open_sweep(sweep_dir)
            watcher = app.query_one(SweepWatch)
            await wait_for(pilot, lambda: watcher.table.row_count == 2 and watcher.state == "running")
            reads = watcher.reads
            for _ in range(3):
                watcher.poll()
            assert watcher.reads == reads  # an unchanged trials.csv costs a stat, not a read
            rows = read_trials(sweep_dir) + [TrialRow(3, "running", {"optim.learning_rate": "0.01"}, None, None, "")]
            write_trials(sweep_dir, "val_accuracy", ["optim.learning_rate", "model.hidden_size"], rows)
            await wait_for(pilot, lambda: watcher.table.row_count == 3)
            assert cells(watcher.table)[2][:2] == ["3", "running"] and watcher.reads == reads + 1
            worker.close(1)  # the worker failed: trials.csv still says running, the trial itself is lost
            await wait_for(pilot, lambda: watcher.state == "lost")
            assert cells(watcher.table)[2][:2] == ["3", "lost"] and watcher.reads == reads + 1
    finally:
        worker.close(1)


async def test_history_lists_a_sweep_as_one_row_that_opens_it(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "plain", "completed", 2)
    sweep_dir = write_sweep(runs, "lr", TRIALS[:3])
    [sweep_row] = [r for r in scan_runs(runs) if r.sweep is not None]
    assert (sweep_row.name, sweep_row.status, sweep_row.sweep.trials, sweep_row.sweep.best) == (
        "lr",
        "finished",
        "3/4 trials",
        "97.00%",
    )
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        history = app.query_one(HistoryView)
        table = history.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)  # the sweep's trial folders are not loose runs
        assert str(history.query_one("#history-hint").render()).startswith(f"1 run and 1 sweep in {runs}")
        names = [r.name for r in history.runs]
        table.move_cursor(row=names.index("lr"))
        assert cells(table)[names.index("lr")][1:4] == ["sweep finished", "3/4 trials", "97.00%"]
        await pilot.press("r")  # a run's key on a sweep's row: a word, not an attempt
        assert any("lr is a sweep: enter opens it" in text for _, text in app.notes)
        await pilot.press("enter")
        view = app.query_one(SweepView)
        await wait_for(pilot, lambda: app.query_one("#main-tabs").active == "tab-sweep" and view.watcher.table.row_count == 3)
        assert view.watcher.sweep_dir == sweep_dir


def test_attach_of_a_sweep_folder_takes_the_settings_the_app_would_open(tmp_path, monkeypatch):
    sweep_dir = write_sweep(tmp_path / "runs", "lr", TRIALS[:1])
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["--attach", str(sweep_dir), "--set", "train.epochs=3"])
    settings, path = resolve_settings(args)  # a run folder's settings.toml is not there: no refusal
    assert settings.train.epochs == 3 and str(path) == "settings.toml"


async def fill_row(pilot, app, row_index: int, setting: str, values: str) -> SpaceRow:
    """Type into the builder's row ``row_index`` (a new one appears below the last as it is filled)."""
    await wait_for(pilot, lambda: len(app.query(SpaceRow)) > row_index and app.query(SpaceRow)[row_index].query(Input))
    row = app.query(SpaceRow)[row_index]
    row.query_one(".space-name", Input).value = setting
    row.query_one(".space-values", Input).value = values
    await pilot.pause()
    return row


async def test_the_builder_says_what_is_wrong_under_the_field_in_the_words_of_set(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        view = app.query_one(SweepView)
        await wait_for(pilot, lambda: view.showing == BUILD and isinstance(app.focused, Input))
        row = await fill_row(pilot, app, 0, "optim.learnin_rate", "1e-3, 2e-3")
        assert row.error == "Unknown setting optim.learnin_rate (did you mean 'learning_rate'?)."
        assert row.has_class("-invalid")
        row = await fill_row(pilot, app, 0, "model.hidden_size", "64, 0")
        assert row.error and row.error.startswith("model.hidden_size must be >= 1")
        row = await fill_row(pilot, app, 0, "optim.learning_rate", "1e-4 .. 0.1 log")
        assert "a range needs method random or tpe" in row.error
        app.query_one("#sb-method", Select).value = "tpe"
        await wait_for(pilot, lambda: row.error is None)
        form_lr = app.form.row("optim", "learning_rate").value()
        assert str(row.query_one(".space-note").render()) == f"0.0001 to 0.1, log scale; the form has {form_lr!r}"
        app.query_one("#sb-trials", Input).value = "0"
        await pilot.press("f5")
        assert app.notes[-1] == ("error", "The sweep is not ready: sweep.trials must be a whole number above 0, not '0'.")
        assert "sweep.trials must be" in str(app.query_one("#sb-note").render())


async def test_the_builder_saves_a_sweep_file_the_engine_reads(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await fill_row(pilot, app, 0, "optim.learning_rate", "1e-3, 2e-3, 5e-3")
        await fill_row(pilot, app, 1, "model.hidden_size", "64, 128")
        app.query_one("#sb-name", Input).value = "lr-hidden"
        await pilot.pause()
        assert str(app.query_one("#sb-summary").render()) == "a grid of 6 trials"
        app.query_one(SweepBuilder).post_message(SweepBuilder.SaveRequested())
        path = tmp_path / "lr-hidden.sweep.toml"
        await type_path(pilot, app, path)
        await wait_for(pilot, lambda: path.is_file())
    spec = read_sweep(path)  # the engine's own reading and checks
    assert (spec.name, spec.method, spec.metric) == ("lr-hidden", "grid", "val_accuracy")
    assert [(d.name, d.values) for d in spec.space] == [
        ("optim.learning_rate", (1e-3, 2e-3, 5e-3)),
        ("model.hidden_size", (64, 128)),
    ]
    # no settings file holds the form's settings: a copy of them beside the sweep file is its base
    assert spec.base == tmp_path / "lr-hidden.sweep.base.toml"
    assert load_settings(spec.base).output.dir == str(tmp_path / "runs")


def test_a_stopped_sweep_continues_with_the_command_it_was_last_started_with(tmp_path):
    sweep_dir = write_sweep(tmp_path / "runs", "lr", TRIALS[:1], worker_exit=None)
    assert last_launch(sweep_dir) == ["--no-ui", "--sweep", str(sweep_dir / "sweep.toml")]  # no worker ever said
    original = tmp_path / "lr.sweep.toml"
    original.write_text("", encoding="utf-8")
    launches = [
        (11, 10.0, ["--no-ui", "--sweep", str(original)]),  # an earlier launch
        (21, 100.0, ["--no-ui", "--sweep", str(original), "--set", "train.epochs=4", "--workers", "2"]),  # its parent
        (22, 100.5, ["--no-ui", "--sweep", str(original), "--set", "train.epochs=4"]),  # a worker of that parent
    ]
    for pid, started, args in launches:
        folder = sweep_dir / "workers" / f"host-{pid}"
        folder.mkdir(parents=True)
        info = {
            "pid": pid,
            "started": started,
            "argv": ["/x/lstm_vision/__main__.py", *args],
            "state": "exited",
            "exit_code": 130,
        }
        (folder / "process.json").write_text(json.dumps(info), encoding="utf-8")
    assert last_launch(sweep_dir) == launches[1][2]
    original.unlink()  # the sweep file moved away: the folder's copy of it
    assert last_launch(sweep_dir)[:3] == ["--no-ui", "--sweep", str(sweep_dir / "sweep.toml")]


def test_a_failed_or_stopped_trial_run_again_counts_once():
    def row(number, state, lr):
        return TrialRow(number, state, {"optim.learning_rate": lr}, None, None, "")

    rows = [row(1, "complete", "0.1"), row(2, "fail", "0.2"), row(3, "fail", "0.3"), row(4, "complete", "0.2")]
    assert trials_done(rows) == 3  # 2 ran again as 4; 3 failed for good and counts
    rows += [row(5, "stopped", "0.4"), row(6, "running", "0.4")]
    assert trials_done(rows) == 3  # 5 continues as 6, which has not ended
    rows[-1] = row(6, "complete", "0.4")
    assert trials_done(rows) == 4


async def test_a_sweep_the_command_line_refuses_is_its_one_sentence(tmp_path):
    """F5 runs the real --no-ui --sweep FILE --background, which refuses a folder that holds something else."""
    (tmp_path / "runs" / "taken").mkdir(parents=True)
    (tmp_path / "runs" / "taken" / "notes.txt").write_text("mine", encoding="utf-8")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        await fill_row(pilot, app, 0, "model.hidden_size", "8, 16")
        app.query_one("#sb-name", Input).value = "taken"
        await pilot.press("f5")
        await type_path(pilot, app, tmp_path / "taken.sweep.toml")
        await wait_for(pilot, lambda: any(severity == "error" for severity, _ in app.notes), "the refusal")
    [refusal] = [text for severity, text in app.notes if severity == "error"]
    assert refusal == (
        f"Cannot start the sweep: {tmp_path / 'runs' / 'taken'} already holds something other than a sweep; "
        "give the sweep another sweep.name or output.dir."
    )
    assert sorted(p.name for p in (tmp_path / "runs" / "taken").iterdir()) == ["notes.txt"]  # nothing written there


async def test_an_opened_sweep_file_shows_what_is_wrong_with_it_under_its_rows(tmp_path):
    path = tmp_path / "typo.sweep.toml"
    path.write_text(
        '[sweep]\nname = "typo"\nmethod = "random"\ntrials = 5\n\n[space]\n"optim.learnin_rate" = [1e-3, 2e-3]\n'
        '"model.dropout" = { low = 0.1, high = 0.5 }\n',
        encoding="utf-8",
    )
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_open_sweep()  # the palette's Open sweep…
        await wait_for(pilot, lambda: isinstance(app.screen, PathScreen) and app.screen.query(Input))
        assert app.screen.query_one(Input).placeholder == "path/to/sweep.toml or runs/SWEEP"  # not settings.toml
        await type_path(pilot, app, path)
        await wait_for(pilot, lambda: len(app.query(SpaceRow)) == 3 and app.query(SpaceRow)[0].error)
        first, second, _ = app.query(SpaceRow)
        assert first.error == "Unknown setting optim.learnin_rate (did you mean 'learning_rate'?)."
        assert (second.setting, second.values, second.error) == ("model.dropout", "0.1 .. 0.5", None)
        assert app.query_one("#sb-trials", Input).value == "5" and app.query_one("#sb-trials", Input).display
        assert str(app.query_one("#sweep-path").render()) == f"sweep file {path}"


async def test_quitting_names_a_followed_sweep_that_goes_on_and_not_one_that_ended(tmp_path):
    """The app prints how to watch a run again when it quits while the run goes on; a sweep the Sweep tab
    follows gets the same line (SweepView.left_running), a stopped one none."""
    live = write_sweep(tmp_path / "runs", "live", TRIALS[:2], worker_exit=None)
    worker = Beacon(worker_dir(live, socket.gethostname(), os.getpid()), RunControl())  # a live worker: this process
    worker.run_dir.mkdir(parents=True)
    worker.start()
    stopped = write_sweep(tmp_path / "runs", "stopped", TRIALS[:2], worker_exit=130)
    app = make_app(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.started)
            assert app.sweep_view.left_running() is None  # no sweep followed yet
            app.open_sweep(live)
            await wait_for(pilot, lambda: app.query_one(SweepWatch).state == "running")
            assert app.sweep_view.left_running() == live
            app.open_sweep(stopped)
            await wait_for(pilot, lambda: app.query_one(SweepWatch).state == "stopped")
            assert app.sweep_view.left_running() is None
            app.open_sweep(live)
            await wait_for(pilot, lambda: app.query_one(SweepWatch).state == "running")
            await app.run_action("quit")
        assert app.session.left_sweep == live  # what run_app prints after the app has exited
    finally:
        worker.close(0)


async def test_a_sweep_file_without_method_opened_and_saved_unchanged_is_the_same_study(mnist_root, tmp_path):
    # A hand-written file leaves method, metric and prune to their defaults (tpe, val_accuracy, none) and has no
    # base: it runs headless first, then the app opens it and saves it as it is, over itself and as a copy.
    from sweeps import base_args, run_sweep
    from sweeps import write_sweep as write_sweep_file

    path = write_sweep_file(
        tmp_path / "hand.toml", '# my sweep\nname = "hand"\ntrials = 2', '"optim.learning_rate" = [1e-2, 1e-3]'
    )
    written = path.read_text(encoding="utf-8")
    args = base_args(mnist_root, tmp_path / "runs", epochs=1)
    first = run_sweep(path, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    copy = tmp_path / "hand-copy.toml"
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_open_sweep()
        await type_path(pilot, app, path)
        await wait_for(pilot, lambda: app.query_one(SweepView).opened == path and len(app.query(SpaceRow)) == 2)
        assert app.query_one("#sb-method", Select).value == "tpe"  # the runner's default, not the builder's grid
        assert app.query_one("#sb-trials", Input).value == "2"
        for target in (path, copy):
            app.query_one(SweepBuilder).post_message(SweepBuilder.SaveRequested())
            await type_path(pilot, app, target)
            await wait_for(pilot, lambda: target.is_file() and app.query_one(SweepView).opened == target)
    assert path.read_text(encoding="utf-8") == written  # saved unchanged: the same text, comment and all
    assert copy.read_text(encoding="utf-8") == written
    again = run_sweep(copy, *args)  # the same study on the same folder: nothing left to run, no refusal
    assert again.returncode == 0, again.stdout + again.stderr
    assert [r.state for r in read_trials(tmp_path / "runs" / "hand")] == ["complete", "complete"]
    assert read_sweep(copy).identity() == read_sweep(path).identity()


async def test_ctrl_s_on_the_sweep_tab_saves_the_sweep_file_and_leaves_settings_toml_alone(tmp_path):
    """Issue 33.4: ctrl+s there wrote the form's unsaved edits into settings.toml while a sweep file was open."""
    from sweeps import write_sweep as write_sweep_file

    path = write_sweep_file(tmp_path / "mine.toml", 'name = "mine"\ntrials = 2', '"optim.learning_rate" = [1e-2, 1e-3]')
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.settings_view.form.row("model", "hidden_size").set_value(40)  # an edit the settings file lacks
        app.action_open_sweep()
        await type_path(pilot, app, path)
        await wait_for(pilot, lambda: app.query_one(SweepView).opened == path and len(app.query(SpaceRow)) == 2)
        app.query_one("#sb-trials", Input).value = "3"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: read_sweep(path).trials == 3, "the sweep file saved")
        assert not (tmp_path / "settings.toml").exists()  # the settings file is not the Sweep tab's
        assert app.notes[-1] == ("information", f"Saved {path}")

        app.query_one(SweepView).action_new()  # a new sweep has no file yet: ctrl+s asks where, as Save as… does
        await wait_for(pilot, lambda: app.query_one(SweepView).opened is None)
        await fill_row(pilot, app, 0, "optim.learning_rate", "1e-3, 2e-3")
        await pilot.press("ctrl+s")
        new = tmp_path / "new.sweep.toml"
        await type_path(pilot, app, new)
        await wait_for(pilot, lambda: new.is_file())
        assert [d.values for d in read_sweep(new).space] == [(1e-3, 2e-3)]

        await pilot.press("f2", "ctrl+s")  # on the Settings tab ctrl+s is the settings file's again
        await wait_for(pilot, lambda: (tmp_path / "settings.toml").is_file())
        assert load_settings(tmp_path / "settings.toml").model.hidden_size == 40


async def test_the_builder_runs_each_point_over_several_seeds_with_repeats(tmp_path):
    """Issue 31.4 in the app: the builder's repeats field is sweep.repeats of the file it saves."""
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f10")
        await wait_for(pilot, lambda: isinstance(app.focused, Input))
        await fill_row(pilot, app, 0, "optim.learning_rate", "1e-3, 2e-3")
        repeats = app.query_one("#sb-repeats", Input)
        repeats.value = "0"
        await pilot.pause()
        note = str(app.query_one("#sb-note").render())
        assert note.startswith("sweep.repeats must be a whole number from 1 to 20") and note.endswith("not '0'.")
        repeats.value = "3"
        await pilot.pause()
        assert str(app.query_one("#sb-summary").render()) == "a grid of 2 trials, each point over 3 seeds"
        app.query_one(SweepBuilder).post_message(SweepBuilder.SaveRequested())
        path = tmp_path / "seeds.sweep.toml"
        await type_path(pilot, app, path)
        await wait_for(pilot, lambda: path.is_file())
    assert read_sweep(path).repeats == 3
