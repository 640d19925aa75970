"""output.mlflow: the run as an MLflow run, fed from the events (report/trackers.py says when it is used).

The settings as params under their dotted names, the figures under the journal's names (trackers.step_metrics),
the run folder's files as artifacts at the end, the run's name, tags (lstm_vision.tags) and notes (MLflow's
description). A sweep's trials are nested runs (mlflow.parentRunId) under one parent run per sweep folder.
Metrics are sent in batches, at each epoch's end and at the run's, so a slow server slows no step.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from lstm_vision import events as ev
from lstm_vision.report.tracked import FINAL, run_files, step_metrics
from lstm_vision.runs.compare import flat_settings
from lstm_vision.settings import Settings

SWEEP_TAG = "lstm_vision.sweep"  # on a sweep's parent run: the sweep folder's path
FLUSH_EVERY_S = 30.0
# A server gone mid-run: a couple of quick retries, not MLflow's minutes of back-off (the user's own settings win).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
# MLflow prints "View run ... at" when a run ends: mid-output for a trial, after a sweep's final line. The run's
# address is said once at its start instead (MlflowLog.notice).
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def _experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # another process made it meanwhile
        return client.get_experiment_by_name(name).experiment_id


def _sweep_run(client: Any, experiment_id: str, sweep_dir: str) -> Any | None:
    """The parent run of the sweep in ``sweep_dir`` (its tag names the folder), or None."""
    quoted = sweep_dir.replace("'", "\\'")
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{SWEEP_TAG}` = '{quoted}'", max_results=1)
    return runs[0] if runs else None


def parent_run_id(client: Any, experiment_id: str, sweep_dir: str) -> str:
    """The sweep's parent run, made by whichever of its workers on this box comes first (a lock in its folder)."""
    with open(Path(sweep_dir) / ".mlflow-parent.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _sweep_run(client, experiment_id, sweep_dir)
        if found is not None:
            if found.info.status != "RUNNING":  # a stopped sweep continued: its run is running again
                client.update_run(found.info.run_id, status="RUNNING")
            return found.info.run_id
        run = client.create_run(experiment_id, run_name=Path(sweep_dir).name, tags={SWEEP_TAG: sweep_dir})
        return run.info.run_id


def end_parent_run(uri: str, experiment: str, sweep_dir: str, status: str) -> None:
    """The sweep's parent run ended as ``status`` (FINISHED, KILLED, FAILED); nothing when no trial ever made it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return
    run = _sweep_run(client, found.experiment_id, sweep_dir)
    if run is not None and run.info.status != status:
        client.set_terminated(run.info.run_id, status)


class MlflowLog:
    def __init__(self, run_dir: Path, settings: Settings, parent: str | None) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        out = settings.output
        self.client = client = MlflowClient(tracking_uri=out.mlflow)
        experiment = _experiment_id(client, out.mlflow_experiment)
        tags = {"lstm_vision.run_dir": str(run_dir), "lstm_vision.tags": ",".join(out.tags)}
        tags.update({f"tag.{word}": "true" for word in out.tags})
        if out.notes:
            tags["mlflow.note.content"] = out.notes
        if parent:
            tags["mlflow.parentRunId"] = parent_run_id(client, experiment, parent)
        self.run_id = client.create_run(experiment, run_name=run_dir.name, tags=tags).info.run_id
        address = f"{out.mlflow.rstrip('/')}/#/experiments/{experiment}/runs/{self.run_id}"
        self.notice = f"MLflow: this run is {address}" if out.mlflow.startswith("http") else ""
        params = [Param(name, str(value)) for name, value in flat_settings(settings).items()]
        for start in range(0, len(params), 100):  # MLflow's most per batch
            client.log_batch(self.run_id, params=params[start : start + 100])
        self.run_dir, self.pending, self.last_flush, self.ended = run_dir, [], time.monotonic(), False

    def __call__(self, event: ev.Event) -> None:
        from mlflow.entities import Metric

        found = step_metrics(event)
        if found is not None:
            figures, step = found
            stamp = int((event.wall_time or time.time()) * 1000)
            self.pending += [Metric(name, float(value), stamp, step) for name, value in figures.items()]
        due = isinstance(event, (ev.EpochFinished, *FINAL)) or time.monotonic() - self.last_flush > FLUSH_EVERY_S
        if due and self.pending:
            self.flush()
        if isinstance(event, FINAL):
            self.finish(event)

    def flush(self) -> None:
        batch, self.pending = self.pending, []
        for start in range(0, len(batch), 1000):  # MLflow's most per batch
            self.client.log_batch(self.run_id, metrics=batch[start : start + 1000])
        self.last_flush = time.monotonic()

    def finish(self, event: ev.Event) -> None:
        for path in run_files(self.run_dir):
            self.client.log_artifact(self.run_id, str(path))
        status = {ev.RunFinished: "FINISHED", ev.RunStopped: "KILLED"}.get(type(event), "FAILED")
        self.client.set_terminated(self.run_id, status)
        self.ended = True

    def close(self, exit_code: int) -> None:
        if not self.ended:  # a run that ended without its final event (an exception past the engine's)
            self.client.set_terminated(self.run_id, "FINISHED" if exit_code == 0 else "FAILED")
