"""The settings form: generated from the dataclasses, validated as typed, saved and loaded."""

from __future__ import annotations

from textual.widgets import Input, OptionList, Select, Switch

from lstm_vision.settings import toml as settings_files
from lstm_vision.settings import SECTIONS, Settings, load_settings, section_fields
from app.screens.dialogs import PathScreen, PresetScreen, UnsavedScreen
from app.widgets.form import SettingsForm
from apps import FakeEngine, make_app, wait_for, type_path


async def test_every_setting_has_an_editor_of_its_kind_with_help(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        form = app.query_one(SettingsForm)
        for section in SECTIONS:
            for key, f in section_fields(section).items():
                row = form.row(section, key)
                default = getattr(getattr(app.initial_settings, section), key)
                if isinstance(default, bool):
                    assert isinstance(row.editor, Switch)
                elif f.metadata["choices"]:
                    assert isinstance(row.editor, Select)
                else:
                    assert isinstance(row.editor, Input)
                assert str(row.query_one(".field-help").render()) == f.metadata["help"]
                assert row.value() == default
        assert form.collect() == app.initial_settings


async def test_invalid_value_is_marked_as_typed_and_f5_refuses(tmp_path):
    engine = FakeEngine(tmp_path)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        form.focus_field("model.hidden_size")
        await pilot.pause()
        await pilot.press("ctrl+a", "ctrl+k", "0")  # clear the input, type an out-of-range value
        await pilot.pause()
        row = form.row("model", "hidden_size")
        assert row.has_class("-invalid")
        error = str(row.query_one(".field-error").render())
        assert "model.hidden_size" in error and ">= 1" in error
        assert row.editor.has_class("-invalid")

        await pilot.press("f5")
        await pilot.pause()
        assert engine.calls == []
        assert app.session.state == "idle"
        severity, note = app.notes[-1]
        assert severity == "error" and "model.hidden_size" in note
        assert app.focused is row.editor  # taken to the field that blocks the start

        await pilot.press("backspace", "6", "4")
        await pilot.pause()
        assert not row.has_class("-invalid")
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await wait_for(pilot, lambda: app.session.state == "completed")
        assert engine.calls[0]["settings"].model.hidden_size == 64


async def test_a_sequence_shape_the_images_cannot_have_is_marked_before_f5(tmp_path):
    """Issue 16: found only after F5 and a data load; the data set's image size is known from the settings."""
    engine = FakeEngine(tmp_path)
    app = make_app(tmp_path, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        row = form.row("data", "sequence_length")
        error = row.query_one(".field-error")
        form.focus_field("data.sequence_length")
        await pilot.press("ctrl+a", "ctrl+k", "1", "4")  # 14 x 56 of a 28 x 28 digit: fine
        await wait_for(pilot, lambda: row.editor.value == "14")
        assert not row.has_class("-invalid")
        form.row("data", "dataset").editor.value = "cifar10"  # 32 x 32 x 1 is no multiple of 14
        await wait_for(pilot, lambda: row.has_class("-invalid"))
        assert "H x W x C = 32 x 32 x 1 = 1024" in str(error.render())

        await pilot.press("f5")
        await wait_for(pilot, lambda: app.notes)
        assert engine.calls == [] and app.session.state == "idle"
        assert app.notes[-1][0] == "error" and "data.sequence_length" in app.notes[-1][1]
        assert app.focused is row.editor

        form.row("data", "channels").editor.value = "3"  # colour: 32 rows of 32 x 3 = 96 fit
        await pilot.press("ctrl+a", "ctrl+k", "3", "2")
        await wait_for(pilot, lambda: not row.has_class("-invalid"))
        assert str(error.render()) == ""
        form.row("data", "dataset").editor.value = "folder"  # data.image_size 0: the folder's most common size,
        await pilot.pause()  # known only once the folder is read, when the run starts
        assert not row.has_class("-invalid")
        form.row("data", "image_size").editor.value = "28"  # folder images made 28 x 28
        await wait_for(pilot, lambda: row.has_class("-invalid"))
        assert "28 x 28 x 3" in str(error.render())


async def test_text_that_is_not_a_number_names_the_reason(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        form.focus_field("optim.betas")
        await pilot.press("ctrl+a", "ctrl+k", *"0.9, x")
        await pilot.pause()
        row = form.row("optim", "betas")
        assert "two numbers" in str(row.query_one(".field-error").render())
        assert [name for name, _ in form.errors()] == ["optim.betas"]


async def test_save_keeps_comments_and_load_round_trips(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text(
        "# my experiment\n[model]\n# wide but shallow\nhidden_size = 128\nnum_layers = 1\n\n[train]\nepochs = 3 # quick\n",
        encoding="utf-8",
    )
    settings = load_settings(path)
    settings.output.dir = str(tmp_path / "runs")
    app = make_app(tmp_path, settings=settings, settings_path=path)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        assert form.row("model", "hidden_size").value() == 128
        form.focus_field("train.epochs")
        await pilot.press("ctrl+a", "ctrl+k", "7")
        form.row("model", "bidirectional").editor.value = False
        form.row("train", "amp").editor.value = "off"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()

        text = path.read_text(encoding="utf-8")
        assert "# my experiment" in text and "# wide but shallow" in text and "# quick" in text
        saved = load_settings(path)
        assert saved.train.epochs == 7 and saved.model.bidirectional is False and saved.train.amp == "off"
        assert saved.model.hidden_size == 128 and saved == form.collect()

        # open another file from inside the app: the form shows it, and ctrl+s now writes there
        other = tmp_path / "other.toml"
        other.write_text("[model]\nhidden_size = 32\n[data]\ndownload = false\n", encoding="utf-8")
        await pilot.press("ctrl+o")
        await type_path(pilot, app, other)
        await wait_for(pilot, lambda: not isinstance(app.screen, PathScreen))
        assert form.row("model", "hidden_size").value() == 32
        assert form.row("data", "download").value() is False
        assert form.row("train", "epochs").value() == Settings().train.epochs  # unset keys: defaults
        assert app.settings_view.path == other


async def test_save_as_writes_a_new_file_with_the_comments_of_the_current_one(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("# keep me\n[train]\nepochs = 2\n", encoding="utf-8")
    app = make_app(tmp_path, settings=load_settings(path), settings_path=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#btn-save-as")  # the buttons work with a mouse too
        target = tmp_path / "copy.toml"
        await type_path(pilot, app, target)
        await wait_for(pilot, target.exists)
        assert "# keep me" in target.read_text(encoding="utf-8")
        assert load_settings(target).train.epochs == 2
        assert app.settings_view.path == target


async def test_save_as_into_a_missing_folder_names_that_folder(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("[train]\nepochs = 2\n", encoding="utf-8")
    app = make_app(tmp_path, settings=load_settings(path), settings_path=path)
    missing = tmp_path / "no-such-folder"
    async with app.run_test(size=(80, 24)) as pilot:
        await app.run_action("save_as")
        await type_path(pilot, app, missing / "new.toml")
        error = app.screen.query_one(".dialog-error")
        await wait_for(pilot, lambda: str(error.render()) != "")
        assert str(error.render()) == f"The folder {missing} does not exist."  # and the dialog stays to fix it
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PathScreen))
        # ctrl+s to a file whose folder went away: the same one sentence, no temporary file's name
        app.settings_view.path = missing / "settings.toml"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.notes)
        assert app.notes[-1] == ("error", f"Cannot save {missing / 'settings.toml'}: the folder {missing} does not exist.")
        assert not missing.exists()


async def test_save_as_after_a_preset_keeps_comments_only_beside_the_values_they_were_written_for(tmp_path, monkeypatch):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "small.toml").write_text("[model]\nhidden_size = 64\n", encoding="utf-8")
    monkeypatch.setattr(settings_files, "PRESET_DIR", presets)
    path = tmp_path / "mine.toml"
    path.write_text(
        "# 256 wide, 3 layers: as the paper\n[model]\n# as the paper\nhidden_size = 256 # wide\n# deep\nnum_layers = 3\n",
        encoding="utf-8",
    )
    app = make_app(tmp_path, settings=load_settings(path), settings_path=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.run_action("preset")
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen) and app.screen.query(OptionList))
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, PresetScreen))
        await app.run_action("save_as")
        target = tmp_path / "small.toml"
        await type_path(pilot, app, target)
        await wait_for(pilot, target.exists)
    text = target.read_text(encoding="utf-8")
    help_text = section_fields("model")["hidden_size"].metadata["help"]
    assert f"# {help_text}\nhidden_size = 64\n# deep\nnum_layers = 3\n" in text  # the unchanged key keeps its own
    assert "paper" not in text and "wide" not in text  # the top comment described the old values too
    assert load_settings(target).model.hidden_size == 64


async def test_save_refuses_while_a_field_is_invalid(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text("[train]\nepochs = 2\n", encoding="utf-8")
    app = make_app(tmp_path, settings=load_settings(path), settings_path=path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(SettingsForm).focus_field("data.train_split")
        await pilot.press("ctrl+a", "ctrl+k", "1.5")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert path.read_text(encoding="utf-8") == "[train]\nepochs = 2\n"
        assert any(sev == "error" and "data.train_split" in msg for sev, msg in app.notes)


async def test_preset_picker_loads_a_preset_into_the_form(tmp_path, monkeypatch):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "tiny.toml").write_text("[model]\nhidden_size = 8\nbidirectional = false\n", encoding="utf-8")
    monkeypatch.setattr(settings_files, "PRESET_DIR", presets)
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        await app.run_action("preset")
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen) and app.screen.query(OptionList))
        await pilot.press("enter")  # the first (only) preset is highlighted
        await wait_for(pilot, lambda: not isinstance(app.screen, PresetScreen))
        form = app.query_one(SettingsForm)
        assert form.row("model", "hidden_size").value() == 8
        assert form.row("model", "bidirectional").value() is False
        assert app.settings_view.path == tmp_path / "settings.toml"  # ctrl+s still writes the user's file


async def test_a_preset_changes_only_the_settings_it_sets(tmp_path, monkeypatch):
    """Issue 16.17: loading a preset kept none of the form's values (F5 then tried to download the data)."""
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "tiny.toml").write_text("[model]\nhidden_size = 8\n[train]\nepochs = 3\n", encoding="utf-8")
    monkeypatch.setattr(settings_files, "PRESET_DIR", presets)
    settings = Settings()
    settings.data.root, settings.data.download = str(tmp_path / "data"), False
    settings.output.dir = str(tmp_path / "runs")
    app = make_app(tmp_path, settings=settings)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        form.focus_field("train.batch_size")
        await pilot.press("ctrl+a", "ctrl+k", *"96")  # an edit the preset does not touch survives it
        form.focus_field("model.num_layers")
        await pilot.press("ctrl+a", "ctrl+k", "x")  # an invalid text falls back to the settings' value
        await app.run_action("preset")
        await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen) and app.screen.query(OptionList))
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, PresetScreen))
        assert form.row("model", "hidden_size").value() == 8 and form.row("train", "epochs").value() == 3
        assert form.row("data", "root").value() == str(tmp_path / "data")
        assert form.row("data", "download").value() is False
        assert form.row("output", "dir").value() == str(tmp_path / "runs")
        assert form.row("train", "batch_size").value() == 96
        assert form.row("model", "num_layers").value() == settings.model.num_layers


def path_label(app) -> str:
    return str(app.query_one("#settings-path").render())


async def test_edits_are_marked_unsaved_until_saved_or_opened(tmp_path):
    """Issue 16.18: an edit puts a * before the settings file's name; saving or opening a file clears it."""
    path = tmp_path / "settings.toml"
    path.write_text("[train]\nepochs = 2\n", encoding="utf-8")
    app = make_app(tmp_path, settings=load_settings(path), settings_path=path)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        status = app.query_one("#status")
        await wait_for(pilot, lambda: path_label(app).startswith(str(path)))
        form.focus_field("train.epochs")
        await pilot.press("ctrl+a", "ctrl+k", "7")
        await wait_for(pilot, lambda: path_label(app).startswith(f"*{path}"))
        assert "(unsaved edits)" in str(status.render())
        await pilot.press("backspace", "2")  # typed back to what the file holds: no edit
        await wait_for(pilot, lambda: not path_label(app).startswith("*"))

        form.row("model", "bidirectional").editor.value = False  # a switch counts too
        await wait_for(pilot, lambda: path_label(app).startswith("*"))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: path_label(app).startswith(f"{path}  saved"))
        assert "(unsaved edits)" not in str(status.render()) and load_settings(path).model.bidirectional is False

        form.focus_field("train.epochs")
        await pilot.press("ctrl+a", "ctrl+k", "9")
        await wait_for(pilot, lambda: path_label(app).startswith("*"))
        other = tmp_path / "other.toml"
        other.write_text("[model]\nhidden_size = 32\n", encoding="utf-8")
        await pilot.press("ctrl+o")  # opening another file would replace the edits: asked first
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedScreen))
        await pilot.press("escape")  # cancel: the edits stay, no dialog
        await wait_for(pilot, lambda: not isinstance(app.screen, UnsavedScreen))
        assert form.modified and not isinstance(app.screen, PathScreen)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, UnsavedScreen))
        await pilot.press("d")  # don't save: on to the open dialog
        await type_path(pilot, app, other)
        await wait_for(pilot, lambda: path_label(app) == str(other))
        assert not form.modified


async def test_ctrl_q_with_unsaved_edits_asks_save_discard_or_cancel(tmp_path):
    """Issue 16.18: ctrl+q when idle quit at once, losing the edits; now it asks."""
    path = tmp_path / "settings.toml"
    path.write_text("[train]\nepochs = 2\n", encoding="utf-8")
    for answer in ("escape", "d", "s"):
        app = make_app(tmp_path, settings=load_settings(path), settings_path=path)
        async with app.run_test(size=(80, 24)) as pilot:
            app.query_one(SettingsForm).focus_field("train.epochs")
            await pilot.press("ctrl+a", "ctrl+k", "7")
            await wait_for(pilot, lambda: path_label(app).startswith("*"))
            await pilot.press("ctrl+q")
            await wait_for(pilot, lambda: isinstance(app.screen, UnsavedScreen))
            await pilot.press(answer)
            if answer == "escape":
                await wait_for(pilot, lambda: not isinstance(app.screen, UnsavedScreen))
                assert app.is_running and app.query_one(SettingsForm).modified
                await pilot.press("ctrl+q")  # asks again
                await wait_for(pilot, lambda: isinstance(app.screen, UnsavedScreen))
                await pilot.press("d")
            await wait_for(pilot, lambda: not app.is_running)
        assert app.return_code == 0
        assert load_settings(path).train.epochs == (7 if answer == "s" else 2)


async def test_up_and_down_move_between_fields_and_keep_the_field_in_view(tmp_path):
    """Issue 16.16: on a section that scrolls at 80x24, down scrolled the form and left the focus off screen."""
    from textual.containers import VerticalScroll

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(SettingsForm)
        form.focus_field("train.epochs")
        rows = [r for r in form.rows() if r.section == "train"]
        scroll = rows[0].query_ancestor(VerticalScroll)
        # laid out, focused, and taller than the screen: the case that broke
        await wait_for(pilot, lambda: app.focused is rows[0].editor and scroll.max_scroll_y > 0)

        def in_view(row) -> bool:
            editor = row.editor
            return app.focused is editor and scroll.region.contains_region(editor.region)

        for row in rows[1:]:  # through inputs, switches and choices alike
            await pilot.press("down")
            await wait_for(pilot, lambda: in_view(row))
        for row in reversed(rows[:-1]):
            await pilot.press("up")
            await wait_for(pilot, lambda: in_view(row))
        assert not any(select.expanded for select in form.query(Select))  # up/down opened no menu


BAD_FILE = '# mine\n[model]\nhidden_size = 0\n\n[optim]\nlearning_rate = "fast"\n'


def test_an_invalid_settings_toml_opens_the_app_instead_of_refusing_it(tmp_path, monkeypatch):
    """Issue 33.5 (the command line's half): the app was refused (one sentence, exit 2) on an invalid
    ./settings.toml; now it opens on the defaults with the file's reason, and headless still refuses."""
    from lstm_vision.cli import _invalid_default_file, build_parser, resolve_settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / "settings.toml").write_text(BAD_FILE, encoding="utf-8")
    args = build_parser().parse_args(["--set", "train.epochs=3"])
    reason = _invalid_default_file(args)
    assert reason == "settings.toml: model.hidden_size must be >= 1 and <= 8192, not 0."
    settings, path = resolve_settings(args, read_file=False)
    assert (settings.model.hidden_size, settings.train.epochs, str(path)) == (Settings().model.hidden_size, 3, "settings.toml")
    assert _invalid_default_file(build_parser().parse_args(["--no-ui"])) == ""  # headless: the sentence, exit 2


async def test_an_invalid_settings_file_shows_its_values_red_and_f5_waits_until_it_is_saved_fixed(tmp_path):
    """Issue 33.5: the form opens on the file's own values, each wrong one red with its reason; F5 is refused
    while the file is not valid; fixed in the form and saved (ctrl+s), the file loads and F5 starts."""
    path = tmp_path / "settings.toml"
    path.write_text(BAD_FILE, encoding="utf-8")
    engine = FakeEngine(tmp_path / "runs")
    app = make_app(tmp_path, engine=engine, settings_path=path)
    app.initial_invalid = "settings.toml: model.hidden_size must be >= 1 and <= 8192, not 0."  # as run_app passes it
    async with app.run_test(size=(100, 30)) as pilot:
        form = app.query_one(SettingsForm)
        hidden, rate = form.row("model", "hidden_size"), form.row("optim", "learning_rate")
        await wait_for(pilot, lambda: hidden.has_class("-invalid") and rate.has_class("-invalid"))
        assert (hidden.editor.value, rate.editor.value) == ("0", "fast")
        assert any(s == "error" and "Fix it in the form and save it (ctrl+s)" in n for s, n in app.notes)
        await pilot.pause()
        assert not form.modified and "unsaved" not in str(app.query_one("#status").render())  # nothing edited yet
        assert not path_label(app).startswith("*")
        await pilot.press("f5")
        await wait_for(pilot, lambda: any("Cannot start: settings.toml: model.hidden_size" in n for _, n in app.notes))
        hidden.set_value(64)
        rate.set_value(0.002)
        await pilot.pause()
        await pilot.press("f5")  # the form is right now, but the file is not yet
        await pilot.pause()
        assert engine.calls == []
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not app.settings_view.invalid)
        assert load_settings(path).model.hidden_size == 64
        assert path.read_text(encoding="utf-8").startswith("# mine")  # its comments kept
        await pilot.press("f5")
        await wait_for(pilot, lambda: engine.calls)
        assert engine.calls[0]["settings"].optim.learning_rate == 0.002
