"""How a torchrun launch ended, as the RunResult and events the in-process engine would give (training/finish.py).

Rank 0's final event says it when it got there (completed, stopped); otherwise the first rank that
failed (distributed/first_failure.py) is the cause, reported once, with error.log and the summary in the run folder.
A rank that refused its settings (exit 2) is a SettingsError here too, with the ranks' own sentence.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from lstm_vision import events as ev
from lstm_vision.settings import Settings
from lstm_vision.errors import SettingsError
from lstm_vision.distributed.collectives import PortInUse
from lstm_vision.runs.result import RunResult
from lstm_vision.distributed.first_failure import RankFailure, first_failure, timeout_hint, write_error_log
from lstm_vision.runs.folder import write_summary
from lstm_vision.distributed.watch import Supervisor
from lstm_vision.runs.folder import ERROR_LOG, SUMMARY_FILE


def launch_result(
    settings: Settings,
    emit: Callable[[ev.Event], None],
    run_dir: str,
    final: ev.Event | None,
    watch: Supervisor,
    returncode: int,
    stderr_text: str,
    log_dir: Path,
) -> RunResult:
    """``final``: rank 0's last run_finished / run_stopped / run_failed, if it sent one; ``run_dir``: the
    folder it announced ("" if none); ``log_dir``: torchrun's, with the ranks' error files."""
    if run_dir:
        _keep_log(Path(run_dir) / "torchrun.log", stderr_text)
    if isinstance(final, ev.RunFinished):
        return RunResult("completed", run_dir, final.summary)
    if isinstance(final, ev.RunStopped):
        return RunResult("stopped", run_dir, final.summary)
    failure = first_failure(log_dir, stderr_text)
    if final is None and failure is not None and failure.exit_code == 2:
        raise SettingsError(failure.message)  # the same message the ranks printed, once
    if final is None and watch.stop_sent_at is not None and not watch.killed:
        emit(ev.LogMessage("warning", "Stopped before training started: nothing to resume."))
        return RunResult("stopped", run_dir)
    message = _failure_message(settings, failure, final, returncode, stderr_text, watch, log_dir)
    summary = dict(final.summary) if isinstance(final, ev.RunFailed) and final.summary else None
    log_path = str(Path(run_dir) / ERROR_LOG) if run_dir else ""
    if run_dir:
        write_error_log(Path(run_dir), message, failure, log_dir, stderr_text)
        if summary is not None:
            summary["error"] = message
            summary["failed_rank"] = failure.rank if failure else None
            _keep_summary(Path(run_dir), summary)
    else:
        log_path = _spare_log(stderr_text, message)
    emit(ev.RunFailed(message, log_path, summary))
    return RunResult("failed", run_dir, summary)


def _failure_message(
    settings: Settings,
    failure: RankFailure | None,
    final: ev.Event | None,
    returncode: int,
    stderr_text: str,
    watch: Supervisor,
    log_dir: Path,
) -> str:
    if watch.killed:
        return (
            f"The ranks did not stop within {watch.stop_timeout_s:.0f} s of the stop request (a hung "
            f"collective?) and were killed; the last saved checkpoint is kept."
        )
    if failure is not None:
        return failure.sentence() + "; the other ranks were stopped." + timeout_hint(failure, log_dir, settings.system.nproc)
    if isinstance(final, ev.RunFailed):
        return f"Rank 0 failed: {final.message}"
    if PortInUse.named_in(stderr_text):  # torchrun's own rendezvous, after the launcher's check: a race for the port
        s = settings.system
        return f"torchrun could not listen: {PortInUse(f'{s.master_addr}:{s.master_port}' if s.master_port else 'that torchrun picked')}"
    last = [line for line in stderr_text.splitlines() if line.strip()]
    return f"torchrun ended with exit code {returncode} before training finished" + (f": {last[-1].strip()}" if last else ".")


def _keep_summary(run_dir: Path, summary: dict) -> None:
    """Rank 0 wrote one: it gets the launcher's word on how the ranks ended."""
    if (run_dir / SUMMARY_FILE).is_file():
        try:
            write_summary(run_dir, summary)
        except OSError:
            pass


def _keep_log(path: Path, text: str) -> None:
    try:
        if path.parent.is_dir():
            path.write_text(text, encoding="utf-8")
    except OSError:
        pass


def _spare_log(stderr_text: str, message: str) -> str:
    """A failure before rank 0 made its run folder: keep torchrun's output in a temporary file."""
    handle, path = tempfile.mkstemp(prefix="lstm-vision-torchrun-", suffix=".log")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(message + "\n\n" + stderr_text)
    return path
