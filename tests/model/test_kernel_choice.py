"""system.lstm_kernel = auto: the first run of a shape on a CPU measures both kernels, later runs read the
answer from the user's cache folder (XDG_CACHE_HOME points into the test's tmp_path, never the real home)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lstm_vision import events as ev
from lstm_vision.model import kernel_choice
from lstm_vision.model.kernel_choice import choose_kernel
from lstm_vision.system.devices import cpu_signature, resolve_precision
from lstm_vision.training.engine import run
from lstm_vision.control import RunControl

from conftest import Recorder

CPU = torch.device("cpu")
FP32 = resolve_precision("off", CPU)


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "lstm-vision" / "lstm-kernel.json"


def test_measures_once_then_reads_the_cache(cache_home):
    lstm = nn.LSTM(5, 6, 1, batch_first=True)
    first = choose_kernel("auto", lstm, CPU, FP32, 8, 4, 2)
    assert first.how == "measured" and first.kernel in ("own", "pytorch") and first.cache == cache_home
    assert first.own == (first.own_ms < first.pytorch_ms)
    entries = json.loads(cache_home.read_text())
    (key,) = entries
    assert cpu_signature() in key and "fp32" in key and "batch 8" in key and torch.__version__ in key
    assert entries[key] == {"kernel": first.kernel, "own_ms": round(first.own_ms, 2), "pytorch_ms": round(first.pytorch_ms, 2)}
    again = choose_kernel("auto", lstm, CPU, FP32, 8, 4, 2)
    assert again.how == "cached" and again.kernel == first.kernel and again.own_ms == entries[key]["own_ms"]
    assert "as measured earlier on this CPU" in again.describe("fp32") and str(cache_home) in again.describe("fp32")
    other_shape = choose_kernel("auto", lstm, CPU, FP32, 16, 4, 2)  # another batch is another measurement
    assert other_shape.how == "measured" and len(json.loads(cache_home.read_text())) == 2


def test_a_cached_answer_is_used_as_it_stands(cache_home):
    lstm = nn.LSTM(5, 6, 1, batch_first=True)
    measured = choose_kernel("auto", lstm, CPU, FP32, 8, 4, 1)
    entries = json.loads(cache_home.read_text())
    flipped = "pytorch" if measured.own else "own"
    entries[next(iter(entries))]["kernel"] = flipped
    cache_home.write_text(json.dumps(entries))
    assert choose_kernel("auto", lstm, CPU, FP32, 8, 4, 1).kernel == flipped


def test_an_unreadable_cache_is_measured_again_and_rewritten(cache_home):
    cache_home.parent.mkdir(parents=True)
    cache_home.write_text("{not json")
    choice = choose_kernel("auto", nn.LSTM(3, 4, 1, batch_first=True), CPU, FP32, 4, 3, 1)
    assert choice.how == "measured" and len(json.loads(cache_home.read_text())) == 1


def test_a_cache_folder_that_cannot_be_written_leaves_the_run_going(cache_home):
    cache_home.parent.parent.mkdir(parents=True)
    cache_home.parent.write_text("a file where the folder should be")
    choice = choose_kernel("auto", nn.LSTM(3, 4, 1, batch_first=True), CPU, FP32, 4, 3, 1)
    assert choice.how == "measured" and choice.cache is None
    assert "not kept" in choice.describe("fp32") and "could not be written" in choice.describe("fp32")


def test_the_setting_and_the_device_decide_without_measuring(cache_home):
    lstm = nn.LSTM(3, 4, 1, batch_first=True)
    assert choose_kernel("own", lstm, CPU, FP32, 4, 3, 1).kernel == "own"
    assert choose_kernel("pytorch", lstm, CPU, FP32, 4, 3, 1).kernel == "pytorch"
    gpu = choose_kernel("own", lstm, torch.device("cuda"), FP32, 4, 3, 1)
    assert gpu.kernel == "pytorch" and gpu.how == "only"
    assert not cache_home.exists()


def test_the_bf16_measurement_is_its_own(cache_home):
    lstm = nn.LSTM(5, 6, 1, batch_first=True)
    bf16 = resolve_precision("bf16", CPU)
    choose_kernel("auto", lstm, CPU, FP32, 8, 4, 1)
    assert choose_kernel("auto", lstm, CPU, bf16, 8, 4, 1).how == "measured"
    assert sorted(key.split(" | ")[3] for key in json.loads(cache_home.read_text())) == ["bf16", "fp32"]


def test_the_run_says_which_kernel_in_its_first_lines(tiny_settings, cache_home):
    tiny_settings.train.epochs = 1
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    assert result.status == "completed"
    (position,) = [i for i, e in enumerate(rec.events) if isinstance(e, ev.LogMessage) and e.text.startswith("LSTM kernel:")]
    line = rec.events[position].text
    assert position < 5 and isinstance(rec.events[0], ev.RunStarted)  # among the run's first lines
    assert "in fp32" in line and "measured now on this CPU" in line and str(cache_home) in line
    assert kernel_choice.cache_path() == cache_home


def test_measuring_leaves_the_random_stream_as_it_was(cache_home):
    # State is a pure function of the seed: a run that measures and one that reads the cache draw the same numbers.
    lstm = nn.LSTM(3, 4, 1, batch_first=True)
    torch.manual_seed(7)
    choose_kernel("auto", lstm, CPU, FP32, 4, 3, 1)
    after = torch.rand(3)
    torch.manual_seed(7)
    torch.testing.assert_close(after, torch.rand(3))
