"""The app's run lifecycle (app/session.py) without a terminal: every transition of RunSession, from the events
and outcomes the App hands it, and what each leaves for the status line, F7, quitting and the exit code."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time

from lstm_vision.errors import SettingsError
from lstm_vision.events import RunPaused, RunResumed, RunStarted, RunStopped, StepLogged
from lstm_vision.runs.liveness import RemoteControl, RunState
from lstm_vision.runs.result import RunResult
from app.session import RunSession
from app.state import AppState


def session_with_log() -> tuple[RunSession, list[tuple[str, str]]]:
    changes: list[tuple[str, str]] = []
    return RunSession(on_change=lambda state, detail: changes.append((str(state), detail))), changes


def make(cls, **given):
    """An event with plain values for every field the test does not name."""
    plain = {"str": "", "int": 1, "float": 0.5, "dict": {}, "list": [], "bool": False}
    values = {f.name: plain.get(str(f.type).split("|")[0].strip(), None) for f in dataclasses.fields(cls)}
    return cls(**{**values, **given})


def started(run_dir: str = "runs/a") -> RunStarted:
    return make(RunStarted, run_dir=run_dir)


def step() -> StepLogged:
    return make(StepLogged)


def stopped_event(run_dir: str) -> RunStopped:
    return make(RunStopped, checkpoint=f"{run_dir}/last.pt", summary={"status": "stopped", "epochs_completed": 0}, step=3)


def test_a_run_of_its_own_goes_starting_running_paused_running_stopping_then_stopped_and_resumable(tmp_path):
    run_dir = str(tmp_path)
    session, changes = session_with_log()
    control = session.launch(resume=None)
    assert (session.state, session.busy, session.own_run_going) == (AppState.STARTING, True, True)
    session.saw(started())
    assert session.state == AppState.RUNNING
    assert session.toggle_pause() and control.paused and session.state == AppState.PAUSED
    assert session.toggle_pause() and not control.paused and (session.state, session.detail) == (AppState.RUNNING, "resumed")
    session.saw(step())
    assert (session.state, session.detail) == (AppState.RUNNING, "")  # a step drops the stale "resumed"
    assert session.stop() and control.stop_requested and session.state == AppState.STOPPING
    assert not session.stop() and not session.toggle_pause()  # nothing left to ask of a stopping run
    session.saw(stopped_event(run_dir))
    assert session.engine_returned(RunResult("stopped", run_dir)) == AppState.STOPPED
    assert (session.exit_code, session.resumable, session.control, session.busy) == (130, run_dir, None, False)
    assert session.can_resume()
    assert session.resume_hint().endswith(f"resume with lstm-vision-tui --resume {run_dir}")
    assert session.resume_hint().startswith("Stopped ")  # as a headless stop says it
    assert [c[0] for c in changes] == ["starting", "running", "paused", "running", "running", "stopping", "stopped"]


def test_a_completed_run_leaves_nothing_to_resume_and_exit_code_0():
    session, _ = session_with_log()
    session.choose_to_resume("runs/a")  # History's r
    session.launch(resume="runs/a")
    session.saw(started())
    assert session.engine_returned(RunResult("completed", "runs/a")) == AppState.COMPLETED
    assert (session.exit_code, session.resumable, session.resume_hint()) == (0, None, None)


def test_a_pruned_trial_ends_pruned_with_exit_code_0_and_is_not_for_f7():
    session, _ = session_with_log()
    session.launch(resume=None)
    assert session.engine_returned(RunResult("pruned", "runs/t")) == AppState.PRUNED
    assert (session.exit_code, session.resumable) == (0, None)


def test_bad_settings_exit_2_and_a_crash_exit_1_each_with_its_words():
    session, changes = session_with_log()
    session.launch(resume=None)
    session.engine_failed(SettingsError("model.hidden_size must be >= 1."))
    assert (session.state, session.exit_code, session.control) == (AppState.FAILED, 2, None)
    assert changes[-1][1] == "bad settings: fix them (F2) and press F5"
    session.launch(resume=None)
    session.engine_failed(RuntimeError("boom"))
    assert (session.state, session.exit_code) == (AppState.FAILED, 1)
    session.launch(resume=None)
    session.worker_cancelled()
    assert (session.state, session.detail) == (AppState.STOPPED, "cancelled")


def test_attach_follows_another_process_and_quitting_leaves_it_training(tmp_path):
    session, _ = session_with_log()
    session.exit_code = 130  # the run watched before was stopped: this one says nothing of it
    watching = session.attach(tmp_path)
    assert isinstance(session.control, RemoteControl) and session.record.name == tmp_path.name
    assert (session.state, session.exit_code, session.own_run_going) == (AppState.STARTING, 0, False)
    session.saw(started(str(tmp_path)))
    assert session.state == AppState.RUNNING
    session.saw(RunPaused(epoch=1, step=2))  # another viewer paused it
    assert session.state == AppState.PAUSED and session.control.paused
    session.saw(RunResumed(epoch=1, step=2))
    assert session.state == AppState.RUNNING and not session.control.paused
    assert session.quit_plan() == "leave" and watching.is_set() and session.left_running == tmp_path
    assert session.watch_ended(RunState("running")) is None  # let go: nothing to show


def test_an_attached_run_that_is_lost_with_a_last_pt_is_resumed_in_the_background(tmp_path):
    session, changes = session_with_log()
    session.attach(tmp_path)
    (tmp_path / "last.pt").write_bytes(b"")
    assert session.watch_ended(RunState("lost")) == AppState.LOST
    assert (session.resumable, session.resumable_elsewhere, session.exit_code) == (str(tmp_path), True, 1)
    assert changes[-1] == ("lost", f"{tmp_path.name} · F7 resumes from last.pt")
    assert (
        session.resume_hint()
        == f"{tmp_path} keeps its last.pt: resume with lstm-vision-tui --no-ui --background --resume {tmp_path}"
    )
    session.resuming_in_background(tmp_path)
    assert (session.state, session.resumable, session.resumable_elsewhere) == (AppState.IDLE, None, False)


def test_an_attached_run_lost_before_its_first_save_cannot_be_resumed(tmp_path):
    session, changes = session_with_log()
    session.attach(tmp_path)
    assert session.watch_ended(RunState("lost")) == AppState.LOST
    assert session.resumable is None and changes[-1][1].endswith("no last.pt: F5 starts afresh")


def test_an_attached_run_that_stops_or_completes_sets_f7_and_the_exit_code(tmp_path):
    session, _ = session_with_log()
    session.attach(tmp_path)
    assert session.watch_ended(RunState("stopped")) == AppState.STOPPED
    assert (session.resumable, session.exit_code, session.detail) == (str(tmp_path), 130, f"{tmp_path} · F7 resumes it")
    session.attach(tmp_path)
    assert session.watch_ended(RunState("pruned")) == AppState.PRUNED and session.resumable is None


def test_quitting_while_a_run_goes_asks_then_stops_and_a_second_quit_does_not_wait():
    session, _ = session_with_log()
    assert session.quit_plan() == "idle"
    session.launch(resume=None)
    assert session.quit_plan() == "ask"
    session.quit_after_stop()
    session.stop()
    assert session.quit_plan() == "now" and session.exit_code == 130


def test_a_terminal_lost_stops_the_own_run_first_and_leaves_an_attached_one(tmp_path):
    session, _ = session_with_log()
    session.launch(resume=None)
    assert session.terminal_lost() and session.quitting
    other, _ = session_with_log()
    watching = other.attach(tmp_path)
    assert not other.terminal_lost() and watching.is_set() and other.left_running == tmp_path


def test_a_live_attached_run_reads_its_pause_from_the_run_folder(tmp_path):
    # the RemoteControl the session holds writes control.json, which the run's process honours
    (tmp_path / "process.json").write_text(
        json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "state": "running"})
    )
    session, _ = session_with_log()
    session.attach(tmp_path)
    session.saw(started(str(tmp_path)))
    assert session.toggle_pause()
    assert json.loads((tmp_path / "control.json").read_text())["request"] == "pause"
