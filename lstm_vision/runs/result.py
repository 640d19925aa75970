"""How a run ended, as the runners return it: the in-process engine, the torchrun launcher, the headless CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RunResult:
    status: str  # "completed", "pruned", "stopped" or "failed"
    run_dir: str
    exit_code: int
    summary: dict[str, Any] | None = None


# A status's exit code, decided here once. A pruned run (a sweep's pruner cut it short: training/finish.py) is a
# normal outcome of a sweep, not a failure and not a user's stop: 0, as completed.
EXIT_CODES = {"completed": 0, "pruned": 0, "stopped": 130, "failed": 1}
