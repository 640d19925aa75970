"""How a run ended, as the runners return it: the in-process engine, the torchrun launcher, the headless CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RunResult:
    status: str  # "completed", "stopped" or "failed"
    run_dir: str
    exit_code: int
    summary: dict[str, Any] | None = None
