"""The app's start: its first screens need no torch, and an attached run's past replays in one compact batch
while the keys typed meanwhile keep their effect."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from apps import FakeEngine, make_app, wait_for, write_run
from conftest import REPO_ROOT
from lstm_vision import events as ev
from lstm_vision.control import RunControl
from lstm_vision.runs.liveness import Beacon

FIRST_SCREENS = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, "tests")
    import lstm_vision.cli  # the console script's module: it imports the app only to run it
    from app.tui import LstmVisionApp
    from apps import started_app, write_run
    from lstm_vision.settings import Settings
    from pathlib import Path

    async def main(tmp):
        runs = tmp / "runs"
        finished = write_run(runs, "finished", "completed", 2)
        settings = Settings()
        settings.output.dir = str(runs)
        app = LstmVisionApp(settings, tmp / "settings.toml")
        async with started_app(app, size=(80, 24)) as pilot:
            assert app.query_one("#form") is not None
            await pilot.press("f9")  # History lists the finished run; enter shows its Results
            await pilot.pause()
            for _ in range(500):
                if app.query_one("HistoryView").runs:
                    break
                await pilot.pause()
            await pilot.press("enter", "f4")
            await pilot.pause()
        app = LstmVisionApp(settings, tmp / "settings.toml", attach=finished)  # the viewer of --attach
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(500):
                if app.session.state == "completed":
                    break
                await pilot.pause()
            assert app.session.state == "completed", app.session.state
        print("torch" in sys.modules, "torch._dynamo" in sys.modules)

    asyncio.run(main(Path(sys.argv[1])))
    """
)


def test_the_first_screens_compose_without_importing_torch(tmp_path):
    """Settings, History, the Results of a finished run and the attach viewer read TOML and JSON only: torch
    (seconds to import) loads after the first paint, on a thread of run_app's (not started here)."""
    result = subprocess.run(
        [sys.executable, "-c", FIRST_SCREENS, str(tmp_path)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"], result.stdout + result.stderr


def test_the_engine_imports_without_torch_dynamo():
    """torch._dynamo (seconds more) is imported when a run compiles, not by the engine or the model."""
    code = "import sys, lstm_vision.training.engine, lstm_vision.use.loaded_model; print('torch._dynamo' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stdout + result.stderr


def long_journal(run_dir, ticks: int = 2000) -> list[ev.Event]:
    """A finished run's events with ``ticks`` progress and memory lines between each logged step, as hours of
    a slow run leave them."""
    events: list[ev.Event] = []
    FakeEngine(run_dir.parent, epochs=2, steps=3)(None, events.append, RunControl())
    busy: list[ev.Event] = []
    for event in events:
        if isinstance(event, ev.StepLogged):
            tick = ev.StepProgressed(event.epoch, event.step, 3, event.global_step, 6, 1.0, 2.0)
            busy += [tick, events[1]] * (ticks // 2)  # events[1]: ResourcesSampled
        busy.append(event)
    return busy


async def test_a_long_journal_replays_as_one_compact_batch_with_the_live_state_of_the_full_one(tmp_path, monkeypatch):
    import app.bridge

    batches = []

    class EngineEvents(app.bridge.EngineEvents):  # the same name: the app's on_engine_events handles it
        def __init__(self, events):
            super().__init__(events)
            batches.append(events)

    monkeypatch.setattr(app.bridge, "EngineEvents", EngineEvents)
    runs = tmp_path / "runs"
    run_dir = write_run(runs, "long", "completed", 2)
    events = long_journal(run_dir)
    (run_dir / "metrics.jsonl").write_text("".join(e.to_json() + "\n" for e in events))
    viewer = make_app(tmp_path, attach=run_dir)
    async with viewer.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: viewer.session.state == "completed", "the replay")
        record = viewer.session.record
        assert len(batches) == 1
        past = batches[0]
        superseded = (ev.StepProgressed, ev.ResourcesSampled)
        assert [e for e in past if not isinstance(e, superseded)] == [e for e in events if not isinstance(e, superseded)]
        for kind in superseded:  # of the thousands of progress and memory lines, the last of each, where it stood
            assert [e for e in past if isinstance(e, kind)] == [[e for e in events if isinstance(e, kind)][-1]]
        assert record.step_x == [e.global_step / 3 for e in events if isinstance(e, ev.StepLogged)]
        assert record.resources == [e for e in events if isinstance(e, ev.ResourcesSampled)][-1]
        await viewer.run_action("quit")


async def test_a_key_typed_while_the_journal_is_read_keeps_its_screen(tmp_path):
    """The run's end in the replay would show Results; F9 pressed before the past arrived wins."""
    runs = tmp_path / "runs"
    run_dir = write_run(runs, "live", "completed", 2)
    journal = (run_dir / "metrics.jsonl").read_text()
    (run_dir / "metrics.jsonl").write_text("")  # nothing to replay yet: the run is starting
    beacon = Beacon(run_dir, RunControl()).start()  # this process plays the run's: the viewer follows it
    try:
        app = make_app(tmp_path, attach=run_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.session.attached_to == run_dir, "the viewer")
            assert app.query_one("#main-tabs").active == "tab-train"  # --attach opens on the Train screen
            await pilot.press("f9")
            await wait_for(pilot, lambda: app.query_one("#main-tabs").active == "tab-history", "History")
            (run_dir / "metrics.jsonl").write_text(journal)  # the past arrives after the key
            await wait_for(pilot, lambda: app.session.record.finished is not None, "the past replayed")
            await pilot.pause()
            assert app.query_one("#main-tabs").active == "tab-history"
            assert app.query_one("ResultsView") is not None and app.session.record.status == "completed"
            await app.run_action("quit")
    finally:
        beacon.close(0)


WARM_UP = textwrap.dedent(
    """
    import asyncio, sys, time
    from app.tui import LstmVisionApp
    from lstm_vision.settings import Settings

    async def main(root):
        settings = Settings()
        settings.data.root, settings.data.download = root, False
        app = LstmVisionApp(settings, "settings.toml")
        app.warm_up = True  # as run_app sets it
        async with app.run_test(size=(80, 24)) as pilot:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                # the thread may be importing the module right now: it is in sys.modules before its names are
                registry = sys.modules.get("lstm_vision.data.registry")
                if getattr(registry, "_decoded", None) is not None and "app.screens.try_model" in sys.modules:
                    break
                await pilot.pause(0.05)
        registry = sys.modules["lstm_vision.data.registry"]
        print("lstm_vision.training.engine" in sys.modules, registry._decoded[0][0], len(registry._decoded[1].train))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_after_the_first_paint_torch_the_engine_and_the_data_load_on_a_thread(mnist_root, tmp_path):
    """What F5 and t need is loaded while the user looks at the first screen: the engine, the Try screen's
    module and the data set of the form's settings, decoded once (F5 reuses it while they are unchanged)."""
    result = subprocess.run(
        [sys.executable, "-c", WARM_UP, str(mnist_root)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "mnist", "500"], result.stdout + result.stderr  # 5/6 of the 600 images


async def test_the_form_answers_for_the_fields_it_has_not_mounted_yet(tmp_path):
    """The fields below the first screen and the sections after the first are mounted after the first paint:
    until then their rows answer with the values they hold, and a file opened meanwhile shows in their editors
    once they are mounted."""
    from textual.widgets import Input

    from app.widgets.form import SettingsForm
    from lstm_vision.settings import Settings

    opened = Settings()
    opened.train.epochs, opened.model.hidden_size, opened.data.channels = 3, 32, 3
    form = SettingsForm(Settings())  # not mounted: no editor anywhere
    assert form.collect() == Settings() and not form.errors()
    form.set_settings(opened, saved=True)
    assert form.collect() == opened and form.current(Settings()) == opened and not form.modified
    opened.data.num_workers = 2  # the 10th field of the data section: below the first screen of 24 lines
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), started=False) as pilot:
        assert not app.started  # the first paint's form: its first rows only
        assert app.form.row("data", "dataset").ready and not app.form.row("data", "num_workers").ready
        assert not app.form.row("train", "epochs").ready
        app.form.set_settings(opened, saved=True)
        await wait_for(pilot, lambda: app.started, "the other fields")
        editor = app.form.row("train", "epochs").editor
        assert isinstance(editor, Input) and editor.value == "3"
        assert app.form.row("model", "hidden_size").editor.value == "32" and app.form.collect() == opened
        assert app.form.row("data", "num_workers").editor.value == "2"
        await app.run_action("quit")


async def test_keys_typed_before_the_app_started_act_once_it_has_and_a_fields_own_at_once(tmp_path):
    """The app opens on one tab and mounts the others after its first paint. Keys typed before that: the app's
    (F5, F9) act once it is done, in their order, as if the app had been ready; a field's own (end, backspace)
    act at once, in their order with the characters typed there."""
    from app.tui import LstmVisionApp
    from lstm_vision.settings import Settings

    held = []

    class HeldStart(type(make_app(tmp_path))):
        async def on_keys_footer_keys_shown(self, message):
            message.prevent_default()  # the app's start waits for the test (below)
            held.append(message)

    engine = FakeEngine(tmp_path / "runs", hold=True)
    settings = Settings()
    settings.output.dir = str(tmp_path / "runs")
    app = HeldStart(settings, tmp_path / "settings.toml", engine=engine)
    async with app.run_test(size=(80, 24), started=False) as pilot:
        await wait_for(pilot, lambda: held, "the first screen")
        root = app.form.row("data", "root").editor
        root.focus()
        await pilot.press("end", "x", "backspace", "y", "f5", "f9")
        assert root.value == "datay" and not app.started and not app.query("#history") and not engine.calls
        await LstmVisionApp.on_keys_footer_keys_shown(app, held[0])  # what the footer's first keys start
        await wait_for(pilot, lambda: engine.holding.is_set(), "the run F5 started")
        await wait_for(pilot, lambda: app.query_one("#main-tabs").active == "tab-history", "History, after F5's Train")
        assert app.session.state == "running"
        engine.release.set()
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "completed", "the run's end")
