"""Workers sharing one study in a real PostgreSQL server, as on several boxes: each runs the same command.

The server is PostgreSQL's own (tests/postgres.py), on a free port of 127.0.0.1, stopped at the end of the
session. Skipped only where no server binaries are installed (.ci/run installs them)."""

import json
import signal
from collections import Counter

import pytest
from postgres import postgres_server, server_binaries
from processes import wait_until
from sweeps import FAST_HEARTBEAT, base_args, start_sweep, write_sweep

from lstm_vision.sweep.folder import read_trials, sweep_state

pytestmark = pytest.mark.skipif(server_binaries() is None, reason="no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")

WAIT_S = 300.0  # for workers that train several trials each on a loaded machine; only a hang reaches it
POINTS = {("0.01", "8"), ("0.01", "12"), ("0.03", "8"), ("0.03", "12")}


@pytest.fixture(scope="session")
def database():
    with postgres_server() as url:
        yield url


def grid(tmp_path, name: str):
    return write_sweep(
        tmp_path / f"{name}.toml",
        f'name = "{name}"\nmethod = "grid"',
        '"optim.learning_rate" = [1e-2, 3e-2]\n"model.hidden_size" = [8, 12]',
    )


def finish(worker, what: str) -> int:
    try:
        return worker.wait(timeout=WAIT_S)
    except Exception:
        worker.kill()
        worker.wait()
        raise AssertionError(f"{what} did not end")


def point(row) -> tuple[str, str]:
    return row.params["optim.learning_rate"], row.params["model.hidden_size"]


def test_two_workers_share_one_study_and_run_every_grid_point_once(database, mnist_root, tmp_path):
    sweep = grid(tmp_path, "shared")
    args = ["--storage", database, *base_args(mnist_root, tmp_path / "runs", epochs=2)]
    workers = [start_sweep(sweep, tmp_path / f"worker{k}.log", *args, env=FAST_HEARTBEAT) for k in (1, 2)]
    codes = [finish(w, f"worker {k}") for k, w in enumerate(workers, 1)]
    logs = [(tmp_path / f"worker{k}.log").read_text() for k in (1, 2)]
    assert codes == [0, 0], logs
    rows = read_trials(tmp_path / "runs" / "shared")
    assert [r.state for r in rows] == ["complete"] * 4, logs
    assert Counter(point(r) for r in rows) == Counter(POINTS)  # each point once: no second hand-out
    for log in logs:
        assert "Sweep shared done: 4 trials (4 complete)" in log
    assert sweep_state(tmp_path / "runs" / "shared") == "finished"


def _trial_trained_by(pid: int, folder) -> str | None:
    """The trial folder whose run the process ``pid`` trains, once it has saved a last.pt there (an epoch done)."""
    for trial in sorted(folder.glob("trial-*")):
        try:
            info = json.loads((trial / "process.json").read_text())
        except (OSError, ValueError):
            continue
        if info.get("pid") == pid and (trial / "last.pt").is_file():
            return trial.name
    return None


def test_a_worker_killed_mid_trial_leaves_its_trial_to_another(database, mnist_root, tmp_path):
    """kill -9 of a worker as its trial trains: the heartbeat stops, the other worker finds the trial stale,
    fails it and queues it again, and runs it, continuing from the killed run's last.pt."""
    sweep = grid(tmp_path, "killed")
    folder = tmp_path / "runs" / "killed"
    args = ["--storage", database, *base_args(mnist_root, tmp_path / "runs", epochs=6)]
    survivor = start_sweep(sweep, tmp_path / "survivor.log", *args, env=FAST_HEARTBEAT)
    victim = start_sweep(sweep, tmp_path / "victim.log", *args, env=FAST_HEARTBEAT)
    try:
        killed = wait_until(lambda: _trial_trained_by(victim.pid, folder), "the victim's trial to finish an epoch", WAIT_S)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        code = finish(survivor, "the surviving worker")
    finally:
        for worker in (survivor, victim):
            worker.kill()
            worker.wait()
    log = (tmp_path / "survivor.log").read_text()
    assert code == 0, log
    rows = read_trials(folder)
    lost = next(r for r in rows if r.run_dir.endswith(killed))
    assert lost.state == "fail"
    again = [r for r in rows if r.number > lost.number and point(r) == point(lost)]
    assert len(again) == 1 and again[0].state == "complete", log
    assert f"continues {killed} from its last.pt" in log
    assert "Resumed from" in (folder / again[0].run_dir / "output.log").read_text()
    assert Counter(point(r) for r in rows if r.state == "complete") == Counter(POINTS)
    assert "1 lost with their worker and run again" in log.splitlines()[-1]
    assert sweep_state(folder) == "finished"
