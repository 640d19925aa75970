"""The builder's text for a setting's values (lstm_vision/sweep/draft.py): lists and ranges checked by --set's parse_text,
and the sweep file written from them, as the engine reads it."""

import pytest

from lstm_vision.errors import SettingsError
from lstm_vision.sweep.spec import read_sweep
from lstm_vision.sweep.draft import (
    Range,
    SweepDraft,
    check_setting_name,
    parse_values,
    read_draft,
    write_draft,
    split_items,
    values_text,
)


def test_values_are_a_list_or_a_range_checked_as_set_checks_them():
    assert parse_values("optim.learning_rate", "1e-3, 2e-3", "grid") == [1e-3, 2e-3]
    assert parse_values("model.hidden_size", "64,128", "grid") == [64, 128]
    assert parse_values("model.bidirectional", "true, false", "grid") == [True, False]
    assert parse_values("optim.schedule", "cosine, constant", "grid") == ["cosine", "constant"]
    assert parse_values("optim.betas", "[0.9, 0.999], [0.95, 0.999]", "grid") == [[0.9, 0.999], [0.95, 0.999]]
    assert parse_values("optim.weight_decay", "1e-4 .. 0.1 log", "tpe") == Range(1e-4, 0.1, True)
    assert parse_values("model.hidden_size", "32..256", "random") == Range(32, 256, False)


@pytest.mark.parametrize(
    "name, text, method, sentence",
    [
        ("optim.learnin_rate", "1e-3", "grid", "Unknown setting optim.learnin_rate (did you mean 'learning_rate'?)."),
        ("learning_rate", "1e-3", "grid", "'learning_rate' is not a setting: give its dotted name, e.g. optim.learning_rate."),
        ("model.hidden_size", "64, 12x", "grid", "model.hidden_size must be a whole number (digits 0-9), not '12x'."),
        ("optim.schedule", "cosine, step", "grid", "optim.schedule must be one of constant, onecycle, cosine, not 'step'."),
        ("model.hidden_size", "64, 64", "grid", "model.hidden_size lists 64 twice; give each value once."),
        (
            "model.hidden_size",
            "",
            "grid",
            "model.hidden_size: give its values, a list, 1e-3, 2e-3; or (random, tpe) a range, 1e-4 .. 0.1 log.",
        ),
        (
            "optim.learning_rate",
            "1e-4 .. 0.1",
            "grid",
            "optim.learning_rate: a range needs method random or tpe; a grid takes a list of values, e.g. 1e-3, 2e-3.",
        ),
        ("optim.schedule", "a .. b", "tpe", "optim.schedule is not a number, so it takes a list of values, not a range."),
        (
            "optim.learning_rate",
            "0.1 .. 1e-4",
            "tpe",
            "optim.learning_rate: the range's low end must be below its high end, not 0.1 .. 0.0001.",
        ),
        ("optim.weight_decay", "0 .. 0.1 log", "tpe", "optim.weight_decay: a log range needs a low end above 0, not 0.0."),
        (
            "optim.learning_rate",
            "1e-4 .. 0.1 ln",
            "tpe",
            "optim.learning_rate: a range is 'low .. high' or 'low .. high log', not '1e-4 .. 0.1 ln'.",
        ),
    ],
)
def test_bad_values_are_one_sentence_naming_the_setting(name, text, method, sentence):
    with pytest.raises(SettingsError) as err:
        parse_values(name, text, method)
    assert str(err.value) == sentence


def test_items_split_at_commas_outside_brackets():
    assert split_items("[0.9, 0.999], [0.95, 0.99] ,") == ["[0.9, 0.999]", "[0.95, 0.99]"]
    assert check_setting_name(" train.epochs ") == ("train", "epochs")


def test_the_file_written_is_what_the_engine_reads_and_the_builder_reads_back(tmp_path):
    space = {"optim.learning_rate": [1e-3, 2e-3], "model.bidirectional": [True, False], "train.epochs": Range(1, 3)}
    spec = SweepDraft("lr", method="tpe", trials=5, metric="val_loss", prune="median", repeats=3, space=space)
    path = tmp_path / "lr.sweep.toml"
    write_draft(spec, path)
    engine = read_sweep(path)
    assert (engine.name, engine.method, engine.trials, engine.metric, engine.prune, engine.repeats) == (
        "lr",
        "tpe",
        5,
        "val_loss",
        "median",
        3,
    )
    assert [(d.name, d.values, d.low, d.high) for d in engine.space] == [
        ("optim.learning_rate", (1e-3, 2e-3), None, None),
        ("model.bidirectional", (True, False), None, None),
        ("train.epochs", None, 1, 3),
    ]
    back = read_draft(path)
    assert back == spec
    assert [values_text(v) for v in back.space.values()] == ["0.001, 0.002", "true, false", "1 .. 3"]


def test_what_the_sweep_owns_cannot_vary_in_the_builder_either():
    with pytest.raises(SettingsError) as err:
        parse_values("output.dir", "a, b", "grid")
    assert str(err.value).startswith("output.dir cannot vary between trials")


def test_a_file_saved_unchanged_keeps_its_text_and_a_change_is_written_over_it(tmp_path):
    opened = tmp_path / "hand.toml"
    text = '# mine\n[sweep]\ntrials = 4  # four\nbase = "./s.toml"\n\n[space]\n"model.hidden_size" = [8, 16]\n'
    opened.write_text(text, encoding="utf-8")
    draft = read_draft(opened)
    assert (draft.name, draft.method, draft.trials, draft.metric, draft.prune) == ("hand", "tpe", 4, "val_accuracy", "none")
    draft.base = "s.toml"  # what the app computes from the resolved base: the same file, written otherwise
    write_draft(draft, opened, opened)
    assert opened.read_text(encoding="utf-8") == text
    elsewhere = tmp_path / "sub" / "other.toml"
    elsewhere.parent.mkdir()
    draft.base, draft.method, draft.space = "../s.toml", "grid", {"model.hidden_size": [8, 16], "train.epochs": [1, 2]}
    write_draft(draft, elsewhere, opened)
    saved = read_sweep(elsewhere, check_base=False)
    # the name its file gave is written, since the new file's name would give another; a grid has no count
    assert (saved.name, saved.method, saved.trials, saved.base) == ("hand", "grid", None, tmp_path / "s.toml")
    assert [d.name for d in saved.space] == ["model.hidden_size", "train.epochs"]
    assert "# mine" in elsewhere.read_text(encoding="utf-8")
