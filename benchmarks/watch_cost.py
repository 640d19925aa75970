#!/usr/bin/env python
"""What watching a run costs its training: the control check, the heartbeat and a viewer following it.

    .venv/bin/python benchmarks/watch_cost.py               # about 2 min on 2 cores
    .venv/bin/python benchmarks/watch_cost.py --rounds 5 --epochs 3

Trains the `cpu` preset (the engine, real MNIST) in alternating rounds, three ways:

- bare: no process.json, no control.json reading, and the per-step control check cut down to the
  RunControl flag read the engine had before runs could be watched from outside;
- watched: the engine as shipped (the beacon thread: heartbeat every 2 s, control.json polled 4 times
  a second; the cadence's check after every step; progress written to the journal once a second);
- followed: as watched, with a viewer in another process following the journal and the liveness
  every 0.25 s, as `lstm-vision-tui --attach` does.

Reports each way's median training samples/s (summary.json's train_samples_per_s) and its ratio to
bare, and the time of one per-step control check against the time of one step.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# As lstm-vision-tui sets it (cli.py): idle OpenMP threads sleep. libgomp reads it when torch loads.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, data_root, header, load  # noqa: E402

sys.path.insert(0, str(ROOT))
from lstm_vision.training import cadence
from lstm_vision import settings as config
from lstm_vision.training import engine
from lstm_vision.runs import liveness  # noqa: E402
from lstm_vision.control import RunControl  # noqa: E402
from lstm_vision.distributed.collectives import DistContext  # noqa: E402
import torch  # noqa: E402

FOLLOWER = r"""
import sys, threading
from lstm_vision.runs.follow import follow
from lstm_vision.runs.liveness import run_state
import time
run_dir = sys.argv[1]
while run_state(run_dir).status in ("unfinished",):
    time.sleep(0.05)
count = [0]
follow(run_dir, lambda events: count.__setitem__(0, count[0] + len(events)), threading.Event())
print(count[0])
"""


class NoBeacon:
    def __init__(self, run_dir, control) -> None:
        pass

    def start(self) -> "NoBeacon":
        return self

    def close(self, exit_code: int) -> None:
        pass


def bare_tick(self, logged: bool) -> cadence.Tick:
    return cadence.Tick(self.control.stop_requested, False, 0.0)


def settings(root: str, out: str, epochs: int) -> config.Settings:
    return config.apply_overrides(
        config.load_settings(config.preset_path("cpu")),
        [f"data.root={root}", "data.download=false", f"output.dir={out}", f"train.epochs={epochs}"],
    )


def train_once(way: str, root: str, epochs: int) -> float:
    real_beacon, real_tick = engine.Beacon, cadence.Cadence.tick
    with tempfile.TemporaryDirectory() as out:
        run_dir = Path(out) / way
        follower = None
        if way == "bare":
            engine.Beacon, cadence.Cadence.tick = NoBeacon, bare_tick
        elif way == "followed":
            follower = subprocess.Popen(
                [sys.executable, "-c", FOLLOWER, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True
            )
        try:
            result = engine.run(settings(root, out, epochs), lambda event: None, RunControl(), run_dir=str(run_dir))
        finally:
            engine.Beacon, cadence.Cadence.tick = real_beacon, real_tick
        if follower is not None:
            follower.wait(timeout=120)
        return result.summary["train_samples_per_s"]


def tick_cost(n: int = 200_000) -> float:
    """Seconds per Cadence.tick in one process (what every training step pays)."""
    c = cadence.Cadence(RunControl(), DistContext(), torch.device("cpu"), lambda paused: None)
    start = time.perf_counter()
    for i in range(n):
        c.tick(i % 50 == 0)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data-root")
    args = parser.parse_args()
    root = data_root(args.data_root)
    header("watch cost: the cpu preset, bare / watched / followed, alternating rounds")
    ways = ("bare", "watched", "followed")
    rates: dict[str, list[float]] = {w: [] for w in ways}
    for r in range(args.rounds):
        for way in ways if r % 2 == 0 else reversed(ways):
            rates[way].append(train_once(way, root, args.epochs))
        print(f"   round {r + 1}: " + "  ".join(f"{w} {rates[w][-1]:,.0f}" for w in ways) + f"  (load {load()})", flush=True)
    base = statistics.median(rates["bare"])
    print(
        "   median samples/s: "
        + "  ".join(f"{w} {statistics.median(rates[w]):,.0f} ({statistics.median(rates[w]) / base:.3f}x)" for w in ways)
    )
    per_tick = tick_cost()
    step_s = 384 / base  # the preset's batch at the bare rate
    print(
        f"   one control check (Cadence.tick, one process): {per_tick * 1e6:.2f} us = "
        f"{100 * per_tick / step_s:.3f} % of a {step_s * 1e3:.1f} ms step"
    )
    print(
        f"   beacon: heartbeat every {liveness.HEARTBEAT_S:g} s, control.json polled every "
        f"{liveness.CONTROL_POLL_S:g} s on its own thread"
    )


if __name__ == "__main__":
    main()
