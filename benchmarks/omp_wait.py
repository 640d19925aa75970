#!/usr/bin/env python
"""OpenMP waiting: how long idle threads spin before they sleep, against training speed, quiet and busy.

    .venv/bin/python benchmarks/omp_wait.py                 # about 3 min on 2 cores
    .venv/bin/python benchmarks/omp_wait.py --rounds 3 --steps 80

Trains the `cpu` preset (the engine, real MNIST) for a fixed number of steps in a fresh process per
setting, because libgomp reads its environment once, when torch loads. Settings: OMP_WAIT_POLICY=PASSIVE
(threads sleep at once), GOMP_SPINCOUNT=N (spin N times, then sleep), libgomp's own default, and one
thread. Each setting runs on a quiet machine and next to one competing busy process (a Python loop on
one core), in alternating rounds; the table gives the median samples/s of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, data_root, header, load  # noqa: E402

CHILD = r"""
import sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from throughput import StopAfter
from lstm_vision import settings as config
from lstm_vision.training import engine
from lstm_vision.distributed.collectives import DistContext
steps, overrides = int(sys.argv[3]), sys.argv[4:]
with tempfile.TemporaryDirectory() as out:
    s = config.apply_overrides(config.load_settings(config.preset_path("cpu")),
                               [f"data.root={sys.argv[2]}", "data.download=false", f"output.dir={out}",
                                "train.epochs=100", "train.log_every=100000", *overrides])
    job = engine.prepare(s, lambda event: None, DistContext(), None)
    engine.train(job, StopAfter(10))  # warm-up: buffers, allocator, thread pool
    start = time.perf_counter()
    engine.train(job, StopAfter(steps))
    print(steps * s.train.batch_size / (time.perf_counter() - start))
"""

SETTINGS = {  # name: (environment, extra overrides)
    "OMP_WAIT_POLICY=PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, []),
    "GOMP_SPINCOUNT=1000": ({"GOMP_SPINCOUNT": "1000"}, []),
    "GOMP_SPINCOUNT=10000": ({"GOMP_SPINCOUNT": "10000"}, []),
    "GOMP_SPINCOUNT=100000": ({"GOMP_SPINCOUNT": "100000"}, []),
    "libgomp default (300000 spins)": ({}, []),
    "1 thread": ({}, ["system.threads=1"]),
}


def samples_per_s(root: str, steps: int, env_extra: dict, overrides: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(Path(__file__).resolve().parent), root, str(steps), *overrides],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=60, help="timed optimizer steps per measurement")
    p.add_argument("--data-root", default=None)
    args = p.parse_args(argv)
    root = str(data_root(args.data_root))
    header(f"OpenMP waiting: the cpu preset, {args.steps} steps per measurement, {args.rounds} rounds")
    rates: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        for busy in (False, True):
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                names = list(SETTINGS) if r % 2 == 0 else list(SETTINGS)[::-1]
                for name in names:
                    env_extra, overrides = SETTINGS[name]
                    rate = samples_per_s(root, args.steps, env_extra, overrides)
                    rates.setdefault((name, "busy" if busy else "quiet"), []).append(rate)
                    print(
                        f"   round {r + 1}, {'busy ' if busy else 'quiet'}: {name:32s} {rate:7.0f} samples/s  (load {load()})",
                        flush=True,
                    )
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    print(f"\n   {'setting':32s} {'quiet':>8s} {'busy':>8s}   median samples/s")
    for name in SETTINGS:
        quiet, busy = (statistics.median(rates[(name, c)]) for c in ("quiet", "busy"))
        print(f"   {name:32s} {quiet:8.0f} {busy:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
