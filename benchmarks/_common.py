"""Helpers shared by the benchmarks: data location, hardware header, LSTM FLOP counts, matmul peak."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent

# name -> (hidden_size, num_layers, bidirectional)
MODELS = {"small": (128, 2, True), "default": (256, 3, True)}


def data_root(explicit: str | None = None) -> str:
    """$LSTM_VISION_TEST_DATA, else ../shared/data next to the checkout (holds MNIST/raw)."""
    root = explicit or os.environ.get("LSTM_VISION_TEST_DATA") or str(ROOT.parent / "shared" / "data")
    if not (Path(root) / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        raise SystemExit(f"Real MNIST not found under {root}/MNIST/raw; set LSTM_VISION_TEST_DATA or --data-root.")
    return root


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags() -> str:
    try:
        flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split()
    except (OSError, IndexError):
        return "?"
    from lstm_vision.system.devices import SPEED_FLAGS

    wanted = SPEED_FLAGS
    return " ".join(f for f in wanted if f in flags) or "none of avx2/avx512/amx"


def load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} {five:.2f} {fifteen:.2f}"
    except OSError:
        return "?"


def header(title: str) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"== {title}")
    print(
        f"   {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  host CPU: {cpu_model()}, {cores} usable cores "
        f"({cpu_flags()}); torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), "
        f"{torch.get_num_threads()} intra-op threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; "
        f"load average {load()}",
        flush=True,
    )


def lstm_forward_flops(hidden: int, layers: int, bidirectional: bool, seq: int = 28, inp: int = 28, classes: int = 10) -> float:
    """Multiply-adds x 2 of one sample's forward pass: the gate GEMMs of every layer and direction plus
    the linear head over all time steps (element-wise gate math is not counted)."""
    dirs = 2 if bidirectional else 1
    flops, width = 0.0, inp
    for _ in range(layers):
        flops += dirs * seq * 2 * 4 * hidden * (width + hidden)
        width = hidden * dirs
    return flops + 2 * seq * width * classes


def lstm_train_flops(hidden: int, layers: int, bidirectional: bool, **kw) -> float:
    """Forward + backward (grad of inputs and of weights: each as costly as the forward): 3 x forward."""
    return 3 * lstm_forward_flops(hidden, layers, bidirectional, **kw)


def matmul_flops(dtype: torch.dtype = torch.float32, seconds: float = 0.6) -> dict[str, float]:
    """Measured torch.mm FLOP/s for the LSTM's GEMM shapes and a large square one, at the current threads."""
    shapes = {
        "square 1024": (1024, 1024, 1024),
        "recurrent 512x128x512": (512, 128, 512),
        "input 14336x256x512": (14336, 256, 512),
    }
    result = {}
    for name, (m, k, n) in shapes.items():
        a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
        for _ in range(2):
            torch.mm(a, b)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            torch.mm(a, b)
            count += 1
        result[name] = 2.0 * m * k * n * count / (time.perf_counter() - start)
    return result
