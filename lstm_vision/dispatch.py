"""Which runner trains these settings: one decision for the headless CLI and the app."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from lstm_vision.distributed.env import under_torchrun
from lstm_vision.settings import Settings
from lstm_vision.errors import SettingsError


def runner_for(settings: Settings) -> Callable[..., Any]:
    """engine.run in this process, or the torchrun launcher when more than one process is asked for
    (and this process is not already a rank that torchrun started). Both take
    (settings, emit, control, resume=None, run_dir=None) and return a RunResult.

    ``system.ddp = true`` with ``nproc = 1`` means what the reference's use_ddp meant, one process per
    visible GPU: ``settings.system.nproc`` is set to that count here, so the run's settings.toml says it."""
    if not under_torchrun() and settings.system.ddp and settings.system.nproc == 1:
        settings.system.nproc = _visible_gpus()
    if settings.system.nproc > 1 and not under_torchrun():
        from lstm_vision.distributed.torchrun import launch_local

        return launch_local
    from lstm_vision.training.engine import run

    return run


def warm_up(settings: Settings) -> None:
    """Load now what a run of ``settings`` would load first: torch, the engine, torchvision's data sets and the
    data set itself if its files are there (never a download). The app calls it on a thread of its own once
    its first screen is painted, so that F5 finds them loaded. Any problem is the run's to report, on F5."""
    import torchvision.datasets  # noqa: F401 - with torchvision.ops, which imports all of torch._dynamo

    from lstm_vision.data.registry import load_data
    from lstm_vision.training import engine  # noqa: F401 - torch

    if settings.system.nproc == 1 and not settings.system.ddp:  # a DDP run loads its data in its own processes
        load_data(dataclasses.replace(settings.data, download=False), settings.train.seed)


def _visible_gpus() -> int:
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise SettingsError(
            "system.ddp = true runs one process per GPU and this machine has none; set "
            "system.nproc = N for N CPU processes (or system.ddp = false)."
        )
    return count
