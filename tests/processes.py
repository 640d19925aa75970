"""Helpers for tests that run real lstm-vision processes and watch them through their run folder."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from lstm_vision.settings import Settings, save_settings

CLI = Path(sys.executable).with_name("lstm-vision-tui")
WAIT_S = 120.0  # a bound for conditions that take seconds on a quiet machine; only a hang reaches it


def cli(*args: str, cwd=None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m lstm_vision ARGS`` to its end, its output captured (both streams read: no pipe fills up)
    unless ``stdout`` or ``stderr`` say where it goes. The one way the tests run the command line to its end."""
    streams = {} if "stdout" in kwargs or "stderr" in kwargs else {"capture_output": True}
    return subprocess.run([sys.executable, "-m", "lstm_vision", *args], text=True, cwd=cwd, **streams, **kwargs)


def start_cli(*args: str, **popen) -> subprocess.Popen:
    """``python -m lstm_vision ARGS`` started, for a test that reads its output as it comes (give ``stderr`` a
    file when reading stdout: a pipe left unread could fill and block the program)."""
    return subprocess.Popen([sys.executable, "-m", "lstm_vision", *args], **popen)


def tiny_args(mnist_root: Path, out: Path) -> list[str]:
    """Command-line arguments of a one-epoch headless run on the tiny set into ``out``/cli."""
    return [
        "--no-ui",
        "--set",
        f"data.root={mnist_root}",
        "--set",
        "data.download=false",
        "--set",
        "model.hidden_size=16",
        "--set",
        "model.num_layers=1",
        "--set",
        "model.bidirectional=false",
        "--set",
        "train.epochs=1",
        "--set",
        "train.batch_size=50",
        "--set",
        "train.log_every=4",
        "--set",
        "train.amp=off",
        "--set",
        f"output.dir={out}",
        "--set",
        "output.run_name=cli",
    ]


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT_S, poll: float = 0.05):
    """Poll ``condition`` until it is truthy (returned) or ``timeout`` passes (AssertionError naming ``what``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def journal(run_dir: Path, name: str = "metrics.jsonl") -> list[dict]:
    """The records of a run's journal (metrics.jsonl, or ``name`` beside it): its complete lines, as dicts. The
    one reader of the tests; a line still being written, or cut by a kill, is left out as the app's replay does."""
    try:
        text = (Path(run_dir) / name).read_text(encoding="utf-8")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass  # the line being written
    return rows


def names(run_dir: Path) -> list[str]:
    return [row["event"] for row in journal(run_dir)]


def process_info(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / "process.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def start_headless(settings: Settings, run_dir: Path, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    """``lstm-vision-tui --no-ui`` on ``settings`` into ``run_dir``, as a user starts it; its output goes to
    a file beside the run (a pipe nobody reads could fill and block it)."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    config = run_dir.parent / f"{run_dir.name}.toml"
    save_settings(settings, config)
    out = open(run_dir.parent / f"{run_dir.name}.out", "w")
    return subprocess.Popen(
        [str(CLI), "--no-ui", "--config", str(config), "--run-dir", str(run_dir), *args],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
        **popen,
    )


@contextmanager
def headless(settings: Settings, run_dir: Path, **kwargs) -> Iterator[subprocess.Popen]:
    """start_headless for the length of a with block; the process is killed and reaped at its end."""
    proc = start_headless(settings, run_dir, **kwargs)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def output(run_dir: Path) -> str:
    return (run_dir.parent / f"{run_dir.name}.out").read_text(encoding="utf-8", errors="replace")


def long_run(settings: Settings) -> Settings:
    """A run that goes on until it is stopped (the tiny set trains an epoch in well under a second)."""
    settings.train.epochs = 10_000
    return settings


# The command line, held at a chosen point (reading its stdin): "before-save" holds the stop's save of last.pt,
# "at-exit" the interpreter's exit after the run has ended and said so.
INTERRUPTED_CHILD = """
import atexit, sys
import lstm_vision.training.finish as outcome
from lstm_vision.cli import main

where = sys.argv.pop(1)
real_save = outcome.save

def held_save(job, kind):  # the stop's save of last.pt waits: the second Ctrl-C lands before it
    print("saving", file=sys.stderr, flush=True)
    sys.stdin.read()
    real_save(job, kind)

if where == "before-save":
    outcome.save = held_save
else:  # the run has ended and said so; the second Ctrl-C lands while the interpreter exits
    atexit.register(lambda: (print("exiting", file=sys.stderr, flush=True), sys.stdin.read()))
sys.exit(main(sys.argv[1:]))
"""


def interrupted_twice(args: list[str], tmp_path: Path, where: str, first_at: str) -> tuple[int, str]:
    """The command line ``args`` interrupted twice: a SIGINT once its stdout has a line starting with
    ``first_at``, the second while the child is held where ``where`` says (INTERRUPTED_CHILD), not by timing.
    Returns its exit code and its stderr."""
    err_path = tmp_path / "stderr.txt"  # a file, not a pipe: the child never blocks on it, whatever it says
    with open(err_path, "w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", INTERRUPTED_CHILD, where, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
        )
    try:
        for line in proc.stdout:
            if line.startswith(first_at):
                proc.send_signal(signal.SIGINT)
                break
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # drained from here on
        held = "saving" if where == "before-save" else "exiting"

        def is_held() -> bool:
            return held in err_path.read_text().splitlines()

        wait_until(lambda: is_held() or proc.poll() is not None, f"the child to reach {held!r} or to end")
        if is_held():  # held there (reading its stdin): the second Ctrl-C lands exactly at that point
            proc.send_signal(signal.SIGINT)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()  # a child still held goes on
        proc.wait(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, err_path.read_text()
