"""The training loop's running figures for one epoch, kept on the device so that a step costs no sync.

[loss sum, correct, samples] accumulate in a window that is summed over the ranks only when a step is
logged (one collective, on every rank at the same step), then folded into the epoch's sums: those are
therefore global, as a checkpoint's partial epoch must be. The epoch's clock leaves out paused time.
"""

from __future__ import annotations

import time

import torch

from lstm_vision.distributed.collectives import DistContext, all_reduce_max, all_reduce_sum
from lstm_vision.training.state import PartialEpoch


class EpochMeters:
    def __init__(self, before: PartialEpoch, device: torch.device) -> None:
        """``before``: what a resumed epoch had trained before its stop (empty for a new epoch)."""
        self.before = before
        self.sums = torch.tensor([before.loss, before.correct, before.seen], device=device, dtype=torch.float64)
        self.window = torch.zeros(3, device=device, dtype=torch.float64)
        self.window_samples = 0  # this rank's, counted on the host
        self.first_bad_step = torch.full((), -1, device=device, dtype=torch.int64)
        self.started = self.window_started = time.perf_counter()
        self.paused_s = 0.0

    def add(self, stats: torch.Tensor, global_step: int, samples: int) -> None:
        """One optimizer step's [loss sum, correct, samples] (train_step) and this rank's sample count."""
        self.window += stats
        loss = stats[0] / stats[2].clamp_min(1)
        self.first_bad_step = torch.where((self.first_bad_step < 0) & ~torch.isfinite(loss), global_step, self.first_bad_step)
        self.window_samples += samples

    def exclude_pause(self, seconds: float) -> None:
        self.paused_s += seconds  # paused time is neither training time nor throughput
        self.window_started += seconds

    def seconds(self) -> float:
        """Training time in this epoch since it began or was resumed."""
        return time.perf_counter() - self.started - self.paused_s

    def log_window(self, dist: DistContext) -> tuple[float, float, float]:
        """The window's loss, accuracy and samples per second over all ranks; the next window begins."""
        rate = self.window_samples * dist.world_size / max(time.perf_counter() - self.window_started, 1e-9)
        loss, correct, seen = self._fold(dist)
        self.window_started, self.window_samples = time.perf_counter(), 0
        return loss / max(seen, 1), correct / max(seen, 1), rate

    def nonfinite_step(self, dist: DistContext) -> int | None:
        """The first global step whose loss was NaN or infinite on any rank (a collective), if any."""
        step = int(all_reduce_max(self.first_bad_step.clone(), dist).item())
        return step if step >= 0 else None

    def so_far(self, seconds: float, dist: DistContext) -> PartialEpoch:
        """The epoch as far as it went, over all ranks, with ``seconds`` (since it began or was resumed) added
        to its time. A collective: a stop lands between logged steps, with a window not yet summed."""
        self._fold(dist)
        loss, correct, seen = self.sums.tolist()
        return PartialEpoch(loss, correct, seen, self.before.seconds + seconds)

    def _fold(self, dist: DistContext) -> list[float]:
        """Sum the window over the ranks into the epoch's sums; returns the summed window."""
        all_reduce_sum(self.window, dist)
        self.sums += self.window
        window = self.window.tolist()
        self.window.zero_()
        return window
