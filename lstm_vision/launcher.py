"""DDP on this machine: torchrun started, watched and stopped for the app and the headless runner.

``launch_local`` has engine.run's signature. It writes the run's settings to a temporary file and
starts ``python -m torch.distributed.run --nproc-per-node N ... -m lstm_vision --no-ui --config FILE``
in its own session, with LSTM_VISION_EVENTS=jsonl so that rank 0 prints its events as JSON lines;
each line becomes an ``emit`` call here. RunControl reaches the ranks as signals:

- stop: SIGINT to torchrun, which forwards it to every rank and waits for them (its graceful
  shutdown); each rank finishes its batch, rank 0 saves last.pt. A watchdog kills whatever is
  left ``stop_timeout_s`` later.
- pause / resume: SIGUSR1 / SIGUSR2 to the ranks (cli.py maps them in child mode); the ranks
  agree on a pause through a collective (distributed.agree_on_control).

A rank that fails leaves its error in torchrun's error file (distributed.record_failure); torchrun
then stops the others (--max-restarts 0) and the launcher reports the first failure: which rank,
its exit code and its error. Nothing outlives launch_local: torchrun gets SIGTERM if this process
dies (PR_SET_PDEATHSIG), and the ranks it started are killed at the end if still there.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import psutil
import torch

from lstm_vision import events as ev
from lstm_vision.events import EVENTS_ENV
from lstm_vision.config import Settings, SettingsError, save_settings
from lstm_vision.control import RunControl
from lstm_vision.devices import resolve_device
from lstm_vision.distributed import resolve_backend
from lstm_vision.job import RunResult
from lstm_vision.rundir import write_summary
from lstm_vision.rankfailure import RankFailure, first_failure, timeout_hint, write_error_log

PAUSE_SIGNAL, RESUME_SIGNAL = signal.SIGUSR1, signal.SIGUSR2
POLL_S = 0.1
KILL_GRACE_S = 10.0  # after torchrun's own shutdown timeout, before SIGKILL

# torchrun, made to receive SIGTERM when the thread that started it dies (Linux), so that a killed
# app or runner never leaves ranks training on their own; then it also removes the launcher's temporary
# folder (argv: parent pid, temporary folder, torchrun's arguments).
_TORCHRUN = (
    "import atexit, ctypes, os, runpy, shutil, signal, sys\n"
    "parent, folder = int(sys.argv[1]), sys.argv[2]\n"
    "try:\n"
    "    ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG\n"
    "except (AttributeError, OSError):\n"
    "    pass\n"
    "atexit.register(lambda: os.getppid() != parent and shutil.rmtree(folder, ignore_errors=True))\n"
    "if os.getppid() != parent:\n"
    "    sys.exit(1)  # the parent is already gone\n"
    "sys.argv = ['torchrun', *sys.argv[3:]]\n"
    "runpy.run_module('torch.distributed.run', run_name='__main__', alter_sys=True)\n"
)


def launch_local(settings: Settings, emit: Callable[[ev.Event], None], control: RunControl,
                 resume: str | None = None, run_dir: str | None = None, *, stop_timeout_s: float = 60.0) -> RunResult:
    """Run ``settings`` on ``settings.system.nproc`` local processes through torchrun; see the module notes."""
    backend = preflight(settings)
    with tempfile.TemporaryDirectory(prefix="lstm-vision-ddp-") as tmp:
        tmp_dir = Path(tmp)
        config = tmp_dir / "settings.toml"
        save_settings(settings, config)
        args = torchrun_args(settings, config, resume, tmp_dir / "torchrun", stop_timeout_s, run_dir)
        log_path = tmp_dir / "torchrun.log"
        env = {**os.environ, EVENTS_ENV: "jsonl", "PYTHONUNBUFFERED": "1"}
        with open(log_path, "w+", encoding="utf-8", errors="replace") as log:
            proc = subprocess.Popen([sys.executable, "-c", _TORCHRUN, str(os.getpid()), tmp, *args],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env,
                                    text=True, encoding="utf-8", errors="replace", start_new_session=True)
            watch = _Supervisor(proc, control, stop_timeout_s)
            stream = _EventStream(emit, lambda run_dir: _launch_note(settings, backend, run_dir, resume))
            watch.start()
            try:
                for line in proc.stdout:
                    stream.feed(line)
                    if stream.started:
                        watch.started.set()
                proc.wait()
            except BaseException:  # a second Ctrl-C or a failing emit: end everything at once
                watch.kill_all()
                raise
            finally:
                watch.close()
                proc.stdout.close()
            log.flush()
            log.seek(0)
            stderr_text = log.read()
        return _result(settings, emit, stream, watch, proc.returncode, stderr_text, tmp_dir / "torchrun")


def preflight(settings: Settings) -> str:
    """The mistakes that would otherwise fail N processes at once, as one SettingsError here."""
    n = settings.system.nproc
    t = settings.train
    if t.batch_size % (n * t.grad_accum_steps):
        raise SettingsError(f"train.batch_size = {t.batch_size} must be divisible by system.nproc x train.grad_accum_steps "
                            f"= {n * t.grad_accum_steps} (the batch size is global: each process takes "
                            f"batch_size / nproc samples per step).")
    device = resolve_device(settings.system.device)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if settings.system.device not in ("auto", "cuda"):
            raise SettingsError(f"system.device = {settings.system.device!r} puts all {n} processes on one GPU; "
                                f"use auto or cuda (process i takes cuda:i).")
        if n > count:
            raise SettingsError(f"system.nproc = {n} but this machine has {count} GPU(s), one per process; "
                                f"lower system.nproc or set system.device = cpu.")
    backend = resolve_backend(settings.system.backend, device)
    port = settings.system.master_port
    if port:
        check_port(settings.system.master_addr, port)
    return backend


def check_port(addr: str, port: int) -> None:
    """SettingsError if rank 0 could not listen on addr:port."""
    try:
        infos = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise SettingsError(f"system.master_addr = {addr!r} is not a known address ({err.strerror}).") from None
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is usable
        try:
            probe.bind(sockaddr)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise SettingsError(f"system.master_port = {port} on {addr} is already in use (another DDP job?); "
                                    f"choose another port, or 0 to pick a free one.") from None
            if err.errno == errno.EADDRNOTAVAIL:
                raise SettingsError(f"system.master_addr = {addr!r} is not an address of this machine; "
                                    f"use 127.0.0.1 for DDP on one machine.") from None
            if err.errno == errno.EACCES:
                raise SettingsError(f"system.master_port = {port} needs privileges; use a port above 1023, "
                                    f"or 0 to pick a free one.") from None
            raise


def torchrun_args(settings: Settings, config: Path, resume: str | None, log_dir: Path,
                  stop_timeout_s: float, run_dir: str | None = None) -> list[str]:
    s = settings.system
    # master_port 0: torchrun's own rendezvous on a free port of localhost (--standalone)
    where = (["--master-addr", s.master_addr, "--master-port", str(s.master_port)] if s.master_port
             else ["--standalone"])
    args = ["--nnodes", "1", "--nproc-per-node", str(s.nproc), *where, "--max-restarts", "0",
            "--log-dir", str(log_dir), "--shutdown-timeout", str(int(max(1, stop_timeout_s))),
            "-m", "lstm_vision", "--no-ui", "--config", str(config)]
    if resume:
        args += ["--resume", str(resume)]
    elif run_dir:
        args += ["--run-dir", str(run_dir)]
    if s.nproc > 1:  # only rank 0's stdout reaches the event stream; the others' goes to files in log_dir
        args[args.index("-m"):args.index("-m")] = ["--redirects", ",".join(f"{r}:1" for r in range(1, s.nproc))]
    return args


def _launch_note(settings: Settings, backend: str, run_dir: str, resume: str | None) -> ev.LogMessage:
    """How the run was started, as the torchrun command that repeats it (here or on a cluster node)."""
    n, batch = settings.system.nproc, settings.train.batch_size
    command = ["torchrun", f"--nproc-per-node={n}", "-m", "lstm_vision", "--no-ui",
               *(["--resume", run_dir] if resume else ["--config", str(Path(run_dir) / "settings.toml")])]
    return ev.LogMessage("info", f"DDP: {n} processes ({backend}), batch {batch} in all = {batch // n} per process; "
                                 f"the same as: {shlex.join(command)}")


class _EventStream:
    """Rank 0's stdout: JSON event lines become events; anything else a rank prints becomes a log line.
    run_failed is held back until torchrun exits, when the first failing rank is known."""

    def __init__(self, emit: Callable[[ev.Event], None], note: Callable[[str], ev.Event]) -> None:
        self.emit, self.note = emit, note
        self.run_dir: str | None = None
        self.started = False
        self.final: ev.Event | None = None

    def feed(self, line: str) -> None:
        line = line.rstrip("\n")
        if not line.strip():
            return
        try:
            data = json.loads(line)
            event = ev.event_from_dict(data)
        except (ValueError, KeyError, TypeError):
            self.emit(ev.LogMessage("info", line))
            return
        if isinstance(event, (ev.RunFinished, ev.RunStopped, ev.RunFailed)):
            self.final = event
            if isinstance(event, ev.RunFailed):
                return
        self.emit(event)
        if isinstance(event, ev.RunStarted):  # the run folder stays the first thing a user sees
            self.run_dir, self.started = event.run_dir, True
            self.emit(self.note(event.run_dir))


class _Supervisor(threading.Thread):
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


def _result(settings: Settings, emit: Callable[[ev.Event], None], stream: _EventStream, watch: _Supervisor,
            returncode: int, stderr_text: str, log_dir: Path) -> RunResult:
    run_dir = stream.run_dir or ""
    if run_dir:
        _keep_log(Path(run_dir) / "torchrun.log", stderr_text)
    final = stream.final
    if isinstance(final, ev.RunFinished):
        return RunResult("completed", run_dir, 0, final.summary)
    if isinstance(final, ev.RunStopped):
        return RunResult("stopped", run_dir, 130, final.summary)
    failure = first_failure(log_dir, stderr_text)
    if final is None and failure is not None and failure.exit_code == 2:
        raise SettingsError(failure.message)  # the same message the ranks printed, once
    if final is None and watch.stop_sent_at is not None and not watch.killed:
        emit(ev.LogMessage("warning", "Stopped before training started: nothing to resume."))
        return RunResult("stopped", run_dir, 130, None)
    message = _failure_message(failure, final, returncode, stderr_text, watch, log_dir, settings.system.nproc)
    summary = dict(final.summary) if isinstance(final, ev.RunFailed) and final.summary else None
    log_path = str(Path(run_dir) / "error.log") if run_dir else ""
    if run_dir:
        write_error_log(Path(run_dir), message, failure, log_dir, stderr_text)
        if summary is not None:
            summary["error"] = message
            summary["failed_rank"] = failure.rank if failure else None
            _keep_summary(Path(run_dir), summary)
    else:
        log_path = _spare_log(stderr_text, message)
    emit(ev.RunFailed(message, log_path, summary))
    return RunResult("failed", run_dir, 1, summary)


def _failure_message(failure: RankFailure | None, final: ev.Event | None, returncode: int, stderr_text: str,
                     watch: _Supervisor, log_dir: Path, world_size: int) -> str:
    if watch.killed:
        return (f"The ranks did not stop within {watch.stop_timeout_s:.0f} s of the stop request (a hung "
                f"collective?) and were killed; the last saved checkpoint is kept.")
    if failure is not None:
        return failure.sentence() + "; the other ranks were stopped." + timeout_hint(failure, log_dir, world_size)
    if isinstance(final, ev.RunFailed):
        return f"Rank 0 failed: {final.message}"
    if "EADDRINUSE" in stderr_text or "ddress already in use" in stderr_text:
        return "torchrun could not listen on its port (already in use); set system.master_port to a free port, or 0."
    last = [line for line in stderr_text.splitlines() if line.strip()]
    return (f"torchrun ended with exit code {returncode} before training finished"
            + (f": {last[-1].strip()}" if last else "."))


def _keep_summary(run_dir: Path, summary: dict) -> None:
    """Rank 0 wrote one: it gets the launcher's word on how the ranks ended."""
    if (run_dir / "summary.json").is_file():
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
