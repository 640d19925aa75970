"""Which rank failed first, and why: from the ranks' error files and torchrun's own report.

Each rank that fails with a Python error writes torchrun's error file (distributed.record_failure),
with the exact time; a rank killed by a signal writes nothing, and torchrun's ChildFailedError report
names it. The first failure is the cause; the other ranks' errors (a closed connection) follow from it.
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from lstm_vision.atomic import atomic_write_text
from lstm_vision.runs.folder import ERROR_LOG


@dataclass(frozen=True)
class RankFailure:
    rank: int | None
    exit_code: int | None
    message: str
    traceback: str = ""
    time: float = float("inf")

    def sentence(self) -> str:
        who = f"Rank {self.rank}" if self.rank is not None else "A rank"
        if self.exit_code is not None and self.exit_code < 0:
            return f"{who} was {self.message}"
        code = f" with exit code {self.exit_code}" if self.exit_code is not None else ""
        return f"{who} failed{code}: {self.message}"


def first_failure(log_dir: Path, stderr_text: str) -> RankFailure | None:
    """The first rank that failed: from the ranks' error files, else from torchrun's report."""
    failures = recorded_failures(log_dir)
    reported = _root_cause_from_report(stderr_text)
    if reported is not None and reported.rank not in {f.rank for f in failures}:
        return reported  # it died without a Python error (a signal): the others' errors followed from it
    if failures:
        return min(failures, key=lambda f: (f.time, f.rank if f.rank is not None else 0))
    return reported


_TIMEOUT = re.compile(r"timed out|timeout", re.I)


def timeout_hint(failure: RankFailure, log_dir: Path, world_size: int) -> str:
    """For a collective that timed out: the ranks it waited for are those that reported no error."""
    if failure.exit_code is None or failure.exit_code < 0 or not _TIMEOUT.search(failure.message):
        return ""
    silent = sorted(set(range(world_size)) - {f.rank for f in recorded_failures(log_dir)})
    if not silent:
        return ""
    names = ", ".join(map(str, silent))
    return (
        f" It was waiting for rank{'s' if len(silent) > 1 else ''} {names}, which stopped responding "
        f"without an error (a hang, a deadlock, or far slower than the others) and "
        f"{'were' if len(silent) > 1 else 'was'} killed."
    )


def recorded_failures(log_dir: Path) -> list[RankFailure]:
    """The failures the ranks wrote to their torchrun error files."""
    failures = []
    for path in sorted(Path(log_dir).glob("**/error.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        ours = data.get("lstm_vision") or {}
        message = data.get("message")
        text = message.get("message", "") if isinstance(message, dict) else str(message or "")
        stack = message.get("extraInfo", {}).get("py_callstack", "") if isinstance(message, dict) else ""
        failures.append(
            RankFailure(
                ours.get("rank", _rank_from_path(path)),
                ours.get("exit_code"),
                ours.get("message", text),
                stack,
                float(ours.get("time", float("inf"))),
            )
        )
    return failures


def _rank_from_path(path: Path) -> int | None:
    # torchrun writes <log_dir>/<run_id>/attempt_<n>/<local_rank>/error.json; one node: local rank = rank
    try:
        return int(path.parent.name)
    except ValueError:
        return None


_ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+).*?traceback\s*:\s*([^\n]*)", re.S)


def _root_cause_from_report(stderr_text: str) -> RankFailure | None:
    """torchrun's ChildFailedError report, for a rank that died without writing an error file (a signal)."""
    match = _ROOT_CAUSE.search(stderr_text)
    if not match:
        return None
    rank, code, detail = int(match.group(1)), int(match.group(2)), match.group(3).strip()
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        detail = f"killed by {name}" + (" (out of memory? see dmesg)" if name == "SIGKILL" else "")
    elif detail.startswith("To enable traceback") or not detail:
        detail = "it ended without an error message (see torchrun.log)"
    return RankFailure(rank, code, detail)


def write_error_log(run_dir: Path, message: str, failure: RankFailure | None, log_dir: Path, stderr_text: str) -> None:
    parts = [message, ""]
    previous = run_dir / ERROR_LOG
    if failure is not None and failure.traceback:
        parts += [f"--- rank {failure.rank} (first failure) ---", failure.traceback]
    if previous.is_file():
        try:
            parts += ["--- rank 0 ---", previous.read_text(encoding="utf-8")]
        except OSError:
            pass
    for out in sorted(Path(log_dir).glob("**/stdout.log")):  # the other ranks' prints, if any
        try:
            text = out.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.strip():
            parts += [f"--- rank {out.parent.name} stdout ---", text]
    parts += ["--- torchrun and ranks' stderr ---", stderr_text]
    try:
        atomic_write_text(previous, "\n".join(parts))
    except OSError:
        pass
