"""torchrun environment and the process group. Every reported figure is summed over ranks here.

Ranks agree on pause and stop through a collective, so no rank ever waits in an all-reduce for a
peer that is paused; a failing rank leaves its error in torchrun's error file, so torchrun's own
report and lstm-vision's launcher both name the rank and its error.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import torch
import torch.distributed as dist

from lstm_vision.distributed.env import rank, under_torchrun
from lstm_vision.errors import SettingsError

TIMEOUT_ENV = "LSTM_VISION_DIST_TIMEOUT_S"  # how long a collective may wait for a missing rank
DEFAULT_TIMEOUT_S = 300.0
PAUSE_POLL_S = 0.25  # paused ranks still meet this often, so no collective outlives its timeout


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env() -> DistContext:
    """The ranks torchrun set in the environment; a single process without it."""
    if not under_torchrun() or "WORLD_SIZE" not in os.environ:
        return DistContext()
    return DistContext(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))


def resolve_backend(backend: str, device: torch.device) -> str:
    """The backend for ``device``, or a SettingsError that says which one fits."""
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise SettingsError("system.backend = nccl needs CUDA GPUs; use gloo (or auto) to train on CPUs.")
    if backend == "nccl" and not dist.is_nccl_available():
        raise SettingsError("system.backend = nccl but this PyTorch build has no NCCL; use gloo (or a CUDA build of PyTorch).")
    if backend == "gloo" and not dist.is_gloo_available():
        raise SettingsError("system.backend = gloo but this PyTorch build has no gloo; use nccl on GPUs.")
    return backend


class PortInUse(SettingsError):
    """The rendezvous port is taken, in the one sentence used wherever that shows: the launcher's check
    before it starts torchrun, torchrun's own failure to listen, a rank's failure to join."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"Port {where} is already in use (another DDP job?); choose another system.master_port "
            f"(or torchrun --master-port), or 0 to pick a free one."
        )

    @staticmethod
    def named_in(error_text: str) -> bool:
        return "EADDRINUSE" in error_text or "ddress already in use" in error_text


def collective_timeout_s() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        raise SettingsError(f"{TIMEOUT_ENV} = {os.environ[TIMEOUT_ENV]!r} is not a number of seconds.") from None


def init_process_group(ctx: DistContext, backend: str, device: torch.device, timeout_s: float | None = None) -> str:
    if not ctx.enabled or dist.is_initialized():
        return backend
    backend = resolve_backend(backend, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    timeout = timedelta(seconds=timeout_s if timeout_s is not None else collective_timeout_s())
    try:
        dist.init_process_group(backend, timeout=timeout)
    except (RuntimeError, ValueError) as err:  # DistNetworkError and DistStoreError are RuntimeErrors
        text = str(err)
        where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        if PortInUse.named_in(text):
            raise PortInUse(where) from None
        if "timed out" in text.lower() or "timeout" in text.lower():
            raise SettingsError(
                f"Rank {ctx.rank} could not reach the other {ctx.world_size - 1} rank(s) at {where} "
                f"within {timeout.total_seconds():.0f} s; check MASTER_ADDR/MASTER_PORT, the firewall "
                f"and that every node started."
            ) from None
        raise
    return backend


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    if ctx.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def agree_on_control(
    control,
    device: torch.device,
    ctx: DistContext,
    on_pause: Callable[[bool], None] | None = None,
    values: tuple[float, ...] = (),
) -> tuple[bool, list[float]]:
    """Wait while paused, then return (stop asked for, ``values`` maxed over the ranks); under DDP, on
    every rank together, in one collective.

    A pause or stop reaches the ranks at slightly different moments: if one rank paused on its own,
    the others would wait in their next all-reduce until the collective timeout killed the job. So
    the ranks pause when any rank is paused, meet every PAUSE_POLL_S while paused, and stop together.
    ``values`` ride along so that decisions taken from clocks (log now? how often to meet?) are the
    same on every rank. ``on_pause(True)`` is called when the pause begins and ``on_pause(False)``
    when training goes on.
    """
    notify = on_pause or (lambda paused: None)
    if not ctx.enabled:
        if control.paused:
            notify(True)
            control.wait_while_paused()
            if not control.stop_requested:
                notify(False)
        return control.stop_requested, list(values)
    was_paused = False
    while True:
        flags = torch.tensor([float(control.stop_requested), float(control.paused), *values], dtype=torch.float64, device=device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        stop, paused, *agreed = flags.tolist()
        if stop or not paused:
            if was_paused and not stop:
                notify(False)
            return bool(stop), agreed
        if not was_paused:
            was_paused = True
            notify(True)
        time.sleep(PAUSE_POLL_S)


def gather_peak_gpu_memory(device: torch.device, ctx: DistContext) -> list[int] | None:
    """Every rank's peak allocated GPU memory (index = rank), on every rank; None on CPUs.

    A collective under DDP: every rank must call it at the same point of the run.
    """
    if device.type != "cuda":
        return None
    return gather_ints(torch.cuda.max_memory_allocated(device), device, ctx)


def gather_ints(value: int, device: torch.device, ctx: DistContext) -> list[int]:
    """[value of rank 0, value of rank 1, ...] on every rank (a sum of one-hot vectors: any backend does it)."""
    if not ctx.enabled:
        return [int(value)]
    values = torch.zeros(ctx.world_size, device=device, dtype=torch.float64)  # exact for integers below 2**53
    values[ctx.rank] = float(value)
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return [int(v) for v in values.tolist()]


def record_failure(message: str, exit_code: int = 1) -> None:
    """Leave this rank's error where torchrun (and lstm-vision's launcher) look for it.

    torchrun names the failing rank and prints this message in its summary; the extra
    ``lstm_vision`` entry gives the launcher the exact time (torchrun's is in whole seconds,
    too coarse to tell the first failure from the ranks that failed because of it) and exit code.
    """
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    stack = traceback.format_exc()
    now = time.time()
    data = {
        "message": {
            "message": message,
            "extraInfo": {"py_callstack": stack if stack.strip() != "NoneType: None" else message, "timestamp": str(int(now))},
        },
        "lstm_vision": {"rank": rank(), "time": now, "exit_code": exit_code, "message": message},
    }
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
    except OSError:
        pass  # the error still reaches stderr and, on rank 0, the event stream


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
