"""A run's curves from its events, as curves.png and the app's charts draw them: x in epochs
(global_step / steps_per_epoch for a logged step), so that the step and the epoch series share an axis."""

from __future__ import annotations

from dataclasses import dataclass, field

from lstm_vision import events as ev


@dataclass
class Curves:
    # per logged step
    step_x: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    step_acc: list[float] = field(default_factory=list)  # %
    lr: list[float] = field(default_factory=list)  # at step_x
    # per epoch
    epoch_x: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_x: list[float] = field(default_factory=list)  # the epochs that were validated
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)

    def add(self, event: ev.Event) -> None:
        if isinstance(event, ev.StepLogged):
            self.step_x.append(event.global_step / max(event.steps_per_epoch, 1))
            self.step_loss.append(event.loss)
            self.step_acc.append(100.0 * event.accuracy)
            self.lr.append(event.lr)
        elif isinstance(event, ev.EpochFinished):
            self.epoch_x.append(float(event.epoch))
            self.train_loss.append(event.train_loss)
            self.train_acc.append(100.0 * event.train_accuracy)
            if event.val_loss is not None and event.val_accuracy is not None:
                self.val_x.append(float(event.epoch))
                self.val_loss.append(event.val_loss)
                self.val_acc.append(100.0 * event.val_accuracy)
