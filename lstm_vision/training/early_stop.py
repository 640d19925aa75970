"""Early stopping (train.early_stop_patience, train.early_stop_min_delta): after ``patience`` validated epochs in
which the validation loss (the metric that picks best.pt) fell by no more than ``min_delta`` from the last value
that counted as an improvement, the run stops training and ends as a completed one: it tests, and its summary
says early_stopped_epoch. The validation loss is reduced over all ranks, so every rank decides alike.
The count is part of a checkpoint, so a resumed run goes on counting where it was."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from lstm_vision.text import plural


@dataclass
class EarlyStop:
    reference: float | None = None  # the last validation loss that counted as an improvement
    stale: int = 0  # validated epochs since then without one

    def observe(self, val_loss: float, min_delta: float) -> None:
        if self.reference is None or val_loss < self.reference - min_delta:
            self.reference, self.stale = val_loss, 0
        else:
            self.stale += 1

    def due(self, patience: int) -> bool:
        return patience > 0 and self.stale >= patience

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> EarlyStop:
        state = state or {}
        return cls(state.get("reference"), int(state.get("stale") or 0))


def reason(epoch: int, patience: int, min_delta: float, best_loss: float | None, best_epoch: int | None) -> str:
    """The line that says why the run stopped training before its last epoch."""
    fall = f"by more than {min_delta:g}" if min_delta else "at all"
    best = f"; best.pt is epoch {best_epoch}'s (validation loss {best_loss:.4f})" if best_epoch is not None else ""
    return (
        f"Early stop after epoch {epoch}: the validation loss has not fallen {fall} in "
        f"{plural(patience, 'validated epoch')} (train.early_stop_patience = {patience}){best}; the test set is "
        f"evaluated with the last epoch's weights, as in every run."
    )
