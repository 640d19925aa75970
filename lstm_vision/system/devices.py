"""Device, precision and thread choices, resolved from settings once per run."""

from __future__ import annotations

import os
import warnings
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass

import torch

from lstm_vision.settings import Settings
from lstm_vision.errors import SettingsError


# Raised by torch.backends.mkldnn.flags() on every CPU build; it concerns Intel GPUs only.
warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")


@dataclass(frozen=True)
class Precision:
    name: str  # "fp32", "bf16" or "fp16" as reported
    dtype: torch.dtype | None  # autocast dtype, None = no autocast
    use_scaler: bool
    # oneDNN has no bf16 LSTM kernel on CPUs without AVX512-BF16/AMX: there ATen's own (slower) LSTM runs bf16.
    without_onednn: bool = False

    def autocast(self, device: torch.device):
        if self.dtype is None:
            return nullcontext()
        if not self.without_onednn:
            return torch.autocast(device_type=device.type, dtype=self.dtype)
        stack = ExitStack()
        stack.enter_context(torch.backends.mkldnn.flags(enabled=False))
        stack.enter_context(torch.autocast(device_type=device.type, dtype=self.dtype))
        return stack


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SettingsError(f"system.device {name!r} is not a device; use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SettingsError(f"system.device = {name!r} but this machine has no usable CUDA GPU; use auto or cpu.")
        count = torch.cuda.device_count()
        index = local_rank if device.index is None else device.index
        if index >= count:
            raise SettingsError(f"system.device = {name!r} but this machine has {count} GPU(s) (cuda:0 to cuda:{count - 1}).")
        return torch.device("cuda", index)
    if device.type != "cpu":
        raise SettingsError(f"system.device {name!r} is not supported; use auto, cpu, cuda or cuda:N.")
    return device


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: where bf16 autocast speeds the LSTM up instead of slowing it down."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def resolve_precision(amp: str, device: torch.device) -> Precision:
    if amp == "off":
        return Precision("fp32", None, False)
    if amp == "fp16":
        if device.type != "cuda":
            raise SettingsError(
                "train.amp = fp16 needs a CUDA GPU (a GradScaler on the CPU is not supported); use bf16 or off on the CPU."
            )
        return Precision("fp16", torch.float16, True)
    if amp == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise SettingsError("train.amp = bf16 is not supported by this GPU; use fp16 or auto.")
        return Precision("bf16", torch.bfloat16, False, without_onednn=device.type == "cpu" and not cpu_has_native_bf16())
    # auto
    if device.type == "cuda":
        if torch.cuda.get_device_capability(device)[0] >= 8:  # Ampere and newer run bf16 at full speed
            return Precision("bf16", torch.bfloat16, False)
        return Precision("fp16", torch.float16, True)
    if cpu_has_native_bf16():
        return Precision("bf16", torch.bfloat16, False)
    return Precision("fp32", None, False)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def configure_threads(settings: Settings, device: torch.device, world_size: int) -> int:
    """CPU threads follow the cores this process may use, shared fairly among local ranks."""
    if device.type != "cpu":
        return torch.get_num_threads()
    threads = settings.system.threads or max(1, usable_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", world_size))))
    torch.set_num_threads(threads)
    return threads


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none: macOS, Windows)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if not line.strip():
                    break
                name, _, value = line.partition(":")
                fields[name.strip()] = value.strip()
    except OSError:
        pass
    return fields


# The CPU features that decide which LSTM kernel is faster (fp32 and bf16 matrix products, vector width).
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx_vnni")


def cpu_signature() -> str:
    """This CPU as far as speed goes: model name, family / model / stepping and the flags that matter. A KVM
    guest may show only "AMD EPYC" for several generations, so the name alone would not tell them apart."""
    info = _cpuinfo()
    if not info:
        import platform

        return f"{platform.processor() or platform.machine()} ({torch.backends.cpu.get_cpu_capability()})"
    flags = set(info.get("flags", "").split())
    ident = "/".join(info.get(k, "?") for k in ("cpu family", "model", "stepping"))
    return f"{info.get('model name', 'CPU')} ({ident}; {' '.join(f for f in SPEED_FLAGS if f in flags) or 'no AVX2'})"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = _cpuinfo().get("model name", "CPU")
    return f"{name} ({usable_cores()} cores)"
