"""The sweep folder contract (lstm_vision/sweep/folder.py): what the app and any viewer read."""

import json
import os
import socket
import subprocess
import sys
import time

from lstm_vision.control import RunControl
from lstm_vision.runs.liveness import Beacon
from lstm_vision.sweep import folder
from lstm_vision.sweep.folder import TrialRow, read_folder_sweep, read_trials, sweep_state, trial_dir_name, write_trials


def test_trial_folders_are_named_by_their_number():
    assert trial_dir_name(7) == "trial-0007"
    assert trial_dir_name(12345) == "trial-12345"


def test_trials_csv_round_trip_with_run_folders_relative_in_the_file(tmp_path):
    rows = [
        TrialRow(
            1, "pruned", {"optim.learning_rate": "0.01", "model.hidden_size": "64"}, 0.5, 3.25, str(tmp_path / "trial-0001")
        ),
        TrialRow(
            0,
            "complete",
            {"optim.learning_rate": "0.001", "model.hidden_size": "128"},
            0.98,
            10.0,
            str(tmp_path / "trial-0000"),
            metric_std=0.01,
            repeats=2,
        ),
        TrialRow(
            2, "running", {"optim.learning_rate": "0.1", "model.hidden_size": "64"}, None, None, str(tmp_path / "trial-0002")
        ),
    ]
    write_trials(tmp_path, "val_accuracy", ["optim.learning_rate", "model.hidden_size"], rows)
    lines = (tmp_path / "trials.csv").read_text().splitlines()
    assert lines[0] == ("number,state,optim.learning_rate,model.hidden_size,val_accuracy,metric_std,repeats,duration_s,run_dir")
    assert lines[1] == "0,complete,0.001,128,0.98,0.01,2,10.0,trial-0000"
    assert lines[3] == "2,running,0.1,64,,,1,,trial-0002"
    assert read_trials(tmp_path) == sorted(rows, key=lambda r: r.number)
    assert folder.metric_column(tmp_path) == "val_accuracy"


def test_a_trials_csv_from_before_repeats_reads_as_one_run_per_point(tmp_path):
    (tmp_path / "trials.csv").write_text(
        "number,state,model.hidden_size,val_loss,duration_s,run_dir\n1,complete,64,0.25,4.0,trial-0001\n"
    )
    [row] = read_trials(tmp_path)
    assert (row.params, row.metric, row.metric_std, row.repeats, row.duration_s) == (
        {"model.hidden_size": "64"},
        0.25,
        None,
        1,
        4.0,
    )
    assert folder.metric_column(tmp_path) == "val_loss"


def test_importance_csv_round_trip(tmp_path):
    assert folder.read_importance(tmp_path) == []
    folder.write_importance(tmp_path, [("optim.learning_rate", 0.75), ("model.dropout", 0.25)])
    assert (tmp_path / "importance.csv").read_text() == "setting,importance\noptim.learning_rate,0.75\nmodel.dropout,0.25\n"
    assert folder.read_importance(tmp_path) == [("optim.learning_rate", 0.75), ("model.dropout", 0.25)]


def test_read_trials_without_a_file_or_with_a_line_cut_short(tmp_path):
    assert read_trials(tmp_path) == []
    (tmp_path / "trials.csv").write_text(
        "number,state,model.hidden_size,val_loss,duration_s,run_dir\n0,complete,64,0.25,4.0,trial-0000\n1,runn"
    )
    rows = read_trials(tmp_path)
    assert [(r.number, r.state, r.params, r.metric) for r in rows] == [(0, "complete", {"model.hidden_size": "64"}, 0.25)]
    assert rows[0].run_dir == str(tmp_path / "trial-0000")


def test_a_folders_sweep_of_a_grid_counts_its_combinations(tmp_path):
    (tmp_path / "sweep.toml").write_text(
        '[sweep]\nname = "lr"\nmethod = "grid"\nmetric = "val_loss"\nprune = "median"\n\n'
        '[space]\n"optim.learning_rate" = [1e-3, 2e-3, 5e-3]\n"model.hidden_size" = [64, 128]\n'
    )
    info = read_folder_sweep(tmp_path)
    assert (info.name, info.method, info.total, info.metric, info.direction, info.prune) == (
        "lr",
        "grid",
        6,
        "val_loss",
        "minimize",
        "median",
    )
    assert info.space[1].values == (64, 128)
    assert folder.is_sweep_dir(tmp_path) and not folder.is_sweep_dir(tmp_path / "nothing")


def test_a_folders_sweep_without_method_is_tpe_as_the_runner_reads_it(tmp_path):
    # one reader, one set of defaults: the folder's viewers see the study the runner ran
    (tmp_path / "sweep.toml").write_text('[sweep]\ntrials = 3\n\n[space]\n"model.hidden_size" = [64, 96, 128, 160]\n')
    info = read_folder_sweep(tmp_path)
    assert (info.method, info.total, info.metric, info.prune) == ("tpe", 3, "val_accuracy", "none")


def _exited_worker(sweep_dir, pid: int, exit_code: int, ended: float) -> None:
    path = folder.worker_dir(sweep_dir, socket.gethostname(), pid)
    path.mkdir(parents=True)
    info = {"pid": pid, "host": socket.gethostname(), "started": 1.0, "state": "exited", "exit_code": exit_code, "ended": ended}
    (path / "process.json").write_text(json.dumps(info))


def test_sweep_state_from_the_workers_liveness_files(tmp_path):
    assert sweep_state(tmp_path) == "lost"  # no worker ever ran it
    now = time.time()
    _exited_worker(tmp_path, 11, 0, now - 10)
    assert sweep_state(tmp_path) == "finished"
    _exited_worker(tmp_path, 12, 130, now - 5)  # a later stop: the last word is the stop's
    assert sweep_state(tmp_path) == "stopped"
    beacon = Beacon(folder.worker_dir(tmp_path, socket.gethostname(), os.getpid()), RunControl())
    beacon.run_dir.mkdir(parents=True)
    beacon.start()
    try:
        assert sweep_state(tmp_path) == "running"
    finally:
        beacon.close(1)
    assert sweep_state(tmp_path) == "lost"  # this worker failed last


def test_a_worker_killed_without_a_word_is_lost(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import psutil

        path = folder.worker_dir(tmp_path, socket.gethostname(), child.pid)
        path.mkdir(parents=True)
        info = {"pid": child.pid, "host": socket.gethostname(), "started": psutil.Process(child.pid).create_time()}
        (path / "process.json").write_text(json.dumps({**info, "state": "running"}))
        assert sweep_state(tmp_path) == "running"
    finally:
        child.kill()
        child.wait()
    assert sweep_state(tmp_path) == "lost"


def test_the_folder_contract_needs_neither_torch_nor_optuna():
    """The app reads sweep folders before torch loads."""
    code = "import sys, lstm_vision.sweep.folder; print(sorted(m for m in ('torch', 'optuna', 'matplotlib') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
