#!/usr/bin/env python
"""Training throughput: lstm-vision's engine against the idiomatic PyTorch recipe, side by side.

    .venv/bin/python benchmarks/throughput.py                    # bi 2 x 128, batch 512 (about 2-3 min on 2 cores)
    .venv/bin/python benchmarks/throughput.py --model default    # also/instead the default bi 3 x 256
    make bench ARGS="--model both --rounds 4"

Both sides train the same architecture (nn.LSTM batch-first -> dropout -> Linear over all steps) at the
same batch size on real MNIST, in this one process, in alternating rounds of the same number of
optimizer steps (the side that goes first alternates), so a noisy machine slows both alike:

- recipe: torchvision.datasets.MNIST with ToTensor + Normalize, a shuffling DataLoader with worker
  processes, fp32, AdamW, and loss.item() after every batch (the usual tutorial loop).
- lstm-vision: lstm_vision.training.engine.prepare + engine.train (the real loop, stopped after N steps by a
  RunControl), settings as a user sets them (amp=auto: the precision the engine picks for this CPU;
  system.lstm_kernel = auto: the kernel its calibration picks, whose log line is printed).
- and, unless --kernels says otherwise, the same engine with each kernel forced (system.lstm_kernel = pytorch,
  the engine before its own kernel in this precision; = own): before and after, side by side.

A warm-up round (worker start-up, allocator, oneDNN primitive creation) is not counted. Then it reports
samples/s of each side over all rounds, their ratio, and a roofline line: the engine's achieved training
FLOP/s against torch.mm's measured FLOP/s in the same precision and thread count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MODELS, data_root, header, load, lstm_train_flops, matmul_flops  # noqa: E402

from lstm_vision.training import engine  # noqa: E402
from lstm_vision.settings import Settings  # noqa: E402
from lstm_vision.control import RunControl  # noqa: E402
from lstm_vision.distributed.collectives import context_from_env  # noqa: E402


NN_LSTM = "lstm-vision with nn.LSTM"
OWN = "lstm-vision with its own kernel"
KERNEL_SIDES = {"pytorch": NN_LSTM, "own": OWN}


class StopAfter(RunControl):
    """A RunControl that asks the engine to stop after ``steps`` optimizer steps (polled once per step)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.polls, self.steps = 0, steps

    @property
    def stop_requested(self) -> bool:
        self.polls += 1
        return self.polls > self.steps


# ---- the idiomatic recipe -------------------------------------------------------------------------


class RecipeLSTM(nn.Module):
    """The reference model, written as a tutorial would."""

    def __init__(self, hidden: int, layers: int, bidirectional: bool, dropout: float = 0.2) -> None:
        super().__init__()
        self.LSTM = nn.LSTM(
            28, hidden, layers, batch_first=True, bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1) * 28, 10)

    def forward(self, x):
        out, _ = self.LSTM(x)
        return self.fc(self.dropout(out).reshape(x.shape[0], -1))


class Recipe:
    def __init__(self, root: str, model: tuple[int, int, bool], batch: int, workers: int) -> None:
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms

        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        dataset = datasets.MNIST(root, train=True, download=False, transform=transform)
        self.loader = DataLoader(
            dataset, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0, drop_last=True
        )
        self.batches = iter(self.loader)
        self.model = RecipeLSTM(*model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=2e-3)
        self.running_loss = 0.0

    def next_batch(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)

    def train(self, steps: int) -> int:
        self.model.train()
        samples = 0
        for _ in range(steps):
            images, labels = self.next_batch()
            images = images.squeeze(1)  # (N, 1, 28, 28) -> (N, 28 steps, 28 features)
            loss = F.cross_entropy(self.model(images), labels, label_smoothing=0.1)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.running_loss += loss.item()  # the per-batch host sync of the usual loop
            samples += len(labels)
        return samples


# ---- lstm-vision ----------------------------------------------------------------------------------


class Engine:
    def __init__(
        self, root: str, model: tuple[int, int, bool], batch: int, out_dir: str, amp: str, threads: int, lstm_kernel: str = "auto"
    ) -> None:
        s = Settings()
        s.system.threads = threads  # 0 = the usable cores, as torch's own default
        s.system.lstm_kernel = lstm_kernel
        s.data.root, s.data.download = root, False
        s.data.train_split = 0.99  # a tiny validation set: the epoch-end evaluation is not what we time
        s.model.hidden_size, s.model.num_layers, s.model.bidirectional = model
        s.train.batch_size, s.train.amp = batch, amp
        s.train.epochs, s.train.val_log_every = 1000, 1000
        s.output.dir, s.output.run_name = out_dir, f"engine-{lstm_kernel}"
        self.batch = batch
        self.kernel_line = ""

        def keep_kernel_line(event) -> None:
            if getattr(event, "text", "").startswith("LSTM kernel:"):
                self.kernel_line = event.text

        self.job = engine.prepare(s, keep_kernel_line, context_from_env(), None)

    @property
    def precision(self) -> str:
        return self.job.precision.name

    def train(self, steps: int) -> int:
        before = self.job.global_step
        engine.train(self.job, StopAfter(steps))
        return (self.job.global_step - before) * self.batch


# ---- the comparison -------------------------------------------------------------------------------


def compare(name: str, args, root: str) -> dict:
    spec = MODELS[name]
    hidden, layers, bi = spec
    print(
        f"\n-- model {name}: {'bidirectional' if bi else 'uni-directional'} {layers} x {hidden}, batch {args.batch}, "
        f"{args.rounds} rounds of {args.steps} steps per side (+1 warm-up round)",
        flush=True,
    )
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="lstm-vision-bench-") as out_dir:
        sides = {
            "recipe": Recipe(root, spec, args.batch, args.workers),
            "lstm-vision": Engine(root, spec, args.batch, out_dir, args.amp, args.threads),
        }
        for kernel in filter(None, args.kernels.split(",")):  # each kernel forced: nn.LSTM's is the engine before
            sides[KERNEL_SIDES[kernel]] = Engine(root, spec, args.batch, out_dir, args.amp, args.threads, lstm_kernel=kernel)
        print(f"   auto: {sides['lstm-vision'].kernel_line}", flush=True)
        for side in sides.values():  # warm-up, not counted
            side.train(max(1, args.steps // 2))
        totals = {k: [0, 0.0] for k in sides}
        per_round = {k: [] for k in sides}
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for key in order:
                start = time.perf_counter()
                samples = sides[key].train(args.steps)
                seconds = time.perf_counter() - start
                totals[key][0] += samples
                totals[key][1] += seconds
                per_round[key].append(samples / seconds)
            print(
                f"   round {r + 1}: " + "  ".join(f"{k} {per_round[k][-1]:5.0f}" for k in sides) + f" samples/s  (load {load()})",
                flush=True,
            )
        precision = sides["lstm-vision"].precision
        del sides
    rate = {k: v[0] / v[1] for k, v in totals.items()}
    ratio = rate["lstm-vision"] / rate["recipe"]
    ratios = [b / a for a, b in zip(per_round["recipe"], per_round["lstm-vision"])]
    print(f"   recipe (fp32, DataLoader x {args.workers} workers): {rate['recipe']:.0f} samples/s")
    if NN_LSTM in rate:
        print(f"   {NN_LSTM} ({precision}): {rate[NN_LSTM]:.0f} samples/s")
    print(f"   lstm-vision ({precision}):                     {rate['lstm-vision']:.0f} samples/s")
    print(
        f"   RATIO lstm-vision / recipe = {ratio:.2f}x  (per round: {', '.join(f'{x:.2f}' for x in ratios)}; "
        f"median {statistics.median(ratios):.2f}x)"
    )
    if OWN in rate:
        print(f"   {OWN} ({precision}): {rate[OWN]:.0f} samples/s")
    kernel_ratio = None
    for side in (NN_LSTM, OWN):
        if side in rate:
            per = [b / a for a, b in zip(per_round[side], per_round["lstm-vision"])]
            print(
                f"   RATIO lstm-vision (auto) / {side} = {rate['lstm-vision'] / rate[side]:.2f}x  "
                f"(per round: {', '.join(f'{x:.2f}' for x in per)}; median {statistics.median(per):.2f}x)"
            )
    if NN_LSTM in rate:
        kernel_ratio = rate["lstm-vision"] / rate[NN_LSTM]
    flops = lstm_train_flops(hidden, layers, bi)
    return {
        "model": name,
        "recipe": rate["recipe"],
        "engine": rate["lstm-vision"],
        "ratio": ratio,
        "kernel_ratio": kernel_ratio,
        "precision": precision,
        "flops_per_sample": flops,
    }


def roofline(results: list[dict]) -> None:
    precision = results[0]["precision"]
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    peaks = matmul_flops(dtype)
    best = max(peaks.values())
    print(
        f"\n-- roofline ({precision}, {torch.get_num_threads()} threads): torch.mm "
        + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in peaks.items())
        + " GFLOP/s"
    )
    for res in results:
        achieved = res["engine"] * res["flops_per_sample"]
        print(
            f"   {res['model']}: {res['flops_per_sample'] / 1e6:.1f} MFLOP per training sample (3 x forward GEMMs) "
            f"x {res['engine']:.0f} samples/s = {achieved / 1e9:.1f} GFLOP/s = {100 * achieved / best:.0f}% of the "
            f"best measured matmul ({best / 1e9:.1f} GFLOP/s); recipe: {100 * res['recipe'] * res['flops_per_sample'] / best:.0f}%"
        )
        recurrent = peaks["recurrent 512x128x512"]
        print(
            f"   {res['model']}: {100 * achieved / recurrent:.0f}% of {precision} torch.mm at the recurrent shape "
            f"512x128x512 ({recurrent / 1e9:.1f} GFLOP/s)"
        )


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--model",
        choices=[*MODELS, "both"],
        default="small",
        help="small = bidirectional 2 x 128 (the target's model); default = bidirectional 3 x 256",
    )
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--steps", type=int, default=0, help="optimizer steps per round and side (0 = by model size)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the recipe")
    p.add_argument("--amp", default="auto", help="train.amp of the lstm-vision side")
    p.add_argument("--threads", type=int, default=0, help="torch threads for both sides (0 = torch's default)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--no-roofline", action="store_true")
    p.add_argument(
        "--kernels",
        default="pytorch,own",
        help="more sides: the engine with system.lstm_kernel forced to each of these (comma-separated; empty = none)",
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    root = data_root(args.data_root)
    if args.threads:
        torch.set_num_threads(args.threads)
    header("lstm-vision training throughput vs the idiomatic recipe (same model, same batch, one process)")
    names = list(MODELS) if args.model == "both" else [args.model]
    results = []
    for name in names:
        if not args.steps:
            args.steps = 6 if name == "small" else 2
        results.append(compare(name, args, root))
    if not args.no_roofline:
        roofline(results)
    print(
        "\nsummary: "
        + "; ".join(
            f"{r['model']}: recipe {r['recipe']:.0f}, lstm-vision {r['engine']:.0f} samples/s, "
            f"ratio {r['ratio']:.2f}x" + (f", auto / nn.LSTM kernel {r['kernel_ratio']:.2f}x" if r["kernel_ratio"] else "")
            for r in results
        )
        + f"  (load {load()})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
