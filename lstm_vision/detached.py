"""Runs that outlive the terminal: a headless run in a process of its own session.

The child is ``python -m lstm_vision --no-ui`` with the run's folder chosen here, so its output
(``output.log``) and its liveness (``process.json``) are in the run directory from the first moment.
Being the leader of a new session, it gets no SIGHUP when the terminal that started it goes away;
quitting the app or a dropped SSH connection leave it training. It is steered like any other run:
control requests in its folder (liveness.request).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lstm_vision.settings import Settings, save_settings
from lstm_vision.runs.liveness import announce, spawn_detached
from lstm_vision.runs.folder import create_run_dir, run_dir_of, use_run_dir
from lstm_vision.runs.folder import OUTPUT_LOG, SETTINGS_FILE


def started_in_background(run_dir: str | os.PathLike) -> bool:
    """Whether a run was started (or last resumed) by start_background: a resume of it goes on the same way, in
    a process of its own that outlives the terminal, rather than in whichever process asks for the resume."""
    return (run_dir_of(run_dir) / OUTPUT_LOG).is_file()


def check_resume_before_launch(resume: str, settings: Settings) -> None:
    """The refusals a resume makes from its checkpoint and settings alone (a completed run, fewer epochs,
    other data or model shape, another batch size within an epoch), made before a child is started: its
    own refusal would only reach output.log. What needs the data (the steps per epoch) the child checks."""
    from lstm_vision.model import checkpoint
    from lstm_vision.training import resume as resuming
    from lstm_vision.settings import sequence_shape, known_image_shape

    state = resuming.load_resumed(resume)
    resuming.check_same_data(resume, state, settings)
    shape = known_image_shape(settings.data)
    if shape is not None:
        resuming.check_model_shape(resume, state, settings, *sequence_shape(settings, shape))
    if not checkpoint.is_reference(state):
        resuming.check_resume(resume, state, settings, int(state.get("steps_per_epoch") or 0))


def start_background(
    settings: Settings, run_dir: str | os.PathLike | None = None, resume: str | None = None, sources: list[str] | None = None
) -> tuple[Path, int]:
    """Start ``settings`` as a headless run in its own session; returns (run folder, pid) at once. With
    ``resume`` (a run folder or a checkpoint in one) the child continues that run in its folder, reading
    its settings and then ``sources`` (the command line's --config / --preset / --set, in order) as a
    --resume in the foreground would; what the resume cannot honour is refused here first (training/resume.py)."""
    python = [sys.executable, "-m", "lstm_vision", "--no-ui"]
    from lstm_vision.report.trackers import check_trackers

    check_trackers(settings)  # before the folder is made: the run's process would only find it in its log
    if resume:
        folder = run_dir_of(resume)
        check_resume_before_launch(resume, settings)
        command = [*python, "--resume", str(resume), *(sources or [])]
    else:
        folder = use_run_dir(run_dir) if run_dir else create_run_dir(settings.output)
        config = folder / SETTINGS_FILE
        save_settings(settings, config)
        command = [*python, "--config", str(config), "--run-dir", str(folder)]
    child = spawn_detached(command, folder / OUTPUT_LOG)
    announce(folder, child.pid, command)
    return folder, child.pid
