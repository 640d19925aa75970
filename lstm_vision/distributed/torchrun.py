"""DDP on this machine: torchrun started, watched and stopped for the app and the headless runner.

``launch_local`` has engine.run's signature. It writes the run's settings to a temporary file and
starts ``python -m torch.distributed.run --nproc-per-node N ... -m lstm_vision --no-ui --config FILE``
(distributed/tethered_torchrun.py: it dies with this process) in its own session, with LSTM_VISION_EVENTS=jsonl
so that rank 0 prints its events as JSON lines; each line becomes an ``emit`` call here.
RunControl reaches the ranks as signals (distributed/watch.py).

A rank that fails leaves its error in torchrun's error file (distributed.record_failure); torchrun
then stops the others (--max-restarts 0) and the launcher reports the first failure: which rank,
its exit code and its error (distributed/launch_result.py). Nothing outlives launch_local: torchrun gets SIGTERM if
this process dies, and the ranks it started are killed at the end if still there.
"""

from __future__ import annotations

import errno
import os
import shlex
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch

from lstm_vision import events as ev
from lstm_vision.settings import check_batch_split
from lstm_vision.settings import Settings, save_settings
from lstm_vision.errors import SettingsError
from lstm_vision.control import RunControl
from lstm_vision.distributed.launch_result import launch_result
from lstm_vision.system.devices import resolve_device
from lstm_vision.distributed.collectives import PortInUse, resolve_backend
from lstm_vision.events import EVENTS_ENV
from lstm_vision.runs.result import RunResult
from lstm_vision.distributed.watch import Supervisor
from lstm_vision.runs.follow import parse_line
from lstm_vision.runs.folder import SETTINGS_FILE


def launch_local(
    settings: Settings,
    emit: Callable[[ev.Event], None],
    control: RunControl,
    resume: str | None = None,
    run_dir: str | None = None,
    *,
    stop_timeout_s: float = 60.0,
) -> RunResult:
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
            proc = subprocess.Popen(
                [sys.executable, "-m", "lstm_vision.distributed.tethered_torchrun", str(os.getpid()), tmp, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
            watch = Supervisor(proc, control, stop_timeout_s)
            stream = EventStream(emit, lambda run_dir: _launch_note(settings, backend, run_dir, resume))
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
        return launch_result(
            settings, emit, stream.run_dir or "", stream.final, watch, proc.returncode, stderr_text, tmp_dir / "torchrun"
        )


def preflight(settings: Settings) -> str:
    """The mistakes that would otherwise fail N processes at once, as one SettingsError here."""
    n = settings.system.nproc
    check_batch_split(settings.train.batch_size, settings.train.grad_accum_steps, n)
    from lstm_vision.report.trackers import check_trackers

    check_trackers(settings)  # rank 0 asks again, but a tracker not answering is said here, before any process starts
    device = resolve_device(settings.system.device)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if settings.system.device not in ("auto", "cuda"):
            raise SettingsError(
                f"system.device = {settings.system.device!r} puts all {n} processes on one GPU; "
                f"use auto or cuda (process i takes cuda:i)."
            )
        if n > count:
            raise SettingsError(
                f"system.nproc = {n} but this machine has {count} GPU(s), one per process; "
                f"lower system.nproc or set system.device = cpu."
            )
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
                raise PortInUse(f"{addr}:{port}") from None
            if err.errno == errno.EADDRNOTAVAIL:
                raise SettingsError(
                    f"system.master_addr = {addr!r} is not an address of this machine; use 127.0.0.1 for DDP on one machine."
                ) from None
            if err.errno == errno.EACCES:
                raise SettingsError(
                    f"system.master_port = {port} needs privileges; use a port above 1023, or 0 to pick a free one."
                ) from None
            raise


def torchrun_args(
    settings: Settings, config: Path, resume: str | None, log_dir: Path, stop_timeout_s: float, run_dir: str | None = None
) -> list[str]:
    s = settings.system
    # master_port 0: torchrun's own rendezvous on a free port of localhost (--standalone)
    where = ["--master-addr", s.master_addr, "--master-port", str(s.master_port)] if s.master_port else ["--standalone"]
    args = [
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(s.nproc),
        *where,
        "--max-restarts",
        "0",
        "--log-dir",
        str(log_dir),
        "--shutdown-timeout",
        str(int(max(1, stop_timeout_s))),
        "-m",
        "lstm_vision",
        "--no-ui",
        "--config",
        str(config),
    ]
    if resume:
        args += ["--resume", str(resume)]
    elif run_dir:
        args += ["--run-dir", str(run_dir)]
    if s.nproc > 1:  # only rank 0's stdout reaches the event stream; the others' goes to files in log_dir
        args[args.index("-m") : args.index("-m")] = ["--redirects", ",".join(f"{r}:1" for r in range(1, s.nproc))]
    return args


def _launch_note(settings: Settings, backend: str, run_dir: str, resume: str | None) -> ev.LogMessage:
    """How the run was started, as the torchrun command that repeats it (here or on a cluster node)."""
    n, batch = settings.system.nproc, settings.train.batch_size
    command = [
        "torchrun",
        f"--nproc-per-node={n}",
        "-m",
        "lstm_vision",
        "--no-ui",
        *(["--resume", run_dir] if resume else ["--config", str(Path(run_dir) / SETTINGS_FILE)]),
    ]
    return ev.LogMessage(
        "info",
        f"DDP: {n} processes ({backend}), batch {batch} in all = {batch // n} per process; the same as: {shlex.join(command)}",
    )


class EventStream:
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
        event = parse_line(line.encode())
        if event is None:  # a line the rank printed itself: the log shows it as it is
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
