"""AdamW and the learning-rate schedule, as a pure function of the step (nothing to checkpoint)."""

from __future__ import annotations

import math

import torch
from torch import nn

from lstm_vision.settings import OptimSettings


def build_optimizer(model: nn.Module, settings: OptimSettings, device: torch.device) -> torch.optim.AdamW:
    # fused AdamW is one kernel per step on CUDA and on the CPU (3.4x faster than the foreach path there, for
    # the cpu preset's parameters and the 2 x 128 model's alike: benchmarks/RESULTS.md section 13); foreach elsewhere.
    fast = {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}
    return torch.optim.AdamW(
        model.parameters(),
        lr=settings.learning_rate,
        betas=tuple(settings.betas),
        eps=settings.eps,
        weight_decay=settings.weight_decay,
        **fast,
    )


def lr_at(step: int, total_steps: int, settings: OptimSettings) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``."""
    peak = settings.learning_rate
    if settings.schedule == "constant" or total_steps <= 1:
        return peak
    warmup = int(settings.warmup_fraction * total_steps)
    if settings.schedule == "onecycle":
        # As torch.optim.lr_scheduler.OneCycleLR with anneal_strategy="cos": from peak/25 up, then down to peak/25e4.
        start, end = peak / 25.0, peak / 25.0 / 1e4
        if step < warmup:
            return start + (peak - start) * (1 - math.cos(math.pi * step / warmup)) / 2
        progress = (step - warmup) / max(1, total_steps - 1 - warmup)
        return end + (peak - end) * (1 + math.cos(math.pi * min(1.0, progress))) / 2
    # cosine: linear warm-up from 0, then cosine decay to 0
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * (1 + math.cos(math.pi * min(1.0, progress))) / 2
