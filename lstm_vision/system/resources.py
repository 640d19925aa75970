"""Memory and utilisation sampling: torch.cuda, NVML (nvidia-ml-py) when present, process RSS (psutil)."""

from __future__ import annotations

import resource
from typing import Any

import psutil
import torch

_nvml_state: dict[str, Any] = {}

# The keys of ResourcesSampled.gpu (NVML's used/utilization/temperature stay None without NVML);
# under DDP the engine adds rank_peak_allocated_bytes.
GPU_FIELDS = (
    "name",
    "allocated_bytes",
    "reserved_bytes",
    "peak_allocated_bytes",
    "total_bytes",
    "used_bytes",
    "utilization_percent",
    "temperature_c",
)


def _nvml():
    """The pynvml module, initialised once; None where there is no NVIDIA driver."""
    if "module" not in _nvml_state:
        try:
            import pynvml

            pynvml.nvmlInit()
            _nvml_state["module"] = pynvml
        except Exception:  # no library, no driver, no device: all mean "no NVML"
            _nvml_state["module"] = None
    return _nvml_state["module"]


def peak_host_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def host_memory() -> dict[str, int]:
    vm = psutil.virtual_memory()
    return {
        "host_rss_bytes": psutil.Process().memory_info().rss,
        "host_peak_rss_bytes": peak_host_rss_bytes(),
        "host_total_bytes": vm.total,
        "host_available_bytes": vm.available,
    }


def gpu_memory(device: torch.device) -> dict[str, Any] | None:
    """torch's view of this process's GPU memory plus NVML's view of the whole device."""
    if device.type != "cuda":
        return None
    index = device.index if device.index is not None else torch.cuda.current_device()
    stats: dict[str, Any] = dict.fromkeys(GPU_FIELDS)
    stats.update(
        name=torch.cuda.get_device_name(index),
        allocated_bytes=torch.cuda.memory_allocated(index),
        reserved_bytes=torch.cuda.memory_reserved(index),
        peak_allocated_bytes=torch.cuda.max_memory_allocated(index),
        total_bytes=torch.cuda.get_device_properties(index).total_memory,
    )
    nvml = _nvml()
    if nvml is not None:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            info = nvml.nvmlDeviceGetMemoryInfo(handle)
            stats["used_bytes"], stats["total_bytes"] = int(info.used), int(info.total)
            stats["utilization_percent"] = int(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            stats["temperature_c"] = int(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
        except Exception:  # NVML queries fail on some virtualised GPUs; torch's figures still stand
            pass
    return stats


def sample(device: torch.device) -> dict[str, Any]:
    """Fields of a ResourcesSampled event."""
    gpu = gpu_memory(device)
    note = (
        ""
        if gpu is not None
        else ("no GPU: training on the CPU" if not torch.cuda.is_available() else "training on the CPU; a GPU is present")
    )
    return {**host_memory(), "gpu": gpu, "note": note}
