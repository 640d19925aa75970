"""Runs that outlive their terminal: process.json's heartbeat, control requests, SIGHUP, kill -9,
background starts. Real processes throughout; every wait is for a condition, bounded."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from lstm_vision import events as ev
from lstm_vision.runs import liveness
from lstm_vision.detached import start_background
from lstm_vision.model.checkpoint import load_checkpoint
from lstm_vision.errors import SettingsError
from lstm_vision.control import RunControl
from lstm_vision.training.engine import run
from lstm_vision.runs.follow import JournalReader, follow
from lstm_vision.runs.liveness import RemoteControl, request, run_state
from processes import cli, long_run, names, output, process_info, start_headless, wait_until


def between(rows: list[str], first: str, last: str) -> list[str]:
    i = rows.index(first)
    return rows[i + 1 : rows.index(last, i)]


def test_control_requests_pause_resume_and_stop_a_headless_run(tiny_settings, tmp_path):
    run_dir = tmp_path / "runs" / "steered"
    proc = start_headless(long_run(tiny_settings), run_dir)
    wait_until(lambda: "step_logged" in names(run_dir), "the first logged step")
    info = process_info(run_dir)
    assert info["pid"] == proc.pid and info["host"] and info["state"] == "running"
    assert run_state(run_dir).status == "running"

    request(run_dir, "pause")
    wait_until(lambda: "run_paused" in names(run_dir), "run_paused in the journal")
    wait_until(lambda: run_state(run_dir).status == "paused", "process.json saying paused")
    request(run_dir, "resume")
    wait_until(lambda: "run_resumed" in names(run_dir), "run_resumed in the journal")
    request(run_dir, "stop")
    assert proc.wait(timeout=120) == 130, output(run_dir)

    rows = names(run_dir)
    assert not {"step_logged", "step_progressed"} & set(between(rows, "run_paused", "run_resumed"))  # it held
    assert "step_logged" in rows[rows.index("run_resumed") :]  # and went on
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and (run_dir / "last.pt").is_file()
    assert process_info(run_dir)["state"] == "exited" and process_info(run_dir)["exit_code"] == 130
    assert run_state(run_dir).status == "stopped"

    resumed = cli("--no-ui", "--resume", str(run_dir), "--set", f"train.epochs={summary['epochs_completed'] + 1}", timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert run_state(run_dir).status == "completed"


def test_a_request_left_for_an_earlier_process_is_not_obeyed_by_the_next(tiny_settings, tmp_path):
    tiny_settings.train.epochs = 1
    run_dir = tmp_path / "runs" / "stale"
    run_dir.mkdir(parents=True)
    (run_dir / "process.json").write_text(json.dumps({"pid": 999_999_999, "host": "elsewhere", "started": 0}))
    request(run_dir, "stop")  # a viewer's stop for a process that had ended before this one took the folder
    assert json.loads((run_dir / "control.json").read_text())["pid"] == 999_999_999
    result = run(tiny_settings, lambda e: None, RunControl(), run_dir=str(run_dir))
    assert result.status == "completed"


def test_kill_9_is_lost_at_once_and_the_run_resumes(tiny_settings, tmp_path):
    run_dir = tmp_path / "runs" / "killed"
    proc = start_headless(long_run(tiny_settings), run_dir)
    wait_until(lambda: (run_dir / "last.pt").is_file() and "epoch_finished" in names(run_dir), "the first last.pt")
    proc.kill()
    proc.wait(timeout=60)
    state = run_state(run_dir)
    assert state.status == "lost" and state.pid == proc.pid  # same host: the pid is asked, no heartbeat wait
    assert state.lost_sentence().startswith(f"process {proc.pid} on {state.host} stopped reporting at ")
    tiny_settings.train.epochs = load_checkpoint(run_dir / "last.pt")["epoch"] + 1  # one more epoch
    resumed = run(tiny_settings, lambda e: None, RunControl(), resume=str(run_dir))
    assert resumed.status == "completed" and run_state(run_dir).status == "completed"


def test_a_heartbeat_that_stops_means_lost_on_another_host(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "process.json").write_text(json.dumps({"pid": 1, "host": "gpu-box", "started": 0, "state": "running"}))
    assert run_state(run_dir).status == "running"  # fresh: another host's pid cannot be asked
    stale = os.stat(run_dir / "process.json").st_mtime - liveness.LOST_AFTER_S - 1
    os.utime(run_dir / "process.json", (stale, stale))
    state = run_state(run_dir)
    assert state.status == "lost" and state.lost_sentence().startswith("process 1 on gpu-box stopped reporting at")


def test_sighup_stops_a_headless_run_resumably_unless_under_nohup(tiny_settings, tmp_path):
    run_dir = tmp_path / "runs" / "hangup"
    proc = start_headless(long_run(tiny_settings), run_dir)
    wait_until(lambda: "step_logged" in names(run_dir), "the first logged step")
    proc.send_signal(signal.SIGHUP)  # the terminal went away
    assert proc.wait(timeout=120) == 130
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped" and (run_dir / "last.pt").is_file()

    nohup_dir = tmp_path / "runs" / "nohup"
    proc = start_headless(
        long_run(tiny_settings), nohup_dir, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)
    )  # what nohup does
    wait_until(lambda: "step_logged" in names(nohup_dir), "the first logged step")
    proc.send_signal(signal.SIGHUP)
    request(nohup_dir, "pause")  # still alive and obeying after the hang-up
    wait_until(lambda: "run_paused" in names(nohup_dir), "run_paused after SIGHUP under nohup")
    request(nohup_dir, "stop")
    assert proc.wait(timeout=120) == 130
    assert "run_stopped" not in names(nohup_dir)[: names(nohup_dir).index("run_paused")]


def test_a_background_run_has_its_own_session_and_output_in_its_folder(tiny_settings, tmp_path):
    folder, pid = start_background(long_run(tiny_settings))
    assert folder.parent == tmp_path / "runs"
    assert os.getsid(pid) == pid  # the leader of a new session: no SIGHUP from this terminal
    assert run_state(folder).live  # named from the first moment ("starting"), then by its own heartbeat
    wait_until(lambda: run_state(folder).status == "running", "the run's own process.json")
    assert process_info(folder)["pid"] == pid
    RemoteControl(folder).stop()
    wait_until(lambda: run_state(folder).status == "stopped", "the background run to stop")
    assert "Run directory: " in (folder / "output.log").read_text()


def test_a_background_run_that_cannot_start_says_why_in_its_folder(tiny_settings, tmp_path):
    tiny_settings.data.root = str(tmp_path / "nowhere")
    folder, pid = start_background(tiny_settings)
    wait_until(lambda: not run_state(folder).live, "the failed start to end")
    assert run_state(folder).status == "failed" and process_info(folder)["exit_code"] == 2
    assert "error: " in (folder / "output.log").read_text()


def test_run_dir_must_be_new_or_empty(tiny_settings, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "metrics.jsonl").write_text("")
    with pytest.raises(SettingsError, match="already holds metrics.jsonl"):
        run(tiny_settings, lambda e: None, RunControl(), run_dir=str(taken))
    result = cli("--no-ui", "--run-dir", str(taken), "--resume", str(taken), timeout=120)
    assert result.returncode == 2 and "--run-dir names the folder of a new run" in result.stderr


def test_run_dir_of_another_run_offers_resume_only_when_it_can_be_resumed(tmp_path):
    from lstm_vision.runs.folder import use_run_dir

    folder = tmp_path / "done"
    folder.mkdir()
    (folder / "last.pt").write_bytes(b"")
    (folder / "summary.json").write_text('{"status": "completed"}')
    with pytest.raises(SettingsError) as refusal:  # a completed run: --resume would be refused in turn
        use_run_dir(folder)
    assert str(refusal.value) == f"--run-dir {folder} already holds last.pt, summary.json; give a new or empty folder."
    (folder / "summary.json").write_text('{"status": "stopped"}')
    with pytest.raises(SettingsError, match=r"or --resume .*done to continue the run in it"):
        use_run_dir(folder)


def test_following_a_run_delivers_its_events_as_written(tiny_settings, tmp_path):
    run_dir = tmp_path / "runs" / "followed"
    emitted: list[ev.Event] = []
    trainer = threading.Thread(target=run, args=(tiny_settings, emitted.append, RunControl()), kwargs={"run_dir": str(run_dir)})
    trainer.start()
    wait_until(lambda: (run_dir / "process.json").is_file(), "the run to name its process")
    views: list[list[ev.Event]] = [[], []]  # two viewers at once
    states = []
    viewers = [
        threading.Thread(
            target=lambda seen: states.append(follow(run_dir, seen.extend, threading.Event(), poll_s=0.02)), args=(seen,)
        )
        for seen in views
    ]
    for viewer in viewers:
        viewer.start()
    for thread in (trainer, *viewers):
        thread.join()
    assert [s.status for s in states] == ["completed", "completed"]
    assert views[0] == views[1] == emitted  # every event, in order, none twice, including the end


def test_the_journal_reader_waits_for_the_end_of_a_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    line = ev.LogMessage("info", "hello").to_json()
    path.write_text(line[:10])
    reader = JournalReader(path)
    assert reader.read() == []
    with open(path, "a") as handle:
        handle.write(line[10:] + "\n")
    assert reader.read() == [ev.LogMessage("info", "hello")]
    assert reader.read() == []


def test_a_torchrun_rank_takes_the_forwarded_copy_of_ctrl_c_as_the_same_request(tiny_settings, tmp_path):
    run_dir = tmp_path / "runs" / "rank"
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}  # as torchrun starts a rank
    proc = start_headless(long_run(tiny_settings), run_dir, env=env)
    wait_until(lambda: "step_logged" in names(run_dir), "the first logged step")
    proc.send_signal(signal.SIGINT)  # the terminal's Ctrl-C
    proc.send_signal(signal.SIGINT)  # torchrun's forwarded copy
    assert proc.wait(timeout=120) == 130, output(run_dir)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped" and (run_dir / "last.pt").is_file()
