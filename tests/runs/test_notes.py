"""output.tags and output.notes in summary.json; a finished run's notes edited in its folder (runs/notes.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processes import cli, tiny_args
from lstm_vision.control import RunControl
from lstm_vision.errors import SettingsError
from lstm_vision.runs.notes import read_notes, set_notes
from lstm_vision.training.engine import run


def summary_of(run_dir) -> dict:
    return json.loads((Path(run_dir) / "summary.json").read_text())


def test_tags_notes_and_the_run_name_from_the_command_line_reach_summary_json(mnist_root, tmp_path):
    args = tiny_args(mnist_root, tmp_path) + ["--set", 'output.tags=["baseline", "small"]', "--set", "output.notes=first try"]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    summary = summary_of(tmp_path / "cli")
    assert (summary["tags"], summary["notes"], summary["run_name"]) == (["baseline", "small"], "first try", "cli")


@pytest.mark.parametrize(
    "value, words",
    [("[1, 2]", "a list of words"), ('["two words"]', "without spaces"), ('["open"', "a list of words")],
)
def test_tags_that_are_not_words_are_one_sentence_and_exit_2(mnist_root, tmp_path, value, words):
    result = cli(*tiny_args(mnist_root, tmp_path), "--set", f"output.tags={value}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "output.tags" in result.stderr and words in result.stderr and not (tmp_path / "cli").exists()


def test_notes_edited_after_the_run_replace_its_notes_in_the_folder(tiny_settings):
    tiny_settings.output.notes = "as started"
    result = run(tiny_settings, lambda e: None, RunControl())
    assert read_notes(result.run_dir) == "as started" == summary_of(result.run_dir)["notes"]
    set_notes(result.run_dir, "lr too high?\nsecond line")
    assert read_notes(result.run_dir) == "lr too high?\nsecond line" == summary_of(result.run_dir)["notes"]
    assert summary_of(result.run_dir)["test_accuracy"] is not None  # the rest of the summary is kept
    assert (Path(result.run_dir) / "notes.txt").read_text() == "lr too high?\nsecond line"


def test_notes_edited_while_the_run_goes_on_are_the_ones_its_summary_writes(tiny_settings):
    """A run still going writes summary.json at its end: notes edited meanwhile (notes.txt) are the ones it keeps."""
    from lstm_vision import events as ev

    def edit_after_the_first_epoch(event):
        if isinstance(event, ev.EpochFinished) and event.epoch == 1:
            set_notes(tiny_settings.output.dir + "/test", "edited while it ran")

    tiny_settings.output.notes = "as started"
    result = run(tiny_settings, edit_after_the_first_epoch, RunControl())
    assert summary_of(result.run_dir)["notes"] == "edited while it ran" == read_notes(result.run_dir)


def test_notes_of_a_folder_that_is_no_run_are_refused_in_one_sentence(tmp_path):
    with pytest.raises(SettingsError, match="is not a run folder"):
        set_notes(tmp_path, "text")
