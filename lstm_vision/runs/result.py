"""How a run ended, as the runners return it: the in-process engine, the torchrun launcher, the headless CLI;
and the exit code each ending gives, the one mapping the CLI, the app and a background run use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A run's ending, as its summary.json and process.json name it -> the exit code (cli's --help lists them;
# 2, settings refused before the run started, is no ending of a run). A pruned run (a sweep's pruner cut it
# short: training/finish.py) is a normal outcome of a sweep, not a failure and not a user's stop: 0, as completed.
EXIT_CODES = {"completed": 0, "pruned": 0, "stopped": 130, "failed": 1}
EXIT_STOPPED = EXIT_CODES["stopped"]  # a user's stop, resumable: 128 + SIGINT, as a shell reports Ctrl-C
EXIT_FAILED = EXIT_CODES["failed"]
EXIT_BAD_INPUT = 2  # settings, arguments or data refused in one sentence, before a run began


@dataclass
class RunResult:
    status: str  # "completed", "pruned", "stopped" or "failed"
    run_dir: str
    summary: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]
