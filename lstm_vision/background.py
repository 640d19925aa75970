"""Runs that outlive the terminal: a headless run in a process of its own session.

The child is ``python -m lstm_vision --no-ui`` with the run's folder chosen here, so its output
(``output.log``) and its liveness (``process.json``) are in the run directory from the first moment.
Being the leader of a new session, it gets no SIGHUP when the terminal that started it goes away;
quitting the app or a dropped SSH connection leave it training. It is steered like any other run:
control requests in its folder (liveness.request).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from lstm_vision.config import Settings, save_settings
from lstm_vision.liveness import announce
from lstm_vision.rundir import create_run_dir, use_run_dir

OUTPUT_LOG = "output.log"


def start_background(settings: Settings, run_dir: str | os.PathLike | None = None) -> tuple[Path, int]:
    """Start ``settings`` as a headless run in its own session; returns (run folder, pid) at once."""
    folder = use_run_dir(run_dir) if run_dir else create_run_dir(settings.output)
    config = folder / "settings.toml"
    save_settings(settings, config)
    command = [sys.executable, "-m", "lstm_vision", "--no-ui", "--config", str(config), "--run-dir", str(folder)]
    with open(folder / OUTPUT_LOG, "ab") as output:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    announce(folder, child.pid, command)
    # Reap it if it ends while this process lives (no zombie that looks alive); once this process is
    # gone, init adopts it.
    threading.Thread(target=child.wait, name="lstm-vision-background-reaper", daemon=True).start()
    return folder, child.pid
