"""output.wandb with WANDB_MODE=offline: the run's W&B file in its folder, read back with W&B's record schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("wandb")

from processes import journal  # noqa: E402
from wandb_reader import records  # noqa: E402
from lstm_vision.control import RunControl  # noqa: E402
from lstm_vision.training.engine import run  # noqa: E402


def key_of(item) -> str:
    return item.key or ".".join(item.nested_key)  # W&B writes a history row's keys as nested ones


def test_an_offline_wandb_run_holds_the_settings_figures_and_files(tiny_settings, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    tiny_settings.output.wandb = "lstm-vision-test"
    tiny_settings.output.tags, tiny_settings.output.notes = ["baseline"], "offline"
    result = run(tiny_settings, lambda e: None, RunControl())
    assert result.status == "completed"
    files = list(Path(result.run_dir).glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    got = records(files[0])
    kinds = [r.WhichOneof("record_type") for r in got]
    run_record = next(r.run for r in got if r.WhichOneof("record_type") == "run")
    assert run_record.display_name == "test" and list(run_record.tags) == ["baseline"] and run_record.notes == "offline"
    assert run_record.project == "lstm-vision-test"
    updates = [*run_record.config.update, *(item for r in got if r.HasField("config") for item in r.config.update)]
    config = {key_of(item): json.loads(item.value_json) for item in updates}
    assert config["optim.learning_rate"] == 0.01 and config["train.epochs"] == 2
    rows = [{key_of(item): json.loads(item.value_json) for item in r.history.item} for r in got if r.HasField("history")]
    epochs = [row for row in rows if "val_accuracy" in row]
    expected = [r for r in journal(result.run_dir) if r["event"] == "epoch_finished"]
    assert [(row["epoch"], row["val_accuracy"]) for row in epochs] == [
        (r["epoch"], pytest.approx(r["val_accuracy"])) for r in expected
    ]
    assert any("loss" in row and "global_step" in row for row in rows)  # per logged step too
    assert any("test_accuracy" in row for row in rows) and "artifact" in kinds and "exit" in kinds
    artifact = next(r.artifact for r in got if r.HasField("artifact"))
    assert {"best.pt", "summary.json"} <= {entry.path for entry in artifact.manifest.contents}
