"""Screenshots of the served app (--serve) in a real headless browser: Debian's chromium, driven through its
DevTools protocol (the page loaded, keys typed as a user types them, the window captured), as README "In a browser"
shows them. Installs chromium with apt-get where it is missing.

    .venv/bin/python benchmarks/serve_screenshots.py --data ../shared/data   # -> docs/serve-settings.png, docs/serve.png

1. serves the app with the `cpu` preset on the data under --data (its runs into a temporary folder);
2. opens the page in chromium (1200 x 800) and takes the Settings screen once the app has drawn it;
3. presses F5 in the browser: the served app starts the run in the background and attaches to it; once the
   run has finished its first epoch (the charts have points), takes the Train screen while it trains on;
4. stops the run (SIGTERM: it saves last.pt), closes chromium and the server, and removes the temporary folder."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
F5 = {"key": "F5", "code": "F5", "windowsVirtualKeyCode": 116}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        subprocess.run(["apt-get", "update", "-q"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True)
        found = shutil.which("chromium")
    assert found, "chromium is not installed and apt-get could not install it"
    return found


def wait_until(condition, what: str, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def journal_has(run_dir: Path, event: str) -> bool:
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return any(line.startswith("{") and json.loads(line).get("event") == event for line in lines[:-1])  # the last: being written


class Page:
    """One chromium tab through the DevTools protocol's websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        async for message in self.ws:
            answer = json.loads(message.data)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
        raise RuntimeError("chromium closed the DevTools connection")

    async def evaluate(self, expression: str) -> object:
        return (await self.call("Runtime.evaluate", expression=expression, returnByValue=True))["result"].get("value")

    async def wait_for(self, expression: str, what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not await self.evaluate(expression):
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            await asyncio.sleep(0.25)

    async def press(self, key: dict) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.call("Input.dispatchKeyEvent", type=kind, **key)

    async def screenshot(self, path: Path) -> None:
        data = (await self.call("Page.captureScreenshot", format="png"))["data"]
        path.write_bytes(base64.b64decode(data))
        print(f"wrote {path}")


async def take(browser_port: int, url: str, out: Path, run_dir: Path, settle_s: float) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{browser_port}/json/list") as answer:
            target = next(t for t in await answer.json() if t["type"] == "page")
        async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            page = Page(ws)
            await page.call("Page.enable")
            await page.call("Page.navigate", url=url)
            # textual.js marks the body once the app's first bytes are drawn; the rest of the form follows
            await page.wait_for("document.body && document.body.classList.contains('-first-byte')", "the app's first screen")
            await asyncio.sleep(settle_s)
            await page.screenshot(out / "serve-settings.png")
            await page.evaluate("document.querySelector('.xterm-helper-textarea')?.focus()")
            await page.press(F5)  # served: the run starts in the background and the app attaches to it
            wait_until(lambda: journal_has(run_dir, "epoch_finished"), "the run's first epoch", timeout=600)
            await asyncio.sleep(settle_s)  # the charts redraw a few times a second
            await page.screenshot(out / "serve.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="data.root (holding MNIST/raw)")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="where the PNG files go")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds to let the screen settle before each picture")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix="serve-screenshots-"))
    run_dir = runs / "served-in-a-browser"
    serve_port, browser_port = free_port(), free_port()
    settings = ["--preset", "cpu", "--set", f"data.root={Path(args.data).resolve()}", "--set", "data.download=false"]
    settings += ["--set", f"output.dir={runs}", "--set", f"output.run_name={run_dir.name}", "--set", "train.epochs=15"]
    server = subprocess.Popen(
        [sys.executable, "-m", "lstm_vision", "--serve", "--port", str(serve_port), *settings],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=runs,
        start_new_session=True,  # its app processes are in its group: killed with it
    )
    browser = subprocess.Popen(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # as root
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,800",
            f"--remote-debugging-port={browser_port}",
            "--remote-allow-origins=*",
            f"--user-data-dir={runs / 'chromium'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _answers(serve_port) and _answers(browser_port, "/json/version"), "the server and chromium", 120)
        asyncio.run(take(browser_port, f"http://127.0.0.1:{serve_port}/", out, run_dir, args.settle))
    finally:
        _stop_run(run_dir)
        browser.terminate()
        os.killpg(server.pid, signal.SIGTERM)
        browser.wait(), server.wait()
        _wait_for_run_end(run_dir)
        shutil.rmtree(runs, ignore_errors=True)  # the demo run and chromium's profile
    return 0


def _wait_for_run_end(run_dir: Path, timeout: float = 60.0) -> None:
    """The stopped run's process saves last.pt and exits; its folder goes once it has."""
    try:
        pid = json.loads((run_dir / "process.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def _answers(port: int, path: str = "/") -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5):
            return True
    except OSError:
        return False


def _stop_run(run_dir: Path) -> None:
    try:
        pid = json.loads((run_dir / "process.json").read_text())["pid"]
        os.kill(pid, signal.SIGTERM)  # the headless run's stop: it saves last.pt
    except (OSError, ValueError, KeyError):
        pass


if __name__ == "__main__":
    sys.exit(main())
