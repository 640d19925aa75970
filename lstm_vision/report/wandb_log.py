"""output.wandb: the run as a Weights & Biases run, fed from the events (report/trackers.py says when it is used).

The settings as its config under their dotted names; the figures under the journal's names (trackers.step_metrics),
each plotted against its own axis (global_step for the steps' figures, epoch for the epochs'); the run folder's
files as an artifact at the end; the run's name, tags and notes. W&B's own files go to the run folder's wandb/.
WANDB_MODE=offline keeps everything there, for `wandb sync` later. A sweep's trials share its folder's name as
their group.
"""

from __future__ import annotations

from pathlib import Path

from lstm_vision import events as ev
from lstm_vision.report.tracked import FINAL, run_files, step_metrics
from lstm_vision.runs.compare import flat_settings
from lstm_vision.settings import Settings

STEP_AXIS = {"loss", "accuracy", "lr", "samples_per_s"}  # per logged step; the rest per epoch


class WandbLog:
    def __init__(self, run_dir: Path, settings: Settings, parent: str | None) -> None:
        import wandb

        out = settings.output
        self.run = wandb.init(
            project=out.wandb,
            name=run_dir.name,
            dir=str(run_dir),
            config=flat_settings(settings),
            tags=list(out.tags),
            notes=out.notes or None,
            group=Path(parent).name if parent else None,
            reinit="create_new",  # the app trains many runs in one process
            settings=wandb.Settings(silent=True, console="off"),
        )
        self.run.define_metric("global_step")
        self.run.define_metric("epoch")
        for name in STEP_AXIS:
            self.run.define_metric(name, step_metric="global_step")
        for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "epoch_time_s", "test_accuracy", "test_loss"):
            self.run.define_metric(name, step_metric="epoch")
        self.run_dir, self.ended = run_dir, False

    def __call__(self, event: ev.Event) -> None:
        found = step_metrics(event)
        if found is not None:
            figures, step = found
            axis = "global_step" if set(figures) <= STEP_AXIS else "epoch"
            self.run.log({axis: step, **figures})
        if isinstance(event, FINAL):
            self.finish(event)

    def finish(self, event: ev.Event) -> None:
        import wandb

        summary = getattr(event, "summary", None) or {}
        for key in ("status", "early_stopped_epoch", "best_val_loss", "best_val_accuracy", "best_val_epoch", "macro_f1"):
            if summary.get(key) is not None:
                self.run.summary[key] = summary[key]
        files = wandb.Artifact(f"{self.run_dir.name}-files", type="run-files")
        for path in run_files(self.run_dir):
            files.add_file(str(path))
        self.run.log_artifact(files)
        self.run.finish(exit_code=0 if isinstance(event, ev.RunFinished) else 1)
        self.ended = True

    def close(self, exit_code: int) -> None:
        if not self.ended:
            self.run.finish(exit_code=exit_code)
