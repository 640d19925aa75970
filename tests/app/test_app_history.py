"""Run history: list the runs of output.dir, replay one's curves, overlay two, resume a stopped one."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import psutil

from textual.widgets import DataTable

from app.widgets.charts import ChartPair
from lstm_vision.runs.folder import read_confusion
from app.screens.history import HistoryView, scan_runs
from app.screens.dialogs import UnsavedScreen
from app.widgets.form import SettingsForm
from apps import FakeEngine, make_app, wait_for, write_run


def write_killed_run(runs: Path, name: str, hidden: int) -> Path:
    """What a run killed (kill -9) during its first epoch leaves: settings and a journal, no summary, no last.pt."""
    run_dir = write_run(runs, name, "stopped", 1, hidden=hidden, run_name=name)
    for done in ("summary.json", "last.pt", "confusion_matrix.csv"):
        (run_dir / done).unlink()
    return run_dir


def test_scan_lists_run_folders_with_their_summaries(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "a", "completed", 2)
    (runs / "not-a-run").mkdir()
    [info] = scan_runs(runs)
    assert (info.name, info.status, info.epochs, info.test_acc) == ("a", "completed", 2, 0.9876)
    assert len(read_confusion(runs / "a")) == 10
    assert scan_runs(tmp_path / "missing") == []


async def test_open_overlay_and_resume_from_history(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "first", "completed", 2)
    stopped = write_run(runs, "second", "stopped", 3, hidden=48)
    engine = FakeEngine(runs, epochs=1, steps=2)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        await pilot.pause()
        history = app.query_one(HistoryView)
        table = history.query_one(DataTable)
        assert table.row_count == 2
        await wait_for(pilot, lambda: app.focused is table)  # focus lands after a refresh: later under load
        names = [r.name for r in history.runs]
        assert sorted(names) == ["first", "second"]

        table.move_cursor(row=names.index("first"))
        await pilot.press("enter")
        await pilot.pause()
        charts = history.query_one(ChartPair)
        assert charts.loss.series[2].ys == [1.1, 0.55]  # validation loss replayed from metrics.jsonl
        assert "Got 9,876/10,000" in str(app.query_one("#result-summary").render())

        table.move_cursor(row=names.index("second"))
        await pilot.press("space")
        await pilot.pause()
        assert [s.label for s in charts.accuracy.series] == ["first val", "second val"]
        assert len(charts.accuracy.series[1].xs) == 3

        hidden_in_form = app.query_one(SettingsForm).row("model", "hidden_size").value()
        await pilot.press("r")  # resume the stopped run: the engine resumes it with its own settings
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "completed")
        assert engine.calls[-1]["resume"] == str(stopped)
        assert engine.calls[-1]["settings"].model.hidden_size == 48
        assert app.query_one(SettingsForm).row("model", "hidden_size").value() == hidden_in_form != 48  # r loads nothing


async def test_the_cursor_stays_on_the_shown_run_when_history_is_shown_again(tmp_path):
    """Issue 16.13: F4 then F9 reloads the table; the cursor (which r, l and space act on) stays on the run shown."""
    runs = tmp_path / "runs"
    write_run(runs, "first", "completed", 2, hidden=32)
    write_run(runs, "second", "completed", 2, hidden=48)
    app = make_app(tmp_path, engine=FakeEngine(runs))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        history = app.query_one(HistoryView)
        table = history.query_one(DataTable)
        await wait_for(pilot, lambda: app.focused is table and table.row_count == 2)
        await pilot.press("down", "enter")  # row 2
        await wait_for(pilot, lambda: table.cursor_row == 1 and len(history.compared) == 1)
        shown = history.runs[1].name
        assert [r.name for r in history.compared] == [shown]

        await pilot.press("f4")
        await pilot.press("f9")
        await wait_for(pilot, lambda: app.focused is table and table.row_count == 2)
        assert history.selected().name == shown  # the cursor is on the run that "showing:" names
        assert f"showing: {shown}" in str(history.query_one("#history-hint").render())
        await pilot.press("l")  # and l acts on it
        hidden = 32 if shown == "first" else 48
        await wait_for(pilot, lambda: app.query_one(SettingsForm).row("model", "hidden_size").value() == hidden)


async def test_resuming_a_run_without_last_pt_says_so_and_changes_nothing(tmp_path):
    """Issue 16.14: r on a run killed before its first save: one note, the form and F7 untouched, no start."""
    runs = tmp_path / "runs"
    write_killed_run(runs, "killed9", hidden=48)
    engine = FakeEngine(runs)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        hidden_before = form.row("model", "hidden_size").value()
        await pilot.press("f9")
        table = app.query_one(HistoryView).query_one(DataTable)
        await wait_for(pilot, lambda: app.focused is table and table.row_count == 1)
        await pilot.press("r")
        await wait_for(pilot, lambda: any("no last.pt" in note for _, note in app.notes))
        [note] = [note for _, note in app.notes if "last.pt" in note]
        assert note.startswith("killed9 has no last.pt (it was killed before its first save); F5 starts it afresh")
        await pilot.press("f7")  # not offered, and does nothing
        await pilot.pause()
        assert engine.calls == [] and app.session.state == "idle" and app.session.resumable is None
        assert app.check_action("resume_run", ()) is False
        assert form.row("model", "hidden_size").value() == hidden_before
        assert form.row("output", "run_name").value() == ""


async def test_loading_a_runs_settings_does_not_take_its_run_name(tmp_path):
    """Issue 16.14: l fills the form with a run's settings but not its folder name (F5 made killed9-2)."""
    runs = tmp_path / "runs"
    write_run(runs, "exp", "completed", 2, hidden=48, run_name="exp")
    app = make_app(tmp_path, engine=FakeEngine(runs))
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        form.row("output", "run_name").set_value("mine")
        await pilot.press("f9")
        table = app.query_one(HistoryView).query_one(DataTable)
        await wait_for(pilot, lambda: app.focused is table and table.row_count == 1)
        await pilot.press("l")
        # the form has an edit its file lacks (run_name): loading the run's settings asks first
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedScreen))
        await pilot.press("d")
        await wait_for(pilot, lambda: form.row("model", "hidden_size").value() == 48)
        assert form.row("output", "run_name").value() == "mine"  # the form's own name, not "exp"


async def test_a_run_folder_made_by_another_process_appears_without_g(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "first", "completed", 2)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        history = app.query_one(HistoryView)
        await wait_for(pilot, lambda: [r.name for r in history.runs] == ["first"])
        write_run(runs, "second", "completed", 2)  # as a headless run in another terminal would
        await wait_for(pilot, lambda: {r.name for r in history.runs} == {"first", "second"}, "the new run listed")
        await app.run_action("quit")


def write_unfinished_run(runs: Path, name: str, process: dict, heartbeat_age_s: float = 0.0) -> Path:
    """A run folder as a process leaves it mid-run (2 of 3 epochs done, a step into the third), named by
    ``process`` (its process.json) with a heartbeat ``heartbeat_age_s`` old; no summary."""
    run_dir = write_run(runs, name, "stopped", 3)
    (run_dir / "summary.json").unlink()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    second_epoch = [i for i, line in enumerate(lines) if '"epoch_finished"' in line][1]
    third_epoch_step = next(i for i in range(second_epoch, len(lines)) if '"step_logged"' in lines[i])
    (run_dir / "metrics.jsonl").write_text("\n".join(lines[: third_epoch_step + 1]) + "\n")
    (run_dir / "process.json").write_text(json.dumps(process))
    stamp = time.time() - heartbeat_age_s
    os.utime(run_dir / "process.json", (stamp, stamp))
    return run_dir


async def test_running_and_lost_rows_show_what_their_journal_knows(tmp_path):
    """Issue 23.1: epochs, best val, train time and progress of a running or lost run, from its journal."""
    runs = tmp_path / "runs"
    me = psutil.Process()
    alive = {"pid": me.pid, "host": socket.gethostname(), "started": me.create_time(), "state": "running"}
    training = write_unfinished_run(runs, "training", alive)
    gone = dict(alive, started=0.0)  # not this process: it started at another time, and its heartbeat stopped
    write_unfinished_run(runs, "killed", gone, heartbeat_age_s=3600)
    app = make_app(tmp_path)
    # the live run's heartbeat goes on as a Beacon's would: on a loaded machine the app may take longer than
    # LOST_AFTER_S to list it (CI saw "lost" once)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.5):
            os.utime(training / "process.json")

    beating = threading.Thread(target=beat)
    beating.start()
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f9")
            table = app.query_one(HistoryView).query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 2)
            rows = {str(table.get_row(key)[0]): [str(cell) for cell in table.get_row(key)] for key in table.rows}
            # epoch 2 of 3 has the lowest validation loss (its accuracy 89 %); 7 of 9 steps trained, 7 s
            assert rows["training"] == ["training", "running 3/3 78%", "2", "89.00%", "n/a", "0:07"]
            assert rows["killed"] == ["killed", "lost 3/3 78%", "2", "89.00%", "n/a", "0:07"]
    finally:
        stop.set()
        beating.join()


async def test_l_loads_the_settings_a_run_started_with_and_r_resumes_with_what_its_resumes_changed(tmp_path):
    """Issue 23.5: l repeats the run that started; r goes on as the last resume left it (its journal says)."""
    from lstm_vision.events import SettingsChanged

    runs = tmp_path / "runs"
    run_dir = write_run(runs, "resumed", "stopped", 3, hidden=48)
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:  # a resume at epoch 2 extended it
        handle.write(SettingsChanged(2, 0, {"train.epochs": [15, 30], "optim.learning_rate": [0.002, 0.001]}).to_json() + "\n")
    engine = FakeEngine(runs, epochs=1, steps=2)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        await pilot.press("f9")
        table = app.query_one(HistoryView).query_one(DataTable)
        await wait_for(pilot, lambda: app.focused is table and table.row_count == 1)
        await pilot.press("l")
        await wait_for(pilot, lambda: form.row("model", "hidden_size").value() == 48)
        assert form.row("train", "epochs").value() == 15 and form.row("optim", "learning_rate").value() == 0.002
        await pilot.press("f9", "r")  # the form holds l's settings, unsaved: r resumes without asking about them
        await wait_for(pilot, lambda: bool(engine.calls))
        assert not isinstance(app.screen, UnsavedScreen)
        resumed = engine.calls[0]["settings"]
        assert (resumed.train.epochs, resumed.optim.learning_rate, resumed.model.hidden_size) == (30, 0.001, 48)
        assert form.row("train", "epochs").value() == 15  # and leaves them as they were


async def test_r_resumes_with_the_runs_settings_and_leaves_the_form_and_its_edits_alone(tmp_path):
    """Issue 33.1: r on a run trained with other settings put them in the form (unsaved, and quitting asked
    to save edits the user never made); r resumes, only l loads. F7 after r resumes that run as it was too."""
    runs = tmp_path / "runs"
    stopped = write_run(runs, "other", "stopped", 3, hidden=48)
    engine = FakeEngine(runs, epochs=2, steps=2, hold=True)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        form.row("model", "hidden_size").set_value(40)  # the user's own edit, unsaved
        await pilot.press("f9")
        table = app.query_one(HistoryView).query_one(DataTable)
        await wait_for(pilot, lambda: app.focused is table and table.row_count == 1)
        await pilot.press("r")
        await wait_for(pilot, lambda: engine.holding.is_set() and app.session.state == "running")
        assert not isinstance(app.screen, UnsavedScreen)  # nothing to ask: the form is not touched
        assert engine.calls[0]["resume"] == str(stopped) and engine.calls[0]["settings"].model.hidden_size == 48
        assert form.row("model", "hidden_size").value() == 40
        await pilot.press("f8")
        await wait_for(pilot, lambda: app.session.state == "stopped" and app.session.resumable == str(stopped))
        engine.hold = False
        await pilot.press("f7")  # the run r resumed goes on as it was, not with the form's 40
        await wait_for(pilot, lambda: len(engine.calls) == 2 and app.session.state == "completed")
        assert engine.calls[1]["resume"] == str(stopped) and engine.calls[1]["settings"].model.hidden_size == 48
        assert form.row("model", "hidden_size").value() == 40
        await pilot.press("f5")  # F5 starts the form's run, and F7 after it would resume with the form
        await wait_for(pilot, lambda: len(engine.calls) == 3)
        assert engine.calls[2]["resume"] is None and engine.calls[2]["settings"].model.hidden_size == 40
        assert not app.session.resumes_own_settings


async def test_g_keeps_the_cursors_row_in_view_and_shows_new_runs_above_it_when_they_fit(tmp_path):
    """Issue 23.3: after g a new run comes first; the cursor stays on its run, in view, and the view scrolls
    no further down than that needs (a new top row shows when it fits with the cursor's row)."""
    runs = tmp_path / "runs"
    for i in range(12):
        run_dir = write_run(runs, f"r{i:02d}", "completed", 2)
        for name in ("metrics.jsonl", "summary.json"):
            os.utime(run_dir / name, (1000 + i, 1000 + i))
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        history = app.query_one(HistoryView)
        table = history.query_one(DataTable)
        await wait_for(pilot, lambda: app.focused is table and table.row_count == 12)
        rows_shown = table.size.height - 1  # under the header

        def in_view(row: int) -> bool:
            return table.scroll_y <= row < table.scroll_y + rows_shown

        for presses, new in ((1, "new1"), (rows_shown + 3, "new2")):
            await pilot.press(*["down"] * presses)
            chosen = history.selected().name
            write_run(runs, new, "completed", 2)
            await pilot.press("g")
            await wait_for(pilot, lambda: history.runs[0].name == new)
            await wait_for(pilot, lambda: in_view(table.cursor_row))
            assert history.selected().name == chosen
            # the least scrolled view that holds the cursor's row: the new run in it whenever both fit
            assert table.scroll_y == max(0, table.cursor_row - rows_shown + 1)
            assert in_view(0) == (table.cursor_row < rows_shown)


async def test_results_open_at_their_top_for_each_run_shown(tmp_path):
    """Issue 33.6: Results opened a new run's results scrolled to where the previous one was left."""
    from app.screens.results import ResultsView

    runs = tmp_path / "runs"
    write_run(runs, "first", "completed", 2)
    write_run(runs, "second", "completed", 2)
    engine = FakeEngine(runs, epochs=1, steps=2)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        results = app.query_one(ResultsView)

        async def scrolled_down() -> None:
            await pilot.press("f4")
            await wait_for(pilot, lambda: results.max_scroll_y > 0, "results taller than the screen")
            results.scroll_end(animate=False)
            await wait_for(pilot, lambda: results.scroll_y > 0)

        await pilot.press("f9")
        table = app.query_one(HistoryView).query_one(DataTable)
        await wait_for(pilot, lambda: app.focused is table and table.row_count == 2)
        await pilot.press("enter")
        await scrolled_down()
        await pilot.press("f9")
        await wait_for(pilot, lambda: app.focused is table)
        await pilot.press("down", "enter")  # another run of History
        await pilot.press("f4")
        await wait_for(pilot, lambda: "Got 9,876/10,000" in str(app.query_one("#result-summary").render()))
        assert results.scroll_y == 0
        await scrolled_down()
        await pilot.press("f5")  # a new run of the app's
        await wait_for(pilot, lambda: app.session.state == "completed")
        assert results.scroll_y == 0


async def test_an_empty_history_offers_no_key_that_acts_on_a_run(tmp_path):
    """Issue 33.6: History's footer offered Resume, Attach, Load and Try when there were no runs."""
    from textual.widgets import Footer

    app = make_app(tmp_path)

    def footer() -> set[str]:
        return {key.description for key in app.query_one(Footer).query("FooterKey")}

    run_keys = {"Compare", "Resume", "Attach", "Load settings", "Try"}
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.press("f9")
        history = app.query_one(HistoryView)
        await wait_for(pilot, lambda: history.output_dir == tmp_path / "runs" and "Quit" in footer())
        assert not footer() & run_keys
        assert str(history.query_one("#history-hint").render()) == f"No runs in {tmp_path / 'runs'} yet: F5 trains one"
        write_run(tmp_path / "runs", "first", "completed", 2)
        await wait_for(pilot, lambda: history.runs, "the run folder seen")  # without g
        await wait_for(pilot, lambda: run_keys - {"Try"} <= footer())  # its last.pt is empty: nothing to try


async def test_the_curves_of_a_run_that_trains_on_follow_its_journal(tmp_path):
    """Tried in a browser: History drew a training run's curves as they stood when History was first shown, and kept
    them while its row went on (running 8/30, then stopped at 15, then resumed): the charts never caught up."""
    runs = tmp_path / "runs"
    me = psutil.Process()
    alive = {"pid": me.pid, "host": socket.gethostname(), "started": me.create_time(), "state": "running"}
    run_dir = write_unfinished_run(runs, "training", alive)
    full = write_run(tmp_path / "full", "training", "stopped", 3)  # the same run's journal, its third epoch done
    lines = (full / "metrics.jsonl").read_text().splitlines()
    third = [i for i, line in enumerate(lines) if '"epoch_finished"' in line][2]
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f9")
        history = app.query_one(HistoryView)
        await wait_for(pilot, lambda: history.compared and history.compared[0].name == "training")
        assert history.compared[0].last_epoch.epoch == 2

        def val_points() -> int:
            return max(len(s.xs) for s in history.query_one(ChartPair).accuracy.series)

        drawn = val_points()
        kept = len((run_dir / "metrics.jsonl").read_text().splitlines())
        with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as journal:  # the run trains on: its third epoch
            journal.write("\n".join(lines[kept : third + 1]) + "\n")
        await wait_for(pilot, lambda: history.compared[0].last_epoch.epoch == 3, "the third epoch read", timeout=15)
        await wait_for(pilot, lambda: val_points() > drawn, "the third epoch drawn")
        await app.run_action("quit")
