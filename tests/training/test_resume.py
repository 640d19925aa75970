"""--resume continues a run exactly or refuses, before it touches any file of the run (issue 16)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import tiny_run_settings
from lstm_vision import events as ev
from lstm_vision.errors import SettingsError
from lstm_vision.settings import load_settings
from lstm_vision.control import RunControl
from lstm_vision.training.engine import run
from processes import cli, journal

RUN_FILES = ("settings.toml", "metrics.jsonl", "summary.json", "last.pt")


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in RUN_FILES}


class StopWhen:
    """An emit that stops the run when ``condition(event)`` holds."""

    def __init__(self, condition):
        self.condition, self.control, self.events = condition, RunControl(), []

    def __call__(self, event):
        self.events.append(event)
        if self.condition(event):
            self.control.stop()


@pytest.fixture(scope="module")
def stopped_in_epoch_2(mnist_root, tmp_path_factory) -> Path:
    """A run of 10 steps per epoch (batch 50) stopped within epoch 2, at step 5."""
    settings = tiny_run_settings(mnist_root, tmp_path_factory.mktemp("runs"), "stopped")
    settings.train.epochs = 3
    stop = StopWhen(lambda e: isinstance(e, ev.StepLogged) and e.global_step >= 15)
    result = run(settings, stop, stop.control)
    assert result.status == "stopped"
    return Path(result.run_dir)


@pytest.fixture
def stopped_run(stopped_in_epoch_2, tmp_path) -> Path:
    copy = tmp_path / "stopped"
    shutil.copytree(stopped_in_epoch_2, copy)
    return copy


@pytest.mark.parametrize(
    "override, message",
    [
        (
            ("train", "batch_size", 100),
            "stopped within epoch 2 (step 5 of 10) at train.batch_size = 50, and a resume within an epoch must keep it",
        ),
        (("train", "batch_size", 1000), "must keep it: set train.batch_size = 50"),  # was UnboundLocalError: 'lr'
        (
            ("model", "hidden_size", 32),
            "trained a model with model.hidden_size = 16 and a resume goes on with that model, "
            "not with model.hidden_size = 32: set model.hidden_size = 16",
        ),
        (("model", "bidirectional", True), "not with model.bidirectional = true: set model.bidirectional = false"),
        (
            ("data", "train_split", 0.5),
            "trained with data.train_split = 0.8333333333333334 and a resume must keep the images it trains and "
            "validates on: set data.train_split = 0.8333333333333334, or fine-tune in a new run",
        ),
        (("train", "seed", 7), "trained with train.seed = 0 and a resume must keep the images"),
        (("data", "dataset", "fashion-mnist"), "trained with data.dataset = mnist and a resume must keep"),
        (("train", "epochs", 1), "train.epochs = 1 would end before epoch 2, within which"),
        (("train", "epochs", 0), "train.epochs = 0 is fewer than the 1 epoch"),
    ],
)
def test_a_resume_that_cannot_be_honoured_is_refused_before_any_file_is_written(stopped_run, override, message):
    settings = load_settings(stopped_run / "settings.toml")
    section, key, value = override
    setattr(getattr(settings, section), key, value)
    before = snapshot(stopped_run)
    with pytest.raises(SettingsError, match=re.escape(message)):
        run(settings, lambda e: None, RunControl(), resume=str(stopped_run))
    assert snapshot(stopped_run) == before


def test_a_resume_within_an_epoch_may_change_the_accumulation_steps(stopped_run):
    settings = load_settings(stopped_run / "settings.toml")
    settings.train.grad_accum_steps = 2  # the same 50 samples per step, in two micro-batches (less memory)
    result = run(settings, lambda e: None, RunControl(), resume=str(stopped_run))
    assert result.status == "completed" and result.summary["train_samples"] == 3 * 500  # none skipped or twice


def test_a_resume_within_an_epoch_refuses_another_number_of_steps_per_epoch():
    from lstm_vision.settings import Settings
    from lstm_vision.training.resume import check_resume

    settings = Settings()  # batch 256 on 2 processes gave 98 steps per epoch; on 3 the shards' tails make 97
    state = {"epoch": 1, "step": 40, "global_step": 138, "steps_per_epoch": 98, "world_size": 2, "settings": settings.to_dict()}
    assert check_resume("runs/x/last.pt", state, settings, 98) == []  # as many steps: the same samples per step
    with pytest.raises(
        SettingsError,
        match=re.escape("(step 40 of 98 steps per epoch with 2 processes); with this number of processes an epoch has 97 steps"),
    ):
        check_resume("runs/x/last.pt", state, settings, 97)


def test_the_cli_refuses_a_changed_batch_mid_epoch_in_one_sentence(stopped_run):
    before = snapshot(stopped_run)
    result = cli("--no-ui", "--resume", str(stopped_run), "--set", "train.batch_size=1000")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {stopped_run} stopped within epoch 2") and result.stderr.count("\n") == 1
    assert snapshot(stopped_run) == before


def test_a_resume_at_an_epoch_boundary_may_change_the_batch_size(mnist_root, tmp_path):
    settings = tiny_run_settings(mnist_root, tmp_path, "boundary")
    settings.optim.schedule = "onecycle"  # the learning rate depends on the step: it must go on where it was
    stop = StopWhen(lambda e: isinstance(e, ev.EpochFinished))  # stops at step 0 of epoch 2
    stopped = run(settings, stop, stop.control)
    assert stopped.status == "stopped"
    settings.train.batch_size = 100  # 5 steps per epoch instead of 10
    rec = StopWhen(lambda e: False)
    resumed = run(settings, rec, RunControl(), resume=stopped.run_dir)
    assert resumed.status == "completed" and resumed.summary["train_samples"] == 2 * 500
    steps = [e for e in rec.events if isinstance(e, ev.StepLogged)]
    # the resumed run's first step (logged at once, for the charts) and the epoch's last
    assert [(e.epoch, e.step, e.global_step, e.total_steps) for e in steps] == [(2, 1, 6, 10), (2, 5, 10, 10)]
    # the same fraction of the schedule, rounded to the new steps (warm-up 2 of 20 steps, now 1 of 10): said
    warnings = [e.text for e in rec.events if isinstance(e, ev.LogMessage) and e.level == "warning"]
    assert any(
        t.startswith(
            "Learning rate at the resumed step: 0.005 (the stopped run's schedule had 0.00546), as 10 -> 5 steps per epoch."
        )
        for t in warnings
    ), warnings
    names = [r["event"] for r in journal(Path(stopped.run_dir))]
    assert names.count("run_stopped") == 1 and names.count("run_started") == 2  # a plain resume cuts nothing


def test_a_changed_schedule_on_resume_is_said_with_the_rates(stopped_run):
    settings = load_settings(stopped_run / "settings.toml")
    settings.optim.schedule = "cosine"  # was constant
    settings.train.epochs = 2
    rec = StopWhen(lambda e: False)
    result = run(settings, rec, RunControl(), resume=str(stopped_run))
    assert result.status == "completed"
    texts = [e.text for e in rec.events if isinstance(e, ev.LogMessage)]
    assert f"Resumed from {stopped_run} at epoch 2 of 2, step 5." in texts
    assert any(
        t.startswith("Learning rate at the resumed step: ")
        and t.endswith("(the stopped run's schedule had 0.01), as train.epochs 3 -> 2, optim.schedule constant -> cosine.")
        for t in texts
    ), texts


@pytest.fixture(scope="module")
def completed_run(mnist_root, tmp_path_factory) -> Path:
    settings = tiny_run_settings(mnist_root, tmp_path_factory.mktemp("runs"), "done")
    settings.optim.schedule, settings.train.checkpoint_every, settings.train.epochs = "onecycle", 1, 3
    result = run(settings, lambda e: None, RunControl())
    assert result.status == "completed"
    return Path(result.run_dir)


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "{run} completed; nothing to resume."),
        (["--set", "train.epochs=1"], "{run} completed; nothing to resume."),
        (
            ["--set", "train.epochs=5"],
            "{run} trained all its 3 epochs and a resume cannot extend it to 5 (its onecycle "
            "learning rate has decayed and would warm up again); fine-tune from its best weights "
            "in a new run instead: --set train.load_checkpoint={run}/best.pt.",
        ),
    ],
)
def test_a_completed_run_is_neither_resumed_nor_extended(completed_run, extra, message):
    before = snapshot(completed_run)
    result = cli("--no-ui", "--resume", str(completed_run), *extra)
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"error: {message.format(run=completed_run)}\n"
    assert snapshot(completed_run) == before


def test_a_resume_from_an_earlier_checkpoint_cuts_the_journal_back(completed_run, tmp_path):
    run_dir = tmp_path / "done"
    shutil.copytree(completed_run, run_dir)
    settings = load_settings(run_dir / "settings.toml")
    rec = StopWhen(lambda e: False)
    result = run(settings, rec, RunControl(), resume=str(run_dir / "epoch-002.pt"))  # of 3 epochs
    assert result.status == "completed"
    records = journal(run_dir)
    assert [r["epoch"] for r in records if r["event"] == "epoch_finished"] == [1, 2, 3]
    steps = [r["global_step"] for r in records if r["event"] == "step_logged"]
    assert steps == sorted(set(steps))  # each step once: the replayed curves are the run's
    assert [r["event"] for r in records].count("run_finished") == 1
    cut = journal(run_dir, "metrics.jsonl.1-bak")
    assert [r["epoch"] for r in cut if r["event"] == "epoch_finished"] == [3] and cut[-1]["event"] == "run_finished"
    assert any(
        isinstance(e, ev.LogMessage) and "(up to epoch 3)" in e.text and "metrics.jsonl.1-bak" in e.text for e in rec.events
    )


def test_a_resume_with_other_settings_keeps_settings_toml_and_records_what_changed_from_where(stopped_run):
    """Issue 23.5: settings.toml stays as the run started (History's l repeats that run); the journal and
    summary.json say what each resume changed and from where; a later resume goes on with the changes."""
    from lstm_vision.report.console import settings_change_text
    from lstm_vision.runs.follow import run_settings

    started = (stopped_run / "settings.toml").read_bytes()
    settings = load_settings(stopped_run / "settings.toml")  # as --resume with --set does
    settings.train.epochs, settings.optim.learning_rate = 4, 0.005
    stop = StopWhen(lambda e: isinstance(e, ev.EpochFinished) and e.epoch == 3)
    assert run(settings, stop, stop.control, resume=str(stopped_run)).status == "stopped"
    assert (stopped_run / "settings.toml").read_bytes() == started
    [said] = [settings_change_text(e) for e in stop.events if isinstance(e, ev.SettingsChanged)]
    assert said == (
        "From epoch 2, step 5 on, this resume changes optim.learning_rate 0.01 -> 0.005, train.epochs 3 -> 4 "
        "(the run's settings.toml keeps how it started)."
    )
    change = {
        "event": "settings_changed",
        "epoch": 1,
        "step": 5,
        "changes": {"optim.learning_rate": [0.01, 0.005], "train.epochs": [3, 4]},
    }
    recorded = [r for r in journal(stopped_run) if r["event"] == "settings_changed"]
    assert all(isinstance(r.pop("wall_time"), float) for r in recorded)  # every journal line has its clock time
    assert recorded == [change]
    summary = json.loads((stopped_run / "summary.json").read_text())
    assert without_wall_time(summary["settings_changes"]) == [{k: v for k, v in change.items() if k != "event"}]
    assert run_settings(stopped_run, as_started=True).train.epochs == 3 and run_settings(stopped_run).train.epochs == 4

    result = cli("--no-ui", "--resume", str(stopped_run))  # no --set: it goes on with the changed settings
    assert result.returncode == 0, result.stderr
    summary = json.loads((stopped_run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 4
    assert without_wall_time(summary["settings_changes"]) == [{k: v for k, v in change.items() if k != "event"}]  # no more
    assert "this resume changes" not in result.stdout
    assert (stopped_run / "settings.toml").read_bytes() == started


def without_wall_time(records: list[dict]) -> list[dict]:
    """Records as the test writes them: the clock time each carries is checked where it is made."""
    return [{k: v for k, v in r.items() if k != "wall_time"} for r in records]


def test_a_truncated_last_pt_is_one_short_sentence_that_offers_best_pt(stopped_run):
    """A save or copy cut short: not torch's paragraph about miniz, and the resume best.pt allows, which works."""
    last = stopped_run / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    result = cli("--no-ui", "--resume", str(stopped_run))
    assert result.returncode == 2
    assert result.stderr == (
        f"error: Checkpoint {last} is truncated: the file ends before its zip archive does (a save or copy cut short); "
        f"its run's best.pt (epoch 1) is intact: resume from it with --resume {stopped_run / 'best.pt'}.\n"
    )
    resumed = cli("--no-ui", "--resume", str(stopped_run / "best.pt"))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((stopped_run / "summary.json").read_text())["status"] == "completed"


def test_a_damaged_best_pt_is_not_offered(stopped_run):
    for name in ("last.pt", "best.pt"):
        (stopped_run / name).write_bytes((stopped_run / name).read_bytes()[:100])
    result = cli("--no-ui", "--resume", str(stopped_run))
    assert result.returncode == 2
    assert (
        result.stderr
        == f"error: Checkpoint {stopped_run / 'last.pt'} is truncated: the file ends before its zip archive does (a save or copy cut short).\n"
    )
