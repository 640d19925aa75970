import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import real_data_root
from processes import cli, start_cli, tiny_args

PY = sys.executable


@pytest.mark.parametrize(
    "user_env, expected",
    [
        ({}, "PASSIVE"),  # the default: idle threads sleep
        ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE"),  # the user's own policy wins
        ({"GOMP_SPINCOUNT": "10000"}, None),  # so does a spin count: no PASSIVE on top of it
    ],
)
def test_openmp_wait_policy_defaults_to_passive_unless_the_user_chose(user_env, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | user_env
    code = "import os, lstm_vision.cli; print(os.environ.get('OMP_WAIT_POLICY'))"
    result = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(expected)


def test_core_does_not_import_the_ui():
    code = (
        "import sys, lstm_vision, lstm_vision.cli, lstm_vision.training.engine, lstm_vision.distributed.torchrun, lstm_vision.report.console;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext', 'textual_plotext', 'app')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_help_lists_every_setting_with_default():
    from lstm_vision.settings import SECTIONS
    import dataclasses

    out = cli("--help").stdout
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert f"{section}.{f.name} = " in out, f"{section}.{f.name}"
    assert "--preset" in out and "--resume" in out and "130 stopped" in out


def test_headless_run_prints_run_dir_first_and_reference_lines(mnist_root, tmp_path):
    result = cli(*tiny_args(mnist_root, tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Run directory: {tmp_path / 'cli'}"
    assert any(line.startswith("Train data: Got ") and line.endswith(" %") for line in lines)
    assert any(line.startswith("Test data: Got ") and "/200 with accuracy" in line for line in lines)
    assert "\r" not in result.stdout  # not a terminal: plain lines only
    assert any(line.startswith("epoch 1 step 4/") and "samples/s" in line and "ETA" in line and "RSS" in line for line in lines)
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["status"] == "completed"


def test_settings_sources_apply_in_order(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text("[train]\nepochs = 4\n[model]\nhidden_size = 32\n")
    out = cli("--preset", "cpu", "--config", str(config), "--set", "train.epochs=9", "--print-settings").stdout
    assert "epochs = 9" in out and "hidden_size = 32" in out and "bidirectional = false" in out


def test_settings_toml_in_working_dir_is_the_default(tmp_path):
    (tmp_path / "settings.toml").write_text("[train]\nepochs = 3\n")
    assert "epochs = 3" in cli("--print-settings", cwd=tmp_path).stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--set", "train.epochs=-2"], ["train.epochs", ">= 0"]),
        (["--set", "train.lr=0.1"], ["train.lr"]),
        (["--preset", "nope"], ["Unknown preset 'nope'", "cpu"]),
        (["--config", "missing.toml"], ["missing.toml does not exist"]),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(tmp_path, args, words):
    result = cli("--no-ui", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    for word in words:
        assert word in result.stderr


def test_load_checkpoint_that_is_a_text_file_exits_2_in_one_sentence(mnist_root, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("epoch = 3\n")
    result = cli(*tiny_args(mnist_root, tmp_path), "--set", f"train.load_checkpoint={notes}")
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"error: Checkpoint {notes} is not a PyTorch checkpoint (it is a text file starting 'epoch = 3').\n"


def test_missing_data_exits_2_with_the_files(tmp_path):
    result = cli("--no-ui", "--set", f"data.root={tmp_path}", "--set", "data.download=false", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "t10k-labels-idx1-ubyte" in result.stderr and str(tmp_path / "MNIST" / "raw") in result.stderr


def test_sigint_saves_last_checkpoint_and_exits_130_then_resumes(mnist_root, tmp_path):
    args = tiny_args(mnist_root, tmp_path) + ["--set", "train.epochs=40", "--set", "train.log_every=1"]
    with open(tmp_path / "stderr.txt", "w") as err_file:  # not a pipe: unread while stdout is, it could fill and block
        proc = start_cli(*args, stdout=subprocess.PIPE, stderr=err_file, text=True)
    for line in proc.stdout:  # wait until training is really under way
        if line.startswith("epoch 1 step 3/"):
            proc.send_signal(signal.SIGINT)
            break
    out, _ = proc.communicate(timeout=300)
    err = (tmp_path / "stderr.txt").read_text()
    assert proc.returncode == 130, err
    run_dir = tmp_path / "cli"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and (run_dir / "last.pt").is_file()
    assert f"--resume {run_dir}" in out
    resumed = cli("--no-ui", "--resume", str(run_dir), "--set", "train.epochs=1")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


@pytest.mark.skipif(real_data_root() is None, reason="set LSTM_VISION_TEST_DATA to the folder holding MNIST/raw")
def test_real_mnist_short_run_reaches_97_percent(tmp_path):
    result = cli(
        "--no-ui",
        "--preset",
        "cpu",
        "--set",
        f"data.root={real_data_root().resolve()}",
        "--set",
        "data.download=false",
        "--set",
        "train.epochs=1",
        "--set",
        f"output.dir={tmp_path}",
        "--set",
        "output.run_name=real",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "real" / "summary.json").read_text())
    assert summary["test_total"] == 10000 and summary["train_total"] + 10000 == 60000
    assert summary["test_accuracy"] >= 0.97, summary


# Ctrl-C as the torch import runs: a finder that sends the process SIGINT the moment `import torch` starts.
CTRL_C_DURING_TORCH_IMPORT = """
import os, signal, sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, CtrlC())
from lstm_vision.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_during_the_torch_import_exits_130_with_one_line(mnist_root, tmp_path):
    result = subprocess.run(
        [PY, "-c", CTRL_C_DURING_TORCH_IMPORT, *tiny_args(mnist_root, tmp_path)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr == "Interrupted while starting: no run was started.\n"
    assert not (tmp_path / "cli").exists()


@pytest.mark.parametrize("rank, prints", [(None, True), ("0", True), ("1", False)])
def test_only_rank_0_of_a_hand_started_torchrun_says_it_is_stopping(monkeypatch, capsys, rank, prints):
    from lstm_vision.headless import install_signal_handlers
    from lstm_vision.control import RunControl

    monkeypatch.delenv("LSTM_VISION_EVENTS", raising=False)
    if rank is None:
        monkeypatch.delenv("RANK", raising=False)
    else:
        monkeypatch.setenv("RANK", rank)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    control = RunControl()
    try:
        install_signal_handlers(control)
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # what Ctrl-C in torchrun's terminal does to each rank
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert control.stop_requested
    assert ("SIGINT: stopping after this batch" in capsys.readouterr().err) == prints


def test_resume_or_attach_of_a_path_that_does_not_exist_says_so(tmp_path):
    for option in ("--resume", "--attach"):
        args = [option, str(tmp_path / "nope")] + (["--no-ui"] if option == "--resume" else [])
        result = cli(*args)
        assert result.returncode == 2
        what = "run folder or checkpoint" if option == "--resume" else "run folder or sweep folder"
        assert result.stderr.strip() == f"error: {option} {tmp_path / 'nope'}: no such {what}."


def test_attach_of_a_folder_that_is_no_run_offers_what_attach_takes(tmp_path):
    """--attach takes a run folder or a sweep folder, never a checkpoint; --resume takes a checkpoint too."""
    (tmp_path / "photos").mkdir()
    attach = cli("--attach", str(tmp_path / "photos"))
    assert attach.returncode == 2
    assert attach.stderr.strip() == (
        f"error: --attach {tmp_path / 'photos'}: no settings.toml beside it in {tmp_path / 'photos'}; "
        "give a run folder or a sweep folder."
    )
    resume = cli("--resume", str(tmp_path / "photos"), "--no-ui")
    assert resume.returncode == 2 and resume.stderr.strip().endswith("give a run folder or a checkpoint inside one.")


def test_a_stopped_run_resumes_in_the_background(tiny_settings):
    """--no-ui --background --resume: the run goes on in a process of its own session; what the resume
    cannot honour is refused before any process starts."""
    from conftest import Recorder
    from processes import wait_until

    from lstm_vision.training.engine import run

    tiny_settings.train.epochs = 3
    recorder = Recorder(stop_at_step=15)
    result = run(tiny_settings, recorder, recorder.control)
    assert result.status == "stopped"
    run_dir = result.run_dir
    refused = cli("--no-ui", "--background", "--resume", run_dir, "--set", "train.batch_size=100")
    assert refused.returncode == 2 and "a resume within an epoch must keep it" in refused.stderr
    started = cli("--no-ui", "--background", "--resume", run_dir, "--set", "train.epochs=4")
    assert started.returncode == 0, started.stderr
    assert f"Watch and steer it with: lstm-vision-tui --attach {run_dir}" in started.stdout
    summary = Path(run_dir) / "summary.json"
    wait_until(
        lambda: summary.is_file() and json.loads(summary.read_text())["status"] == "completed",
        "the background resume to complete",
        timeout=180,
    )
    assert json.loads(summary.read_text())["epochs_completed"] == 4
    assert "Resumed from" in (Path(run_dir) / "output.log").read_text()


def test_the_app_is_told_what_the_command_line_added_to_the_settings_file():
    from lstm_vision.cli import DEFAULT_SETTINGS_FILE, _sources_note, build_parser

    def note(*argv: str) -> str:
        return _sources_note(build_parser().parse_args(list(argv)), DEFAULT_SETTINGS_FILE)

    assert note("--preset", "cpu", "--set", "train.epochs=3") == "+ --preset cpu, --set train.epochs=3"
    assert note() == "" and note("--config", "settings.toml") == ""  # the file itself adds nothing
    assert note("--resume", "runs/x", "--set", "train.epochs=3") == ""  # the form holds the run's settings


def test_a_reader_that_went_away_ends_a_command_quietly(tmp_path):
    """`lstm-vision-tui ... | head -1`: whatever the command still prints goes nowhere, exit 0, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        result = subprocess.run(
            [sys.executable, "-m", "lstm_vision", "--print-settings"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (0, "")
