#!/usr/bin/env python
"""Where a training step's time goes: torch.profiler over the engine's real loop, in bf16 and fp32.

    .venv/bin/python benchmarks/step_profile.py                      # the cpu preset, amp bf16 and off
    .venv/bin/python benchmarks/step_profile.py --amp bf16 --steps 60
    .venv/bin/python benchmarks/step_profile.py --preset reference --set model.hidden_size=128 \\
        --set model.num_layers=2 --set train.batch_size=512        # the bidirectional 2 x 128 model

Each precision gets its own prepared run (lstm_vision.training.engine.prepare, real MNIST, the kernel
system.lstm_kernel picks), a warm-up, then `--rounds` alternated rounds of `--steps` optimizer steps of
engine.train without the profiler (the order of the precisions reverses every round): the median ms a step.
Then profiled passes of the same steps (the fastest of `--profiles` is shown), whose top-level operations are summed into parts of a step: the
LSTM forward and backward, dropout, the head, the loss, the optimizer, the batch (gather + normalization),
the autocast casts, the step's statistics; "outside operators" is the profiled wall time that no operator
covers (Python: the loop, the schedule, the meters, the events). The profiler itself slows small
operators, so the parts are shares of the profiled step, and the unprofiled median is the step's time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from torch.autograd.profiler import record_function
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_root, header, load  # noqa: E402
from throughput import StopAfter  # noqa: E402

from lstm_vision.distributed.collectives import context_from_env  # noqa: E402
from lstm_vision.model import cpu_lstm  # noqa: E402
from lstm_vision.settings.overrides import apply_overrides  # noqa: E402
from lstm_vision.settings.toml import load_settings, preset_path  # noqa: E402
from lstm_vision.training import engine  # noqa: E402

# (part, what a top-level operator's name contains), first match wins; record_function names are ours (below).
PARTS = [
    ("LSTM backward", ("LSTMLayerBF16Backward", "LSTMLayerBackward", "MkldnnRnnLayerBackward", "RnnBackward")),
    ("LSTM forward", ("lstm.forward", "aten::lstm")),
    ("dropout", ("dropout", "MulBackward0")),
    ("head (linear)", ("head.linear", "aten::linear", "AddmmBackward", "aten::flatten", "ViewBackward", "TBackward")),
    ("loss", ("cross_entropy", "NllLoss", "LogSoftmax")),
    ("optimizer step", ("Optimizer.step",)),
    ("zero_grad", ("Optimizer.zero_grad",)),
    ("batch (gather, normalize)", ("batch.data",)),
    ("autocast casts", ("aten::to", "ToCopyBackward")),
    ("gradient accumulation", ("AccumulateGrad",)),
    ("step statistics", ("aten::argmax", "aten::eq", "aten::add_", "aten::sum", "aten::zeros", "aten::mul", "aten::select")),
]


def part_of(name: str) -> str:
    for part, needles in PARTS:
        if any(needle in name for needle in needles):
            return part
    return "other operators"


def prepared(args, amp: str):
    s = load_settings(preset_path(args.preset))
    apply_overrides(s, args.set)
    s.data.root, s.data.download, s.train.amp = data_root(args.data_root), False, amp
    s.train.epochs, s.train.val_log_every = 1000, 1000  # never reach the end of the run while timing
    s.output.dir, s.output.run_name = tempfile.mkdtemp(prefix="step-profile-"), f"profile-{amp}"
    said = []
    job = engine.prepare(s, lambda event: said.append(getattr(event, "text", "")), context_from_env(), None)
    kernel = next((line for line in said if line.startswith("LSTM kernel:")), "LSTM kernel: the model's nn.LSTM")
    engine.train(job, StopAfter(args.warmup))
    return job, kernel


def clear_of_epoch_end(job, steps: int) -> None:
    """Where the next `steps` steps would reach an epoch's end (checkpoint, pictures), run up to it first,
    untimed: no measured step is an epoch's last."""
    left = job.batcher.steps_per_epoch - job.step
    if steps >= left:
        engine.train(job, StopAfter(left))


def timed(job, steps: int) -> float:
    """ms a step of `steps` steps of engine.train (none an epoch's last)."""
    clear_of_epoch_end(job, steps)
    start = time.perf_counter()
    engine.train(job, StopAfter(steps))
    return 1000 * (time.perf_counter() - start) / steps


@contextmanager
def labelled(job):
    """Name the parts no operator name tells apart (the batch, the LSTM's and head's forward) for the profile
    only: wrappers on this run's objects, taken off again after."""

    def wrap(owner, name, label):
        own = name in vars(owner)  # a module's function, or a method found on the class
        original = getattr(owner, name)

        def wrapped(*a, **k):
            with record_function(label):
                return original(*a, **k)

        setattr(owner, name, wrapped)
        return lambda: setattr(owner, name, original) if own else delattr(owner, name)

    undo = [
        wrap(job.batcher, "batch", "batch.data"),
        wrap(cpu_lstm, "lstm_forward", "lstm.forward"),
        wrap(cpu_lstm, "dropout", "dropout.own"),
        wrap(job.model.fc, "forward", "head.linear"),
    ]
    try:
        yield
    finally:
        for step in undo:
            step()


def profiled_parts(job, steps: int) -> tuple[float, dict[str, float]]:
    clear_of_epoch_end(job, steps)
    with labelled(job), profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        engine.train(job, StopAfter(steps))
        wall_ms = 1000 * (time.perf_counter() - start) / steps
    parts: dict[str, float] = {}
    for event in prof.events():
        if event.cpu_parent is None:
            part = part_of(event.name)
            parts[part] = parts.get(part, 0.0) + event.cpu_time_total / 1000 / steps
    parts["outside operators (Python)"] = max(0.0, wall_ms - sum(parts.values()))
    return wall_ms, parts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--amp", action="append", choices=["bf16", "off", "auto"], help="default: bf16 and off")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--profiles", type=int, default=3, help="profiled passes; the fastest is shown")
    p.add_argument("--data-root")
    args = p.parse_args(argv)
    amps = args.amp or ["bf16", "off"]
    header(f"one training step, part by part: preset {args.preset} {' '.join(args.set)}")
    jobs = {amp: prepared(args, amp) for amp in amps}
    times: dict[str, list[float]] = {amp: [] for amp in amps}
    loads = []
    for r in range(args.rounds):
        loads.append(load().split()[0])
        for amp in amps if r % 2 == 0 else reversed(amps):
            times[amp].append(timed(jobs[amp][0], args.steps))
    print(f"   1-minute load at each round: {', '.join(loads)}")
    for amp in amps:
        job, kernel = jobs[amp]
        median = statistics.median(times[amp])
        # the least disturbed of a few profiled passes: another process's burst shows as "outside operators"
        wall, parts = min((profiled_parts(job, args.steps) for _ in range(args.profiles)), key=lambda found: found[0])
        print(f"\n-- amp {amp} ({job.precision.name}), batch {job.batcher.micro}: {median:.2f} ms a step, median of")
        print(f"   {args.rounds} rounds of {args.steps} steps ({', '.join(f'{t:.1f}' for t in times[amp])})")
        print(f"   {kernel}")
        print(f"   profiled: {wall:.2f} ms a step, the fastest of {args.profiles} passes (load {load()})")
        for part, ms in sorted(parts.items(), key=lambda kv: -kv[1]):
            print(f"   {part:28s} {ms:7.2f} ms  {100 * ms / wall:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
