"""The headless runner (--no-ui): plain lines on stdout (JSON lines under lstm-vision's torchrun launcher),
signals as stop requests (Ctrl-C, SIGTERM, SIGHUP finish the batch and save last.pt), exit codes as the
README lists them."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path

from lstm_vision.distributed.env import rank, under_torchrun
from lstm_vision.errors import SettingsError
from lstm_vision.events import EVENTS_ENV
from lstm_vision.runs.folder import LAST_CHECKPOINT, run_dir_of
from lstm_vision.settings import Settings
from lstm_vision.runs.result import EXIT_BAD_INPUT, EXIT_STOPPED


def run_headless(settings: Settings, resume: str | None, run_dir: str | None = None) -> int:
    from lstm_vision.control import RunControl
    from lstm_vision.report.console import Printer, jsonl_emitter
    from lstm_vision.dispatch import runner_for

    try:
        runner = runner_for(settings)  # imports torch: a second or more in which Ctrl-C has nothing to save yet
    except KeyboardInterrupt:
        print("Interrupted while starting: no run was started.", file=sys.stderr)
        return EXIT_STOPPED
    control = RunControl()
    install_signal_handlers(control)
    emit = jsonl_emitter(sys.stdout) if os.environ.get(EVENTS_ENV) == "jsonl" else Printer(sys.stdout)
    run_dirs: list[str] = [str(run_dir_of(resume))] if resume else []
    try:
        result = runner(settings, _noting_run_dir(emit, run_dirs), control, resume, run_dir)
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        _record_rank_failure(str(err), 2)
        _exited_before_start(run_dir, 2)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # a second Ctrl-C: say what a resume would find, and exit 130 only if it would
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a third one must not cut this short with a traceback
        message, code = _kept_after_quit(run_dirs[-1] if run_dirs else None)
        print(f"Interrupted: quit at once; {message}", file=sys.stderr)
        return code
    except Exception as err:  # a bug, not a user mistake: say so, keep the traceback in a file
        log = Path(tempfile.gettempdir()) / f"lstm-vision-error-{os.getpid()}.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        print(f"error: {err.__class__.__name__}: {err} (traceback in {log})", file=sys.stderr)
        _record_rank_failure(f"{err.__class__.__name__}: {err}", 1)
        _exited_before_start(run_dir, 1)
        return 1
    # The outcome is saved and said. A Ctrl-C now has nothing left to cut short, and raised while the interpreter
    # exits it would print "Exception ignored ... KeyboardInterrupt".
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return result.exit_code


def _exited_before_start(run_dir: str | None, exit_code: int) -> None:
    """A background run that ends before training: its folder says so at once (not after a time-out)."""
    if run_dir:
        from lstm_vision.runs.liveness import exited_before_start

        exited_before_start(run_dir, exit_code)


def _noting_run_dir(emit, run_dirs: list[str]):
    """``emit``, noting the run directory that run_started names (where a quit at once looks for last.pt)."""
    from lstm_vision.events import RunStarted

    def noting(event) -> None:
        if isinstance(event, RunStarted):
            run_dirs.append(event.run_dir)
        emit(event)

    return noting


def _kept_after_quit(run_dir: str | None) -> tuple[str, int]:
    """What a run that quit at once leaves to resume, in words, and the exit code: 130 only if resumable."""
    from lstm_vision.model.checkpoint import load_checkpoint
    from lstm_vision.runs.folder import read_summary

    if run_dir is None or not (Path(run_dir) / LAST_CHECKPOINT).is_file():
        return "nothing to resume.", 1
    if (read_summary(run_dir) or {}).get("status") == "completed":  # the second Ctrl-C came as it ended
        return f"the run had completed; its results are in {run_dir}.", 0
    try:
        state = load_checkpoint(Path(run_dir) / LAST_CHECKPOINT)
    except SettingsError as err:
        return f"nothing to resume ({err}).", 1
    epoch, step = int(state.get("epoch", 0)), int(state.get("step", 0))
    where = f"epoch {epoch + 1}, step {step}" if step else f"epoch {epoch}"
    return f"last.pt from {where} is kept, --resume {run_dir} continues from there.", EXIT_STOPPED


def _record_rank_failure(message: str, exit_code: int) -> None:
    """Under torchrun: leave the error where torchrun and lstm-vision's launcher look for it."""
    if under_torchrun():
        from lstm_vision.distributed.collectives import record_failure

        record_failure(message, exit_code)


def install_signal_handlers(control) -> None:
    """First Ctrl-C / SIGTERM / SIGHUP: finish the batch, save last.pt, exit 130. Second Ctrl-C: end at once.
    A repeated SIGTERM (torchrun's shutdown, a scheduler) does not cut the save short: they follow with SIGKILL.
    SIGHUP is the terminal going away (a dropped SSH connection): the run stops as on Ctrl-C, resumable,
    unless it was started under nohup, which asks for the run to outlive the terminal."""

    def handle(signum, frame):
        if control.stop_requested:
            # A rank of a hand-started torchrun gets the terminal's Ctrl-C and then torchrun's forwarded copy
            # of it: the same request twice, which must not cut last.pt's save short (torchrun itself ends
            # ranks that outstay its shutdown timeout).
            if signum != signal.SIGINT or under_torchrun():
                return
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        control.stop()
        # one line per run: not from a rank under lstm-vision's launcher (it speaks for them), nor from ranks
        # other than 0 under a hand-started torchrun (they share its terminal)
        if os.environ.get(EVENTS_ENV) != "jsonl" and rank() == 0:
            try:
                print(
                    f"\n{signal.Signals(signum).name}: stopping after this batch and saving last.pt "
                    f"(Ctrl-C again to quit at once).",
                    file=sys.stderr,
                    flush=True,
                )
            except OSError:
                pass  # the terminal is gone (SIGHUP): the run's folder keeps the record

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # nohup sets it to ignored
        signal.signal(signal.SIGHUP, handle)
    if os.environ.get(EVENTS_ENV) == "jsonl":  # a rank launched by lstm-vision: its parent pauses and resumes it
        signal.signal(signal.SIGUSR1, lambda signum, frame: control.pause())
        signal.signal(signal.SIGUSR2, lambda signum, frame: control.resume())
