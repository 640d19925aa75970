"""Which runner trains these settings: one decision for the headless CLI and the app."""

from __future__ import annotations

import os
from typing import Any, Callable

from lstm_vision.config import Settings


def runner_for(settings: Settings) -> Callable[..., Any]:
    """engine.run in this process, or the torchrun launcher when more than one process is asked for
    (and this process is not already a rank that torchrun started). Both take
    (settings, emit, control, resume=None, run_dir=None) and return a RunResult."""
    if settings.system.nproc > 1 and "RANK" not in os.environ:
        from lstm_vision.launcher import launch_local
        return launch_local
    from lstm_vision.engine import run
    return run
