"""Issue 23.8: a notification that describes a state leaves the screen when that state changes, rather than
staying to say what is no longer so."""

from __future__ import annotations

from app.widgets.form import SettingsForm
from apps import FakeEngine, make_app, wait_for


def on_screen(app) -> list[str]:
    return [note.message for note in app._notifications]


async def settle(pilot) -> None:
    """A few rounds of messages: enough for the app to act on a change, far less than a note's timeout."""
    for _ in range(10):
        await pilot.pause()


async def test_a_note_about_invalid_settings_goes_once_the_field_is_fixed(tmp_path):
    app = make_app(tmp_path, engine=FakeEngine(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        row = app.query_one(SettingsForm).row("model", "hidden_size")
        row.editor.value = "0"
        await wait_for(pilot, lambda: row.has_class("-invalid"))
        await pilot.press("f5")
        await wait_for(pilot, lambda: any("Cannot start" in m for m in on_screen(app)))
        row.editor.value = "64"
        await wait_for(pilot, lambda: not row.has_class("-invalid"))
        await settle(pilot)
        assert not any("Cannot start" in m for m in on_screen(app))


async def test_a_failed_runs_note_goes_when_the_next_run_starts(tmp_path):
    engine = FakeEngine(tmp_path, fail="the disk is full")
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.session.state == "failed" and any("the disk is full" in m for m in on_screen(app)))
        engine.fail = None
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.session.state == "completed")
        assert not any("the disk is full" in m for m in on_screen(app))


async def test_a_note_that_a_run_is_going_goes_when_it_ends(tmp_path):
    engine = FakeEngine(tmp_path, hold=True)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: engine.holding.is_set())
        await pilot.press("shift+f5")  # a second start (in the background) is refused while the first runs
        await wait_for(pilot, lambda: any("stop it first" in m for m in on_screen(app)))
        await pilot.press("f8")
        await wait_for(pilot, lambda: app.session.state == "stopped")
        await settle(pilot)
        assert not any("stop it first" in m for m in on_screen(app))
