"""DDP on CPU: two gloo processes, through the launcher users use (lstm-vision-tui --no-ui with
system.nproc = 2, which starts torchrun) and the one the app uses (launch_local).

Every test that starts processes tags them with an environment variable and checks at the end
that none is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import psutil
import pytest
import torch.distributed as dist

from lstm_vision import events as ev
from lstm_vision.settings import Settings, load_settings, save_settings
from lstm_vision.errors import SettingsError
from lstm_vision.control import RunControl
from lstm_vision.training.engine import run as engine_run
from conftest import tiny_run_settings
from lstm_vision.distributed.torchrun import launch_local, preflight
from lstm_vision.distributed.first_failure import first_failure, timeout_hint
from lstm_vision.runs.liveness import request, run_state
from processes import journal, names, process_info, wait_until

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="this PyTorch build has no gloo backend"
)

CLI = Path(sys.executable).with_name("lstm-vision-tui")
TAG = "LSTM_VISION_TEST_TAG"
TRAIN_SAMPLES, TEST_SAMPLES = 500, 200  # the tiny set: 600 training images, 5/6 of them for training


def tiny(mnist_root: Path, out: Path, **train) -> Settings:
    """The shared tiny run, logging every step, on CPU processes."""
    s = tiny_run_settings(mnist_root, out, run_name="run")
    s.train.log_every = 1
    s.system.device, s.system.master_port = "cpu", 0  # 0: torchrun picks a free port (tests run side by side)
    s.system.threads = 1  # one core per process: steady on a busy 2-core machine
    for key, value in train.items():
        setattr(s.train, key, value)
    return s


def cli(settings: Settings, tmp: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """lstm-vision-tui --no-ui with these settings and system.nproc = 2, as a user starts it. Its stderr goes to
    a file (read with stderr_of(tmp)): a pipe left unread while a test reads stdout could fill and block it."""
    config = tmp / f"settings-{uuid.uuid4().hex[:6]}.toml"
    save_settings(settings, config)
    with open(tmp / "stderr.txt", "a") as err:
        return subprocess.Popen(
            [str(CLI), "--no-ui", "--config", str(config), "--set", "system.nproc=2", *args],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )


def stderr_of(tmp: Path) -> str:
    try:
        return (tmp / "stderr.txt").read_text(errors="replace")
    except OSError:
        return ""


def tagged_env(tag: str, **extra: str) -> dict[str, str]:
    return {**os.environ, TAG: tag, **extra}


def processes_tagged(tag: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(TAG) == tag:
                found.append(process)
        except psutil.Error:  # gone, a zombie, or not ours
            pass
    return found


def assert_no_processes_left(tag: str) -> None:
    left = []

    def none_left() -> bool:  # the kernel reaps asynchronously: wait for it, bounded
        left[:] = processes_tagged(tag)
        return not left

    try:
        wait_until(none_left, "the run's processes to end", timeout=30, poll=0.2)
    except AssertionError:
        raise AssertionError(f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}") from None


def step_losses(records: list[dict]) -> dict[int, float]:
    return {r["global_step"]: r["loss"] for r in records if r["event"] == "step_logged"}


@pytest.fixture(scope="module")
def ddp_run(mnist_root, tmp_path_factory):
    """One completed 2-process run through the headless CLI: (settings, run folder, stdout)."""
    tmp = tmp_path_factory.mktemp("ddp")
    settings = tiny(mnist_root, tmp / "runs")
    tag = uuid.uuid4().hex
    proc = cli(settings, tmp, env=tagged_env(tag))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + stderr_of(tmp)
    assert_no_processes_left(tag)
    return settings, tmp / "runs" / "run", out


def test_ddp_run_completes_and_covers_all_samples(ddp_run):
    settings, run_dir, out = ddp_run
    assert out.splitlines()[0] == f"Run directory: {run_dir}"
    assert "DDP: 2 processes (gloo), batch 50 in all = 25 per process" in out
    assert not [line for line in out.splitlines() if line.lstrip().startswith("{")]  # every event line was decoded
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["world_size"] == 2
    assert summary["epochs_completed"] == 2
    assert (summary["train_total"], summary["test_total"]) == (TRAIN_SAMPLES, TEST_SAMPLES)
    # train samples per second x time = every sample of every epoch, from both ranks together
    assert round(summary["train_samples_per_s"] * summary["train_time_s"]) == 2 * TRAIN_SAMPLES
    assert summary["test_accuracy"] > 0.9  # the pattern is learnable in two epochs
    records = journal(run_dir)
    assert [r["event"] for r in records].count("run_started") == 1  # only rank 0 writes
    vals = [r for r in records if r["event"] == "evaluation_finished" and r["split"] == "val"]
    assert [v["total"] for v in vals] == [TRAIN_SAMPLES // 5] * 2  # the whole validation split, all ranks together
    assert {(r["steps_per_epoch"], r["epoch"]) for r in records if r["event"] == "step_logged"} == {(10, 1), (10, 2)}
    assert {"best.pt", "last.pt", "confusion_matrix.csv", "settings.toml", "torchrun.log"} <= {p.name for p in run_dir.iterdir()}
    assert load_settings(run_dir / "settings.toml").system.nproc == 2


def test_two_ranks_track_one_process_at_the_same_global_batch(ddp_run, tmp_path):
    settings, run_dir, _ = ddp_run
    single = tiny(Path(settings.data.root), tmp_path / "runs")
    single.system.nproc = 1
    result = engine_run(single, lambda event: None, RunControl())
    assert result.status == "completed"
    ddp_losses = step_losses(journal(run_dir))
    one_losses = step_losses(journal(Path(result.run_dir)))
    assert sorted(ddp_losses) == sorted(one_losses) == list(range(1, 21))
    for step in ddp_losses:  # 2 ranks x 25 see the same 50 samples per step as 1 x 50: the same curve
        assert ddp_losses[step] == pytest.approx(one_losses[step], rel=1e-3, abs=1e-4), step
    ddp_summary = json.loads((run_dir / "summary.json").read_text())
    assert ddp_summary["test_correct"] == result.summary["test_correct"]


def test_stop_with_sigint_then_resume_with_and_without_ddp(mnist_root, tmp_path, monkeypatch):
    settings = tiny(mnist_root, tmp_path / "runs", epochs=1000)  # stopped long before the end
    tag = uuid.uuid4().hex
    proc = cli(settings, tmp_path, env=tagged_env(tag))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("epoch 1 step 3/"):
            proc.send_signal(signal.SIGINT)  # as Ctrl-C in a terminal: to the launcher only
            break
    out = "".join(seen) + proc.stdout.read()
    assert proc.wait(timeout=300) == 130, out + stderr_of(tmp_path)
    assert_no_processes_left(tag)
    run_dir = tmp_path / "runs" / "run"
    assert f"resume with lstm-vision-tui --no-ui --resume {run_dir}" in out
    stopped = json.loads((run_dir / "summary.json").read_text())
    assert stopped["status"] == "stopped" and (run_dir / "last.pt").is_file()
    stopped_at = max(step_losses(journal(run_dir)))
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)

    # resume under DDP through the app's entry point, pausing and resuming on the way
    resumed = load_settings(run_dir / "settings.toml")
    resumed.train.epochs = stopped["epochs_completed"] + 3  # 20+ steps: time for the pause to land
    monkeypatch.setenv(TAG, tag)
    control, events, paused = RunControl(), [], threading.Event()

    def emit(event: ev.Event) -> None:
        events.append(event)
        if isinstance(event, ev.RunStarted):
            control.pause()  # reaches the ranks as soon as they run
        if isinstance(event, ev.RunPaused):
            paused.set()
            control.resume()

    result = launch_local(resumed, emit, control, str(run_dir))
    assert result.status == "completed" and result.exit_code == 0, result
    assert paused.is_set() and any(isinstance(e, ev.RunResumed) for e in events)
    assert_no_processes_left(tag)
    ddp_losses = step_losses(journal(run_dir))
    assert min(s for s in ddp_losses if s > stopped_at) == stopped_at + 1  # it went on where it stopped

    # resume the copy in one process, without DDP: the same steps, the same losses
    single = load_settings(copy / "settings.toml")
    single.train.epochs, single.system.nproc = resumed.train.epochs, 1
    one = engine_run(single, lambda event: None, RunControl(), str(copy))
    assert one.status == "completed" and one.summary["world_size"] == 1
    one_losses = step_losses(journal(copy))
    assert sorted(one_losses) == sorted(ddp_losses)
    for step in one_losses:
        assert one_losses[step] == pytest.approx(ddp_losses[step], rel=1e-3, abs=1e-4), step
    assert one.summary["test_correct"] == result.summary["test_correct"]


def test_control_requests_in_the_run_folder_reach_every_rank(mnist_root, tmp_path):
    settings = tiny(mnist_root, tmp_path / "runs", epochs=1000)  # stopped long before the end
    tag = uuid.uuid4().hex
    proc = cli(settings, tmp_path, env=tagged_env(tag))
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # drained: a chatty rank never blocks on it
    run_dir = tmp_path / "runs" / "run"
    try:
        wait_until(lambda: "step_logged" in names(run_dir), "the ranks to train")
        assert process_info(run_dir)["pid"] != proc.pid  # rank 0 names itself, not the launcher
        assert run_state(run_dir).status == "running"
        request(run_dir, "pause")
        wait_until(lambda: "run_paused" in names(run_dir), "both ranks to pause")
        request(run_dir, "resume")
        wait_until(lambda: "run_resumed" in names(run_dir), "both ranks to go on")
        request(run_dir, "stop")
        assert proc.wait(timeout=300) == 130
    finally:
        proc.kill()
    assert_no_processes_left(tag)
    rows = names(run_dir)
    held = rows[rows.index("run_paused") + 1 : rows.index("run_resumed")]
    assert not {"step_logged", "step_progressed"} & set(held)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["world_size"] == 2 and (run_dir / "last.pt").is_file()
    assert run_state(run_dir).status == "stopped"


def test_a_killed_launcher_leaves_no_rank_behind(mnist_root, tmp_path):
    tag = uuid.uuid4().hex
    proc = cli(tiny(mnist_root, tmp_path / "runs", epochs=1000), tmp_path, env=tagged_env(tag))
    for line in proc.stdout:
        if line.startswith("epoch 1 step 3/"):
            proc.kill()  # SIGKILL: no handler runs in the launcher; torchrun learns it from the kernel
            break
    proc.stdout.close()  # nobody reads rank 0's events any more, as when the app itself was killed
    proc.wait(timeout=60)
    assert_no_processes_left(tag)
    # torchrun got SIGTERM and passed it on; rank 0 stopped or failed writing to the closed pipe: either way
    # it ended through the engine, which wrote the summary
    summary = json.loads((tmp_path / "runs" / "run" / "summary.json").read_text())
    assert summary["status"] in ("stopped", "failed")


FAULT = """\
    import os
    if os.environ.get("RANK") == "1":  # rank 1 raises at its third step
        import lstm_vision.training.engine as engine
        train_step = engine.train_step
        def failing_step(job, order, step):
            if job.global_step >= 2:
                raise RuntimeError("injected fault")
            return train_step(job, order, step)
        engine.train_step = failing_step
"""


def test_a_rank_that_raises_ends_the_job_naming_the_rank(mnist_root, tmp_path):
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(textwrap.dedent(FAULT))
    tag = uuid.uuid4().hex
    env = tagged_env(tag, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path / "inject"), os.environ.get("PYTHONPATH")])))
    proc = cli(tiny(mnist_root, tmp_path / "runs", epochs=50), tmp_path, env=env)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1, out + stderr_of(tmp_path)
    assert "error: Rank 1 failed with exit code 1: RuntimeError: injected fault" in out
    assert_no_processes_left(tag)
    run_dir = tmp_path / "runs" / "run"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["failed_rank"] == 1
    assert "injected fault" in summary["error"]
    log = (run_dir / "error.log").read_text()
    assert "--- rank 1 (first failure) ---" in log and 'raise RuntimeError("injected fault")' in log


# Fast checks, no processes started.


def test_preflight_explains_settings_that_cannot_work(mnist_root, tmp_path):
    s = tiny(mnist_root, tmp_path, batch_size=51)
    s.system.nproc = 2
    with pytest.raises(SettingsError, match="divisible by system.nproc"):
        preflight(s)
    s.train.batch_size, s.system.backend = 50, "nccl"
    with pytest.raises(SettingsError, match="nccl needs CUDA"):
        preflight(s)
    s.system.backend = "gloo"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        s.system.master_port = busy.getsockname()[1]
        with pytest.raises(SettingsError, match="already in use"):
            preflight(s)


REPORT = """\
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
lstm_vision FAILED
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-28_10:06:10
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 6306)  (SIGKILL)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 6306
============================================================
"""


def test_a_killed_rank_is_named_even_when_the_others_left_error_files(tmp_path):
    rank0 = tmp_path / "run" / "attempt_0" / "0"
    rank0.mkdir(parents=True)
    (rank0 / "error.json").write_text(
        json.dumps(
            {
                "message": {
                    "message": "RuntimeError: Connection closed by peer",
                    "extraInfo": {"py_callstack": "", "timestamp": "0"},
                },
                "lstm_vision": {"rank": 0, "time": 1.0, "exit_code": 1, "message": "RuntimeError: Connection closed by peer"},
            }
        )
    )
    failure = first_failure(tmp_path, REPORT)
    assert failure.sentence() == "Rank 1 was killed by SIGKILL (out of memory? see dmesg)"
    assert first_failure(tmp_path, "").sentence() == "Rank 0 failed with exit code 1: RuntimeError: Connection closed by peer"


def test_a_collective_timeout_names_the_rank_that_stopped_responding(tmp_path):
    rank0 = tmp_path / "run" / "attempt_0" / "0"
    rank0.mkdir(parents=True)
    message = "RuntimeError: [gloo/unbound_buffer.cc:78] Timed out waiting 8000ms for recv operation to complete"
    (rank0 / "error.json").write_text(
        json.dumps(
            {
                "message": {"message": message, "extraInfo": {"py_callstack": "", "timestamp": "0"}},
                "lstm_vision": {"rank": 0, "time": 1.0, "exit_code": 1, "message": message},
            }
        )
    )
    failure = first_failure(tmp_path, "")
    assert failure.rank == 0
    assert "waiting for rank 1, which stopped responding" in timeout_hint(failure, tmp_path, world_size=2)
    assert "waiting for ranks 1, 2, 3" in timeout_hint(failure, tmp_path, world_size=4)


GATHER = """\
import sys
import torch
import torch.distributed as dist
from lstm_vision.distributed.collectives import DistContext, gather_ints
rank = int(sys.argv[1])
dist.init_process_group("gloo", init_method=sys.argv[2], rank=rank, world_size=2)
print(gather_ints(1000 * rank + 7, torch.device("cpu"), DistContext(rank, 2, rank)))
dist.destroy_process_group()
"""


def test_every_rank_gets_every_ranks_figure(tmp_path):
    """What gathers each rank's peak GPU memory to rank 0, checked with two gloo processes."""
    store = f"file://{tmp_path / 'store'}"
    ranks = [subprocess.Popen([sys.executable, "-c", GATHER, str(r), store], stdout=subprocess.PIPE, text=True) for r in range(2)]
    outputs = [p.communicate(timeout=300)[0].strip() for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0]
    assert outputs == ["[7, 1007]", "[7, 1007]"]
