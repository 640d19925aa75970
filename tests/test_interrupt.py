"""A second Ctrl-C quits at once and says truthfully what is kept (issue 16.7). The child below holds the run
at a chosen point (reading its stdin) so that the second SIGINT lands exactly there, not by timing."""

import contextlib
import json
import signal
import subprocess
import sys
import threading

from processes import cli, tiny_args, wait_until

CHILD = """
import atexit, sys
import lstm_vision.training.finish as outcome
from lstm_vision.cli import main

where = sys.argv.pop(1)
real_save = outcome.save

def held_save(job, kind):  # the stop's save of last.pt waits: the second Ctrl-C lands before it
    print("saving", file=sys.stderr, flush=True)
    sys.stdin.read()
    real_save(job, kind)

if where == "before-save":
    outcome.save = held_save
else:  # the run has ended and said so; the second Ctrl-C lands while the interpreter exits
    atexit.register(lambda: (print("exiting", file=sys.stderr, flush=True), sys.stdin.read()))
sys.exit(main(sys.argv[1:]))
"""


def interrupt_twice(mnist_root, tmp_path, where: str, first_at: str):
    args = tiny_args(mnist_root, tmp_path) + ["--set", "train.epochs=40", "--set", "train.log_every=1"]
    err_path = tmp_path / "stderr.txt"  # a file, not a pipe: the child never blocks on it, whatever it says
    with open(err_path, "w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, where, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err_file, text=True
        )
    try:
        for line in proc.stdout:
            if line.startswith(first_at):
                proc.send_signal(signal.SIGINT)
                break
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # drained from here on
        held = "saving" if where == "before-save" else "exiting"

        def is_held() -> bool:
            return held in err_path.read_text().splitlines()

        wait_until(lambda: is_held() or proc.poll() is not None, f"the child to reach {held!r} or to end")
        if is_held():  # held there (reading its stdin): the second Ctrl-C lands exactly at that point
            proc.send_signal(signal.SIGINT)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()  # a child still held goes on
        proc.wait(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, err_path.read_text()


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
