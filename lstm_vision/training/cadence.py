"""When the training loop looks at its control and when it logs a step: by count and by clock.

A stop or pause must take effect "after this batch" whatever the model's speed, and a chart point
must come every few seconds even when ``log_every`` steps take minutes (the default model on a CPU).
In one process the control is a thread-safe flag, so it is read after every step. Under DDP the ranks
must decide together, so they meet in one small all-reduce about every SYNC_PERIOD_S: the stop and
pause flags, "a log is due by the clock" and the slowest rank's step time, which sets how many steps
pass before the next meeting. Every rank computes the same numbers from the same reduced tensor.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import torch

from lstm_vision.control import RunControl
from lstm_vision.distributed.collectives import DistContext, agree_on_control

SYNC_PERIOD_S = 0.25  # DDP: how often the ranks meet to agree on stop / pause / log
LOG_PERIOD_S = 2.0  # a logged step at least this often, however many steps log_every asks for
MAX_STEPS_BETWEEN_SYNCS = 1000


class Tick(NamedTuple):
    stop: bool
    log_next: bool  # a logged step is due by the clock: log the next step whatever log_every says
    paused_s: float  # time spent held by a pause in this tick: not training time


class Cadence:
    def __init__(self, control: RunControl, dist: DistContext, device: torch.device, on_pause: Callable[[bool], None]) -> None:
        self.control, self.dist, self.device, self.on_pause = control, dist, device, on_pause
        self.last_log = self.last_sync = time.perf_counter()
        self.steps_since_sync = 0
        self.sync_every = 1  # the first step meets at once, then the measured step time decides
        self._held = False

    def _notify(self, paused: bool) -> None:
        self._held = self._held or paused
        self.on_pause(paused)

    def tick(self, logged: bool) -> Tick:
        """Call after each optimizer step (and its log, if ``logged``). Holds while the run is paused."""
        now = time.perf_counter()
        if logged:
            self.last_log = now
        log_due = now - self.last_log >= LOG_PERIOD_S
        stop, self._held = False, False
        if not self.dist.enabled:
            stop = agree_on_control(self.control, self.device, self.dist, self._notify)[0]
        else:
            self.steps_since_sync += 1
            if self.steps_since_sync < self.sync_every:
                return Tick(False, False, 0.0)
            step_s = (now - self.last_sync) / self.steps_since_sync
            stop, (due, slowest_step_s) = agree_on_control(
                self.control, self.device, self.dist, self._notify, values=(float(log_due), step_s)
            )
            log_due = due > 0
            self.sync_every = max(1, min(MAX_STEPS_BETWEEN_SYNCS, int(SYNC_PERIOD_S / max(slowest_step_s, 1e-6))))
            self.steps_since_sync = 0
            self.last_sync = time.perf_counter()
        return Tick(stop, log_due, time.perf_counter() - now if self._held else 0.0)

    def stop_requested(self) -> bool:
        """Between evaluation batches: was a stop asked for? All ranks together; holds while paused."""
        return agree_on_control(self.control, self.device, self.dist, self._notify)[0]
