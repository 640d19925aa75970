"""The Try screen: draw on a canvas with real mouse events and keys, watch the probabilities, open an image,
step through the test set's mistakes. The digit tests use a model trained on real MNIST (mnist_model)."""

from __future__ import annotations

from pathlib import Path

import torch
from textual.widgets import Static

from app.widgets.canvas import Canvas, stroke
from app.screens.try_model import TryScreen
from app.widgets.probability_bars import ProbabilityBars, bar
from lstm_vision.metrics import short_name
from conftest import mnist_set, needs_real_mnist

from apps import make_app, type_path, wait_for, write_run


def app_on(tmp_path, run_dir: Path):
    """The app with the run's folder as output.dir: History lists it."""
    from lstm_vision.settings import Settings

    settings = Settings()
    settings.output.dir = str(run_dir.parent)
    return make_app(tmp_path, settings=settings)


async def open_try(pilot, app) -> TryScreen:
    """F9, t on the selected run: the Try screen with its model loaded and the blank canvas predicted."""
    await pilot.press("f9")
    await wait_for(pilot, lambda: app.query_one("HistoryView").runs)
    await pilot.press("t")
    return await wait_predicted(pilot, app)


async def wait_predicted(pilot, app) -> TryScreen:
    """Until the bars show the canvas as it is now."""

    def shown():
        screen = app.screen
        return isinstance(screen, TryScreen) and screen.model is not None and screen.shown_version == screen.canvas.version

    await wait_for(pilot, shown, "the Try screen's prediction of the canvas")
    return app.screen


async def drag(pilot, canvas: Canvas, points: list[tuple[int, int]], button: int = 1) -> None:
    """A stroke through ``points`` (cells of the canvas) with real mouse events: down, moves, up."""
    await pilot.mouse_down(canvas, offset=points[0], button=button)
    for point in points[1:]:
        await pilot.hover(canvas, offset=point)
    await pilot.mouse_up(canvas, offset=points[-1])


# ---- the brush ----------------------------------------------------------------------------------


def test_brush_is_soft_at_the_edges_and_accumulates_by_max():
    image = torch.zeros(28, 28, 1, dtype=torch.uint8)
    stroke(image, (14.5, 5.0), (14.5, 23.0))
    row = image[14, :, 0].tolist()
    assert row[14] == 255 and row[13] == row[15]  # full on the line, symmetric
    assert 0 < row[12] < 255 and 0 < row[13] <= 255  # grey edges, as scanned digits have
    assert row[10] == 0 and row[18] == 0
    assert 3 <= sum(v > 127 for v in row) <= 4  # about 3 pixels wide
    again = image.clone()
    stroke(again, (14.5, 5.0), (14.5, 23.0))
    assert torch.equal(again, image)  # going over a line does not thicken it
    stroke(again, (5.0, 14.5), (23.0, 14.5))  # a crossing line: the brighter of the two wherever they meet
    assert torch.equal(torch.maximum(again, image), again) and again[14, 14, 0] == 255

    before = again.clone()
    stroke(again, (14.5, 14.5), (14.5, 14.5), erase=True)  # an eraser dot: darker only, softly
    assert again[14, 14, 0] == 0 and torch.equal(torch.minimum(again, before), again)
    assert 0 < again[14, 12, 0] < before[14, 12, 0]  # its soft edge dims what it touches
    assert torch.equal(again[:, :10], before[:, :10])  # and leaves the rest


def test_brush_paints_every_channel_and_clips_at_the_border():
    image = torch.zeros(8, 8, 3, dtype=torch.uint8)
    stroke(image, (-3.0, 0.5), (0.5, 0.5))
    assert image[0, 0].tolist() == [255, 255, 255]  # white on a colour model, not red
    assert torch.equal(image[..., 0], image[..., 2])


def test_bars_fill_in_eighths():
    assert bar(1.0, 4) == "████" and bar(0.0, 4) == "    "
    assert bar(0.5, 3) == "█▌ " and len(bar(0.33, 10)) == 10


# ---- the screen on a model ------------------------------------------------------------------------


@needs_real_mnist
async def test_a_stroke_of_a_one_drawn_with_the_mouse_is_read_as_one(mnist_model, tmp_path):
    app = app_on(tmp_path, mnist_model)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_try(pilot, app)
        canvas = screen.canvas
        assert canvas.scale == 1 and (canvas.size.width, canvas.size.height) == (28, 14)  # fits at 80 x 24
        await drag(pilot, canvas, [(14, y) for y in range(2, 12)])
        screen = await wait_predicted(pilot, app)
        column = canvas.image[:, 14, 0]
        assert (column[5:23] == 255).all(), column  # mouse moves a cell apart leave no gap
        assert ((canvas.image > 0) & (canvas.image < 255)).any()  # soft edges
        assert screen.top_class == "1 - one", screen.probabilities
        bars = app.screen.query_one(ProbabilityBars)
        assert bars.region.x >= canvas.region.right and bars.region.width >= 30  # beside the canvas, readable
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TryScreen))
        await app.run_action("quit")


@needs_real_mnist
async def test_the_test_sets_mistakes_step_with_n_and_p(mnist_model, tmp_path):
    app = app_on(tmp_path, mnist_model)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_try(pilot, app)
        await pilot.press("n")
        await wait_for(pilot, lambda: screen.mistake is not None, "the first mistake")
        first = screen.mistake
        assert first.label != first.predicted
        # no article to get wrong ("a 8"): the label and the prediction by name
        label, predicted = (screen.model.class_names[i] for i in (first.label, first.predicted))
        assert f"test image {first.index}: labelled {short_name(label)}, read as {short_name(predicted)} (" in screen.showing
        assert torch.equal(screen.canvas.image, screen.mistakes.images[0])
        await wait_predicted(pilot, app)
        names = screen.model.class_names
        assert screen.top_class == names[first.predicted]  # the bars agree with the evaluation
        await pilot.press("n")
        await wait_for(pilot, lambda: screen.mistake is not None and screen.mistake.number == 1)
        assert screen.mistake.index > first.index and screen.mistake.label != screen.mistake.predicted
        await pilot.press("p")
        await wait_for(pilot, lambda: screen.mistake is not None and screen.mistake.number == 0)
        await pilot.press("p")  # before the first: the last
        await wait_for(pilot, lambda: screen.mistake is not None and screen.mistake.number == len(screen.mistakes.indices) - 1)
        await pilot.press("c")
        await wait_for(pilot, lambda: screen.mistake is None and not screen.canvas.image.any())
        await app.run_action("quit")


@needs_real_mnist
async def test_an_image_file_opened_with_o_is_classified(mnist_model, tmp_path):
    from PIL import Image

    images, labels = mnist_set()
    png = tmp_path / "seven.png"
    Image.fromarray(images[0, ..., 0].numpy()).save(png)  # the first test image: a 7
    assert int(labels[0]) == 7
    (tmp_path / "not-an-image.png").write_text("hello")
    app = app_on(tmp_path, mnist_model)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_try(pilot, app)
        await pilot.press("o")
        await type_path(pilot, app, png)
        await wait_for(pilot, lambda: app.screen is screen and screen.canvas.image.any())
        screen = await wait_predicted(pilot, app)
        assert torch.equal(screen.canvas.image, images[0])
        assert screen.top_class == "7 - seven"
        await pilot.press("o")
        await type_path(pilot, app, tmp_path / "not-an-image.png")
        await wait_for(pilot, lambda: any("Cannot read" in text for _, text in app.notes))
        assert app.screen is screen and torch.equal(screen.canvas.image, images[0])  # kept
        await app.run_action("quit")


async def test_right_button_erases_and_c_clears(tiny_model, tmp_path):
    app = app_on(tmp_path, tiny_model)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_try(pilot, app)
        canvas = screen.canvas
        await drag(pilot, canvas, [(5, 7), (12, 7), (22, 7)])  # a horizontal line, points far apart
        assert (canvas.image[15, 6:22, 0] == 255).all()  # interpolated: no gaps
        await drag(pilot, canvas, [(10, 7), (18, 7)], button=3)
        assert (canvas.image[15, 10:19, 0] == 0).all() and (canvas.image[15, 6:8, 0] == 255).all()
        await wait_predicted(pilot, app)
        await pilot.press("c")
        await wait_for(pilot, lambda: not canvas.image.any())
        await wait_predicted(pilot, app)
        assert screen.probabilities is None  # a blank canvas gets no answer, the bars are empty
        assert "draw a digit" in str(screen.query_one("#try-verdict").render())
        await app.run_action("quit")


async def test_the_keyboard_draws_with_a_cursor_and_a_pen(tiny_model, tmp_path):
    app = app_on(tmp_path, tiny_model)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_try(pilot, app)
        canvas = screen.canvas
        assert canvas.cursor == (14, 14) and canvas.has_focus
        await pilot.press("up", "up", "up")
        assert canvas.cursor == (14, 11) and not canvas.image.any()  # pen up: moving draws nothing
        await pilot.press("space", *["down"] * 6, "space")
        assert (canvas.image[11:18, 14, 0] == 255).all() and not canvas.image[:, 4, 0].any()
        assert canvas.mode == "up"
        await pilot.press("e", "up", "space", "up", "space")  # erase mode: the pen takes away
        assert canvas.image[15:17, 14, 0].tolist() == [0, 0] and canvas.image[11, 14, 0] == 255
        assert "erase mode" in str(screen.query_one("#try-pen", Static).content)
        await wait_predicted(pilot, app)
        await app.run_action("quit")


async def test_escape_closes_the_key_panel_before_the_screen(tiny_model, tmp_path):
    app = app_on(tmp_path, tiny_model)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_try(pilot, app)
        await app.run_action("show_help_panel")
        await wait_for(pilot, lambda: screen.query("HelpPanel"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.query("HelpPanel"))
        assert app.screen is screen  # still trying the model
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TryScreen))
        await app.run_action("quit")


async def test_the_canvas_grows_with_the_terminal(tiny_model, tmp_path):
    app = app_on(tmp_path, tiny_model)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = await open_try(pilot, app)
        canvas = screen.canvas
        assert canvas.scale == 3 and (canvas.size.width, canvas.size.height) == (84, 42)
        await drag(pilot, canvas, [(42, 6), (42, 36)])  # at scale 3 a cell is a third of a pixel wide
        assert (canvas.image[4:24, 14, 0] == 255).all()
        await app.run_action("quit")


async def test_the_try_key_shows_when_a_run_has_a_model(tiny_model, tmp_path):
    app = make_app(tmp_path)  # output.dir holds no runs
    async with app.run_test(size=(80, 24)) as pilot:
        assert not app.check_action("try_model", ())
        app.action_try_model()  # what the palette command calls: a warning, no screen
        assert app.notes[-1][0] == "warning" and "No trained model" in app.notes[-1][1]
        app.query_one("HistoryView").load(tiny_model.parent)
        await pilot.pause()
        assert app.check_action("try_model", ())
        await pilot.press("f2")  # t from anywhere on the main screen (but in a text box) tries History's run
        await app.run_action("try_model")
        screen = await wait_predicted(pilot, app)
        assert screen.source == tiny_model and not app.check_action("try_model", ())  # not again from the Try screen
        await app.run_action("quit")


async def test_a_model_that_cannot_load_is_one_notification(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "broken", "completed", 2)  # its last.pt is empty
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        await wait_for(pilot, lambda: app.query_one("HistoryView").runs)
        await pilot.press("t")
        await wait_for(pilot, lambda: any(severity == "error" for severity, _ in app.notes), "the notification")
        await wait_for(pilot, lambda: not isinstance(app.screen, TryScreen))
        severity, text = next(note for note in app.notes if note[0] == "error")
        assert severity == "error" and "broken" in text and "Traceback" not in text and len(text.splitlines()) == 1
        await app.run_action("quit")


async def test_a_terminal_too_small_for_the_bars_shows_the_top_class(tiny_model, tmp_path):
    app = app_on(tmp_path, tiny_model)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_try(pilot, app)
        await drag(pilot, screen.canvas, [(14, 2), (14, 12)])
        await wait_predicted(pilot, app)
        for size in ((80, 10), (40, 12), (60, 18), (80, 24)):  # one bar row and up: it degrades, never fails
            await pilot.resize_terminal(*size)
            await wait_for(pilot, lambda: app.size == size and screen.query_one(ProbabilityBars).size.height > 0)
            rendered = str(screen.query_one(ProbabilityBars).render())
            assert short_name(screen.top_class) in rendered
        await app.run_action("quit")


async def test_t_in_an_empty_history_says_why(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f9")
        await wait_for(pilot, lambda: app.query_one("HistoryView").output_dir == tmp_path / "runs")
        app.query_one("HistoryView").action_try_model()
        await wait_for(pilot, lambda: app.notes)
        assert app.notes[-1] == ("warning", f"No runs in {tmp_path / 'runs'}: train one (F5) first.")
        await app.run_action("quit")


async def test_an_image_too_big_for_the_terminal_is_shown_shrunk(tmp_path):
    from lstm_vision.model.checkpoint import save_checkpoint
    from lstm_vision.model.lstm import LSTMClassifier

    # a reference-format checkpoint of 64 x 64 grey images (64 rows of 64), as a folder data set of that size
    save_checkpoint({"state_dict": LSTMClassifier(64, 64, 10, 8, 1, False).state_dict()}, tmp_path / "big.pt")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(TryScreen(tmp_path / "big.pt"))
        screen = await wait_predicted(pilot, app)
        canvas = screen.canvas
        assert canvas.shape == (64, 64, 1) and canvas.shrink == 2 and canvas.scale == 1
        assert (canvas.size.width, canvas.size.height) == (32, 16)  # the whole image, every other pixel
        await drag(pilot, canvas, [(16, 2), (16, 13)])  # cell (16, 2) is pixel (33, 10), cell row 13 pixel row 54
        assert canvas.image[11:53, 32, 0].min() == 255 and not canvas.image[:, :20, 0].any()
        await pilot.resize_terminal(200, 50)
        await wait_for(pilot, lambda: canvas.size.height > 16)
        assert canvas.shrink == 1  # room for every pixel again
        await app.run_action("quit")
