"""What every tracker sends (report/mlflow_log.py, report/wandb_log.py): the figures of an event under the journal's
names, the events that end a run, the run's files kept at its end. Apart from trackers.py, which opens the trackers
by their modules, so that those modules need not import it back."""

from __future__ import annotations

from pathlib import Path

from lstm_vision import events as ev


def step_metrics(event: ev.Event) -> tuple[dict[str, float], int] | None:
    """The figures of one event under the journal's names, and the step they belong to: per logged step
    (loss, accuracy, lr, samples_per_s at the global step), per epoch (train_loss, val_loss, ... at the epoch),
    the test set's at the end (test_accuracy, test_loss at the last epoch); None for the others."""
    if isinstance(event, ev.StepLogged):
        return {"loss": event.loss, "accuracy": event.accuracy, "lr": event.lr, "samples_per_s": event.samples_per_s}, (
            event.global_step
        )
    if isinstance(event, ev.EpochFinished):
        names = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_time_s")
        figures = {name: getattr(event, name) for name in names if getattr(event, name) is not None}
        return figures, event.epoch
    if isinstance(event, ev.EvaluationFinished) and event.split == "test":
        return {"test_accuracy": event.accuracy, "test_loss": event.loss}, event.epoch
    return None


FINAL = (ev.RunFinished, ev.RunStopped, ev.RunFailed)


def run_files(run_dir: Path) -> list[Path]:
    """What a tracker keeps of the run's folder at its end: best.pt, summary.json, the settings, the CSVs, the PNGs."""
    from lstm_vision.runs.folder import BEST_CHECKPOINT, CONFUSION_CSV, PER_CLASS_CSV, SETTINGS_FILE, SUMMARY_FILE

    names = [BEST_CHECKPOINT, SUMMARY_FILE, SETTINGS_FILE, CONFUSION_CSV, PER_CLASS_CSV]
    return [run_dir / n for n in names if (run_dir / n).is_file()] + sorted(run_dir.glob("*.png"))
