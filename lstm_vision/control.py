"""RunControl: how a watcher (the app, a signal handler, a parent process) steers a run.

The engine polls it between batches, so a stop always finishes the batch in flight.
"""

from __future__ import annotations

import threading


class RunControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()  # set = not paused
        self._running.set()
        self.prune_reason: str | None = None  # set by prune: the stop is a sweep's verdict, not a user's request

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop

    def prune(self, reason: str) -> None:
        """Stop the run because a sweep's pruner judged it (``reason``, one sentence, goes to its log): it ends
        as "pruned", not "stopped" (training/finish.py)."""
        self.prune_reason = reason
        self.stop()

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        """Block while paused; returns at once when running or stopping."""
        self._running.wait()
