"""Start-up latency on a real pseudo-terminal, as ratios to a bare Textual app measured in the same run.

Each round starts, on a pty of 80x24, a bare Textual app (a header and a footer) and then, for each checkout
given (this one by default; --tree adds others, e.g. an older commit unpacked with git archive, to compare
side by side), the program as a user starts it (``python -m lstm_vision``, the console script's module):

  app      to the first paint of the app (the Settings screen with its footer)
  attach   ``--attach`` of a finished run with a long journal (--hours of training): to the first paint, and
           to the journal replayed (the status line says COMPLETED)
  try      ``--attach`` of a trained run, then t as soon as it is shown: t to the Try screen painted
  f5       F5 at the first paint (cold), F5 once the app has been up --settle s (torch loaded after the
           first paint), and F5 again after F8 (the data decoded before): to the first step in the journal

A time counts from the moment the process is started (or the key is written) until the screen holds the text
that marks the event (escape sequences removed). The machine is shared: read the ratios to the bare app of
the same round, and the load average printed with them.

    .venv/bin/python benchmarks/startup.py [--rounds 5] [--tree /tmp/older-checkout] [--hours 10]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78cM]")
F5, F8, CTRL_Q = b"\x1b[15~", b"\x1b[19~", b"\x11"
TIMEOUT_S = 120.0


class Terminal:
    """A program on a pseudo-terminal of ``size``; what it draws is kept as text without escape sequences."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], size: tuple[int, int] = (80, 24)) -> None:
        import fcntl
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True)
        os.close(slave)
        self.raw, self.text = b"", ""

    def _read(self, wait_s: float) -> None:
        ready, _, _ = select.select([self.master], [], [], wait_s)
        if ready:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the program ended
                chunk = b""
            if not chunk and self.proc.poll() is not None:
                raise RuntimeError(f"the program ended (exit {self.proc.returncode}): {self.text[-600:]}")
            self.raw += chunk
            self.text = ESCAPES.sub(b"", self.raw).decode("utf-8", "replace")

    def wait_for(self, *markers: str, since: int = 0, timeout: float = TIMEOUT_S) -> float:
        """The clock when every marker is on the screen (in what was drawn after position ``since``)."""
        deadline = time.perf_counter() + timeout
        while not all(m in self.text[since:] for m in markers):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"timed out waiting for {markers}: {self.text[-600:]!r}")
            self._read(0.05)
        return time.perf_counter()

    def press(self, keys: bytes) -> tuple[float, int]:
        """Write ``keys``; returns the clock and the position in the text from which to look for their effect."""
        position = len(self.text)
        os.write(self.master, keys)
        return time.perf_counter(), position

    def idle(self, seconds: float) -> None:
        """Keep reading what the program draws for ``seconds`` (a pty that is not read blocks its writer)."""
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self._read(min(0.05, max(0.0, end - time.perf_counter())))

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.write(self.master, CTRL_Q)
                deadline = time.perf_counter() + 10
                while self.proc.poll() is None and time.perf_counter() < deadline:
                    self._read(0.05)
            except (OSError, RuntimeError):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


def bare_app() -> None:
    """The yardstick: a Textual app with a header and a footer, nothing else."""
    from textual.app import App
    from textual.widgets import Footer, Header

    class Bare(App):
        TITLE = "startup-bare"
        BINDINGS = [("ctrl+q", "quit", "Quit")]

        def compose(self):
            yield Header()
            yield Footer()

    Bare().run()


def environment(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "TERM": "xterm-256color", "COLUMNS": "", "LINES": ""}


def program(tree: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lstm_vision", *args]


def time_bare(work: Path) -> dict[str, float]:
    term = Terminal([sys.executable, str(Path(__file__).resolve()), "--bare-app"], work, environment(ROOT))
    try:
        return {"paint": term.wait_for("startup-bare", "Quit") - term.started}
    finally:
        term.close()


def time_app(tree: Path, work: Path) -> dict[str, float]:
    term = Terminal(program(tree), work, environment(tree))
    try:
        return {"paint": term.wait_for("Start F5", "Quit") - term.started}
    finally:
        term.close()


def time_attach(tree: Path, work: Path, run_dir: Path) -> dict[str, float]:
    term = Terminal(program(tree, "--attach", str(run_dir)), work, environment(tree))
    try:
        paint = term.wait_for("Train F3", "Quit") - term.started
        return {"paint": paint, "replayed": term.wait_for(" COMPLETED ") - term.started}
    finally:
        term.close()


def time_try(tree: Path, work: Path, run_dir: Path) -> dict[str, float]:
    term = Terminal(program(tree, "--attach", str(run_dir)), work, environment(tree))
    try:
        term.wait_for(" COMPLETED ")
        pressed, since = term.press(b"t")
        return {"t_to_paint": term.wait_for("Draw: the left", since=since) - pressed}
    finally:
        term.close()


def first_step(journal: Path, pressed: float, term: Terminal) -> float:
    """Seconds from ``pressed`` to the first step line in ``journal`` (the program's output is read meanwhile)."""
    deadline = pressed + TIMEOUT_S
    while time.perf_counter() < deadline:
        try:
            if b'"event":"step_' in journal.read_bytes():
                return time.perf_counter() - pressed
        except OSError:
            pass
        term.idle(0.01)
    raise RuntimeError(f"no step in {journal} within {TIMEOUT_S:.0f} s: {term.text[-600:]!r}")


def time_f5(tree: Path, work: Path, data_root: str, settle_s: float) -> dict[str, float]:
    """F5 at the first paint, and F5 after ``settle_s`` (then F8 and F5 once more), on the cpu preset."""
    runs = work / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    result = {}
    for case in ("cold", "warm"):
        args = ["--preset", "cpu", "--set", f"data.root={data_root}", "--set", "data.download=false"]
        args += ["--set", f"output.dir={runs}", "--set", f"output.run_name={case}"]
        term = Terminal(program(tree, *args), work, environment(tree))
        try:
            term.wait_for("Start F5", "Quit")
            if case == "warm":
                term.idle(settle_s)
            pressed, _ = term.press(F5)
            result[f"f5_{case}"] = first_step(runs / case / "metrics.jsonl", pressed, term)
            if case == "warm":  # F8, then F5 again: the data is decoded already
                _, since = term.press(F8)
                term.wait_for(" STOPPED ", since=since)
                pressed, _ = term.press(F5)
                result["f5_again"] = first_step(runs / f"{case}-2" / "metrics.jsonl", pressed, term)
        finally:
            term.close()
    return result


def train_small_run(work: Path, data_root: str) -> Path:
    """A real run with a last.pt for the Try screen: a small model, one epoch of real MNIST."""
    args = ["--no-ui", "--preset", "cpu", "--set", f"data.root={data_root}", "--set", "data.download=false"]
    args += ["--set", "train.epochs=1", "--set", "model.hidden_size=16", "--set", f"output.dir={work}"]
    args += ["--set", "output.run_name=small"]
    subprocess.run(program(ROOT, *args), env=environment(ROOT), check=True, stdout=subprocess.DEVNULL, cwd=work)
    return work / "small"


def write_long_run(run_dir: Path, hours: float) -> int:
    """A finished run's folder whose journal holds ``hours`` of training as the engine writes it: progress
    once a second, a logged step every 2 s, memory every 10 s, an epoch every 20 minutes. Returns its lines."""
    from lstm_vision import events as ev
    from lstm_vision.settings import Settings, save_settings

    run_dir.mkdir(parents=True, exist_ok=True)
    save_settings(Settings(), run_dir / "settings.toml")
    seconds, epoch_s, steps = int(hours * 3600), 1200, 1000
    epochs = max(1, seconds // epoch_s)
    total = epochs * steps
    memory = ev.ResourcesSampled(500 << 20, 600 << 20, 8 << 30, 4 << 30, None)
    lines = [
        ev.RunStarted(
            str(run_dir),
            "cpu",
            "cpu",
            "fp32",
            "off",
            "off",
            1,
            12345,
            50000,
            10000,
            10000,
            epochs,
            0,
            steps,
            256,
            28,
            28,
            10,
            "mnist",
        )
    ]
    for second in range(1, epochs * epoch_s + 1):
        epoch, step = 1 + (second - 1) // epoch_s, 1 + ((second - 1) % epoch_s) * steps // epoch_s
        g = (epoch - 1) * steps + step
        if second % 2 == 0:
            lines.append(
                ev.StepLogged(
                    epoch, step, steps, g, total, 2.0 / g**0.3, min(0.99, g / total), 1e-3, 900.0, second, seconds - second
                )
            )
        else:
            lines.append(ev.StepProgressed(epoch, step, steps, g, total, float(second), float(seconds - second)))
        if second % 10 == 0:
            lines.append(memory)
        if second % epoch_s == 0:
            lines.append(ev.EpochFinished(epoch, epochs, 0.3, 0.9, 0.3, 0.9, 1e-3, epoch_s, 900.0, 0.3, second, seconds - second))
            lines.append(ev.CheckpointSaved(str(run_dir / "last.pt"), "last", epoch))
    summary = {"status": "completed", "epochs_completed": epochs, "test_accuracy": 0.99}
    lines.append(ev.RunFinished(summary, [[1000 if i == j else 0 for j in range(10)] for i in range(10)]))
    (run_dir / "metrics.jsonl").write_text("".join(e.to_json() + "\n" for e in lines), encoding="utf-8")
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return len(lines)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tree", action="append", default=[], help="another checkout to measure side by side")
    parser.add_argument("--hours", type=float, default=10.0, help="training hours in the attached run's journal")
    parser.add_argument("--settle", type=float, default=6.0, help="seconds the app is up before the warm F5")
    parser.add_argument("--only", default="app,attach,try,f5", help="which measurements (comma-separated)")
    parser.add_argument("--data-root", default=os.environ.get("LSTM_VISION_TEST_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--bare-app", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_app:
        return bare_app()
    trees = [ROOT, *(Path(t).resolve() for t in args.tree)]
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="lstm-vision-startup-"))
    long_lines = write_long_run(work / "long", args.hours)
    small = train_small_run(work, args.data_root) if "try" in only else None
    print(f"pty 80x24, {args.rounds} rounds; attach: a journal of {args.hours:g} h ({long_lines:,} lines); load {load()}")
    samples: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        bare = time_bare(work)["paint"]
        samples.setdefault(("bare", "paint"), []).append(bare)
        for tree in trees:
            found = {}
            if "app" in only:
                found.update({"app_paint": time_app(tree, work)["paint"]})
            if "attach" in only:
                found.update({f"attach_{k}": v for k, v in time_attach(tree, work, work / "long").items()})
            if "try" in only:
                found.update({f"try_{k}": v for k, v in time_try(tree, work, small).items()})
            if "f5" in only:
                found.update(time_f5(tree, work, args.data_root, args.settle))
            for name, value in found.items():
                samples.setdefault((str(tree), name), []).append(value)
            shown = ", ".join(f"{k} {v:.2f} s" for k, v in found.items())
            print(f"round {r + 1} {tree.name}: bare {bare:.2f} s; {shown}; load {load()}", flush=True)
    report(samples, trees)


def report(samples: dict[tuple[str, str], list[float]], trees: list[Path]) -> None:
    bare = statistics.median(samples[("bare", "paint")])
    print(f"\nmedians (s) and ratio to the bare Textual app's first paint ({bare:.2f} s):")
    names = sorted(
        {name for (_, name) in samples if name != "paint"}, key=lambda n: list(dict.fromkeys(n for (_, n) in samples)).index(n)
    )
    print(f"{'':18}" + "".join(f"{t.name:>22}" for t in trees))
    for name in names:
        cells = []
        for tree in trees:
            values = samples.get((str(tree), name))
            cells.append(f"{statistics.median(values):7.2f} s ({statistics.median(values) / bare:5.1f}x)" if values else "-")
        print(f"{name:18}" + "".join(f"{c:>22}" for c in cells))
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
