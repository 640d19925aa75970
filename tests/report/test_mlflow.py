"""output.mlflow against a real MLflow tracking server (tests/mlflow_server.py), read back with MLflow's own client."""

from __future__ import annotations

import pytest

pytest.importorskip("mlflow")

from mlflow.tracking import MlflowClient  # noqa: E402

from mlflow_server import free_port, mlflow_server, stop  # noqa: E402
from processes import cli, journal, tiny_args  # noqa: E402
from sweeps import base_args, run_sweep, write_sweep  # noqa: E402
from lstm_vision import events as ev  # noqa: E402
from lstm_vision.control import RunControl  # noqa: E402
from lstm_vision.training.engine import run  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as (uri, _):
        yield uri


def runs_of(uri: str, experiment: str = "lstm-vision"):
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return client, client.search_runs([found.experiment_id]) if found else []


def test_a_run_logs_its_settings_figures_and_files(server, tiny_settings):
    tiny_settings.output.mlflow, tiny_settings.output.mlflow_experiment = server, "one-run"
    tiny_settings.output.tags, tiny_settings.output.notes = ["baseline", "small"], "first"
    result = run(tiny_settings, lambda e: None, RunControl())
    client, runs = runs_of(server, "one-run")
    assert len(runs) == 1
    logged = runs[0]
    assert logged.info.status == "FINISHED" and logged.info.run_name == "test"
    assert logged.data.params["optim.learning_rate"] == "0.01" and logged.data.params["train.epochs"] == "2"
    assert logged.data.tags["lstm_vision.tags"] == "baseline,small" and logged.data.tags["mlflow.note.content"] == "first"
    history = client.get_metric_history(logged.info.run_id, "val_accuracy")
    epochs = [r for r in journal(result.run_dir) if r["event"] == "epoch_finished"]
    assert [(m.step, m.value) for m in history] == [(r["epoch"], pytest.approx(r["val_accuracy"])) for r in epochs]
    assert [m.timestamp for m in history] == [int(r["wall_time"] * 1000) for r in epochs]  # the events' clock
    assert logged.data.metrics["test_accuracy"] == pytest.approx(result.summary["test_accuracy"])
    assert len(client.get_metric_history(logged.info.run_id, "loss")) >= 2  # per logged step too
    files = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert {"best.pt", "summary.json", "settings.toml", "curves.png", "confusion_matrix.png"} <= files


def test_a_sweeps_trials_are_nested_under_its_parent_run(server, mnist_root, tmp_path):
    sweep = write_sweep(tmp_path / "two.toml", 'name = "two"\nmethod = "grid"', '"optim.learning_rate" = [1e-2, 1e-3]')
    done = run_sweep(sweep, *base_args(mnist_root, tmp_path / "runs", epochs=1), "--set", f"output.mlflow={server}")
    assert done.returncode == 0, done.stdout + done.stderr
    client, runs = runs_of(server)
    parents = [r for r in runs if r.data.tags.get("lstm_vision.sweep", "").endswith("/two")]
    assert len(parents) == 1 and parents[0].info.run_name == "two"
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert sorted(r.info.run_name for r in trials) == ["trial-0001", "trial-0002"]
    assert sorted(r.data.params["optim.learning_rate"] for r in trials) == ["0.001", "0.01"]


def test_a_server_that_does_not_answer_is_one_sentence_and_exit_2_before_any_file(mnist_root, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = cli(*tiny_args(mnist_root, tmp_path), "--set", f"output.mlflow={uri}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"output.mlflow = {uri} cannot be reached" in result.stderr and result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "cli").exists()


def test_a_server_gone_mid_run_is_one_warning_and_the_run_completes(tiny_settings, tmp_path):
    with mlflow_server(tmp_path / "gone") as (uri, proc):
        tiny_settings.output.mlflow = uri

        def stop_the_server(event):
            if isinstance(event, ev.EpochFinished) and event.epoch == 1:
                stop(proc)

        tiny_settings.train.epochs = 3
        result = run(tiny_settings, stop_the_server, RunControl())
    assert result.status == "completed" and result.exit_code == 0
    rows = journal(result.run_dir)
    warnings = [r["text"] for r in rows if r["event"] == "log" and "stopped answering" in r["text"]]
    assert len(warnings) == 1 and uri in warnings[0] and "metrics.jsonl keeps everything" in warnings[0]
    assert [r["epoch"] for r in rows if r["event"] == "epoch_finished"] == [1, 2, 3]
