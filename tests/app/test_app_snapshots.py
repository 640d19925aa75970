"""Snapshots of the five screens at 80x24, so that a layout change shows in review.

Every snapshot is byte-stable from run to run and machine to machine: the run is a scripted one
(the fake engine's events, with fixed memory and GPU figures), paths are relative to a temporary
working directory, the log's clock is fixed, history's runs are written with fixed contents and
mtimes, and each shot waits for conditions (charts drawn at their size, the log wrapped at its
width), never for a time. After an intended layout change:
``.venv/bin/python -m pytest tests/app/test_app_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.widgets import DataTable, Input

from lstm_vision.settings import Settings, save_settings
from lstm_vision.events import EvaluationFinished, ResourcesSampled, RunFinished
from app.widgets.charts import Chart
from app.widgets.form import SettingsForm
from app.widgets.panels import LogPanel
from app.screens.results import ConfusionMatrix, ImageGrid

from apps import (
    FakeResult,
    confusion,
    epoch_done,
    make_app,
    predictions,
    run_started,
    step,
    until_started,
    wait_for,
    write_sweep,
)

SIZE = (80, 24)
EPOCHS, STEPS = 3, 4


def fixed_summary(
    status: str = "completed",
    epochs: int = EPOCHS,
    test: float | None = 0.9876,
    best_val: float | None = 0.9862,
    train_time_s: float = 27.5,
) -> dict:
    per_class = [
        {"class": str(c), "precision": 0.99 - 0.004 * c, "recall": 0.985 - 0.003 * c, "f1": 0.987 - 0.0035 * c, "support": 1000}
        for c in range(10)
    ]
    return {
        "status": status,
        "epochs_completed": epochs,
        "best_val_accuracy": best_val,
        "test_accuracy": test,
        "train_accuracy": None if best_val is None else 0.9931,
        "test_correct": None if test is None else round(test * 10000),
        "test_total": None if test is None else 10000,
        "train_time_s": train_time_s,
        "train_samples_per_s": 6543.0,
        "per_class": per_class if test is not None else [],
        "macro_f1": 0.9713 if test is not None else None,
    }


def fixed_gpu_sample() -> ResourcesSampled:
    """What the memory panel shows, fixed (the real sampler reads this machine's RSS and GPU)."""
    gib = 1 << 30
    return ResourcesSampled(
        host_rss_bytes=2 * gib + (300 << 20),
        host_peak_rss_bytes=2 * gib + (700 << 20),
        host_total_bytes=128 * gib,
        host_available_bytes=97 * gib,
        gpu={
            "name": "NVIDIA H200",
            "allocated_bytes": 512 << 20,
            "reserved_bytes": 1 * gib,
            "peak_allocated_bytes": 900 << 20,
            "total_bytes": 141 * gib,
            "used_bytes": 3 * gib,
            "utilization_percent": 87.0,
            "temperature_c": 51.0,
        },
    )


def scripted_events(run_dir: str, epochs: int = EPOCHS, steps: int = STEPS, status: str = "completed") -> list:
    """The fake engine's events for one run, on a GPU whose figures are fixed."""
    events = [replace(run_started(run_dir, epochs, steps), device="cuda", device_name="NVIDIA H200"), fixed_gpu_sample()]
    for epoch in range(1, epochs + 1):
        events += [step(epoch, s, steps, epochs) for s in range(1, steps + 1)]
        events += [epoch_done(epoch, epochs), fixed_gpu_sample()]
    if status == "completed":
        events += [
            EvaluationFinished(split="test", epoch=epochs, loss=0.05, accuracy=0.9876, correct=9876, total=10000),
            predictions(),
            RunFinished(summary=fixed_summary(), confusion_matrix=confusion()),
        ]
    return events


class ScriptedEngine:
    """engine.run's signature; emits ``scripted_events`` into ``runs/run1`` (relative: no temp path on screen)."""

    def __call__(self, settings, emit, control, resume=None):
        run_dir = "runs/run1"
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        for event in scripted_events(run_dir):
            emit(event)
        return FakeResult("completed", run_dir, 0)


@pytest.fixture
def steady(tmp_path, monkeypatch):
    """A fixed working directory, clock and colour setting; charts that note the size they were drawn at."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr("app.widgets.panels.time", SimpleNamespace(strftime=lambda fmt, *args: "12:34:56 "))
    drawn = Chart.flush

    def flush(self) -> None:
        was_dirty = self._dirty
        drawn(self)
        if was_dirty:
            self.drawn_at = self.size

    monkeypatch.setattr(Chart, "flush", flush)
    return tmp_path


def snapshot_app(engine=None):
    settings = Settings()  # output.dir "runs": relative to the temporary working directory
    return make_app(Path("."), engine=engine, settings=settings, settings_path=Path("settings.toml"))


def charts_drawn(app) -> bool:
    """Every chart on the screen showing has been drawn at the size it now has."""
    charts = [c for c in app.screen.query(Chart) if c.region.width > 0]
    return bool(charts) and all(not c._dirty and getattr(c, "drawn_at", None) == c.size for c in charts)


async def settle(pilot) -> None:
    """No toast that depends on timing, no blinking cursor, charts drawn at their size."""
    app = pilot.app
    app.clear_notifications()
    for editor in app.screen.query(Input):
        editor.cursor_blink = False  # the cursor stays shown, whatever the time of the shot
    await wait_for(pilot, lambda: charts_drawn(app))
    await pilot.pause()


async def finish_run(pilot) -> None:
    app = pilot.app
    await pilot.press("f5")
    await wait_for(pilot, lambda: app.session.state == "completed", "the scripted run to complete")
    await app.workers.wait_for_complete()
    await wait_for(pilot, lambda: app.query_one(ImageGrid).sample is not None)


def test_settings_screen(steady, snap_compare):
    """The form as it opens: the data section, its first field focused."""

    async def run_before(pilot) -> None:
        await until_started(pilot)
        app = pilot.app
        await wait_for(pilot, lambda: app.focused is app.query_one(SettingsForm).row("data", "dataset").editor)
        app.clear_notifications()
        for editor in app.screen.query(Input):
            editor.cursor_blink = False
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_train_screen(steady, snap_compare):
    """A completed run (scripted): progress, both charts, the memory panel with GPU figures, the log."""

    async def run_before(pilot) -> None:
        await until_started(pilot)
        app = pilot.app
        await finish_run(pilot)
        await pilot.press("f3")
        log = app.query_one(LogPanel)
        await wait_for(pilot, lambda: app.focused is log and log._wrap_width() and log._wrapped_at == log._wrap_width())
        await settle(pilot)

    assert snap_compare(snapshot_app(ScriptedEngine()), terminal_size=SIZE, run_before=run_before)


def test_results_screen(steady, snap_compare):
    """The same run's results: test accuracy, per-class figures, the confusion matrix, test images."""

    async def run_before(pilot) -> None:
        await until_started(pilot)
        app = pilot.app
        await finish_run(pilot)
        await pilot.press("f4")
        await wait_for(
            pilot, lambda: app.query_one("#main-tabs").active == "tab-results" and app.query_one(ConfusionMatrix).row_count == 10
        )
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(snapshot_app(ScriptedEngine()), terminal_size=SIZE, run_before=run_before)


def write_run(root: Path, name: str, mtime: int, status: str, epochs: int, **summary) -> None:
    """A finished run's folder as the engine leaves it, with fixed contents and modification times."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    settings = Settings()
    settings.train.epochs, settings.output.run_name = EPOCHS, name
    save_settings(settings, run_dir / "settings.toml")
    events = scripted_events(f"runs/{name}", status=status)
    if status != "completed":  # it ended after ``epochs`` epochs
        events = events[: 2 + epochs * (STEPS + 2)]
    (run_dir / "metrics.jsonl").write_text("".join(e.to_json() + "\n" for e in events), encoding="utf-8")
    summary = fixed_summary(status, epochs, **summary)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    for f in run_dir.iterdir():
        os.utime(f, (mtime, mtime))


def test_history_screen(steady, snap_compare):
    """Three runs listed newest first (completed, stopped, failed), the newest one's curves below."""
    root = steady / "runs"
    write_run(root, "2025-01-02_10-00-00", 1_735_812_000, "completed", EPOCHS)
    write_run(root, "2025-01-01_18-30-00", 1_735_752_600, "stopped", 2, test=None, best_val=0.9810, train_time_s=18.4)
    write_run(root, "2025-01-01_09-15-00", 1_735_719_300, "failed", 0, test=None, best_val=None, train_time_s=0.0)

    async def run_before(pilot) -> None:
        await until_started(pilot)
        app = pilot.app
        await pilot.press("f9")
        await wait_for(
            pilot,
            lambda: (
                app.query_one("#main-tabs").active == "tab-history"
                and app.query_one("#runs-table", DataTable).row_count == 3
                and app.focused is app.query_one("#runs-table", DataTable)
            ),
        )
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_sweep_screen(steady, snap_compare):
    """A stopped sweep of four trials (two complete, the best marked, one pruned, one that was running when it
    stopped), the best curves below."""
    trials = [("complete", 0.001, 8, 0.91), ("complete", 0.001, 16, 0.97), ("pruned", 0.01, 8, 0.5), ("running", 0.01, 16, 0.93)]
    write_sweep(Path("runs"), "lr-hidden", trials, worker_exit=130)

    async def run_before(pilot) -> None:
        await until_started(pilot)
        app = pilot.app
        app.open_sweep(Path("runs/lr-hidden"))
        table = app.query_one("#trials-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 4 and app.focused is table)
        await settle(pilot)

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)
