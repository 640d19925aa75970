"""system.device and train.amp: which device and precision a run gets, and the sentence for what cannot be had.

The CPU cases run as they are; the GPU cases stand in torch.cuda's answers (this machine has no GPU), so that
the choice is checked for the machines users train on."""

import pytest
import torch

from lstm_vision.errors import SettingsError
from lstm_vision.system import devices
from lstm_vision.system.devices import resolve_device, resolve_precision


@pytest.fixture
def gpus(monkeypatch):
    """torch.cuda answering as a machine with ``count`` GPUs of compute capability ``major``.x would."""

    def machine(count: int = 2, major: int = 8, bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, 0))
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)

    return machine


def test_auto_and_cpu_mean_the_cpu_on_a_machine_without_a_gpu(gpus):
    gpus(count=0)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(SettingsError, match="system.device = 'cuda' but this machine has no usable CUDA GPU; use auto or cpu."):
        resolve_device("cuda")


def test_auto_and_cuda_take_the_gpu_of_the_local_rank(gpus):
    gpus(count=2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda:0", local_rank=1) == torch.device("cuda", 0)  # an index given wins
    with pytest.raises(SettingsError, match=r"system.device = 'cuda:2' but this machine has 2 GPU\(s\) \(cuda:0 to cuda:1\)\."):
        resolve_device("cuda:2")


@pytest.mark.parametrize(
    "name, says",
    [("gpu0", "is not a device; use auto, cpu, cuda or cuda:N."), ("meta", "is not supported; use auto, cpu, cuda or cuda:N.")],
)
def test_a_device_that_is_none_of_ours_is_one_sentence(name, says):
    with pytest.raises(SettingsError, match=f"system.device '{name}' {says}"):
        resolve_device(name)


def test_off_is_fp32_without_autocast_anywhere():
    precision = resolve_precision("off", torch.device("cpu"))
    assert (precision.name, precision.dtype, precision.use_scaler) == ("fp32", None, False)
    x = torch.randn(4, 4)
    with precision.autocast(torch.device("cpu")):
        assert (x @ x).dtype == torch.float32


def test_bf16_on_the_cpu_autocasts_and_keeps_onednn_only_where_the_cpu_has_bf16(monkeypatch):
    for native in (True, False):
        monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)
        precision = resolve_precision("bf16", torch.device("cpu"))
        assert (precision.name, precision.dtype, precision.use_scaler) == ("bf16", torch.bfloat16, False)
        assert precision.without_onednn is not native
        x = torch.randn(4, 4)
        with precision.autocast(torch.device("cpu")):
            assert (x @ x).dtype == torch.bfloat16
            assert torch.backends.mkldnn.enabled is native  # ATen's own bf16 LSTM where oneDNN has none


def test_fp16_needs_a_gpu_and_brings_the_scaler_there(gpus):
    with pytest.raises(SettingsError, match="train.amp = fp16 needs a CUDA GPU .* use bf16 or off on the CPU."):
        resolve_precision("fp16", torch.device("cpu"))
    gpus(count=1)
    precision = resolve_precision("fp16", torch.device("cuda", 0))
    assert (precision.name, precision.dtype, precision.use_scaler) == ("fp16", torch.float16, True)


def test_bf16_on_a_gpu_without_it_is_refused(gpus):
    gpus(count=1, major=7, bf16=False)
    with pytest.raises(SettingsError, match="train.amp = bf16 is not supported by this GPU; use fp16 or auto."):
        resolve_precision("bf16", torch.device("cuda", 0))


@pytest.mark.parametrize("major, name, scaler", [(8, "bf16", False), (9, "bf16", False), (7, "fp16", True)])
def test_auto_on_a_gpu_is_bf16_from_ampere_on_and_fp16_with_the_scaler_before(gpus, major, name, scaler):
    gpus(count=1, major=major)
    precision = resolve_precision("auto", torch.device("cuda", 0))
    assert (precision.name, precision.use_scaler) == (name, scaler)


def test_auto_on_the_cpu_is_bf16_only_where_the_cpu_computes_it_natively(monkeypatch):
    assert resolve_precision("auto", torch.device("cpu")).name == ("bf16" if devices.cpu_has_native_bf16() else "fp32")
    for native, name in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)
        assert resolve_precision("auto", torch.device("cpu")).name == name
