"""How a run ended, as the runners return it: the in-process engine, the torchrun launcher, the headless CLI;
and the exit code each ending gives, the one mapping the CLI, the app and a background run use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A run's ending, as its summary.json and process.json name it -> the exit code (cli's --help lists them;
# 2, settings refused before the run started, is no ending of a run).
EXIT_CODES = {"completed": 0, "stopped": 130, "failed": 1}


@dataclass
class RunResult:
    status: str  # "completed", "stopped" or "failed"
    run_dir: str
    summary: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]
