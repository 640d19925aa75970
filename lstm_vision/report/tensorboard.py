"""TensorBoard event files in the run directory (output.tensorboard = true): one more consumer of the events.

Loss, accuracy, learning rate and throughput per logged step; train and validation figures per epoch;
host and GPU memory; the settings as text, and what a resume changed of them. torch.utils.tensorboard needs the tensorboard package,
an optional extra: asked for without it, the run is refused before it starts, in one sentence.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lstm_vision import events as ev
from lstm_vision.settings import Settings, render_toml
from lstm_vision.errors import SettingsError


def check_available(settings: Settings) -> None:
    if settings.output.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise SettingsError(
            "output.tensorboard = true needs the tensorboard package: pip install "
            "'lstm-vision[tensorboard]' (or pip install tensorboard), or set it to false."
        )


class TensorBoardLog:
    """Called with every event of rank 0; writes what TensorBoard can chart."""

    def __init__(self, run_dir: Path, settings: Settings) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir))
        self.writer.add_text("settings", "```\n" + render_toml(settings) + "\n```")
        self.step = 0
        self.steps_per_epoch = 0

    def __call__(self, event: ev.Event) -> None:
        w = self.writer
        t = event.wall_time  # the event's own clock: a replayed or relayed event keeps when it happened
        if isinstance(event, ev.RunStarted):
            self.steps_per_epoch = event.steps_per_epoch
        elif isinstance(event, ev.StepLogged):
            self.step = event.global_step
            w.add_scalar("train/loss", event.loss, self.step, walltime=t)
            w.add_scalar("train/accuracy", event.accuracy, self.step, walltime=t)
            w.add_scalar("train/learning_rate", event.lr, self.step, walltime=t)
            w.add_scalar("train/samples_per_s", event.samples_per_s, self.step, walltime=t)
        elif isinstance(event, ev.EpochFinished):
            w.add_scalar("epoch/train_loss", event.train_loss, event.epoch, walltime=t)
            w.add_scalar("epoch/train_accuracy", event.train_accuracy, event.epoch, walltime=t)
            if event.val_loss is not None:
                w.add_scalar("epoch/val_loss", event.val_loss, event.epoch, walltime=t)
                w.add_scalar("epoch/val_accuracy", event.val_accuracy, event.epoch, walltime=t)
            w.add_scalar("epoch/samples_per_s", event.samples_per_s, event.epoch, walltime=t)
        elif isinstance(event, ev.ResourcesSampled):
            w.add_scalar("memory/host_rss_bytes", event.host_rss_bytes, self.step, walltime=t)
            if event.gpu:
                for key in ("allocated_bytes", "reserved_bytes", "peak_allocated_bytes"):
                    if event.gpu.get(key) is not None:
                        w.add_scalar(f"memory/gpu_{key}", event.gpu[key], self.step, walltime=t)
        elif isinstance(event, ev.EvaluationFinished) and event.split == "test":
            w.add_scalar("test/accuracy", event.accuracy, event.epoch, walltime=t)
            w.add_scalar("test/loss", event.loss, event.epoch, walltime=t)
        elif isinstance(event, ev.SettingsChanged):  # beside the settings text this process wrote at its start
            rows = "\n".join(f"| {name} | {before} | {after} |" for name, (before, after) in event.changes.items())
            step = event.epoch * self.steps_per_epoch + event.step  # the step the new settings apply from
            w.add_text("settings_changed", f"| setting | before | after |\n|---|---|---|\n{rows}", step, walltime=t)
        elif isinstance(event, (ev.RunFinished, ev.RunStopped, ev.RunFailed)):
            w.flush()

    def close(self) -> None:
        self.writer.close()
