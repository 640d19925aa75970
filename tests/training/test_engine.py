import csv
import json
import os
import platform
import socket
import sys
from pathlib import Path

import pytest
import torch

from conftest import Recorder
from processes import journal
from lstm_vision import events as ev
from lstm_vision.errors import CheckpointError
from lstm_vision.model.checkpoint import load_checkpoint
from lstm_vision.errors import SettingsError
from lstm_vision.settings import load_settings
from lstm_vision.control import RunControl
from lstm_vision.errors import DataError
from lstm_vision.training.engine import run
from lstm_vision.model.lstm import LSTMClassifier


def test_short_run_learns_and_writes_the_run_directory(tiny_settings):
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    assert result.status == "completed" and result.exit_code == 0
    run_dir = tiny_settings.output.dir + "/test"
    assert result.run_dir == run_dir
    summary = json.loads(open(f"{run_dir}/summary.json").read())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert summary["test_accuracy"] >= 0.9, summary  # the bar pattern is easy: learning happened
    for key in (
        "best_val_accuracy",
        "train_accuracy",
        "test_correct",
        "test_total",
        "train_time_s",
        "train_samples_per_s",
        "world_size",
        "device",
        "precision",
        "parameters",
        "peak_host_rss_bytes",
        "peak_gpu_allocated_bytes",
    ):
        assert key in summary, key
    assert summary["test_total"] == 200 and summary["world_size"] == 1 and summary["peak_gpu_allocated_bytes"] is None
    assert summary["precision"] == "fp32" and summary["peak_host_rss_bytes"] > 0
    assert load_settings(f"{run_dir}/settings.toml") == tiny_settings
    lines = journal(run_dir)
    names = [line["event"] for line in lines]
    assert names[0] == "run_started" and names[-1] == "run_finished"
    assert {"step_logged", "epoch_finished", "evaluation_finished", "resources_sampled", "checkpoint_saved"} <= set(names)
    # one schema: the journal holds every event (progress ticks too, for viewers that follow it)
    assert [ev.event_from_dict(line) for line in lines] == rec.events
    process = json.loads(open(f"{run_dir}/process.json").read())  # who ran it, and how it ended
    assert process["pid"] == os.getpid() and process["state"] == "exited" and process["exit_code"] == 0
    with open(f"{run_dir}/confusion_matrix.csv") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 11 and all(len(r) == 11 for r in rows)
    assert sum(int(v) for r in rows[1:] for v in r[1:]) == 200
    assert sum(int(rows[i + 1][i + 1]) for i in range(10)) == summary["test_correct"]
    for name in ("best.pt", "last.pt"):
        assert "state_dict" in load_checkpoint(f"{run_dir}/{name}")
    preview = rec.of(ev.PredictionsSampled)[0]
    assert len(preview.images) == len(preview.labels) == 36 and len(preview.images[0]) == 28 * 28


def test_stopped_run_resumes_to_the_same_weights(tiny_settings, tmp_path):
    tiny_settings.model.dropout = 0.3  # the dropout RNG must be restored too
    tiny_settings.model.num_layers = 2
    tiny_settings.output.run_name = "straight"
    straight = run(tiny_settings, Recorder(), RunControl())
    control = RunControl()
    tiny_settings.output.run_name = "interrupted"
    stopped = run(tiny_settings, Recorder(stop_at_step=15, control=control), control)
    assert stopped.status == "stopped" and stopped.exit_code == 130
    summary = json.loads(open(f"{stopped.run_dir}/summary.json").read())
    assert summary["status"] == "stopped" and summary["epochs_completed"] == 1
    tiny_settings.train.log_every = 3  # a changed log frequency must not change the training,
    tiny_settings.output.dir = str(tmp_path / "elsewhere")  # nor a changed output folder
    seconds_before_stop = load_checkpoint(f"{stopped.run_dir}/last.pt")["partial"]["seconds"]
    resumed_events = Recorder()
    resumed = run(tiny_settings, resumed_events, RunControl(), resume=stopped.run_dir)
    assert resumed.status == "completed" and resumed.run_dir == stopped.run_dir
    epoch2 = resumed_events.of(ev.EpochFinished)[0]  # the epoch cut in two: its time counts both parts
    assert epoch2.epoch == 2 and 0 < seconds_before_stop < epoch2.epoch_time_s
    a = load_checkpoint(f"{straight.run_dir}/last.pt")["state_dict"]
    b = load_checkpoint(f"{resumed.run_dir}/last.pt")["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.summary["test_correct"] == straight.summary["test_correct"]


def test_stop_mid_run_saves_last_checkpoint(tiny_settings):
    control = RunControl()
    rec = Recorder(stop_at_step=5, control=control)
    result = run(tiny_settings, rec, control)
    assert result.status == "stopped"
    state = load_checkpoint(f"{result.run_dir}/last.pt")
    assert state["epoch"] == 0 and state["step"] == 5
    assert rec.of(ev.RunStopped)[0].checkpoint.endswith("last.pt")


def test_summary_throughput_counts_the_samples_of_a_stopped_epoch(tiny_settings):
    control = RunControl()
    result = run(tiny_settings, Recorder(stop_at_step=5, control=control), control)  # 5 steps of 50 in epoch 1
    summary = json.loads(open(f"{result.run_dir}/summary.json").read())
    assert summary["status"] == "stopped" and summary["epochs_completed"] == 0
    assert summary["train_samples_per_s"] == pytest.approx(250 / summary["train_time_s"])
    assert summary["train_samples"] == 250


def test_each_checkpoint_carries_its_own_epochs_validation(tiny_settings, monkeypatch):
    import dataclasses
    import lstm_vision.training.engine as engine

    val_losses = iter([0.5, 0.9])  # epoch 2 is the best, epoch 3 is worse

    def report(job, split, data, confusion=False, interrupt=None):
        result = real_report(job, split, data, confusion, interrupt)
        return dataclasses.replace(result, loss=next(val_losses)) if split == "val" else result

    real_report = engine.report_evaluation
    monkeypatch.setattr(engine, "report_evaluation", report)
    tiny_settings.train.epochs, tiny_settings.train.val_log_every, tiny_settings.train.checkpoint_every = 3, 2, 1
    result = run(tiny_settings, Recorder(), RunControl())  # validation after epoch 2 and after the last, 3
    state = {
        name: load_checkpoint(f"{result.run_dir}/{name}.pt") for name in ("epoch-001", "epoch-002", "epoch-003", "last", "best")
    }
    assert state["epoch-001"]["val_loss"] is None and state["epoch-001"]["val_acc"] is None
    assert [state[n]["val_loss"] for n in ("epoch-002", "epoch-003", "last", "best")] == [0.5, 0.9, 0.9, 0.5]
    assert state["last"]["best_val_loss"] == state["epoch-003"]["best_val_loss"] == 0.5
    assert state["best"]["epoch"] == 2 and state["last"]["val_acc"] == state["epoch-003"]["val_acc"] is not None


def test_checkpoint_every_keeps_an_epoch_file_at_each_multiple_and_none_by_default(tiny_settings):
    tiny_settings.train.epochs, tiny_settings.train.checkpoint_every = 5, 2
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    run_dir = Path(result.run_dir)
    assert sorted(p.name for p in run_dir.glob("epoch-*.pt")) == ["epoch-002.pt", "epoch-004.pt"]
    periodic = [e for e in rec.of(ev.CheckpointSaved) if e.kind == "periodic"]
    assert [(e.epoch, Path(e.path).name) for e in periodic] == [(2, "epoch-002.pt"), (4, "epoch-004.pt")]
    assert [load_checkpoint(run_dir / f"epoch-00{n}.pt")["epoch"] for n in (2, 4)] == [2, 4]  # each its own epoch
    assert load_checkpoint(run_dir / "last.pt")["epoch"] == 5

    tiny_settings.train.epochs, tiny_settings.train.checkpoint_every = 2, 0
    tiny_settings.output.run_name = "plain"
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    assert not list(Path(result.run_dir).glob("epoch-*.pt"))
    assert {e.kind for e in rec.of(ev.CheckpointSaved)} == {"best", "last"}


def test_val_log_every_validates_only_on_its_epochs_and_after_the_last(tiny_settings):
    tiny_settings.train.epochs, tiny_settings.train.val_log_every = 5, 2
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    assert [e.epoch for e in rec.of(ev.EvaluationFinished) if e.split == "val"] == [2, 4, 5]
    epochs = rec.of(ev.EpochFinished)
    assert [e.epoch for e in epochs if e.val_loss is None and e.val_accuracy is None] == [1, 3]
    assert [e.epoch for e in epochs if e.val_loss is not None and e.val_accuracy is not None] == [2, 4, 5]
    best = [e for e in rec.of(ev.CheckpointSaved) if e.kind == "best"]
    assert best and {e.epoch for e in best} <= {2, 4, 5}  # best.pt is chosen among the validated epochs
    summary = json.loads(Path(result.run_dir, "summary.json").read_text())
    assert summary["best_val_epoch"] in (2, 4, 5) and summary["best_val_epoch"] == best[-1].epoch
    records = journal(result.run_dir)
    assert [r["epoch"] for r in records if r["event"] == "evaluation_finished" and r["split"] == "val"] == [2, 4, 5]


def test_best_val_accuracy_is_that_of_the_lowest_validation_loss_and_names_its_epoch(tiny_settings, monkeypatch):
    import dataclasses
    import lstm_vision.training.engine as engine

    fake = iter([(0.7, 0.80), (0.5, 0.70), (0.6, 0.95)])  # (loss, accuracy): epoch 2 has the lowest loss

    def report(job, split, data, confusion=False, interrupt=None):
        result = real_report(job, split, data, confusion, interrupt)
        if split != "val":
            return result
        loss, accuracy = next(fake)
        return dataclasses.replace(result, loss=loss, accuracy=accuracy)

    real_report = engine.report_evaluation
    monkeypatch.setattr(engine, "report_evaluation", report)
    tiny_settings.train.epochs = 3
    result = run(tiny_settings, Recorder(), RunControl())
    summary = json.loads(open(f"{result.run_dir}/summary.json").read())
    assert (summary["best_val_epoch"], summary["best_val_loss"], summary["best_val_accuracy"]) == (2, 0.5, 0.70)
    assert load_checkpoint(f"{result.run_dir}/last.pt")["best_val_epoch"] == 2  # a resume keeps it


def test_the_eta_counts_the_validations_left(tiny_settings, monkeypatch):
    """Each validation here takes 100 s more on the engine's clock: the ETAs must count them."""
    import time
    import types
    import lstm_vision.training.engine as engine

    offset, val_times = [0.0], []

    def clock():
        return time.perf_counter() + offset[0]

    def report(job, split, data, confusion=False, interrupt=None):
        started = clock()
        result = real_report(job, split, data, confusion, interrupt)
        if split == "val":
            offset[0] += 100.0
            val_times.append(clock() - started)
        return result

    real_report = engine.report_evaluation
    monkeypatch.setattr(engine, "report_evaluation", report)
    monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=clock, monotonic=time.monotonic))
    tiny_settings.train.epochs = 3
    rec = Recorder()
    run(tiny_settings, rec, RunControl())
    first = rec.of(ev.EpochFinished)[0]  # after epoch 1 of 3: two epochs and two validations left
    assert first.eta_s == pytest.approx(2 * first.epoch_time_s + 2 * val_times[0], rel=1e-3)
    in_epoch_2 = [e for e in rec.of(ev.StepLogged) if e.epoch == 2]
    assert in_epoch_2 and all(e.eta_s >= 2 * val_times[0] for e in in_epoch_2)
    in_epoch_3 = [e for e in rec.of(ev.StepLogged) if e.epoch == 3]
    assert all(e.eta_s >= val_times[1] for e in in_epoch_3)


def test_reference_checkpoint_evaluates_with_zero_epochs(tiny_settings, tmp_path):
    model = LSTMClassifier(28, 28, 10, hidden_size=16, num_layers=1, bidirectional=False, dropout=0.0)
    path = tmp_path / "lstm_cp_ref.pt"
    torch.save(
        {
            "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
            "optimizer": torch.optim.AdamW(model.parameters()).state_dict(),
            "epoch": 15,
            "val_loss": 0.1,
            "val_acc": 98.0,
        },
        path,
    )
    tiny_settings.train.epochs, tiny_settings.train.load_checkpoint = 0, str(path)
    result = run(tiny_settings, Recorder(), RunControl())
    assert result.status == "completed" and result.summary["epochs_completed"] == 0
    assert result.summary["test_total"] == 200


def test_checkpoint_of_another_architecture_lists_the_tensors(tiny_settings, tmp_path):
    model = LSTMClassifier(28, 28, 10, hidden_size=32, num_layers=1, bidirectional=False)
    path = tmp_path / "other.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    tiny_settings.train.load_checkpoint = str(path)
    with pytest.raises(CheckpointError) as err:
        run(tiny_settings, Recorder(), RunControl())
    assert "LSTM.weight_ih_l0 (128, 28) vs (64, 28)" in str(err.value) and str(path) in str(err.value)


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="would run code"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", None])
def test_truncated_or_foreign_checkpoint_is_refused(tmp_path, content, tiny_settings):
    path = tmp_path / "bad.pt"
    if content is None:  # a real checkpoint cut in half
        model = LSTMClassifier(28, 28, 10, 16, 1, False)
        torch.save({"state_dict": model.state_dict()}, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"epoch = 3\nlr = 0.1\n", "it is a text file starting 'epoch = 3'"),  # torch: KeyError: 101
        (bytes(range(7, 256)) * 16, "it is neither a zip archive nor a pickle"),  # torch: "would run code"
    ],
)
def test_a_file_that_is_no_checkpoint_is_named_so(tmp_path, content, reason):
    path = tmp_path / "notes.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(err.value) == f"Checkpoint {path} is not a PyTorch checkpoint ({reason})."


def test_bf16_and_pixelwise_sequences_run(tiny_settings):
    tiny_settings.train.amp, tiny_settings.train.epochs = "bf16", 1
    tiny_settings.data.sequence_length, tiny_settings.data.input_size = 112, 7
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    assert result.status == "completed" and result.summary["precision"] == "bf16"
    started = rec.of(ev.RunStarted)[0]
    assert (started.sequence_length, started.input_size) == (112, 7)


def test_compile_compiles_the_head_and_says_what_it_compiled(tiny_settings):
    from torch._dynamo.utils import counters

    tiny_settings.train.compile_mode, tiny_settings.train.epochs = "default", 1
    counters.clear()
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    assert result.status == "completed"
    compiled = rec.of(ev.RunStarted)[0].compiled
    assert compiled.startswith("the head after the LSTM") and "in 1 graph" in compiled and "mode=default" in compiled
    assert counters["stats"]["unique_graphs"] >= 1  # Dynamo really produced the graph that training ran
    assert not counters["graph_break"]  # and did not fall back to eager at a break


def test_gradient_accumulation_and_clipping_match_plain_steps(tiny_settings):
    tiny_settings.train.epochs, tiny_settings.train.max_norm = 1, 1.0
    tiny_settings.output.run_name = "plain"
    plain = run(tiny_settings, Recorder(), RunControl())
    tiny_settings.train.grad_accum_steps, tiny_settings.output.run_name = 2, "accum"
    accum = run(tiny_settings, Recorder(), RunControl())
    a = load_checkpoint(f"{plain.run_dir}/last.pt")["state_dict"]
    b = load_checkpoint(f"{accum.run_dir}/last.pt")["state_dict"]
    for key in a:  # the same samples per step, so the same weights up to float rounding
        assert torch.allclose(a[key], b[key], atol=1e-4), key


def test_nan_loss_stops_with_the_step_and_keeps_the_good_checkpoint(tiny_settings, monkeypatch):
    calls = {"n": 0}
    forward = LSTMClassifier.forward

    def poisoned(self, x):  # the 17th training forward (epoch 2, step 5) produces NaN logits
        out = forward(self, x)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 17:
                return out * float("nan")
        return out

    monkeypatch.setattr(LSTMClassifier, "forward", poisoned)
    rec = Recorder()
    result = run(tiny_settings, rec, RunControl())
    assert result.status == "failed" and result.exit_code == 1
    message = rec.of(ev.RunFailed)[0].message
    assert "NaN or infinite at step 17" in message and "learning_rate" in message
    assert result.summary["status"] == "failed" and result.summary["epochs_completed"] == 1
    good = load_checkpoint(f"{result.run_dir}/last.pt")  # epoch 1's checkpoint, not overwritten by NaN weights
    assert good["epoch"] == 1 and all(torch.isfinite(v).all() for v in good["state_dict"].values())


@pytest.mark.parametrize(
    "override, message",
    [
        (("data", "sequence_length", 30), "does not divide the image's H x W x C = 28 x 28 x 1 = 784 values"),
        (("train", "amp", "fp16"), "fp16 needs a CUDA GPU"),
        (("train", "epochs", 0), "train.epochs = 0 evaluates a checkpoint"),
        (("system", "device", "cuda"), "no usable CUDA GPU"),
        (("train", "batch_size", 51), None),
    ],
)
def test_inconsistent_settings_are_refused_before_any_file(tiny_settings, tmp_path, override, message):
    section, key, value = override
    setattr(getattr(tiny_settings, section), key, value)
    if message is None:  # a batch size not divisible by accumulation steps
        tiny_settings.train.grad_accum_steps = 2
        message = "must be divisible"
    with pytest.raises(SettingsError, match=message):
        run(tiny_settings, Recorder(), RunControl())
    assert not (tmp_path / "runs").exists()


def test_missing_data_names_files_and_folder(tiny_settings, tmp_path):
    tiny_settings.data.root = str(tmp_path / "nowhere")
    with pytest.raises(DataError) as err:
        run(tiny_settings, Recorder(), RunControl())
    text = str(err.value)
    assert "train-images-idx3-ubyte" in text and str(tmp_path / "nowhere" / "MNIST" / "raw") in text
    assert "data.download = true" in text


def test_summary_holds_per_class_figures_and_where_the_run_came_from(tiny_settings, capsys):
    import re
    from lstm_vision.report.console import Printer

    tiny_settings.train.epochs = 1
    result = run(tiny_settings, Printer(sys.stdout), RunControl())
    summary = json.loads(open(f"{result.run_dir}/summary.json").read())
    rows = summary["per_class"]
    assert len(rows) == 10 and sum(r["support"] for r in rows) == summary["test_total"]
    assert round(sum(r["recall"] * r["support"] for r in rows)) == summary["test_correct"]  # recall = right / support
    assert summary["macro_f1"] == pytest.approx(sum(r["f1"] for r in rows) / 10)
    assert all(0 <= r[k] <= 1 for r in rows for k in ("precision", "recall", "f1"))
    lines = open(f"{result.run_dir}/per_class.csv").read().splitlines()
    assert lines[0] == "class,precision,recall,f1,support" and len(lines) == 11
    printed = capsys.readouterr().out
    assert "Per class (test set):" in printed and "macro avg" in printed
    prov = summary["provenance"]
    assert prov["torch"] == torch.__version__ and prov["python"] == platform.python_version()
    assert prov["host"] == socket.gethostname() and prov["lstm_vision"] and prov["command"]
    assert prov["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", prov["git_commit"])


def test_dropout_is_on_the_lstm_outputs_and_between_layers_only_when_asked():
    from lstm_vision.settings import ModelSettings
    from lstm_vision.model.lstm import build_model

    model = build_model(ModelSettings(hidden_size=8, num_layers=3, dropout=0.2), 28, 28, 10)
    assert model.LSTM.dropout == 0.0 and model.dropout.p == 0.2  # the reference's placement
    model = build_model(ModelSettings(hidden_size=8, num_layers=3, dropout=0.2, lstm_dropout=0.3), 28, 28, 10)
    assert model.LSTM.dropout == 0.3 and model.dropout.p == 0.2
