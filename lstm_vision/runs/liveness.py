"""Who runs a run, and how any viewer steers it: two small files in the run directory.

- ``process.json``, written by the process that trains (rank 0): pid, host, start time, argv and
  state ("running", "paused", "exited" with its exit code). Its modification time is the heartbeat:
  the beacon's thread touches it every HEARTBEAT_S while the process lives, paused or not, so a
  viewer tells a live run from a lost one (process gone, no summary) without asking it anything.
- ``control.json``, written by viewers (the app attached to the run, another app, a script):
  ``{"request": "pause" | "resume" | "stop", "id": ...}``. The beacon's thread reads it every
  CONTROL_POLL_S and applies each new request to the run's RunControl, which the training loop
  already polls between batches (under DDP rank 0 reads it and the ranks agree as for a signal).

The training thread never waits on either file: the check it pays for is the RunControl's flag.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from lstm_vision.control import RunControl
from lstm_vision.atomic import atomic_write_text
from lstm_vision.runs.folder import read_summary
from lstm_vision.runs.folder import CONTROL_FILE, PROCESS_FILE, SUMMARY_FILE
from lstm_vision.text import format_clock

HEARTBEAT_S = 2.0
CONTROL_POLL_S = 0.25
LOST_AFTER_S = 8.0  # no heartbeat for this long (4 missed beats): the process is gone or hung
STARTING_GRACE_S = 300.0  # another host's "starting" process has no heartbeat yet: trust it this long
REQUESTS = ("pause", "resume", "stop")
LIVE = ("starting", "running", "paused")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    # No fsync: these files describe a living process and are rewritten within seconds; a crash makes
    # them stale, which is the signal.
    atomic_write_text(path, json.dumps(data) + "\n", durable=False)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Beacon:
    """The run's side: process.json with its heartbeat, and control.json applied to ``control``."""

    def __init__(self, run_dir: Path, control: RunControl) -> None:
        self.run_dir, self.control = Path(run_dir), control
        self.path = self.run_dir / PROCESS_FILE
        me = psutil.Process()
        self.info: dict[str, Any] = {
            "pid": me.pid,
            "host": socket.gethostname(),
            "started": me.create_time(),
            "started_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "argv": list(sys.argv),
            "state": "running",
            "exit_code": None,
        }
        self._done = threading.Event()
        self._control_seen: tuple[int, int] | None = None
        self._last_id: str | None = None
        self._thread = threading.Thread(target=self._loop, name="lstm-vision-beacon", daemon=True)

    def start(self) -> "Beacon":
        _write_json(self.path, self.info)
        self._thread.start()
        return self

    def _loop(self) -> None:
        last_beat = time.monotonic()
        while not self._done.wait(CONTROL_POLL_S):
            self._apply_request()
            state = "paused" if self.control.paused else "running"
            now = time.monotonic()
            try:
                if state != self.info["state"]:
                    self.info["state"] = state
                    _write_json(self.path, self.info)
                    last_beat = now
                elif now - last_beat >= HEARTBEAT_S:
                    os.utime(self.path)
                    last_beat = now
            except OSError:
                pass  # a full disk or a removed folder must not stop training; viewers will call it lost

    def _apply_request(self) -> None:
        path = self.run_dir / CONTROL_FILE
        try:
            st = path.stat()
        except OSError:
            return
        seen = (st.st_mtime_ns, st.st_ino)
        if seen == self._control_seen:
            return
        self._control_seen = seen
        data = _read_json(path) or {}
        request, request_id = data.get("request"), data.get("id")
        if request not in REQUESTS or request_id == self._last_id or not self._for_me(data):
            return
        self._last_id = request_id
        getattr(self.control, request)()

    def _for_me(self, data: dict[str, Any]) -> bool:
        """A request left for an earlier process of this run (before a resume) is not for this one."""
        pid, when = data.get("pid"), data.get("time")
        if pid is not None and pid != self.info["pid"]:
            return False
        return isinstance(when, (int, float)) and when >= self.info["started"] - 1.0

    def close(self, exit_code: int) -> None:
        """The process is about to end: say how, so no viewer waits for a heartbeat that will not come."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self.info.update(state="exited", exit_code=exit_code, ended=time.time())
        try:
            _write_json(self.path, self.info)
        except OSError:
            pass


def request(run_dir: str | os.PathLike, action: str) -> None:
    """Ask the process that runs ``run_dir`` (the one process.json names) to pause, resume or stop;
    it acts within about a second."""
    if action not in REQUESTS:
        raise ValueError(f"unknown request {action!r}; valid: {', '.join(REQUESTS)}")
    target = _read_json(Path(run_dir) / PROCESS_FILE) or {}
    _write_json(
        Path(run_dir) / CONTROL_FILE,
        {
            "request": action,
            "id": uuid.uuid4().hex,
            "time": time.time(),
            "pid": target.get("pid"),
            "by": f"{os.getpid()}@{socket.gethostname()}",
        },
    )


@dataclass(frozen=True)
class RunState:
    """What a viewer can tell about a run from its folder alone."""

    status: str  # starting, running, paused, completed, stopped, failed, lost, or unfinished (no process.json)
    pid: int | None = None
    host: str | None = None
    heartbeat: float | None = None  # unix time of the last sign of life
    exit_code: int | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE

    def lost_sentence(self) -> str:
        if self.pid is None:
            return "its process is unknown (no process.json) and it left no summary"
        when = format_clock(self.heartbeat) if self.heartbeat else "?"
        return f"process {self.pid} on {self.host} stopped reporting at {when}"


def spawn_detached(command: list[str], log: Path) -> subprocess.Popen:
    """``command`` in a session of its own, so that it outlives this terminal and SSH (a background run, a
    background sweep), its output appended to ``log``. Reaped if it ends while this process lives (no zombie
    that looks alive); once this process is gone, init adopts it."""
    with open(log, "ab") as output:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    threading.Thread(target=child.wait, name="lstm-vision-reaper", daemon=True).start()
    return child


def announce(run_dir: str | os.PathLike, pid: int, argv: list[str]) -> None:
    """Name the process that is starting a run in ``run_dir`` before it can name itself (a background
    launch: importing torch and loading data take seconds). The process's own Beacon takes over."""
    path = Path(run_dir) / PROCESS_FILE
    info = {
        "pid": pid,
        "host": socket.gethostname(),
        "started": psutil.Process(pid).create_time(),
        "started_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "argv": argv,
        "state": "starting",
        "exit_code": None,
    }
    tmp = path.with_name(f".{path.name}.announce.tmp")
    tmp.write_text(json.dumps(info) + "\n", encoding="utf-8")
    try:
        os.link(tmp, path)  # only if the process has not written its own yet
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def exited_before_start(run_dir: str | os.PathLike, exit_code: int) -> None:
    """This process was announced for ``run_dir`` but ends before training (bad settings, missing data)."""
    path = Path(run_dir) / PROCESS_FILE
    info = _read_json(path)
    if info and info.get("pid") == os.getpid() and info.get("state") == "starting":
        info.update(state="exited", exit_code=exit_code, ended=time.time())
        try:
            _write_json(path, info)
        except OSError:
            pass


def process_alive(info: dict[str, Any], heartbeat: float, now: float | None = None) -> bool:
    """Alive: a fresh heartbeat and, on this host, the same process still there (a reused pid is not it).
    A process still starting has no heartbeat yet: on this host its pid is asked, elsewhere it gets time."""
    now = time.time() if now is None else now
    starting = info.get("state") == "starting"
    if now - heartbeat > (STARTING_GRACE_S if starting else LOST_AFTER_S):
        return False
    if info.get("host") != socket.gethostname():
        return True  # another machine: the heartbeat is all there is to go by
    try:
        process = psutil.Process(int(info["pid"]))
        return abs(process.create_time() - float(info["started"])) < 1.0 and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def run_state(run_dir: str | os.PathLike) -> RunState:
    run_dir = Path(run_dir)
    summary = read_summary(run_dir) or {}
    path = run_dir / PROCESS_FILE
    info = _read_json(path)
    if info is None:
        return RunState(summary.get("status") or "unfinished")
    try:
        heartbeat = path.stat().st_mtime
    except OSError:
        heartbeat = None
    who = dict(pid=info.get("pid"), host=info.get("host"), heartbeat=heartbeat, exit_code=info.get("exit_code"))
    if info.get("state") == "exited":
        return RunState(summary.get("status") or "failed", **who)
    if heartbeat is not None and process_alive(info, heartbeat):
        return RunState(info.get("state") if info.get("state") in LIVE else "running", **who)
    if info.get("state") == "starting":  # ended before it trained: nothing was lost
        return RunState(summary.get("status") or "failed", **who)
    # Gone without saying so. A summary written by this process (not by an earlier one that this
    # process resumed) means it died after its last word, which still stands.
    try:
        summary_mtime = (run_dir / SUMMARY_FILE).stat().st_mtime
    except OSError:
        summary_mtime = None
    if summary and summary_mtime is not None and summary_mtime >= float(info.get("started") or 0):
        return RunState(summary.get("status") or "failed", **who)
    return RunState("lost", **who)


class RemoteControl:
    """RunControl's interface for a run in another process: each call writes a control request.

    ``paused`` is what the run last said (RunPaused / RunResumed events, via ``note_paused``) or
    what this viewer last asked for, whichever came later."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.paused = False
        self.stop_requested = False

    def pause(self) -> None:
        request(self.run_dir, "pause")
        self.paused = True

    def resume(self) -> None:
        request(self.run_dir, "resume")
        self.paused = False

    def stop(self) -> None:
        request(self.run_dir, "stop")
        self.stop_requested = True

    def note_paused(self, paused: bool) -> None:
        self.paused = paused
