"""The layout at 80x24 (the narrow SSH/tmux case) and at 200x60, in the dark and the light theme."""

from __future__ import annotations

import pytest
from textual.widgets import Footer, Input

from app.widgets.charts import ChartPair
from app.widgets.form import SettingsForm
from app.widgets.panels import LogPanel, MemoryPanel, RunProgress, StatusLine
from app.screens.results import ConfusionMatrix, ImageGrid
from apps import FakeEngine, make_app, wait_for


def inside(widget, width: int, height: int) -> bool:
    r = widget.region
    return r.width > 0 and r.height > 0 and r.right <= width and r.bottom <= height


@pytest.mark.parametrize("size, theme", [((80, 24), "textual-dark"), ((200, 60), "textual-light")])
async def test_every_screen_fits(tmp_path, size, theme):
    width, height = size
    app = make_app(tmp_path, engine=FakeEngine(tmp_path / "runs", epochs=2, steps=3))
    async with app.run_test(size=size) as pilot:
        app.theme = theme
        await pilot.pause()
        assert inside(app.query_one(StatusLine), width, height) and app.query_one(StatusLine).region.height == 1
        footer = app.query_one(Footer)
        assert footer.region.bottom == height
        editor = app.query_one(SettingsForm).row("data", "root").editor
        assert isinstance(editor, Input) and inside(editor, width, height) and editor.region.width >= 20
        app.export_screenshot()  # renders every visible widget

        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.state == "completed")
        await pilot.press("f3")
        await pilot.pause()
        charts = app.query_one("#live-charts", ChartPair)
        assert charts.loss.region.height >= 8 and charts.accuracy.region.width >= 30
        for widget in (app.query_one(RunProgress), app.query_one(MemoryPanel), app.query_one(LogPanel)):
            assert inside(widget, width, height)
        assert "waiting" not in charts.loss.plt.build()
        app.export_screenshot()

        await pilot.press("f4")
        await pilot.pause()
        matrix, grid = app.query_one(ConfusionMatrix), app.query_one(ImageGrid)
        assert inside(matrix, width, height) and matrix.region.width >= 40
        assert grid.region.width <= width and grid.region.height > 0
        app.export_screenshot()

        await pilot.press("f9")
        await pilot.pause()
        app.export_screenshot()


async def test_theme_toggle_from_the_command_palette(tmp_path):
    from textual.command import CommandList, CommandPalette

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        dark = app.current_theme.dark
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Toggle light")

        def found() -> bool:  # the palette searches asynchronously
            results = app.screen.query(CommandList)
            return bool(results) and results.first().option_count > 0 and results.first().highlighted is not None

        await wait_for(pilot, found)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_theme.dark is not dark)
        await app.run_action("toggle_theme")
        assert app.current_theme.dark is dark
