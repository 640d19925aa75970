#!/usr/bin/env python
"""What train.compile_mode does to training speed: compile time and steady-state samples/s.

    .venv/bin/python benchmarks/compile_effect.py              # about 2 min on 2 cores
    .venv/bin/python benchmarks/compile_effect.py --modes off,default,max-autotune --rounds 3

Trains the `cpu` preset (the engine, real MNIST) for 3 epochs per mode, in alternating rounds. The
compile time is epoch 1's extra time over `off` (Dynamo and Inductor run on the first steps and on the
first evaluation batches); the steady state is the median samples/s of epochs 2 and 3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # as lstm-vision-tui sets it (cli.py)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, data_root, header, load  # noqa: E402

sys.path.insert(0, str(ROOT))
from lstm_vision import settings as config
from lstm_vision.training import engine  # noqa: E402
from lstm_vision import events as ev  # noqa: E402
from lstm_vision.control import RunControl  # noqa: E402


def train(mode: str, root: str, epochs: int) -> tuple[float, float, str]:
    """(epoch 1 seconds, steady samples/s, what was compiled) of one run in ``mode``."""
    events: list[ev.Event] = []
    with tempfile.TemporaryDirectory() as out:
        s = config.apply_overrides(
            config.load_settings(config.preset_path("cpu")),
            [
                f"data.root={root}",
                "data.download=false",
                f"output.dir={out}",
                f"train.epochs={epochs}",
                f"train.compile_mode={mode}",
            ],
        )
        engine.run(s, events.append, RunControl())
    done = [e for e in events if isinstance(e, ev.EpochFinished)]
    started = next(e for e in events if isinstance(e, ev.RunStarted))
    return done[0].epoch_time_s, statistics.median(e.samples_per_s for e in done[1:]), started.compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="off,default")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--data-root")
    args = parser.parse_args()
    root, modes = data_root(args.data_root), args.modes.split(",")
    header(f"compile effect: the cpu preset, {args.epochs} epochs per run, modes {', '.join(modes)}")
    first: dict[str, list[float]] = {m: [] for m in modes}
    steady: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in modes if r % 2 == 0 else list(reversed(modes)):
            epoch1, rate, compiled = train(mode, root, args.epochs)
            first[mode].append(epoch1)
            steady[mode].append(rate)
            print(
                f"   round {r + 1} {mode}: epoch 1 {epoch1:.2f} s, then {rate:,.0f} samples/s; compiled: {compiled} "
                f"(load {load()})",
                flush=True,
            )
    base_first, base_rate = statistics.median(first[modes[0]]), statistics.median(steady[modes[0]])
    for mode in modes:
        f, s = statistics.median(first[mode]), statistics.median(steady[mode])
        print(
            f"   {mode}: epoch 1 {f:.2f} s ({f - base_first:+.2f} s against {modes[0]}), steady {s:,.0f} samples/s "
            f"({s / base_rate:.3f}x)"
        )


if __name__ == "__main__":
    main()
