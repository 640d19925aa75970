#!/usr/bin/env python
"""Time to accuracy of the `cpu` preset: MNIST test accuracy against training time (train_time_s).

    .venv/bin/python benchmarks/time_to_accuracy.py                       # one run of the cpu preset
    .venv/bin/python benchmarks/time_to_accuracy.py --runs 2 --set system.threads=1
    .venv/bin/python benchmarks/time_to_accuracy.py --seeds 0,1,2         # one run per seed (train.seed)

Runs the real headless CLI (`lstm-vision-tui --no-ui --preset cpu`) on real MNIST, then reads the run's
summary.json. train_time_s is the wall time of the training epochs (evaluation excluded), as the run
directory contract defines it. Target: test accuracy >= 99.0 % within 30 s of training on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, data_root, header, load  # noqa: E402

TARGET_ACCURACY, TARGET_SECONDS = 0.99, 30.0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--runs", type=int, default=1, help="runs per seed")
    p.add_argument("--seeds", default="0", help="comma-separated train.seed values, e.g. 0,1,2")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--data-root", default=None)
    args = p.parse_args(argv)
    root = data_root(args.data_root)
    header(f"time to accuracy: preset {args.preset} {' '.join(args.overrides)}")
    exe = Path(sys.executable).with_name("lstm-vision-tui")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "lstm_vision"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="lstm-vision-tta-") as out:
        seeds = [int(seed) for seed in args.seeds.split(",")]
        for i, seed in enumerate(seed for seed in seeds for _ in range(args.runs)):
            cmd = command + [
                "--no-ui",
                "--preset",
                args.preset,
                "--set",
                f"data.root={root}",
                "--set",
                "data.download=false",
                "--set",
                f"output.dir={out}",
                "--set",
                f"output.run_name=run{i}",
                "--set",
                f"train.seed={seed}",
            ]
            for item in args.overrides:
                cmd += ["--set", item]
            print("   $ " + " ".join(cmd[:1] + cmd[1:]), flush=True)
            before = load()
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy())
            summary_path = Path(out) / f"run{i}" / "summary.json"
            if done.returncode != 0 or not summary_path.is_file():
                print(done.stdout[-2000:] + done.stderr[-2000:])
                print(f"   run {i + 1} failed with exit code {done.returncode}")
                return 1
            s = json.loads(summary_path.read_text())
            rows.append(s)
            ok = s["test_accuracy"] >= TARGET_ACCURACY and s["train_time_s"] <= TARGET_SECONDS
            print(
                f"   run {i + 1} (seed {seed}): test accuracy {100 * s['test_accuracy']:.2f} % after {s['epochs_completed']} epochs, "
                f"train_time_s {s['train_time_s']:.1f} s ({s['train_samples_per_s']:.0f} samples/s), {s['precision']}, "
                f"{s['parameters']} parameters; load before {before}, after {load()}; "
                f"target (>= {100 * TARGET_ACCURACY:.1f} % in <= {TARGET_SECONDS:.0f} s) {'MET' if ok else 'not met'}",
                flush=True,
            )
    best = min(rows, key=lambda s: s["train_time_s"])
    worst = min(s["test_accuracy"] for s in rows)
    print(
        f"\nsummary: best train_time_s {best['train_time_s']:.1f} s at {100 * best['test_accuracy']:.2f} % test accuracy; "
        f"slowest {max(s['train_time_s'] for s in rows):.1f} s; accuracies "
        + ", ".join(f"{100 * s['test_accuracy']:.2f}" for s in rows)
        + f" (lowest {100 * worst:.2f} %, mean {100 * sum(s['test_accuracy'] for s in rows) / len(rows):.2f} %)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
