"""p: the pictures of the run shown or selected, in a terminal (the dialog names the folder and the files;
in a browser enter delivers one: tests/test_serve.py)."""

from textual.widgets import OptionList

from apps import make_app, shown_history, wait_for, write_run
from app.screens.pictures import PicturesScreen


async def pictures_of_the_only_run(pilot, app) -> PicturesScreen:
    """History's one row selected, p: its pictures dialog."""
    await shown_history(pilot, app, 1)
    await pilot.press("p")
    return await wait_for(pilot, lambda: isinstance(app.screen, PicturesScreen) and app.screen)


async def test_p_on_history_lists_the_selected_runs_pictures_and_enter_names_the_file(tmp_path):
    runs = tmp_path / "runs"
    run_dir = write_run(runs, "drawn", "completed", 2)
    for name in ("curves.png", "confusion_matrix.png"):
        (run_dir / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3", "p")  # (on the form p is a letter in a field) nothing shown or selected yet: said so
        await wait_for(pilot, lambda: any("No run to show the pictures of" in text for _, text in app.notes))
        screen = await pictures_of_the_only_run(pilot, app)
        assert screen.folder == run_dir
        options = screen.query_one(OptionList)
        assert [str(options.get_option_at_index(i).prompt).split()[0] for i in range(options.option_count)] == [
            "confusion_matrix.png",
            "curves.png",
        ]
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: ("information", str(run_dir / "curves.png")) in app.notes)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PicturesScreen))


async def test_p_on_a_run_without_pictures_says_when_they_come(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "bare", "stopped", 1)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await pictures_of_the_only_run(pilot, app)
        assert "No pictures yet" in str(screen.query_one(".dialog-error").render())


async def test_the_dialogs_title_wraps_rather_than_losing_its_end(tmp_path):
    """Tried in a browser: "Pictures of 20261208-004403 (enter opens one in a new browser ta" and no "escape: close"
    (a one-line title wider than the dialog was cut at its edge); a long run name does the same in a terminal."""
    from textual.containers import Vertical

    runs = tmp_path / "runs"
    run_dir = write_run(runs, "a-run-named-at-length-for-the-paper", "completed", 2)
    (run_dir / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await pictures_of_the_only_run(pilot, app)
        await pilot.pause()
        title, box = screen.query_one(".dialog-title"), screen.query_one(Vertical)
        assert title.region.right <= box.content_region.right  # the whole title inside the dialog ...
        assert title.region.height >= 2  # ... on two lines
