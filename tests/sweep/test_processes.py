"""Workers on one box sharing the sweep folder's own study (the journal storage): --workers N, a worker killed
mid-trial, and a sweep in the background that is stopped and continued."""

import json
import os
import signal
import subprocess
from collections import Counter

from processes import interrupted_twice, wait_until
from sweeps import base_args, run_sweep, start_sweep, sweep_command, write_sweep

from lstm_vision.text import plural
from lstm_vision.sweep.folder import WORKERS_DIR, read_trials, request_workers, sweep_state

WAIT_S = 300.0
GRID = '"optim.learning_rate" = [1e-2, 3e-2]\n"model.hidden_size" = [8, 12]'


def point(row) -> tuple[str, str]:
    return row.params["optim.learning_rate"], row.params["model.hidden_size"]


def workers_of(folder) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((folder / WORKERS_DIR).glob("*/process.json"))]


def test_workers_2_share_the_study_and_run_each_point_once(mnist_root, tmp_path):
    sweep = write_sweep(tmp_path / "two.toml", 'name = "two"\nmethod = "grid"', GRID)
    done = run_sweep(sweep, "--workers", "2", *base_args(mnist_root, tmp_path / "runs"))
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "runs" / "two"
    rows = read_trials(folder)
    assert [r.state for r in rows] == ["complete"] * 4
    assert len(Counter(point(r) for r in rows)) == 4
    lines = done.stdout.splitlines()
    assert lines[0] == "Starting 2 workers on this box for sweep two."
    for k in (1, 2):
        assert any(line.startswith(f"[worker {k}] Sweep two done: 4 trials") for line in lines)
    # each worker trains on its share of the cores (torch's threads follow the affinity it was given)
    share = max(1, len(os.sched_getaffinity(0)) // 2)
    for row in rows:
        assert f"{plural(share, 'CPU thread')}." in (folder / row.run_dir / "output.log").read_text()
    # the parent and its two workers, each with its own liveness file, all ended with 0
    assert [(w["state"], w["exit_code"]) for w in workers_of(folder)] == [("exited", 0)] * 3
    assert sweep_state(folder) == "finished"


def _trial_trained_by(pid: int, folder) -> str | None:
    for trial in sorted(folder.glob("trial-*")):
        try:
            info = json.loads((trial / "process.json").read_text())
        except (OSError, ValueError):
            continue
        if info.get("pid") == pid and (trial / "last.pt").is_file():
            return trial.name
    return None


def test_a_killed_workers_trial_is_found_by_its_liveness_and_run_again(mnist_root, tmp_path):
    """The journal storage has no heartbeat: the other worker sees the killed one's liveness file go stale."""
    sweep = write_sweep(tmp_path / "journal.toml", 'name = "journal"\nmethod = "grid"', GRID)
    folder = tmp_path / "runs" / "journal"
    args = base_args(mnist_root, tmp_path / "runs", epochs=6)
    survivor = start_sweep(sweep, tmp_path / "survivor.log", *args)
    victim = start_sweep(sweep, tmp_path / "victim.log", *args)
    try:
        killed = wait_until(lambda: _trial_trained_by(victim.pid, folder), "the victim's trial to save last.pt", WAIT_S)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        code = survivor.wait(timeout=WAIT_S)
    finally:
        for worker in (survivor, victim):
            worker.kill()
            worker.wait()
    log = (tmp_path / "survivor.log").read_text()
    assert code == 0, log
    rows = read_trials(folder)
    lost = next(r for r in rows if r.run_dir.endswith(killed))
    assert lost.state == "fail"
    assert f"Trial {lost.number}: its worker " in log and "is gone; queued again." in log
    assert f"continues {killed} from its last.pt" in log
    assert Counter(point(r) for r in rows if r.state == "complete") == Counter({p: 1 for p in map(point, rows)})
    assert sweep_state(folder) == "finished"


def test_a_background_sweep_stopped_and_continued(mnist_root, tmp_path):
    """--background returns at once naming the folder; a stop request to its worker stops the trial resumably
    (the app's stop goes the same way); the same command continues the trial from its last.pt."""
    sweep = write_sweep(tmp_path / "bg.toml", 'name = "bg"\nmethod = "random"\ntrials = 1', '"optim.learning_rate" = [1e-2]')
    args = base_args(mnist_root, tmp_path / "runs", epochs=60)
    folder = tmp_path / "runs" / "bg"
    started = subprocess.run([*sweep_command(sweep, *args), "--background"], capture_output=True, text=True, timeout=WAIT_S)
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines()[0] == f"Sweep folder: {folder}"
    assert started.stdout.splitlines()[-1] == f"Watch and steer it in the app with: lstm-vision-tui --attach {folder}"
    assert sweep_state(folder) == "running"  # named from the first moment, before the worker has started
    wait_until(lambda: (folder / "trial-0001" / "last.pt").is_file(), "the trial's first last.pt", WAIT_S)
    [running] = read_trials(folder)  # rewritten as each epoch is reported, before that epoch's last.pt is saved
    assert running.state == "running" and running.metric is not None  # the last validated epoch's
    assert request_workers(folder, "stop") == 1  # what the app's stop does
    wait_until(lambda: sweep_state(folder) == "stopped", "the sweep to stop", WAIT_S)
    rows = read_trials(folder)
    assert [r.state for r in rows] == ["stopped", "waiting"]  # the stopped trial, and its continuation queued
    assert json.loads((folder / "trial-0001" / "summary.json").read_text())["status"] == "stopped"
    log = (folder / "output.log").read_text()
    assert "Trial 1 of 1: stopped" in log and "queued again, to continue from its last.pt." in log
    done = run_sweep(sweep, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Trial 2 (trial-0002, continues trial-0001 from its last.pt)" in done.stdout
    assert [r.state for r in read_trials(folder)] == ["stopped", "complete"]
    assert "Resumed from" in (folder / "trial-0002" / "output.log").read_text()
    assert "(1 complete, 1 stopped and continued)" in done.stdout.splitlines()[-1]
    assert sweep_state(folder) == "finished"


def test_a_second_ctrl_c_quits_the_trial_at_once_and_it_counts_as_stopped(mnist_root, tmp_path):
    """Ctrl-C twice (the second while the stop's save is held): the worker quits at once with 130, and the trial
    is a stopped one, as after one Ctrl-C: trials.csv says so, and the same command continues it."""
    sweep = write_sweep(tmp_path / "quit.toml", 'name = "quit"\nmethod = "random"\ntrials = 1', '"optim.learning_rate" = [1e-2]')
    args = base_args(mnist_root, tmp_path / "runs", epochs=60)
    folder = tmp_path / "runs" / "quit"
    code, err = interrupted_twice(["--no-ui", "--sweep", str(sweep), *args], tmp_path, "before-save", "  trial 1 epoch 2/")
    assert code == 130, err
    assert [r.state for r in read_trials(folder)] == ["stopped", "waiting"]
    done = run_sweep(sweep, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Trial 2 (trial-0002, continues trial-0001 from its last.pt)" in done.stdout
    assert [r.state for r in read_trials(folder)] == ["stopped", "complete"]
    assert "(1 complete, 1 stopped and continued)" in done.stdout.splitlines()[-1]
