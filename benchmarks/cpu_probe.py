#!/usr/bin/env python
"""CPU probe: how threads, OpenMP waiting and bf16 change LSTM training speed on this machine.

    .venv/bin/python benchmarks/cpu_probe.py            # about 1-2 min on 2 cores

Trains the cpu preset's model (one LSTM layer of 128, batch 256) for a few steps in fresh processes:
1 thread, all cores, all cores with OMP_WAIT_POLICY=PASSIVE (it must be set before torch loads), for
rows (28 x 28) and two rows per step (14 x 56); then fp32 against bf16 autocast as lstm-vision runs
it on a CPU without native bf16 (ATen's LSTM, oneDNN off). Prints samples/s and the load average:
on a shared machine, two OpenMP threads that must meet at every time step lose badly to one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header, load  # noqa: E402

CHILD = r"""
import sys, time, torch, warnings
warnings.filterwarnings("ignore")
from torch import nn
threads, seq, inp, bf16 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
torch.set_num_threads(threads)
torch.manual_seed(0)
B = 256
m = nn.LSTM(inp, 128, 1, batch_first=True); fc = nn.Linear(128 * seq, 10)
opt = torch.optim.AdamW(list(m.parameters()) + list(fc.parameters()), foreach=True)
x, y = torch.randn(B, seq, inp), torch.randint(0, 10, (B,))
def step():
    if bf16:
        with torch.backends.mkldnn.flags(enabled=False), torch.autocast("cpu", dtype=torch.bfloat16):
            loss = nn.functional.cross_entropy(fc(m(x)[0].flatten(1)).float(), y)
    else:
        loss = nn.functional.cross_entropy(fc(m(x)[0].flatten(1)), y)
    loss.backward(); opt.step(); opt.zero_grad()
step()
n, start = 0, time.perf_counter()
while n < 3 or time.perf_counter() - start < 3.0:
    step(); n += 1
print(B * n / (time.perf_counter() - start))
"""


def rate(threads: int, seq: int, inp: int, bf16: bool = False, passive: bool = False) -> float:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(threads), str(seq), str(inp), "1" if bf16 else "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    header("CPU probe: threads, OpenMP wait policy and bf16 for one LSTM layer of 128, batch 256")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    for seq, inp in ((28, 28), (14, 56)):
        one = rate(1, seq, inp)
        full = rate(cores, seq, inp)
        passive = rate(cores, seq, inp, passive=True)
        print(
            f"   {seq} steps x {inp}: 1 thread {one:6.0f}   {cores} threads {full:6.0f}   "
            f"{cores} threads + OMP_WAIT_POLICY=PASSIVE {passive:6.0f} samples/s   (load {load()})",
            flush=True,
        )
    fp32, bf16 = rate(1, 14, 56), rate(1, 14, 56, bf16=True)
    print(
        f"   14 steps x 56, 1 thread: fp32 {fp32:.0f}, bf16 autocast {bf16:.0f} samples/s "
        f"(bf16 / fp32 = {bf16 / fp32:.2f})   (load {load()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
