"""Bad input to a sweep: one sentence naming what is wrong and what would do, exit 2, nothing written."""

import json
import socket
import subprocess
import sys

import pytest
from sweeps import base_args, run_sweep, write_sweep

from lstm_vision.errors import SettingsError
from lstm_vision.settings import Settings
from lstm_vision.sweep import launch
from lstm_vision.sweep.folder import read_trials
from lstm_vision.sweep.spec import read_sweep

GRID = 'name = "s"\nmethod = "grid"'


def refused(done: subprocess.CompletedProcess) -> str:
    """The one sentence of a refusal (after argparse's usage line, if any)."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize(
    "sweep, space, words",
    [
        (GRID, '"optim.learnin_rate" = [1e-3]', ['"optim.learnin_rate" is not a setting', "did you mean 'optim.learning_rate'"]),
        (GRID, '"optimizer.learning_rate" = [1e-3]', ["optimizer.learning_rate", "did you mean 'optim.learning_rate'"]),
        (GRID, '"optim.learning_rate" = [1e-3, -1.0]', ["optim.learning_rate must be > 0", "-1.0"]),
        (GRID, '"model.hidden_size" = ["sixty"]', ["model.hidden_size must be a whole number", "'sixty'"]),
        (GRID, '"optim.weight_decay" = { low = 1e-4, high = 0.1, log = true }', ["is a range", "method = grid", "random or tpe"]),
        (GRID, "", ["[space] is empty"]),
        ('method = "tpe"', '"optim.learning_rate" = [1e-3]', ["method = tpe needs sweep.trials"]),
        (
            'method = "bayes"\ntrials = 3',
            '"optim.learning_rate" = [1e-3]',
            ["sweep.method must be one of grid, random, tpe", "'bayes'"],
        ),
        ('metrics = "val_loss"', '"optim.learning_rate" = [1e-3]', ["unknown key sweep.metrics", "did you mean 'metric'"]),
        (GRID, '"output.dir" = ["a", "b"]', ['"output.dir" cannot vary between trials']),
        ('method = "random"\ntrials = 2', '"optim.learning_rate" = { low = 0.1, high = 0.01 }', ["low must be below high"]),
        (
            GRID,
            '"data.sequence_length" = [28, 5]',
            ["data.sequence_length = 5", "does not divide the image's H x W x C", "or to 7, 4, 2 or 1"],
        ),
        (
            GRID + "\nrepeats = 0",
            '"optim.learning_rate" = [1e-3]',
            ["sweep.repeats must be a whole number from 1 to 20", "not 0"],
        ),
        (GRID + '\nrepeats = "3"', '"optim.learning_rate" = [1e-3]', ["sweep.repeats must be a whole number", "not '3'"]),
    ],
)
def test_a_bad_sweep_file_is_one_sentence_and_nothing_is_written(mnist_root, tmp_path, sweep, space, words):
    sweep_file = write_sweep(tmp_path / "s.toml", sweep, space)
    line = refused(run_sweep(sweep_file, *base_args(mnist_root, tmp_path / "runs")))
    for word in words:
        assert word in line
    assert str(sweep_file) in line
    assert not (tmp_path / "runs").exists()


def test_a_sweep_file_that_is_not_toml_or_not_there(tmp_path):
    (tmp_path / "s.toml").write_text("[sweep\nname = 1\n")
    with pytest.raises(SettingsError, match=r"s.toml is not valid TOML"):
        read_sweep(tmp_path / "s.toml")
    with pytest.raises(SettingsError, match=r"Sweep file .*nothing.toml does not exist"):
        read_sweep(tmp_path / "nothing.toml")


def test_a_sweep_file_without_method_or_trials_is_told_that_tpe_is_the_default(tmp_path):
    (tmp_path / "s.toml").write_text('[sweep]\nname = "s"\n[space]\n"model.hidden_size" = [8, 16]\n')
    with pytest.raises(SettingsError) as refusal:
        read_sweep(tmp_path / "s.toml")
    line = str(refusal.value)
    assert "sweep.method is not given, so it is tpe, which needs sweep.trials" in line and 'method = "grid"' in line


@pytest.mark.parametrize(
    "space, words",
    [
        ("model.hidden_size = [8, 16]", ["reads model.hidden_size without quotes", '"model.hidden_size" = ...']),
        ('"system.nproc" = [1, 2]', ['"system.nproc" cannot vary between trials: each trial is one process']),
        ('"output.run_name" = ["a", "b"]', ["cannot vary between trials: output settings are the sweep's"]),
    ],
)
def test_a_space_key_is_told_what_is_wrong_with_it_alone(tmp_path, space, words):
    (tmp_path / "s.toml").write_text(f'[sweep]\nname = "s"\nmethod = "grid"\n[space]\n{space}\n')
    with pytest.raises(SettingsError) as refusal:
        read_sweep(tmp_path / "s.toml")
    line = str(refusal.value)
    assert all(word in line for word in words), line
    assert ("output settings" in line) == ("output." in space)  # one reason, the one that applies


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free, and closed once the probe is


def test_a_storage_url_that_cannot_work_is_named_without_its_password(mnist_root, tmp_path):
    sweep_file = write_sweep(tmp_path / "s.toml", GRID, '"optim.learning_rate" = [1e-3]')
    args = base_args(mnist_root, tmp_path / "runs")
    line = refused(run_sweep(sweep_file, "--storage", "mysql://bob:hunter2@db.example/sweeps", *args))
    assert "mysql://bob:***@db.example/sweeps" in line and "postgresql://" in line and "hunter2" not in line
    url = f"postgresql://bob:hunter2@127.0.0.1:{_closed_port()}/sweeps"
    line = refused(run_sweep(sweep_file, "--storage", url, *args))
    assert url.replace("hunter2", "***") in line and "cannot be used" in line and "hunter2" not in line
    assert not (tmp_path / "runs").exists()


def test_a_postgresql_url_with_another_driver_is_told_the_plain_form():
    # SQLAlchemy's postgresql+psycopg2:// is PostgreSQL: the sentence must not say it is not, but what to write
    from lstm_vision.sweep.study import database_url

    with pytest.raises(SettingsError) as refusal:
        database_url("postgresql+psycopg2://bob:hunter2@db.example:5432/sweeps")
    line = str(refusal.value)
    assert "postgresql+psycopg2://bob:***@db.example:5432/sweeps" in line and "hunter2" not in line
    assert "psycopg2" in line.split(": ", 1)[1] and "postgresql://bob:***@db.example:5432/sweeps" in line
    assert database_url("postgresql+psycopg://bob@db/s") == "postgresql+psycopg://bob@db/s"


def test_without_psycopg_the_storage_says_what_to_install(mnist_root, tmp_path):
    sweep_file = write_sweep(tmp_path / "s.toml", GRID, '"optim.learning_rate" = [1e-3]')
    argv = ["--no-ui", "--sweep", str(sweep_file), "--storage", "postgresql://bob@db.example/sweeps"]
    argv += base_args(mnist_root, tmp_path / "runs")
    # psycopg as if it were not installed: an entry of None in sys.modules makes its import fail
    code = f"import sys; sys.modules['psycopg'] = None; from lstm_vision.cli import main; sys.exit(main({argv!r}))"
    line = refused(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True))
    assert "postgresql://bob@db.example/sweeps needs the PostgreSQL driver" in line
    assert "pip install 'lstm-vision[postgres]'" in line
    assert not (tmp_path / "runs").exists()


def test_a_sweep_folder_of_another_study_is_refused_and_left_as_it_was(mnist_root, tmp_path):
    first = write_sweep(tmp_path / "first.toml", GRID, '"optim.learning_rate" = [1e-3, 2e-3]')
    settings = Settings()
    settings.output.dir = str(tmp_path / "runs")
    launch.make_folder(launch.plan_sweep(read_sweep(first), settings, None))
    folder = tmp_path / "runs" / "s"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    other = write_sweep(tmp_path / "other.toml", GRID, '"model.hidden_size" = [8, 16]')
    line = refused(run_sweep(other, *base_args(mnist_root, tmp_path / "runs")))
    assert f"The sweep folder {folder} belongs to another study" in line
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert json.loads((folder / "study.json").read_text())["storage"] == "the sweep folder's journal"


def test_a_folder_that_is_not_a_sweep_is_refused(mnist_root, tmp_path):
    (tmp_path / "runs" / "s").mkdir(parents=True)
    (tmp_path / "runs" / "s" / "notes.txt").write_text("mine")
    sweep_file = write_sweep(tmp_path / "s.toml", GRID, '"optim.learning_rate" = [1e-3]')
    line = refused(run_sweep(sweep_file, *base_args(mnist_root, tmp_path / "runs")))
    assert "already holds something other than a sweep" in line
    assert sorted(p.name for p in (tmp_path / "runs" / "s").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--no-ui", "--storage", "postgresql://x@y/z"], "--storage and --workers go with --sweep"),
        (["--sweep", "s.toml"], "--sweep runs headless: add --no-ui"),
        (["--no-ui", "--sweep", "s.toml", "--run-dir", "x"], "does not combine with --run-dir"),
        (["--no-ui", "--sweep", "s.toml", "--workers", "two"], "--workers 'two' must be a whole number >= 1, or auto"),
    ],
)
def test_sweep_options_that_do_not_go_together(tmp_path, args, words):
    write_sweep(tmp_path / "s.toml", GRID, '"optim.learning_rate" = [1e-3]')
    done = subprocess.run([sys.executable, "-m", "lstm_vision", *args], capture_output=True, text=True, cwd=tmp_path)
    assert words in refused(done)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_data_that_cannot_be_read_ends_the_sweep_and_its_trial_waits_for_the_data(mnist_root, tmp_path):
    """Every trial reads the same data: the first that cannot stops the sweep (exit 2, the data's one sentence),
    and its grid point is queued again, so the same command runs it once the data is there."""
    sweep_file = write_sweep(tmp_path / "s.toml", GRID, '"optim.learning_rate" = [1e-2]')
    args = base_args(tmp_path / "nowhere", tmp_path / "runs")
    done = run_sweep(sweep_file, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: mnist not found: expected train-images-idx3-ubyte")
    assert len(done.stderr.splitlines()) == 1
    assert [r.state for r in read_trials(tmp_path / "runs" / "s")] == ["fail", "waiting"]
    again = run_sweep(sweep_file, *base_args(mnist_root, tmp_path / "runs"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert [r.state for r in read_trials(tmp_path / "runs" / "s")] == ["fail", "complete"]
