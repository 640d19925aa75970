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
        await wait_for(pilot, lambda: app.session.state == "completed")
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


async def test_results_at_200x50_fill_the_screen_with_the_per_class_table_and_36_images(tmp_path):
    """Issue 23.7: a wide, tall terminal shows the per-class figures beside the images, and images enough
    to fill their column, rather than empty rows."""
    from lstm_vision.training.batches import PREVIEW_IMAGES
    from app.screens.results import PerClassTable
    from apps import predictions, summary

    per_class = [
        {"class": str(k), "precision": 0.99, "recall": 0.98 - k / 100, "f1": 0.985 - k / 100, "support": 1000} for k in range(10)
    ]
    app = make_app(tmp_path)
    async with app.run_test(size=(200, 50)) as pilot:
        results = app.query_one("ResultsView")
        results.show_summary(dict(summary("completed", 2), per_class=per_class), "completed", "run1")
        results.show_matrix([[990 if i == j else 1 for j in range(10)] for i in range(10)])
        results.show_predictions(predictions(PREVIEW_IMAGES))
        await pilot.press("f4")
        table, grid, matrix = app.query_one(PerClassTable), app.query_one(ImageGrid), app.query_one(ConfusionMatrix)
        await wait_for(pilot, lambda: table.region.height > 0 and grid.region.height > 0)
        assert table.row_count == 11 and str(table.get_row_at(10)[0]) == "macro avg"
        assert inside(table, 200, 49) and table.region.y > matrix.region.bottom  # under the matrix, on screen
        assert grid.region.x >= table.region.right and inside(grid, 200, 49)  # beside them: all 36 in view


async def test_each_tab_key_shows_its_tab_whichever_tab_had_the_focus(tmp_path):
    """F10 puts the focus in the sweep builder; the next tab key must not be taken back by that focus."""
    keys = {"f2": "tab-settings", "f3": "tab-train", "f4": "tab-results", "f9": "tab-history", "f10": "tab-sweep"}
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        tabs = app.query_one("#main-tabs")
        for then in ("f2", "f3", "f4", "f9"):  # from the Sweep tab, whose builder takes the focus, to each other
            await pilot.press("f10")
            await wait_for(pilot, lambda: tabs.active == "tab-sweep", "the Sweep tab")
            await pilot.press(then)
            await wait_for(pilot, lambda: tabs.active == keys[then], f"{then}'s tab after F10")


async def test_resume_from_the_command_line_opens_on_the_train_screen(tmp_path):
    engine = FakeEngine(tmp_path, hold=True)
    run_dir = tmp_path / "run1"
    app = make_app(tmp_path, engine=engine)
    app.initial_resume = str(run_dir)  # lstm-vision-tui --resume RUN
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: engine.holding.is_set() and app.session.state == "running")
        assert app.query_one("#main-tabs").active == "tab-train"
        engine.release.set()
        await wait_for(pilot, lambda: app.session.state == "completed")


async def test_tab_from_a_sections_tabs_reaches_its_first_field(tmp_path):
    """The section's scroll area is no focus stop: the first keys typed after tab go into the field."""
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        await wait_for(pilot, lambda: app.focused is not None and form in app.focused.ancestors)
        await pilot.press("shift+tab", "right", "right", "right")  # from the first field to the section tabs: train
        await wait_for(pilot, lambda: app.query_one("#sections").active == "sec-train")
        await pilot.press("tab")
        await wait_for(pilot, lambda: app.focused is not None and app.focused.id == form.row("train", "epochs").editor.id)
