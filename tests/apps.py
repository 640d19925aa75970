"""Helpers for the app tests: a scripted stand-in for lstm_vision.training.engine.run (deterministic screens) and
Pilot helpers."""

from __future__ import annotations

import itertools
import json
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lstm_vision.settings import Settings, save_settings
from processes import WAIT_S
from lstm_vision.control import RunControl
from lstm_vision.runs.folder import write_confusion_matrix
from lstm_vision.events import (
    EpochFinished,
    EvaluationFinished,
    LogMessage,
    PredictionsSampled,
    ResourcesSampled,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    StepLogged,
    StepProgressed,
)


@dataclass
class FakeResult:
    status: str
    run_dir: str
    exit_code: int
    summary: dict = field(default_factory=dict)


def run_started(run_dir: str, epochs: int = 2, steps: int = 4) -> RunStarted:
    return RunStarted(
        run_dir=run_dir,
        device="cpu",
        device_name="cpu",
        precision="bf16",
        compile_mode="off",
        compiled="off",
        world_size=1,
        parameters=12345,
        train_size=50000,
        val_size=10000,
        test_size=10000,
        epochs=epochs,
        start_epoch=0,
        steps_per_epoch=steps,
        batch_size=256,
        sequence_length=28,
        input_size=28,
        num_classes=10,
        dataset="mnist",
    )


def step(epoch: int, s: int, steps: int, epochs: int) -> StepLogged:
    g = (epoch - 1) * steps + s
    return StepLogged(
        epoch=epoch,
        step=s,
        steps_per_epoch=steps,
        global_step=g,
        total_steps=steps * epochs,
        loss=2.0 / g,
        accuracy=min(0.1 * g, 0.99),
        lr=1e-3,
        samples_per_s=1000.0,
        elapsed_s=float(g),
        eta_s=float(steps * epochs - g),
    )


def progressed(epoch: int, s: int, steps: int, epochs: int) -> StepProgressed:
    """A progress tick between logged steps: its clock (a minute per step so far, half a minute per step
    left) differs from that of step(), so a test can tell which event a widget shows."""
    g = (epoch - 1) * steps + s
    return StepProgressed(
        epoch=epoch,
        step=s,
        steps_per_epoch=steps,
        global_step=g,
        total_steps=steps * epochs,
        elapsed_s=60.0 * g,
        eta_s=30.0 * (steps * epochs - g),
    )


def epoch_done(epoch: int, epochs: int) -> EpochFinished:
    return EpochFinished(
        epoch=epoch,
        epochs=epochs,
        train_loss=1.0 / epoch,
        train_accuracy=0.8 + 0.05 * epoch,
        val_loss=1.1 / epoch,
        val_accuracy=0.79 + 0.05 * epoch,
        lr=1e-3,
        epoch_time_s=4.0,
        samples_per_s=1000.0,
        best_val_loss=1.1 / epoch,
        elapsed_s=4.0 * epoch,
        eta_s=4.0 * (epochs - epoch),
    )


def resources() -> ResourcesSampled:
    return ResourcesSampled(
        host_rss_bytes=500 << 20, host_peak_rss_bytes=600 << 20, host_total_bytes=8 << 30, host_available_bytes=4 << 30, gpu=None
    )


def predictions(n: int = 8) -> PredictionsSampled:
    images = [[(x * 9 + y * 3 + i * 20) % 256 for y in range(28) for x in range(28)] for i in range(n)]
    labels = [i % 10 for i in range(n)]
    preds = [label if i % 3 else (label + 1) % 10 for i, label in enumerate(labels)]
    return PredictionsSampled(
        height=28, width=28, channels=1, images=images, labels=labels, predictions=preds, class_names=[str(i) for i in range(10)]
    )


def summary(status: str, epochs: int) -> dict:
    return {
        "status": status,
        "epochs_completed": epochs,
        "best_val_accuracy": 0.9,
        "test_accuracy": 0.9876,
        "train_accuracy": 0.99,
        "test_correct": 9876,
        "test_total": 10000,
        "train_time_s": 8.0,
        "train_samples_per_s": 1000.0,
    }


def confusion() -> list[list[int]]:
    return [[990 if i == j else (3 if j == (i + 1) % 10 else 0) for j in range(10)] for i in range(10)]


class FakeEngine:
    """Emits a scripted run. With ``hold=True`` it stops after the first epoch's steps and
    waits (polling control like the real engine) until ``release`` is set or a stop is asked.
    Every ``log_every``-th step is logged (step_logged); the steps between only tick (step_progressed)."""

    def __init__(
        self,
        tmp: Path,
        epochs: int = 2,
        steps: int = 4,
        hold: bool = False,
        fail: str | None = None,
        raise_exc: BaseException | None = None,
        log_every: int = 1,
    ) -> None:
        self.tmp, self.epochs, self.steps, self.hold, self.log_every = tmp, epochs, steps, hold, log_every
        self.fail, self.raise_exc = fail, raise_exc
        self.release = threading.Event()
        self.holding = threading.Event()
        self.calls: list[dict] = []
        self.saw_pause = False

    def __call__(self, settings, emit, control, resume=None):
        self.calls.append({"settings": settings, "resume": resume})
        if self.raise_exc is not None:
            raise self.raise_exc
        run_dir = resume or str(self.tmp / f"run{len(self.calls)}")
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        emit(run_started(run_dir, self.epochs, self.steps))
        emit(resources())
        if self.fail:
            emit(LogMessage(level="error", text=self.fail))
            emit(RunFailed(message=self.fail, log_path=f"{run_dir}/error.log", summary=summary("failed", 0)))
            return FakeResult("failed", run_dir, 1)
        for epoch in range(1, self.epochs + 1):
            for s in range(1, self.steps + 1):
                if control.paused:
                    self.saw_pause = True
                control.wait_while_paused()
                if control.stop_requested:
                    emit(RunStopped(summary=summary("stopped", epoch - 1), checkpoint=f"{run_dir}/last.pt"))
                    return FakeResult("stopped", run_dir, 130)
                tick = step if s % self.log_every == 0 else progressed
                emit(tick(epoch, s, self.steps, self.epochs))
            if self.hold and epoch == 1:
                self.holding.set()
                while not self.release.wait(0.01):
                    if control.stop_requested:
                        break
                    if control.paused:
                        self.saw_pause = True
                        control.wait_while_paused()
                if control.stop_requested:
                    emit(RunStopped(summary=summary("stopped", epoch), checkpoint=f"{run_dir}/last.pt"))
                    return FakeResult("stopped", run_dir, 130)
            emit(epoch_done(epoch, self.epochs))
            emit(resources())
        emit(EvaluationFinished(split="test", epoch=self.epochs, loss=0.05, accuracy=0.9876, correct=9876, total=10000))
        emit(predictions())
        emit(RunFinished(summary=summary("completed", self.epochs), confusion_matrix=confusion()))
        return FakeResult("completed", run_dir, 0)


# ---- helpers shared by the app tests ---------------------------------------------------


async def wait_for(pilot, condition, what: str = "", timeout: float = WAIT_S):
    """Let the app process its messages until ``condition()`` holds (its value is returned), or fail naming
    ``what`` after ``timeout`` s. The one poller of the app tests: at first it only lets the app catch up (a
    scripted run needs no more); then it also gives a real process working meanwhile 20 ms a round."""
    deadline = time.monotonic() + timeout
    for round_ in itertools.count():
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await pilot.pause(None if round_ < 100 else 0.02)


async def shown_history(pilot, app, count: int):
    """F9, then the History tab's (view, table) once its table has the focus and ``count`` rows."""
    from textual.widgets import DataTable

    from app.screens.history import HistoryView

    await pilot.press("f9")
    history = app.query_one(HistoryView)
    table = history.query_one(DataTable)
    await wait_for(pilot, lambda: app.focused is table and table.row_count == count)
    return history, table


async def until_started(pilot) -> None:
    """Until the app has started (``app.started``): it opens on one tab and mounts the others after its first
    paint (app/panes.py)."""
    await wait_for(pilot, lambda: pilot.app.started, "the app's tabs and fields mounted")


@asynccontextmanager
async def started_app(app, **options):
    """``app.run_test(**options)``, once the app has started (until_started). Keys pressed before that:
    tests/app/test_app_start.py."""
    from textual.app import App

    async with App.run_test(app, **options) as pilot:  # Textual's own (make_app's apps start with this one)
        await until_started(pilot)
        yield pilot


def log_text(app) -> str:
    from app.widgets.panels import LogPanel

    return "\n".join(app.query_one(LogPanel).messages)


def make_app(tmp_path, engine=None, settings=None, settings_path=None, attach=None):
    from lstm_vision.settings import Settings
    from app.tui import LstmVisionApp

    class RecordingApp(LstmVisionApp):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.notes: list[tuple[str, str]] = []

        def notify(self, message, *, title="", severity="information", timeout=None, markup=True):
            self.notes.append((severity, f"{title}: {message}" if title else message))
            super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

        def run_test(self, started: bool = True, **options):
            """Textual's, once the app has started (started_app); ``started=False``: from its first paint."""
            return started_app(self, **options) if started else super().run_test(**options)

    if settings is None:
        settings = Settings()
        settings.output.dir = str(tmp_path / "runs")
    return RecordingApp(settings, settings_path or tmp_path / "settings.toml", engine=engine, attach=attach)


async def type_path(pilot, app, path) -> None:
    """In the open / save-as dialog: wait for it, type ``path``, press enter."""
    from textual.widgets import Input
    from app.screens.dialogs import PathScreen

    await wait_for(pilot, lambda: isinstance(app.screen, PathScreen) and app.screen.query(Input))
    app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")


def write_run(runs: Path, name: str, status: str, epochs: int, hidden: int = 64, run_name: str = "") -> Path:
    """A run folder as the engine writes it, from the fake's events (last.pt: an empty stand-in)."""
    events = []
    FakeEngine(runs, epochs=epochs, steps=3)(None, events.append, RunControl())
    run_dir = runs / name
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "metrics.jsonl", "w", encoding="utf-8") as fh:
        for ev in events:
            fh.write(ev.to_json() + "\n")
        fh.write('{"event": "step_logged", "torn li\n')  # a torn last line must not break the replay
    summary = dict(events[-1].summary, status=status, epochs_completed=epochs)
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    write_confusion_matrix(run_dir, events[-1].confusion_matrix, [str(k) for k in range(10)])  # the real format
    s = Settings()
    s.model.hidden_size = hidden
    s.output.dir, s.output.run_name = str(runs), run_name
    save_settings(s, run_dir / "settings.toml")
    (run_dir / "last.pt").write_bytes(b"")
    return run_dir


def write_sweep(
    out_dir: Path, name: str, trials: list[tuple[str, float, int, float | None]], worker_exit: int | None = 0
) -> Path:
    """A sweep folder as the engine leaves it (lstm_vision/sweep/folder.py's format): sweep.toml, trials.csv and a
    run folder per trial (write_run), over optim.learning_rate x model.hidden_size; ``trials``: (state, learning
    rate, hidden size, val_accuracy). ``worker_exit``: how its one worker ended (0 finished, 130 stopped; None:
    none ever ran)."""
    import os
    import socket

    from lstm_vision.sweep.folder import TrialRow, trial_dir_name, worker_dir, write_trials

    sweep_dir = out_dir / name
    sweep_dir.mkdir(parents=True)
    rates = sorted({lr for _, lr, _, _ in trials})
    sizes = sorted({h for _, _, h, _ in trials})
    (sweep_dir / "sweep.toml").write_text(
        f'[sweep]\nname = "{name}"\nmethod = "grid"\nmetric = "val_accuracy"\nprune = "none"\n\n'
        f'[space]\n"optim.learning_rate" = {rates}\n"model.hidden_size" = {sizes}\n',
        encoding="utf-8",
    )
    rows = []
    for number, (state, lr, hidden, metric) in enumerate(trials, start=1):
        run = write_run(sweep_dir, trial_dir_name(number), "completed" if state == "complete" else state, 2, hidden)
        params = {"optim.learning_rate": repr(lr), "model.hidden_size": str(hidden)}
        rows.append(TrialRow(number, state, params, metric, 4.0 * number, str(run)))
    write_trials(sweep_dir, "val_accuracy", ["optim.learning_rate", "model.hidden_size"], rows)
    if worker_exit is not None:
        worker = worker_dir(sweep_dir, socket.gethostname(), os.getpid())
        worker.mkdir(parents=True)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": 1.0, "state": "exited", "exit_code": worker_exit}
        (worker / "process.json").write_text(json.dumps(info), encoding="utf-8")
    return sweep_dir
