"""--serve: the real server (textual-serve) on a free loopback port, its page over HTTP, and its websocket as a
browser drives it (keys in, the app's screen out), with one app process per client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.processes import cli, process_info, start_cli, tiny_args, wait_until

F5, F9 = "\x1b[15~", "\x1b[20~"  # the keys as xterm.js sends them
ANSI = re.compile(rb"\x1b\[[0-9;?$]*[A-Za-z~]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
SCREEN_S = 90.0  # an app process's start on a busy two-core machine; only a hang reaches it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(tmp_path: Path, port: int, *args: str):
    """``lstm-vision-tui --serve --port PORT ARGS`` in a session of its own (the app processes it starts are in
    its process group), up once its page answers; the whole group is killed at the end."""
    log = open(tmp_path / "server.log", "w")
    proc = start_cli(
        "--serve", "--port", str(port), *args, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True
    )
    try:
        wait_until(lambda: page(port) or proc.poll() is not None, "the server's page", timeout=SCREEN_S, poll=0.2)
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        yield proc
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()


def page(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            return answer.read().decode()
    except OSError:
        return ""


def app_processes(server_proc: subprocess.Popen) -> list[psutil.Process]:
    """The served apps: the server's descendants in its session that run ``python -m lstm_vision`` (not the shell
    around one, nor a background run an app started: that one has a session of its own)."""
    found = []
    for child in psutil.Process(server_proc.pid).children(recursive=True):
        with suppress(psutil.Error, ProcessLookupError):
            line = child.cmdline()
            if "lstm_vision" in line and Path(line[0]).name.startswith("python") and os.getsid(child.pid) == server_proc.pid:
                found.append(child)
    return found


class Browser:
    """One browser tab's websocket: what the app drew so far (escape codes removed) and the text messages."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.screen, self.messages = ws, b"", []

    def text(self) -> str:
        return ANSI.sub(b"", self.screen).decode("utf-8", "replace")

    async def wait_for(self, wanted: str, timeout: float = SCREEN_S) -> None:
        async with asyncio.timeout(timeout):
            while wanted not in self.text():
                message = await self.ws.receive()
                if message.type == aiohttp.WSMsgType.BINARY:
                    self.screen += message.data
                elif message.type == aiohttp.WSMsgType.TEXT:
                    self.messages.append(json.loads(message.data))
                else:
                    raise AssertionError(f"the websocket closed before {wanted!r} arrived: {self.text()[-2000:]}")

    async def wait_for_message(self, kind: str, timeout: float = SCREEN_S) -> list:
        async with asyncio.timeout(timeout):
            while not any(m[0] == kind for m in self.messages):
                message = await self.ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.messages.append(json.loads(message.data))
                elif message.type == aiohttp.WSMsgType.BINARY:
                    self.screen += message.data
                else:
                    raise AssertionError(f"the websocket closed before a {kind} message")
        return next(m for m in self.messages if m[0] == kind)

    async def press(self, keys: str) -> None:
        await self.ws.send_json(["stdin", keys])


@asynccontextmanager
async def browser(session: aiohttp.ClientSession, port: int):
    async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=32") as ws:
        await ws.send_json(["resize", {"width": 100, "height": 32}])
        yield Browser(ws)


def served_run_args(mnist_root: Path, out: Path) -> list[str]:
    """The tiny headless run's settings for the served apps (its --no-ui left out), as a run that goes on until stopped."""
    args = [a for a in tiny_args(mnist_root, out) if a != "--no-ui"]
    return [*args[:-2], "--set", "output.run_name=served", "--set", "train.epochs=10000"]


def stop_run(run_dir: Path) -> None:
    pid = process_info(run_dir).get("pid")
    if pid:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def steps(run_dir: Path) -> int:
    try:
        return (run_dir / "metrics.jsonl").read_text(encoding="utf-8").count('"step_logged"')
    except OSError:
        return 0


async def test_the_page_is_lstm_visions_and_its_websocket_brings_the_first_screen(tmp_path):
    port = free_port()
    with server(tmp_path, port):
        html = page(port)
        assert "<title>lstm-vision</title>" in html
        assert f"ws://127.0.0.1:{port}/ws" in html  # the address the browser used
        async with aiohttp.ClientSession() as session, browser(session, port) as tab:
            await tab.wait_for("Settings F2")
            await tab.wait_for("dataset")  # the form, the app's first screen
            assert "Start F5" in tab.text()


async def test_two_tabs_are_two_apps_and_closing_one_leaves_its_run_training(tmp_path, mnist_root):
    """F5 in a served app starts the run in the background (a process of its own) and attaches; the tab closed,
    its app exits and the run trains on, and the other tab's History lists it. Ctrl-C on the server ends the
    other app too, and the run still trains."""
    port, out = free_port(), tmp_path / "runs"
    run_dir = out / "served"
    try:
        with server(tmp_path, port, *served_run_args(mnist_root, out)) as proc:
            async with aiohttp.ClientSession() as session, browser(session, port) as second:
                async with browser(session, port) as first:
                    await first.wait_for("Settings F2")
                    await second.wait_for("Settings F2")
                    apps = wait_until(lambda: len(app_processes(proc)) == 2 and app_processes(proc), "two app processes")
                    await first.press(F5)
                    await first.wait_for("Started in the background")
                    wait_until(lambda: steps(run_dir) >= 2, "the background run's steps")
                    trainer = psutil.Process(process_info(run_dir)["pid"])
                    assert os.getsid(trainer.pid) == trainer.pid != proc.pid  # a session of its own: no tab's
                wait_until(lambda: len(app_processes(proc)) == 1, "the closed tab's app to exit")
                assert {p.pid for p in app_processes(proc)} < {p.pid for p in apps}  # the other tab's app goes on
                seen = steps(run_dir)
                wait_until(lambda: steps(run_dir) > seen, "the run to train on after its tab closed")
                assert trainer.is_running()
                second.screen = b""  # what is drawn from now on: the form's "+ --set output.run_name=served" is not
                await second.press(F9)
                await second.wait_for("History")
                await second.wait_for("served")  # History: the run the other tab started, training
                await second.wait_for("running")
                left = app_processes(proc)
                proc.send_signal(signal.SIGINT)  # Ctrl-C: the server stops, and the other tab's app with it
                assert proc.wait(timeout=60) == 0
                wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in left), "the apps' end")
                seen = steps(run_dir)
                wait_until(lambda: steps(run_dir) > seen, "the run to train on after the server stopped")
    finally:
        stop_run(run_dir)


async def test_a_served_app_ends_when_its_server_is_gone(tmp_path):
    """The server killed without closing its tabs: each app ends by itself instead of blocking on its closed pipe."""
    port = free_port()
    with server(tmp_path, port) as proc:
        async with aiohttp.ClientSession() as session, browser(session, port) as tab:
            await tab.wait_for("Settings F2")
            (app,) = wait_until(lambda: app_processes(proc), "the tab's app")
            assert app.ppid() == proc.pid  # exec: no shell between them
            proc.kill()
            proc.wait()
            wait_until(lambda: not app.is_running() or app.status() == psutil.STATUS_ZOMBIE, "the app's end", timeout=30)


async def test_p_delivers_a_runs_picture_to_the_browser(tmp_path, mnist_root):
    """The browser cannot read the box's disk: p, then enter, sends curves.png through the server's download address."""
    out = tmp_path / "runs"
    assert cli(*tiny_args(mnist_root, out)).returncode == 0
    run_dir = out / "cli"
    pictures = sorted(p.name for p in run_dir.glob("*.png"))
    assert "confusion_matrix.png" in pictures and "curves.png" in pictures
    port = free_port()
    with server(tmp_path, port, "--attach", str(run_dir)):
        async with aiohttp.ClientSession() as session, browser(session, port) as tab:
            await tab.wait_for("Results F4")
            await tab.wait_for("Got")  # the attached run's end: its results shown
            await tab.press("p")
            await tab.wait_for("new browser tab")
            await tab.press("\r")  # the first picture: confusion_matrix.png
            _, key = await tab.wait_for_message("deliver_file_start")
            async with session.get(f"http://127.0.0.1:{port}/download/{key}") as answer:
                assert answer.status == 200
                assert answer.headers["Content-Type"].startswith("image/png")
                assert "inline" in answer.headers["Content-Disposition"]
                assert await answer.read() == (run_dir / pictures[0]).read_bytes()


def test_a_port_in_use_is_one_sentence_before_serving(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("--serve", "--port", str(port), cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert (
        done.stderr.strip() == f"error: --port {port}: the port is in use on 127.0.0.1; give another one, e.g. --port {port + 1}."
    )
    assert "Serving" not in done.stdout


def test_an_unknown_host_and_a_port_out_of_range_are_one_sentence_each(tmp_path):
    done = cli("--serve", "--host", "no-such-host.invalid", cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --host no-such-host.invalid: no such host; give a name or address of this machine")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = cli("--serve", "--port", "70000", cwd=tmp_path, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "error: --port 70000: a port is a number from 1 to 65535 (default 8000).",
    )


def test_the_missing_extra_is_one_sentence(tmp_path):
    # textual-serve as a user without the extra has it: not importable (None in sys.modules makes import fail)
    code = "import sys; sys.modules['textual_serve'] = None; from lstm_vision.cli import main; sys.exit(main(['--serve']))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: --serve needs the optional extra 'serve' (textual-serve): pip install")


def test_another_host_than_loopback_warns_that_there_is_no_authentication(tmp_path):
    port = free_port()
    with server(tmp_path, port, "--host", "0.0.0.0"):
        log = (tmp_path / "server.log").read_text()
    warning = [line for line in log.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1
    assert "no authentication" in warning[0] and f"ssh -L {port}:localhost:{port} BOX" in warning[0]


def test_serve_options_that_do_not_fit_are_refused(tmp_path):
    done = cli("--serve", "--no-ui", cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().endswith("not --no-ui.")
    done = cli("--port", "8001", cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and "--host and --port are for --serve" in done.stderr
    done = cli("--serve", "--set", "train.epochs=-1", cwd=tmp_path, timeout=60)  # the settings checked before serving
    assert (done.returncode, done.stderr.strip()) == (2, "error: train.epochs must be >= 0 and <= 100000, not -1.")


@pytest.mark.parametrize("given", [["--preset", "cpu", "--set", "train.epochs=3"], ["--attach", "runs/a b"]])
def test_the_served_command_is_this_python_with_the_options_given(given):
    from lstm_vision.cli import _served_app_args, build_parser
    from lstm_vision.serve import served_command
    import shlex

    args = build_parser().parse_args(["--serve", "--port", "8100", *given])
    assert shlex.split(served_command(_served_app_args(args))) == ["exec", sys.executable, "-m", "lstm_vision", *given]


def test_serve_resume_of_a_completed_run_is_one_sentence_before_serving(tmp_path):
    """Tried in a browser: --serve --resume RUN of a completed run served, and each tab opened idle, its refusal a
    notification gone in ten seconds; as --resume without --serve, it is one sentence before anything listens."""
    run_dir = tmp_path / "runs" / "done"
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps({"status": "completed"}))
    (run_dir / "last.pt").write_bytes(b"")
    from lstm_vision.settings import Settings, save_settings

    save_settings(Settings(), run_dir / "settings.toml")
    port = free_port()
    done = cli("--serve", "--port", str(port), "--resume", str(run_dir), cwd=tmp_path, timeout=60)
    assert (done.returncode, done.stderr.strip()) == (2, f"error: {run_dir} completed; nothing to resume.")
    assert "Serving" not in done.stdout
