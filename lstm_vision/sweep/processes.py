"""Several workers on this box (``--workers N|auto``) and a sweep that outlives its terminal (``--background``).

N workers are N processes running the same sweep command, sharing the study as workers on other boxes do: on a
GPU box each sees one GPU (CUDA_VISIBLE_DEVICES, round robin), on a CPU box each gets its share of the cores
(its CPU affinity, which torch's thread count follows). The parent has a liveness file of its own in the sweep
folder while its workers run, and passes a stop (SIGTERM, SIGHUP, a control request) on to them; Ctrl-C in a
terminal reaches them all at once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from lstm_vision.errors import SettingsError
from lstm_vision.runs.folder import OUTPUT_LOG
from lstm_vision.runs.liveness import Beacon, announce, spawn_detached
from lstm_vision.sweep.folder import worker_dir
from lstm_vision.sweep.launch import CPUS_ENV, WORKER_ENV, Plan, end_tracked_sweep, say
from lstm_vision.runs.result import EXIT_BAD_INPUT, EXIT_STOPPED


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them (their indices when it is unset)."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    named = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return named[:count] if named else [str(i) for i in range(count)]


def resolve_workers(text: str | None) -> int:
    if text is None:
        return 1
    if text == "auto":
        return max(1, len(visible_gpus()))
    if not text.isdigit() or int(text) < 1:
        raise SettingsError(f"--workers {text!r} must be a whole number >= 1, or auto (one per visible GPU).")
    return int(text)


def worker_environments(count: int) -> list[dict[str, str]]:
    gpus = visible_gpus()
    if gpus:
        return [{WORKER_ENV: str(k + 1), "CUDA_VISIBLE_DEVICES": gpus[k % len(gpus)]} for k in range(count)]
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    share = max(1, len(cores) // count)
    envs = []
    for k in range(count):
        mine = cores[k * share : (k + 1) * share] or [cores[k % len(cores)]]  # more workers than cores: they share
        envs.append({WORKER_ENV: str(k + 1), CPUS_ENV: ",".join(map(str, mine))})
    return envs


class _Parent:
    """The RunControl of a --workers parent: a stop goes to every worker (each stops its trial resumably)."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen] = []
        self.stop_requested = False
        self.paused = False

    def stop(self) -> None:
        self.stop_requested = True
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def pause(self) -> None:  # a sweep of several workers is paused worker by worker, in their own folders
        pass

    def resume(self) -> None:
        pass


def run_workers(plan: Plan, count: int, command: list[str]) -> int:
    """``command`` (the sweep's, without --workers) in ``count`` processes; their exit codes make this one's:
    0 when all found the study done, 2 bad input, 130 stopped, else 1."""
    parent = _Parent()
    folder = worker_dir(plan.sweep_dir, socket.gethostname(), os.getpid())
    folder.mkdir(parents=True, exist_ok=True)
    beacon = Beacon(folder, parent).start()
    # Each is passed on as SIGTERM, which a worker that is already stopping ignores: a terminal's Ctrl-C reaches
    # the workers themselves at the same moment, and must not count as their second Ctrl-C (quit at once).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, lambda signum, frame: parent.stop())
    say(f"Starting {count} workers on this box for sweep {plan.spec.name}.")
    codes: list[int] = []
    try:
        for env in worker_environments(count):
            parent.children.append(
                subprocess.Popen(command, stdin=subprocess.DEVNULL, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
            )
        codes = [child.wait() for child in parent.children]
    finally:
        code = combined(codes) if codes else 1
        beacon.close(code)
        end_tracked_sweep(
            plan.settings, plan.sweep_dir, code
        )  # its workers saw it alive: the sweep's MLflow run is this process's to end
    return code


def combined(codes: list[int]) -> int:
    """One exit code for several workers: any failure is the parent's, then bad input, then a stop."""
    if any(code not in (0, EXIT_BAD_INPUT, EXIT_STOPPED) for code in codes):
        return 1
    return EXIT_BAD_INPUT if EXIT_BAD_INPUT in codes else EXIT_STOPPED if EXIT_STOPPED in codes else 0


def start_background(plan: Plan, command: list[str]) -> tuple[Path, int]:
    """The sweep in a process of its own session (it outlives the terminal and SSH); returns (folder, pid) at
    once. Its lines go to the sweep folder's output.log, and the folder names the process from the first moment."""
    child = spawn_detached(command, plan.sweep_dir / OUTPUT_LOG)
    folder = worker_dir(plan.sweep_dir, socket.gethostname(), child.pid)
    folder.mkdir(parents=True, exist_ok=True)
    announce(folder, child.pid, command)
    return plan.sweep_dir, child.pid
