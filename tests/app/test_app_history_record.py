"""Issue 32, the app side: History tells runs apart (name, tags, the settings that differ), filters with /, sorts by
any column, edits a run's notes with n; the log of an attached run shows each event's own clock time; the form
edits output.tags and output.notes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from textual.widgets import DataTable, Input, TextArea

from app.screens.dialogs import NotesScreen
from app.screens.history import HistoryView, scan_runs
from app.state import TABS
from app.widgets.form import SettingsForm
from lstm_vision.runs.notes import read_notes
from lstm_vision.settings import Settings, load_settings, save_settings
from apps import make_app, shown_history, wait_for, write_run


def labelled_run(runs: Path, name: str, tags: list[str], notes: str = "", run_name: str = "", **changes) -> Path:
    """write_run's folder, started with these tags, notes, run_name and settings (``model__hidden_size=32``)."""
    run_dir = write_run(runs, name, "completed", 2, run_name=run_name)
    settings = load_settings(run_dir / "settings.toml")
    settings.output.tags, settings.output.notes = tags, notes
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        setattr(getattr(settings, section), key, value)
    save_settings(settings, run_dir / "settings.toml")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.update(tags=tags, notes=notes, run_name=run_name or name)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def three_runs(runs: Path) -> None:
    labelled_run(runs, "20250101-100000", ["baseline"], "first try", model__hidden_size=64)
    labelled_run(runs, "20250101-110000", ["baseline", "small"], "halved", model__hidden_size=32)
    labelled_run(runs, "wide-folder", ["wide"], "", run_name="wide", model__hidden_size=128, optim__learning_rate=0.005)


def rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def headers(table: DataTable) -> list[str]:
    return [str(column.label) for column in table.columns.values()]


def hint(history: HistoryView) -> str:
    return str(history.query_one("#history-hint").render())


async def test_the_columns_name_each_run_its_tags_and_the_settings_that_differ(tmp_path):
    three_runs(tmp_path / "runs")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        history, table = await shown_history(pilot, app, 3)
        assert headers(table)[:3] == ["run", "tags", "hidden"]  # computed: hidden_size and learning_rate differ
        assert headers(table)[-5:] == ["status", "ep", "val", "test", "time"]
        by_name = {row[0]: row for row in rows(table)}
        assert set(by_name) == {"20250101-100000", "20250101-110000", "wide"}  # run_name, else the folder
        assert by_name["20250101-110000"][1:3] == ["baseline,sm…", "32"]  # tags cropped to leave room for settings
        assert by_name["wide"][1:3] == ["wide", "128"]
        widths = sum(column.get_render_width(table) for column in table.columns.values())
        assert widths <= 80
        if "lr" not in headers(table):  # what has no room is counted in the hint
            assert "+1 differ: lr" in hint(history)
    async with make_app(tmp_path).run_test(size=(200, 50)) as pilot:
        history, table = await shown_history(pilot, pilot.app, 3)
        assert headers(table)[:4] == ["run", "tags", "hidden", "lr"] and headers(table)[-1] == "notes"
        assert "differ" not in hint(history)
        wide = next(row for row in rows(table) if row[0] == "wide")
        assert wide[1:4] == ["wide", "128", "0.005"]


async def test_slash_filters_by_name_tag_note_and_setting_value_and_escape_clears(tmp_path):
    three_runs(tmp_path / "runs")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        history, table = await shown_history(pilot, app, 3)
        for text, names in (("small", ["20250101-110000"]), ("first", ["20250101-100000"]), ("0.005", ["wide"])):
            await pilot.press("slash")
            await wait_for(pilot, lambda: isinstance(app.focused, Input))
            app.focused.value = ""
            await pilot.press(*text)
            await wait_for(pilot, lambda: [row[0] for row in rows(table)] == names, f"the rows matching {text}")
            assert hint(history).startswith(f"1 of 3 match /{text} (esc clears)")
            await pilot.press("enter")  # the filter stays, the keys go back to the rows
            await wait_for(pilot, lambda: app.focused is table)
            assert history.selected().title == names[0] and table.row_count == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 3)
        assert "match" not in hint(history) and not history.query_one("#history-filter").display
        await pilot.press("slash", *"baseline small")  # every word must match
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.press("escape")  # in the filter box too
        await wait_for(pilot, lambda: table.row_count == 3 and app.focused is table)
        await pilot.press("slash", *"hidden")  # a setting's name alone: every run has it, so it finds none
        await wait_for(pilot, lambda: table.row_count == 0 and hint(history).startswith("0 of 3 match /hidden"))
        await pilot.press(*"_size=32")  # name=value finds the runs with that value
        await wait_for(pilot, lambda: [row[0] for row in rows(table)] == ["20250101-110000"])


async def test_s_and_a_header_click_sort_and_the_cursor_stays_on_its_run(tmp_path):
    three_runs(tmp_path / "runs")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        history, table = await shown_history(pilot, app, 3)
        assert "newest first (s)" in hint(history)
        table.move_cursor(row=[r.title for r in history.shown].index("wide"))
        await pilot.press("s")  # the first column: run, a to z
        await wait_for(pilot, lambda: headers(table)[0] == "run ↑")
        assert [row[0] for row in rows(table)] == ["20250101-100000", "20250101-110000", "wide"]
        assert "by run ↑ (s)" in hint(history) and history.selected().title == "wide"
        await pilot.press("s", "s")  # tags, then hidden: a setting's values smallest first
        await wait_for(pilot, lambda: headers(table)[2] == "hidden ↑")
        assert [row[2] for row in rows(table)] == ["32", "64", "128"] and history.selected().title == "wide"
        x = sum(c.get_render_width(table) for c in list(table.columns.values())[:2]) + 1  # hidden's header
        await pilot.click(DataTable, offset=(x, 0))  # the header again: the other way round
        await wait_for(pilot, lambda: headers(table)[2] == "hidden ↓")
        assert [row[2] for row in rows(table)] == ["128", "64", "32"] and history.selected().title == "wide"


async def test_n_edits_a_runs_notes_kept_in_its_folder_and_the_filter_sees_them(tmp_path):
    runs = tmp_path / "runs"
    three_runs(runs)
    app = make_app(tmp_path)
    order = [r.title for r in scan_runs(runs)]
    assert order[-1] == "20250101-100000"  # the oldest
    async with app.run_test(size=(80, 24)) as pilot:
        history, table = await shown_history(pilot, app, 3)
        table.move_cursor(row=[r.title for r in history.shown].index("20250101-100000"))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and app.focused is app.screen.query_one(TextArea))
        assert app.screen.query_one(TextArea).text == "first try"
        await pilot.press(*", then lr 3e-3")
        await pilot.press("tab", "enter")  # as the dialog's hint says: the tab lands on Save
        await wait_for(pilot, lambda: not isinstance(app.screen, NotesScreen))
        assert read_notes(runs / "20250101-100000") == "first try, then lr 3e-3"
        assert json.loads((runs / "20250101-100000" / "summary.json").read_text())["notes"] == "first try, then lr 3e-3"
        assert [r.title for r in scan_runs(runs)] == order  # notes are no training: the run keeps its place
        await pilot.press("slash", *"3e-3")
        await wait_for(pilot, lambda: [row[0] for row in rows(table)] == ["20250101-100000"])
        await pilot.press("escape", "n", "escape")  # escape in the dialog keeps the notes as they were
        await wait_for(pilot, lambda: not isinstance(app.screen, NotesScreen) and table.row_count == 3)
        assert read_notes(runs / "20250101-100000") == "first try, then lr 3e-3"
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen) and app.focused is app.screen.query_one(TextArea))
        await pilot.press(*"; kept", "ctrl+s")  # ctrl+s saves from the text itself, and only the notes
        await wait_for(pilot, lambda: not isinstance(app.screen, NotesScreen))
        assert read_notes(runs / "20250101-100000") == "first try, then lr 3e-3; kept"
        assert not (tmp_path / "settings.toml").exists()  # the app's ctrl+s would have written it


async def test_an_attached_runs_replayed_log_shows_each_events_own_clock(tmp_path):
    run_dir = write_run(tmp_path / "runs", "done", "completed", 2)
    journal = run_dir / "metrics.jsonl"
    lines = journal.read_text().splitlines()
    then = time.mktime((2024, 3, 5, 7, 8, 9, 0, 0, -1))  # 07:08:09 local, an hour apart from any now
    stamped = []
    for i, line in enumerate(lines[:-1]):  # the last, torn, line as it is
        event = json.loads(line)
        event["wall_time"] = then + i
        stamped.append(json.dumps(event))
    journal.write_text("\n".join(stamped + lines[-1:]) + "\n")
    first_epoch = next(i for i, line in enumerate(stamped) if '"epoch_finished"' in line)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.attach(run_dir)
        await wait_for(pilot, lambda: app.session.state == "completed")
        logged = [line.plain for line in app.log_panel._lines]
        epoch_line = next(line for line in logged if "Epoch 1/2" in line)
        assert epoch_line.startswith(time.strftime("%H:%M:%S ", time.localtime(then + first_epoch)))
        assert not any(line.startswith("--:--:--") for line in logged)
        await app.run_action("quit")


async def test_the_form_shows_and_edits_output_tags_and_notes(tmp_path):
    settings = Settings()
    settings.output.dir = str(tmp_path / "runs")
    settings.output.tags, settings.output.notes = ["baseline", "small"], "first try"
    app = make_app(tmp_path, settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        tags, notes = form.row("output", "tags"), form.row("output", "notes")
        await wait_for(pilot, lambda: tags.ready and notes.ready)
        assert tags.editor.value == '["baseline", "small"]'  # its TOML list form, as in the file
        assert notes.editor.value == "first try"
        tags.editor.value = '["wide"]'
        notes.editor.value = "wider"
        await wait_for(pilot, lambda: tags.value() == ["wide"] and notes.value() == "wider")


async def test_the_palettes_history_commands_show_history_and_do_what_their_keys_do(tmp_path):
    three_runs(tmp_path / "runs")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Filter runs", "Sort runs", "Edit run notes"} <= titles
        app.action_in_history("filter")  # from the Settings tab, as the palette runs it
        history = app.query_one(HistoryView)
        await wait_for(pilot, lambda: app.query_one("#main-tabs").active == TABS["history"])
        await wait_for(pilot, lambda: app.focused is history.query_one("#history-filter"))
        await pilot.press(*"wide")
        table = history.query_one(DataTable)
        await wait_for(pilot, lambda: [row[0] for row in rows(table)] == ["wide"])
        await pilot.press("enter")
        app.action_in_history("notes")
        await wait_for(pilot, lambda: isinstance(app.screen, NotesScreen))
