"""The app as a viewer of runs it does not own: --attach, History's live runs, shift+F5; real processes."""

from __future__ import annotations

import json
import os
import re
import signal

from lstm_vision.runs.liveness import request, run_state
from app.widgets.charts import ChartPair
from processes import headless, long_run, names, process_info, start_headless, wait_until
from apps import FakeEngine, log_text, make_app, wait_for
from lstm_vision.detached import start_background


def attached_app(tmp_path, settings, run_dir):
    """The app of ``lstm-vision-tui --attach run_dir``, once the run's folder names its process (as when a
    user attaches to the folder its first line of output printed)."""
    wait_until(lambda: (run_dir / "process.json").is_file(), "the run's process.json")
    app = make_app(tmp_path, settings=settings)
    app.initial_attach = run_dir
    return app


def killed_after_first_save(settings, run_dir):
    """A headless run killed (kill -9) once its first last.pt is saved: a lost run with something to resume."""
    proc = start_headless(long_run(settings), run_dir)
    wait_until(lambda: (run_dir / "last.pt").is_file() and "epoch_finished" in names(run_dir), "the first last.pt")
    proc.kill()
    proc.wait(timeout=60)
    return proc


async def test_attached_app_follows_pauses_and_stops_a_headless_run(tiny_settings, tmp_path):
    run_dir = tmp_path / "runs" / "watched"
    with headless(long_run(tiny_settings), run_dir) as proc:
        app = attached_app(tmp_path, tiny_settings, run_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(
                pilot, lambda: app.session.state == "running" and app.session.record.step_x, "running with chart points"
            )
            assert app.session.attached_to == run_dir and app.query_one("#live-charts", ChartPair).loss.series[0].xs
            await wait_for(pilot, lambda: app.session.record.epoch_x, "an epoch")  # live points, not only the replay

            await pilot.press("f6")
            await wait_for(pilot, lambda: "run_paused" in names(run_dir), "the run to pause")
            await wait_for(pilot, lambda: app.session.state == "paused", "the app to show it paused")
            await pilot.press("f6")
            await wait_for(pilot, lambda: "run_resumed" in names(run_dir) and app.session.state == "running", "resumed")

            await pilot.press("f8")
            await wait_for(pilot, lambda: app.session.state == "stopped", "the app to show it stopped")
            assert proc.wait(timeout=60) == 130
            assert app.session.resumable == str(run_dir) and app.session.exit_code == 130
            assert "Paused at epoch" in log_text(app) and "Resumed at epoch" in log_text(app)
        assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped"


async def test_quitting_the_viewer_leaves_the_run_training(tiny_settings, tmp_path):
    run_dir = tmp_path / "runs" / "left"
    with headless(long_run(tiny_settings), run_dir) as proc:
        app = attached_app(tmp_path, tiny_settings, run_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.session.state == "running", "the attached run")
            # ctrl+q's action; not through pilot.press, which can wait forever on the animator of an app
            # that has already shut down. No question asked: the run is not this app's to stop.
            await app.run_action("quit")
        assert app.session.left_running == run_dir
        assert proc.poll() is None and run_state(run_dir).status == "running"
        assert not (run_dir / "control.json").exists()  # a viewer that quits asks nothing of the run
        request(run_dir, "stop")
        assert proc.wait(timeout=60) == 130


async def test_a_lost_run_is_called_lost_and_offered_for_resume(tiny_settings, tmp_path):
    run_dir = tmp_path / "runs" / "gone"
    proc = killed_after_first_save(tiny_settings, run_dir)
    app = attached_app(tmp_path, tiny_settings, run_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.session.state == "lost", "the lost state")
        assert f"Process {proc.pid} on " in log_text(app) and "F7 resumes it from last.pt" in log_text(app)
        assert app.session.resumable == str(run_dir) and app.check_action("resume_run", ()) is True
        assert app.session.detail == "gone · F7 resumes from last.pt"  # one status row at 80 columns
        # what quitting then prints: it was started apart from the app, and goes on apart from it
        assert (
            app.session.resume_hint()
            == f"{run_dir} keeps its last.pt: resume with lstm-vision-tui --no-ui --background --resume {run_dir}"
        )


async def test_history_marks_live_runs_and_attaches_to_one(tiny_settings, tmp_path):
    run_dir = tmp_path / "runs" / "live"
    with headless(long_run(tiny_settings), run_dir) as proc:
        wait_until(lambda: "step_logged" in names(run_dir), "the run to train")
        app = make_app(tmp_path, settings=tiny_settings)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f9")
            history = app.query_one("HistoryView")
            await wait_for(pilot, lambda: history.runs and history.runs[0].status == "running", "a live row")
            assert history.runs[0].progress.startswith(" ")  # epoch and percentage beside the status
            await pilot.press("a")
            await wait_for(pilot, lambda: app.session.attached_to == run_dir and app.session.state == "running", "attached")
            await app.run_action("quit")
        assert proc.poll() is None
        request(run_dir, "stop")
        assert proc.wait(timeout=60) == 130


async def test_shift_f5_starts_a_run_in_the_background_and_attaches(tiny_settings, tmp_path):
    app = make_app(tmp_path, settings=long_run(tiny_settings))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("shift+f5")
        await wait_for(pilot, lambda: app.session.attached_to is not None, "the background start")
        run_dir = app.session.attached_to
        await wait_for(pilot, lambda: app.session.state == "running" and app.session.record.step_x, "the background run training")
        pid = process_info(run_dir)["pid"]
        await app.run_action("quit")
    assert app.session.left_running == run_dir and run_state(run_dir).status == "running"
    assert (run_dir / "output.log").is_file() and process_info(run_dir)["pid"] == pid
    request(run_dir, "stop")
    wait_until(lambda: run_state(run_dir).status == "stopped", "the background run to stop")


async def test_the_attached_runs_past_is_logged_without_the_time_of_attaching(tmp_path):
    from apps import make_app, wait_for, write_run

    run_dir = write_run(tmp_path / "runs", "done", "completed", 2)
    journal = run_dir / "metrics.jsonl"  # as written before events carried wall_time (issue 32.3: they do now)
    journal.write_text(re.sub(r',"wall_time":[0-9.e+]+', "", journal.read_text()))
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.attach(run_dir)
        await wait_for(pilot, lambda: app.session.state == "completed")
        lines = [line.plain for line in app.log_panel._lines]
        past = [line for line in lines if "Epoch 1/2" in line]
        assert past and all(line.startswith("--:--:-- ") for line in past)  # that journal keeps no times
        attached = next(line for line in lines if "Attached to" in line)
        assert attached[:8].count(":") == 2 and attached[0].isdigit()  # the app's own line: now
        await app.run_action("quit")


async def test_f7_on_a_lost_run_resumes_it_in_a_process_of_its_own(tiny_settings, tmp_path):
    """A run the app only watched stays out of the app's process when it is resumed: it outlives the app."""
    run_dir = tmp_path / "runs" / "gone"
    proc = killed_after_first_save(tiny_settings, run_dir)
    app = attached_app(tmp_path, tiny_settings, run_dir)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.session.state == "lost", "the lost state")
            await pilot.press("f7")
            await wait_for(
                pilot,
                lambda: app.session.attached_to == run_dir and app.session.state == "running",
                "attached to the resumed run",
                timeout=120,
            )
            pid = process_info(run_dir)["pid"]
            assert pid not in (proc.pid, os.getpid())  # a new process, not the app
            assert app.session.exit_code == 0  # quitting now leaves a training run: not the lost run's 1
            await pilot.press("f8")  # steered like any attached run: it stops, resumable
            await wait_for(pilot, lambda: app.session.state == "stopped", "the resumed run stopped", timeout=120)
            assert "Resumed from" in (run_dir / "output.log").read_text()
            await app.run_action("quit")
    finally:  # a failed test must not leave the background run training
        pid = process_info(run_dir).get("pid")
        if pid and pid != proc.pid and run_state(run_dir).live:
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: run_state(run_dir).status == "stopped", "the background process to end")


async def test_history_r_resumes_a_lost_background_run_in_the_background(tiny_settings, tmp_path):
    """Issue 23.2: a run started with --background and killed (kill -9) is resumed from History as F7 resumes
    it: in a process of its own, which the app attaches to, so that closing the terminal does not stop it."""
    run_dir, pid = start_background(long_run(tiny_settings))
    wait_until(lambda: (run_dir / "last.pt").is_file() and "epoch_finished" in names(run_dir), "the first last.pt")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: run_state(run_dir).status == "lost", "the run to be lost")
    app = make_app(tmp_path, settings=tiny_settings, engine=FakeEngine(tmp_path))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f9")
            history = app.query_one("HistoryView")
            await wait_for(pilot, lambda: history.runs and history.runs[0].status == "lost", "the lost row")
            await pilot.press("r")
            await wait_for(
                pilot,
                lambda: app.session.attached_to == run_dir and app.session.state == "running",
                "attached to the resumed run",
            )
            assert app.engine.calls == []  # not in the app's process
            assert process_info(run_dir)["pid"] not in (pid, os.getpid())
            await app.run_action("quit")
        assert app.session.left_running == run_dir and run_state(run_dir).status == "running"  # it outlives the app
    finally:
        pid_now = process_info(run_dir).get("pid")
        if pid_now and pid_now != pid and run_state(run_dir).live:
            request(run_dir, "stop")
    wait_until(lambda: run_state(run_dir).status == "stopped", "the background process to stop")


async def test_attaching_to_a_trial_its_sweep_pruned_ends_as_pruned(tmp_path):
    """A sweep's trial cut short by its pruner ends as status pruned: the viewer says so (it crashed on the word)."""
    from apps import make_app, wait_for, write_run

    run_dir = write_run(tmp_path / "runs", "trial-0003", "pruned", 1)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.attach(run_dir)
        await wait_for(pilot, lambda: app.session.state == "pruned")
        assert (
            app.session.exit_code == 0 and app.session.resumable is None
        )  # a normal end of a trial; the sweep decides what runs next
        await app.run_action("quit")
