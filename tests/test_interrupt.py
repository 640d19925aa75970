"""A second Ctrl-C quits at once and says truthfully what is kept (issue 16.7). The child
(processes.interrupted_twice) holds the run at a chosen point so that the second SIGINT lands exactly there."""

import json

from processes import cli, interrupted_twice, tiny_args


def interrupt_twice(mnist_root, tmp_path, where: str, first_at: str):
    args = tiny_args(mnist_root, tmp_path) + ["--set", "train.epochs=40", "--set", "train.log_every=1"]
    return interrupted_twice(args, tmp_path, where, first_at)


def test_quit_before_the_save_keeps_the_last_epochs_checkpoint_and_resumes_from_it(mnist_root, tmp_path):
    code, err = interrupt_twice(mnist_root, tmp_path, "before-save", "epoch 2 step 2/")
    run_dir = tmp_path / "cli"
    assert code == 130, err
    assert f"Interrupted: quit at once; last.pt from epoch 1 is kept, --resume {run_dir} continues from there.\n" in err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    resumed = cli("--no-ui", "--resume", str(run_dir), "--set", "train.epochs=2")
    assert resumed.returncode == 0, resumed.stderr
    assert "Resumed from" in resumed.stdout and "at epoch 2 of 2, step 0." in resumed.stdout
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_quit_before_any_checkpoint_says_nothing_to_resume_and_exits_1(mnist_root, tmp_path):
    code, err = interrupt_twice(mnist_root, tmp_path, "before-save", "epoch 1 step 3/")
    assert code == 1, err
    assert err.endswith("Interrupted: quit at once; nothing to resume.\n"), err
    assert "Traceback" not in err and not (tmp_path / "cli" / "last.pt").exists()


def test_a_second_ctrl_c_after_the_save_leaves_no_stray_traceback(mnist_root, tmp_path):
    code, err = interrupt_twice(mnist_root, tmp_path, "at-exit", "epoch 1 step 3/")
    assert code == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err and "KeyboardInterrupt" not in err, err
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["status"] == "stopped"
