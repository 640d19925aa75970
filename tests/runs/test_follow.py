"""Reading a run's journal from outside its process: where a run stands, for a list of runs."""

from __future__ import annotations

import dataclasses

from lstm_vision.runs.follow import JournalStanding
from apps import epoch_done, progressed, run_started, step


def write(path, events, mode="a") -> None:
    with open(path, mode, encoding="utf-8") as handle:
        handle.writelines(e.to_json() + "\n" for e in events)


def test_the_standing_follows_the_journal_and_forgets_epochs_a_resume_took_back(tmp_path):
    journal = tmp_path / "metrics.jsonl"
    worse = dataclasses.replace(epoch_done(3, 4), val_loss=9.0, val_accuracy=0.5)
    write(journal, [run_started(str(tmp_path), 4, 2), step(1, 2, 2, 4), epoch_done(1, 4), epoch_done(2, 4), worse])
    reader = JournalStanding(tmp_path)
    standing = reader.read()
    assert (standing.epochs_completed, standing.best_val_accuracy, standing.train_time_s) == (
        3,
        epoch_done(2, 4).val_accuracy,
        12.0,
    )

    # a resume from epoch 1's checkpoint (the journal was not cut back): epochs 2 and 3 are no longer the run's
    resumed = dataclasses.replace(run_started(str(tmp_path), 4, 2), start_epoch=1)
    write(journal, [resumed, progressed(2, 1, 2, 4)])
    standing = reader.read()
    assert (standing.epochs_completed, standing.best_val_accuracy) == (1, epoch_done(1, 4).val_accuracy)
    assert standing.progress == progressed(2, 1, 2, 4) and standing.train_time_s == 180.0

    write(journal, [run_started(str(tmp_path), 4, 2)], mode="w")  # cut back to a shorter file: read again
    assert reader.read().epochs_completed == 0 and reader.reader.restarts == 1
