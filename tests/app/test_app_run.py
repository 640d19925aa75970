"""Runs through the app with a scripted engine: start, pause, stop, resume, results, failures, quit."""

from __future__ import annotations

from lstm_vision.errors import SettingsError
from app.widgets.charts import ChartPair
from app.screens.dialogs import ConfirmScreen
from app.widgets.panels import MemoryPanel, RunProgress, StatusLine
from app.screens.results import ConfusionMatrix, ImageGrid
from apps import FakeEngine, log_text, make_app, wait_for


async def test_a_run_streams_progress_and_ends_on_the_results_screen(tmp_path):
    engine = FakeEngine(tmp_path / "runs", epochs=2, steps=4)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "completed")
        assert app.query_one("#main-tabs").active == "tab-results"
        summary = str(app.query_one("#result-summary").render())
        assert "Got 9,876/10,000" in summary and "98.76%" in summary
        matrix = app.query_one(ConfusionMatrix)
        assert matrix.row_count == 10 and len(matrix.columns) == 11
        assert app.query_one(ImageGrid).sample is not None
        # the curves hold every logged step and every epoch
        charts = app.query_one("#live-charts", ChartPair)
        assert len(charts.loss.series[0].xs) == 8 and charts.loss.series[2].ys == [1.1, 0.55]
        assert "12.3k params" in str(app.query_one(StatusLine).render())
        assert "No GPU" in str(app.query_one(MemoryPanel).render())
        assert "Epoch 2/2" in log_text(app)
        assert app.session.exit_code == 0
        await pilot.press("f3")  # the train screen with finished charts draws without errors
        await pilot.pause()


async def test_progress_ticks_move_the_bars_and_clock_and_keep_the_last_loss_and_throughput(tmp_path):
    """step_progressed between logged steps: the bars, elapsed and ETA follow the tick; the loss, accuracy and
    samples/s stay those of the last logged step; the charts get points from logged steps only."""
    engine = FakeEngine(tmp_path / "runs", epochs=2, steps=3, hold=True, log_every=2)  # ticks 1, 3; logs 2
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        progress = app.query_one(RunProgress)
        await wait_for(pilot, lambda: engine.holding.is_set() and progress.epoch_line.info.startswith("step 3/3"))
        epoch_line, run_line = progress.epoch_line, progress.run_line
        assert (epoch_line.label, epoch_line.fraction) == ("Epoch 1/2", 1.0)
        assert epoch_line.info == "step 3/3 · loss 1.0000 · acc 20.0%"  # the loss of step 2, the last logged
        assert run_line.fraction == 0.5  # 3 of 6 steps
        assert run_line.info == "1,000 samples/s · 3:00 elapsed · ETA 1:30"  # the tick's clock, step 2's speed
        assert "ETA 1:30" in str(run_line.render())
        assert len(app.query_one("#live-charts", ChartPair).loss.series[0].xs) == 1  # one logged step: one point
        engine.release.set()
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "completed")
        assert run_line.fraction == 1.0


async def test_pause_resume_stop_then_resume_the_stopped_run(tmp_path):
    engine = FakeEngine(tmp_path / "runs", epochs=2, steps=3, hold=True)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: engine.holding.is_set() and app.session.state == "running")
        control = app.session.control

        await pilot.press("f6")
        assert control.paused and app.session.state == "paused"
        await wait_for(pilot, lambda: engine.saw_pause)  # the engine's loop really is held
        await pilot.press("f6")
        assert not control.paused and app.session.state == "running"

        await pilot.press("f8")
        assert control.stop_requested and app.session.state in ("stopping", "stopped")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "stopped")
        run_dir = str(tmp_path / "runs" / "run1")
        assert app.session.resumable == run_dir and app.session.exit_code == 130
        assert "last.pt" in log_text(app)

        engine.hold = False
        await pilot.press("f7")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "completed")
        assert engine.calls[-1]["resume"] == run_dir
        assert app.session.resumable is None


async def test_a_failed_run_shows_why_and_the_app_can_start_again(tmp_path):
    engine = FakeEngine(tmp_path / "runs", fail="Out of memory: CUDA out of memory. Tried to allocate 2 GiB")
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "failed")
        text = log_text(app)
        assert "Out of memory" in text and "error.log" in text
        assert any(sev == "error" and "Out of memory" in msg for sev, msg in app.notes)
        assert app.is_running and app.session.exit_code == 1

        engine.fail = None
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "completed")
        assert len(engine.calls) == 2


async def test_an_exception_of_the_training_thread_is_caught_and_logged(tmp_path):
    engine = FakeEngine(tmp_path / "runs", raise_exc=RuntimeError("boom [in the engine]"))
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "failed")
        crash_log = tmp_path / "runs" / "app-error.log"
        assert "RuntimeError: boom [in the engine]" in crash_log.read_text(encoding="utf-8")
        assert str(crash_log) in log_text(app)
        assert app.is_running

        engine.raise_exc = SettingsError("data.root: no MNIST files in /nowhere.")
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.exit_code == 2)
        assert "no MNIST files" in log_text(app) and app.session.state == "failed"


async def test_ctrl_q_during_a_run_asks_then_stops_cleanly_and_quits(tmp_path):
    engine = FakeEngine(tmp_path / "runs", hold=True)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: engine.holding.is_set() and app.session.state == "running")
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # keep training
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.session.state == "running" and not app.session.control.stop_requested

        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        control = app.session.control
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: not app.is_running)
    assert control.stop_requested
    assert app.return_code == 130


async def test_ctrl_q_when_idle_quits_at_once(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_palette_commands_cover_the_keys(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        titles = {c.title for c in app.get_system_commands(app.screen)}
    for title in (
        "Start run",
        "Pause or resume run",
        "Stop run",
        "Resume stopped run",
        "Save settings",
        "Save settings as…",
        "Open settings file…",
        "Load preset…",
        "Toggle light/dark theme",
        "Show history",
    ):
        assert title in titles


async def test_started_with_resume_the_app_continues_that_run_at_once(tmp_path):
    from app.tui import LstmVisionApp
    from lstm_vision.settings import Settings

    run_dir = tmp_path / "runs" / "earlier"
    run_dir.mkdir(parents=True)
    engine = FakeEngine(tmp_path / "runs")
    settings = Settings()
    settings.output.dir = str(tmp_path / "runs")
    app = LstmVisionApp(settings, tmp_path / "settings.toml", resume=str(run_dir), engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: engine.calls)
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "completed")
        assert engine.calls[0]["resume"] == str(run_dir)


async def test_the_footer_offers_only_what_the_keys_do_in_this_state(tmp_path):
    """Issue 16: F6/F8 were shown when idle, F5 while running, and F6 said "Pause" while paused."""
    from textual.widgets import Footer

    engine = FakeEngine(tmp_path / "runs", hold=True)
    app = make_app(tmp_path, engine=engine)

    def footer() -> dict[str, str]:
        return {key.key_display or key.key: key.description for key in app.query_one(Footer).query("FooterKey")}

    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: footer().get("F5") == "Start" and "F6" not in footer() and "F8" not in footer())
        await pilot.press("f5")
        await wait_for(pilot, lambda: engine.holding.is_set() and app.session.state == "running")
        await wait_for(pilot, lambda: "F5" not in footer() and footer().get("F6") == "Pause" and footer().get("F8") == "Stop")
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.session.state == "paused" and footer().get("F6") == "Resume")
        await pilot.press("f6")  # the key still toggles
        await wait_for(
            pilot, lambda: app.session.state == "running" and not app.session.control.paused and footer().get("F6") == "Pause"
        )
        await pilot.press("f8")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "stopped" and footer().get("F5") == "Start" and "F8" not in footer())


async def test_escape_closes_the_key_panel(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 24)) as pilot:
        await app.run_action("show_help_panel")
        await wait_for(pilot, lambda: app.screen.query("HelpPanel"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.screen.query("HelpPanel"))


async def test_a_live_warning_of_the_run_is_also_a_notification(tmp_path):
    from lstm_vision.events import LogMessage

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.route(LogMessage("warning", "This run needs about 1 h 47 min more on this CPU."))
        app.route(LogMessage("warning", "an old warning, replayed from a journal"), redraw=False)
        await pilot.pause()
        assert [n for n in app.notes if "more on this CPU" in n[1]] == [
            ("warning", "This run needs about 1 h 47 min more on this CPU.")
        ]
        assert not [n for n in app.notes if "replayed" in n[1]]


async def test_a_pause_or_a_stop_moves_the_epoch_bar_to_where_the_run_holds(tmp_path):
    """The last progress tick can be a second old; the pause and stop events say where the run stands."""
    from lstm_vision.events import RunPaused, RunStopped, StepProgressed

    from app.widgets.panels import RunProgress
    from apps import run_started

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.route(run_started(str(tmp_path / "runs" / "r"), epochs=12, steps=131))
        app.route(
            StepProgressed(epoch=10, step=11, steps_per_epoch=131, global_step=1190, total_steps=1572, elapsed_s=60.0, eta_s=20.0)
        )
        line = app.query_one(RunProgress).epoch_line
        assert "step 11/131" in line.info
        app.route(RunPaused(epoch=10, step=21))
        assert "step 21/131" in line.info and line.fraction == 21 / 131
        app.route(RunStopped(summary={"epochs_completed": 9, "epochs": 12}, checkpoint="last.pt", step=124, steps_per_epoch=131))
        assert "step 124/131" in line.info and line.label == "Epoch 10/12"
        await pilot.pause()
        assert "Epoch 10/12 ━" in str(line.render())  # a space between a long label and its bar
        await app.run_action("quit")


async def test_the_footer_follows_the_state_while_the_app_is_blurred(tmp_path):
    """Tried in a browser: a served app starts blurred (textual's web driver says so before the page says anything)
    and Textual's footer is not redrawn while the app is blurred, so a tab opened on a training run (--serve --resume
    RUN, a second tab that attaches) showed "F5 Start" and no F6 Pause / F8 Stop until a click or a key."""
    from textual import events
    from textual.widgets import Footer

    engine = FakeEngine(tmp_path / "runs", hold=True)
    app = make_app(tmp_path, engine=engine)

    def footer() -> dict[str, str]:
        return {key.key_display or key.key: key.description for key in app.query_one(Footer).query("FooterKey")}

    async with app.run_test(size=(120, 24)) as pilot:
        await wait_for(pilot, lambda: footer().get("F5") == "Start" and app.started)
        app.post_message(events.AppBlur())  # as the web driver does at the start
        await wait_for(pilot, lambda: not app.app_focus)
        await app.run_action("start")  # not a key: a key press would focus the app again
        await wait_for(pilot, lambda: engine.holding.is_set() and app.session.state == "running")
        await wait_for(pilot, lambda: footer().get("F8") == "Stop" and "F5" not in footer(), "F8 Stop in the footer")
        assert not app.app_focus
        await app.run_action("stop")
        await app.workers.wait_for_complete()


async def test_a_resumed_run_drops_its_earlier_stops_summary_from_results(tmp_path):
    """Tried in a browser: attached to a stopped run that was resumed, Results said "Run stopped; no test result"
    while it trained again. Its RunStarted after the stop clears that summary."""
    import dataclasses

    from lstm_vision.events import RunStopped
    from app.screens.results import ResultsView
    from apps import run_started

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        first = run_started(str(tmp_path / "runs" / "r"), epochs=12, steps=131)
        app.route(first)
        app.route(RunStopped(summary={"status": "stopped", "epochs_completed": 9, "epochs": 12}, checkpoint="last.pt"))
        await pilot.pause()
        summary = app.query_one(ResultsView).query_one("#result-summary")
        assert "stopped" in str(summary.render()).lower()
        app.route(dataclasses.replace(first, start_epoch=9))  # resumed from last.pt
        await pilot.pause()
        assert str(summary.render()) == "Training again from epoch 10: its results once it ends."
        await app.run_action("quit")
