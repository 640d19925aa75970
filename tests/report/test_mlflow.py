"""output.mlflow against a real MLflow tracking server (tests/mlflow_server.py), read back with MLflow's own client."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

pytest.importorskip("mlflow")

from mlflow.tracking import MlflowClient  # noqa: E402

from mlflow_server import free_port, mlflow_server, stop  # noqa: E402
from processes import WAIT_S, cli, journal, tiny_args, wait_until  # noqa: E402
from sweeps import base_args, run_sweep, start_sweep, write_sweep  # noqa: E402
from lstm_vision import events as ev  # noqa: E402
from lstm_vision.control import RunControl  # noqa: E402
from lstm_vision.report.mlflow_log import SWEEP_TAG, parent_run_id  # noqa: E402
from lstm_vision.runs.liveness import Beacon  # noqa: E402
from lstm_vision.events import LogMessage  # noqa: E402
from lstm_vision.runs.result import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_STOPPED  # noqa: E402
from lstm_vision.settings import Settings  # noqa: E402
from lstm_vision.sweep.folder import worker_dir  # noqa: E402
from lstm_vision.sweep.launch import end_tracked_sweep  # noqa: E402
from lstm_vision.training.engine import run  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(the server's URI, its log: one line per request it answered)."""
    folder = tmp_path_factory.mktemp("mlflow")
    with mlflow_server(folder) as (uri, _):
        yield uri, folder / "server.log"


@pytest.fixture
def server(served):
    return served[0]


def health_checks(log: Path) -> int:
    return log.read_text().count('"GET /health HTTP')


def parent_of(uri: str, sweep_dir: Path):
    client, runs = runs_of(uri)
    [parent] = [r for r in runs if r.data.tags.get(SWEEP_TAG) == str(sweep_dir.resolve())]
    return client, parent


def runs_of(uri: str, experiment: str = "lstm-vision"):
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return client, client.search_runs([found.experiment_id]) if found else []


def test_a_run_logs_its_settings_figures_and_files(server, tiny_settings):
    tiny_settings.output.mlflow, tiny_settings.output.mlflow_experiment = server, "one-run"
    tiny_settings.output.tags, tiny_settings.output.notes = ["baseline", "small"], "first"
    said: list[str] = []
    result = run(tiny_settings, lambda e: said.append(e.text) if isinstance(e, LogMessage) else None, RunControl())
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
    address = f"{server}/#/experiments/{logged.info.experiment_id}/runs/{logged.info.run_id}"
    assert said.count(f"MLflow: this run is {address}") == 1  # said once, at its start


def test_a_sweeps_trials_are_nested_under_its_parent_run_which_ends_finished(served, mnist_root, tmp_path):
    server, log = served
    sweep = write_sweep(tmp_path / "two.toml", 'name = "two"\nmethod = "grid"', '"optim.learning_rate" = [1e-2, 1e-3]')
    checks = health_checks(log)
    done = run_sweep(sweep, *base_args(mnist_root, tmp_path / "runs", epochs=1), "--set", f"output.mlflow={server}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert health_checks(log) == checks + 1  # the sweep asked the server once, before its folder; no trial asked again
    client, parent = parent_of(server, tmp_path / "runs" / "two")
    assert parent.info.run_name == "two" and parent.info.status == "FINISHED" and parent.info.end_time
    _, runs = runs_of(server)
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in trials) == ["trial-0001", "trial-0002"]
    assert sorted(r.data.params["optim.learning_rate"] for r in trials) == ["0.001", "0.01"]
    assert {r.info.status for r in trials} == {"FINISHED"}
    assert "View run" not in done.stdout and done.stdout.splitlines()[-1].startswith("Sweep two done:")  # not MLflow's


def test_a_sweep_of_two_workers_stopped_ends_its_parent_run_killed(server, mnist_root, tmp_path):
    """Each worker sees the --workers parent alive as it stops and leaves the run; the parent, ending last, ends it."""
    sweep = write_sweep(tmp_path / "stop.toml", 'name = "stop"\nmethod = "grid"', '"optim.learning_rate" = [1e-2, 1e-3]')
    folder = tmp_path / "runs" / "stop"
    args = [*base_args(mnist_root, tmp_path / "runs", epochs=200), "--set", f"output.mlflow={server}", "--workers", "2"]
    sweeping = start_sweep(sweep, tmp_path / "stop.log", *args)
    try:
        for trial in ("trial-0001", "trial-0002"):  # each trial's MLflow run is made before its journal's first line
            wait_until(lambda: (folder / trial / "metrics.jsonl").is_file(), f"{trial} to start", WAIT_S)
        sweeping.send_signal(signal.SIGTERM)
        code = sweeping.wait(timeout=WAIT_S)
    finally:
        sweeping.kill()
        sweeping.wait()
    assert code == EXIT_STOPPED, (tmp_path / "stop.log").read_text()
    client, parent = parent_of(server, folder)
    assert parent.info.status == "KILLED"
    trials = [r for r in runs_of(server)[1] if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.status for r in trials) == ["KILLED", "KILLED"]


def test_the_last_process_of_a_sweep_to_end_ends_its_parent_run_and_a_continued_sweep_runs_it_again(server, tmp_path):
    """The workers' liveness files decide (a real folder, a real server): while one lives the run stays RUNNING."""
    settings = Settings()
    settings.output.mlflow, settings.output.mlflow_experiment = server, "ending"
    sweep_dir = tmp_path / "ending"
    sweep_dir.mkdir()
    client = MlflowClient(server)
    experiment = client.create_experiment("ending")
    run_id = parent_run_id(client, experiment, str(sweep_dir.resolve()))
    ended = worker_dir(sweep_dir, "box", 1)
    ended.mkdir(parents=True)
    Beacon(ended, RunControl()).start().close(EXIT_FAILED)  # a worker that failed
    alive = worker_dir(sweep_dir, "box", os.getpid())
    alive.mkdir(parents=True)
    other = Beacon(alive, RunControl()).start()  # and one still running (this process)
    end_tracked_sweep(settings, sweep_dir, EXIT_FAILED)
    assert client.get_run(run_id).info.status == "RUNNING"
    other.close(EXIT_FAILED)
    end_tracked_sweep(settings, sweep_dir, EXIT_FAILED)
    assert client.get_run(run_id).info.status == "FAILED"
    assert parent_run_id(client, experiment, str(sweep_dir.resolve())) == run_id  # the same command continues it
    assert client.get_run(run_id).info.status == "RUNNING"


def test_a_sweep_whose_server_does_not_answer_is_refused_before_its_folder(mnist_root, tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    sweep = write_sweep(tmp_path / "none.toml", 'name = "none"\nmethod = "grid"', '"optim.learning_rate" = [1e-2, 1e-3]')
    refused = run_sweep(sweep, *base_args(mnist_root, tmp_path / "runs", epochs=1), "--set", f"output.mlflow={uri}")
    assert refused.returncode == EXIT_BAD_INPUT and "Traceback" not in refused.stderr
    assert refused.stderr.startswith(f"error: output.mlflow = {uri} cannot be reached")
    assert refused.stderr.strip().count("\n") == 0
    assert not (tmp_path / "runs").exists()


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
