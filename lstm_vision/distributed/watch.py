"""The launcher's watch over torchrun: RunControl becomes signals, and no process it saw outlives the run.

- stop: SIGINT to torchrun, which forwards it to every rank and waits for them (its graceful
  shutdown); each rank finishes its batch, rank 0 saves last.pt. Whatever is left
  ``stop_timeout_s`` + KILL_GRACE_S later is killed.
- pause / resume: SIGUSR1 / SIGUSR2 to the ranks (cli.py maps them in child mode); the ranks
  agree on a pause through a collective (distributed.agree_on_control).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import psutil

from lstm_vision.control import RunControl

PAUSE_SIGNAL, RESUME_SIGNAL = signal.SIGUSR1, signal.SIGUSR2
POLL_S = 0.1
KILL_GRACE_S = 10.0  # after torchrun's own shutdown timeout, before SIGKILL


class Supervisor(threading.Thread):
    """Turns RunControl into signals, and makes sure every process it saw is gone at the end."""

    def __init__(self, proc: subprocess.Popen, control: RunControl, stop_timeout_s: float) -> None:
        super().__init__(name="lstm-vision-torchrun", daemon=True)
        self.proc, self.control, self.stop_timeout_s = proc, control, stop_timeout_s
        self.started = threading.Event()  # set when rank 0 reported run_started: signal handlers are in place
        self.stop_sent_at: float | None = None
        self.killed = False
        self._done = threading.Event()
        self._paused = False
        self._ranks: dict[int, psutil.Process] = {}
        try:
            self._torchrun = psutil.Process(proc.pid)
        except psutil.Error:
            self._torchrun = None

    def run(self) -> None:
        while not self._done.wait(POLL_S):
            if self.proc.poll() is not None:
                return
            self._find_ranks()
            if self.control.stop_requested:
                if self.stop_sent_at is None:
                    self.stop_sent_at = time.monotonic()
                    self._signal_torchrun(signal.SIGINT)
                elif time.monotonic() - self.stop_sent_at > self.stop_timeout_s + KILL_GRACE_S:
                    self.kill_all()
                    return
            elif self.started.is_set() and self.control.paused != self._paused:
                self._paused = self.control.paused
                self._signal_ranks(PAUSE_SIGNAL if self._paused else RESUME_SIGNAL)

    def _find_ranks(self) -> None:
        if self._torchrun is None:
            return
        try:
            for child in self._torchrun.children():
                self._ranks.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def _signal_torchrun(self, sig: int) -> None:
        try:
            self.proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def _signal_ranks(self, sig: int) -> None:
        for process in self._ranks.values():
            try:
                process.send_signal(sig)  # psutil checks that the pid is still the same process
            except psutil.Error:
                pass

    def kill_all(self) -> None:
        self.killed = True
        self._find_ranks()
        if self.proc.poll() is None:  # not yet reaped: its pid cannot belong to anyone else
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # torchrun leads its own session
            except (ProcessLookupError, PermissionError):
                pass
        for process in self._ranks.values():
            if _alive(process):  # psutil checks the pid still names this rank
                try:
                    os.killpg(process.pid, signal.SIGKILL)  # each rank leads its own session: its helpers go too
                except (ProcessLookupError, PermissionError):
                    pass
        self._signal_ranks(signal.SIGKILL)

    def close(self) -> None:
        """After torchrun ended (or on an error here): no rank it started survives."""
        self._done.set()
        if self.proc.poll() is None:
            self.kill_all()
        self.proc.wait()
        leftovers = [p for p in self._ranks.values() if _alive(p)]
        if leftovers:  # torchrun itself was killed before it could end them
            self.kill_all()
            psutil.wait_procs(leftovers, timeout=KILL_GRACE_S)
        if self.is_alive():
            self.join(timeout=1.0)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
