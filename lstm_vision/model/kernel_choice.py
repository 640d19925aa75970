"""Which LSTM kernel trains a model on this CPU: system.lstm_kernel = auto measures it.

Why a measurement and not a rule: the faster kernel depends on the CPU, the precision and the shape. On
the AVX2 Zen 3 machine the own fp32 kernel trained the bidirectional 2 x 128 model 1.4x faster than
nn.LSTM, on the AVX512-BF16 Zen 5 machine nn.LSTM is the faster one in fp32 and the own kernel the
faster one in bf16 (benchmarks/RESULTS.md sections 4 and 12). So the first run of a shape on a CPU
times a few training steps (forward and backward of the LSTM alone, at the run's micro-batch) of both
kernels, alternated so that a busy machine slows both alike, and keeps the answer in the user's cache
folder (``$XDG_CACHE_HOME/lstm-vision/lstm-kernel.json``, else ``~/.cache/lstm-vision/``), keyed by the
CPU (model, family, the ISA flags that matter), torch's version, the threads, the precision and the
shape. A later run reads it back at no cost; deleting the file measures again.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lstm_vision.atomic import atomic_write
from lstm_vision.model import cpu_lstm
from lstm_vision.system.devices import Precision, cpu_signature

CACHE_FILE = "lstm-kernel.json"
ROUNDS = 3  # alternated timed rounds at most, after one warm-up step of each kernel
BUDGET_S = 1.5  # no further round once the timed ones took this long (a large model's calibration stays short)
KERNEL_WORDS = {"own": "lstm-vision's own", "pytorch": "nn.LSTM's"}


@dataclass(frozen=True)
class KernelChoice:
    kernel: str  # "own" or "pytorch"
    how: str  # "setting", "measured", "cached" or "only" (where only nn.LSTM applies: a GPU, fp16)
    own_ms: float | None = None  # median ms of a training step of the LSTM, where measured
    pytorch_ms: float | None = None
    cache: Path | None = None  # where the measurement is kept (None: not kept, see note)
    note: str = ""

    @property
    def own(self) -> bool:
        return self.kernel == "own"

    def describe(self, precision: str) -> str:
        """The run's log line: which kernel, and why."""
        what = f"LSTM kernel: {KERNEL_WORDS[self.kernel]} in {precision}"
        if self.how == "setting":
            return f"{what} (system.lstm_kernel = {self.kernel})."
        if self.how == "only":
            return f"{what} (the own kernel is for CPU training in fp32 or bf16)."
        other = "pytorch" if self.own else "own"
        mine, theirs = (self.own_ms, self.pytorch_ms) if self.own else (self.pytorch_ms, self.own_ms)
        figures = f"{mine:.1f} ms a training step of the LSTM against {theirs:.1f} ms for {KERNEL_WORDS[other]}"
        where = f"kept in {self.cache}" if self.cache else f"not kept: {self.note}"
        done = "measured now on this CPU" if self.how == "measured" else "as measured earlier on this CPU"
        return f"{what}: {figures}, {done} ({where}; system.lstm_kernel = own or pytorch sets it)."


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lstm-vision" / CACHE_FILE


def choose_kernel(
    setting: str, lstm: nn.LSTM, device: torch.device, precision: Precision, batch: int, steps: int, threads: int
) -> KernelChoice:
    """The kernel that trains ``lstm`` on batches of (batch, steps, input) here, per system.lstm_kernel."""
    if device.type != "cpu" or precision.name not in ("fp32", "bf16"):
        return KernelChoice("pytorch", "only")
    if setting in KERNEL_WORDS:
        return KernelChoice(setting, "setting")
    key = _key(lstm, precision, batch, steps, threads)
    path = cache_path()
    entries = _read(path)
    if key in entries:
        entry = entries[key]
        return KernelChoice(entry["kernel"], "cached", entry["own_ms"], entry["pytorch_ms"], path)
    with torch.random.fork_rng(devices=[]):  # the run's random stream must not depend on a cache hit or miss
        own_ms, pytorch_ms = measure(lstm, precision, batch, steps)
    kernel = "own" if own_ms < pytorch_ms else "pytorch"
    entries[key] = {"kernel": kernel, "own_ms": round(own_ms, 2), "pytorch_ms": round(pytorch_ms, 2)}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda handle: handle.write(json.dumps(entries, indent=1, sort_keys=True).encode()))
    except OSError as error:  # a read-only home: the run goes on, the next one measures again
        return KernelChoice(kernel, "measured", own_ms, pytorch_ms, None, f"{path} could not be written ({error.strerror})")
    return KernelChoice(kernel, "measured", own_ms, pytorch_ms, path)


def measure(lstm: nn.LSTM, precision: Precision, batch: int, steps: int) -> tuple[float, float]:
    """Median ms of one forward and backward of a copy of ``lstm`` with each kernel: (own, nn.LSTM)."""
    probe = nn.LSTM(
        lstm.input_size, lstm.hidden_size, lstm.num_layers, bias=lstm.bias, batch_first=True, bidirectional=lstm.bidirectional
    )
    x = torch.randn(batch, steps, lstm.input_size)
    grad = torch.randn(batch, steps, lstm.hidden_size * (2 if lstm.bidirectional else 1))
    device = torch.device("cpu")

    def step(own: bool) -> float:
        start = time.perf_counter()
        with precision.autocast(device):
            out = cpu_lstm.lstm_forward(probe, x) if own else probe(x)[0]
        out.backward(grad.to(out.dtype))
        return time.perf_counter() - start

    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        step(True), step(False)  # warm-up: buffers, oneDNN's primitives
        began = time.perf_counter()
        for r in range(ROUNDS):
            for own in (True, False) if r % 2 == 0 else (False, True):
                times[own].append(step(own))
            if time.perf_counter() - began > BUDGET_S:
                break
    finally:
        cpu_lstm.release_buffers()  # the probe's shapes are not the run's
    return 1000 * statistics.median(times[True]), 1000 * statistics.median(times[False])


def _key(lstm: nn.LSTM, precision: Precision, batch: int, steps: int, threads: int) -> str:
    shape = f"{steps} x {lstm.input_size} -> {'bi' if lstm.bidirectional else 'uni'} {lstm.num_layers} x {lstm.hidden_size}"
    return f"{cpu_signature()} | torch {torch.__version__} | {threads} threads | {precision.name} | {shape} | batch {batch}"


def _read(path: Path) -> dict[str, dict]:
    """The cached measurements; an unreadable or foreign file counts as none (it is rewritten)."""
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, dict):
        return {}
    valid = ("kernel", "own_ms", "pytorch_ms")
    return {
        k: v for k, v in entries.items() if isinstance(v, dict) and all(n in v for n in valid) and v["kernel"] in KERNEL_WORDS
    }
