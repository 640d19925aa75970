#!/usr/bin/env python
"""The LSTM alone, forward and backward: the own kernel and nn.LSTM's, in fp32 and bf16, side by side.

    .venv/bin/python benchmarks/lstm_kernels.py                  # bi 2 x 128 batch 512, and the cpu preset's 1 x 80
    .venv/bin/python benchmarks/lstm_kernels.py --rounds 9

What system.lstm_kernel = auto measures at a run's start (lstm_vision/model/kernel_choice.py), for all four
kernel x precision pairs at once, in alternated rounds (the order reverses every round, so that a load
spike slows all alike): median ms of one training step of the LSTM, and the ratios to nn.LSTM in fp32.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header, load  # noqa: E402

from lstm_vision.model import cpu_lstm  # noqa: E402

# name -> (steps, inputs, hidden, layers, bidirectional, batch)
SHAPES = {
    "bi 2 x 128, 28 x 28, batch 512": (28, 28, 128, 2, True, 512),
    "cpu preset: 1 x 80, 14 x 56, batch 384": (14, 56, 80, 1, False, 384),
}


def sides(shape):
    steps, inputs, hidden, layers, bi, batch = shape
    lstm = nn.LSTM(inputs, hidden, layers, batch_first=True, bidirectional=bi)
    x = torch.randn(batch, steps, inputs)
    grad = torch.randn(batch, steps, hidden * (2 if bi else 1))

    def side(own: bool, bf16: bool):
        def step() -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = cpu_lstm.lstm_forward(lstm, x) if own else lstm(x)[0]
            out.backward(grad.to(out.dtype))

        return step

    return {
        f"{'own' if own else 'nn.LSTM'} {'bf16' if bf16 else 'fp32'}": side(own, bf16)
        for own in (False, True)
        for bf16 in (False, True)
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    header("the LSTM alone: own kernel and nn.LSTM, fp32 and bf16 (forward + backward, median ms)")
    torch.manual_seed(0)
    for name, shape in SHAPES.items():
        steps = sides(shape)
        reps = max(1, round(0.25 / _once(steps["nn.LSTM fp32"])))
        for step in steps.values():
            step()
        times = {k: [] for k in steps}
        for r in range(args.rounds):
            for key in list(steps) if r % 2 == 0 else list(reversed(steps)):
                start = time.perf_counter()
                for _ in range(reps):
                    steps[key]()
                times[key].append(1000 * (time.perf_counter() - start) / reps)
        medians = {k: statistics.median(v) for k, v in times.items()}
        base = medians["nn.LSTM fp32"]
        print(f"\n-- {name}: {args.rounds} rounds of {reps} steps each (load {load()})")
        for key, ms in medians.items():
            print(
                f"   {key:13s} {ms:8.1f} ms   {base / ms:5.2f}x nn.LSTM fp32   (rounds: {', '.join(f'{t:.1f}' for t in times[key])})"
            )
    return 0


def _once(step) -> float:
    step()
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
