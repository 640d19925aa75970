"""A run in the app whose terminal goes away (a dropped SSH connection): the app in a real pseudo-terminal,
F5 typed into it, then the terminal closed. The kernel sends the hang-up; the run must stop as F8 would."""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import termios
import threading

from lstm_vision.settings import save_settings
from lstm_vision.runs.liveness import run_state
from processes import CLI, long_run, names, process_info, wait_until

F5 = b"\x1b[15~"


def open_app_in_a_terminal(cwd, *args: str) -> tuple[subprocess.Popen, int]:
    """lstm-vision-tui on a new pseudo-terminal of 80 x 24 that is its controlling terminal, as under ssh."""
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

    def take_terminal() -> None:  # in the child: the new session's controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [str(CLI), *args],
        cwd=cwd,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=take_terminal,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    os.close(slave)
    screen = bytearray()

    def drain() -> None:  # read what the app draws, so that it never blocks writing to the terminal
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            screen.extend(data)

    threading.Thread(target=drain, daemon=True).start()
    proc.screen = screen  # type: ignore[attr-defined]
    return proc, master


def test_a_run_in_the_app_stops_resumably_when_its_terminal_hangs_up(tiny_settings, tmp_path):
    tiny_settings.output.run_name = "hangup"
    save_settings(long_run(tiny_settings), tmp_path / "settings.toml")
    run_dir = tmp_path / "runs" / "hangup"
    proc, terminal = open_app_in_a_terminal(tmp_path)
    try:
        wait_until(lambda: b"Start F5" in proc.screen, "the app's first screen")
        os.write(terminal, F5)
        wait_until(lambda: "step_logged" in names(run_dir), "the run started with F5 to train")
        assert process_info(run_dir)["pid"] == proc.pid  # trained in the app's own worker thread
        os.close(terminal)  # the terminal goes away: the kernel hangs up the session
        assert proc.wait(timeout=120) == 130
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "stopped" and (run_dir / "last.pt").is_file()
        assert names(run_dir)[-1] == "run_stopped" and run_state(run_dir).status == "stopped"
    finally:
        proc.kill()


CTRL_Q = b"\x11"
F8 = b"\x1b[19~"


def test_quitting_the_app_after_a_stop_prints_the_resume_command(tiny_settings, tmp_path):
    """Issue 23.4: ctrl+q during a run (the run stops, then the app quits), or after F8, leaves the terminal
    the --resume command, as a headless stop does."""
    tiny_settings.output.run_name = "quit"
    save_settings(long_run(tiny_settings), tmp_path / "settings.toml")
    run_dir = tmp_path / "runs" / "quit"
    for stop in (CTRL_Q + b"y", F8):
        proc, terminal = open_app_in_a_terminal(tmp_path, *(["--resume", str(run_dir)] if stop == F8 else []))
        try:
            wait_until(lambda: b"Settings F2" in proc.screen, "the app's first screen (its tab row)")
            if stop != F8:
                os.write(terminal, F5)
            wait_until(lambda: names(run_dir).count("step_logged") > 2 and process_info(run_dir).get("pid") == proc.pid, "a step")
            os.write(terminal, stop)
            wait_until(lambda: run_state(run_dir).status == "stopped", "the run to stop")
            if stop == F8:
                os.write(terminal, CTRL_Q)
            assert proc.wait(timeout=120) == 130
            tail = bytes(proc.screen).decode(errors="replace").rsplit("\x1b", 1)[-1]  # after the app's last drawing
            assert f"(last.pt keeps it): resume with lstm-vision-tui --resume {run_dir}" in tail, tail
            assert re.match(r"\[\?\d+lStopped (at|after) epoch \d", tail), tail  # its own line, the first after the app
        finally:
            proc.kill()
            os.close(terminal)
