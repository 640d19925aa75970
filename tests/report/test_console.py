"""The headless printer: a live line that fits the terminal, plain lines in full, and a reader that goes away."""

import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios

from apps import confusion, epoch_done, predictions, progressed, resources, run_started, step, summary
from lstm_vision import events as ev
from lstm_vision.control import RunControl
from lstm_vision.training.engine import run
from lstm_vision.report.console import Printer
from processes import cli, tiny_args

STEP = ev.StepLogged(
    epoch=1,
    step=62,
    steps_per_epoch=131,
    global_step=62,
    total_steps=262,
    loss=0.1234,
    accuracy=0.9612,
    lr=1.5e-2,
    samples_per_s=16600.0,
    elapsed_s=3.0,
    eta_s=14.0,
)
MEMORY = ev.ResourcesSampled(
    host_rss_bytes=900 << 20, host_peak_rss_bytes=950 << 20, host_total_bytes=16 << 30, host_available_bytes=8 << 30
)


def set_columns(fd: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))


def read_redraws(master: int) -> list[str]:
    """What the terminal received, one entry per redraw of the live line."""
    chunks = []
    while select.select([master], [], [], 0 if chunks else 10)[0]:  # the first read waits, bounded; then drain
        chunks.append(os.read(master, 65536))
    return b"".join(chunks).decode().split("\r\x1b[2K")[1:]


def test_the_live_line_fits_the_terminal_and_drops_the_least_important_first(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    try:
        printer = Printer(stream)
        assert printer.live
        printer(MEMORY)
        lines = {}
        for columns in (200, 120, 80, 40):
            set_columns(slave, columns)  # resized between redraws: each redraw asks again
            printer(STEP)
            [lines[columns]] = read_redraws(master)
            assert len(lines[columns]) < columns, (columns, lines[columns])
    finally:
        stream.close()
        os.close(master)
    bar = "[####................]"
    assert lines[200] == (
        f"{bar}  epoch 1 step 62/131  loss 0.1234  acc 96.12%  lr 1.50e-02  16,600 samples/s  "
        f"elapsed 0:03  ETA 0:14  RSS 900.0 MiB"
    )
    assert lines[120] == f"{bar}  epoch 1 step 62/131  loss 0.1234  acc 96.12%  lr 1.50e-02  16,600 samples/s  ETA 0:14"
    assert lines[80] == "epoch 1 step 62/131  loss 0.1234  acc 96.12%  16,600 samples/s  ETA 0:14"
    assert lines[40] == "epoch 1 step 62/131  loss 0.1234"  # the essentials, whole


def test_plain_lines_stay_complete_whatever_the_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = io.StringIO()
    printer = Printer(out)
    printer(MEMORY)
    printer(STEP)
    assert out.getvalue() == (
        "epoch 1 step 62/131  loss 0.1234  acc 96.12%  lr 1.50e-02  16,600 samples/s  elapsed 0:03  ETA 0:14  RSS 900.0 MiB\n"
    )


def test_a_terminal_that_is_gone_ends_the_printing_not_the_run(tiny_settings):
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    os.close(master)  # the terminal closed: writes to it fail with EIO
    try:
        printer = Printer(stream)
        result = run(tiny_settings, printer, RunControl())
        assert result.status == "completed" and printer.gone
    finally:
        stream.close()


def test_a_pipe_closed_early_ends_the_printing_not_the_run(mnist_root, tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -1` gone before the run prints: every write fails with EPIPE
    try:
        proc = cli(*tiny_args(mnist_root, tmp_path), stdout=write_end, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert json.loads((tmp_path / "cli" / "summary.json").read_text())["status"] == "completed"


def test_the_confusion_matrix_header_lines_up_with_class_names():
    from lstm_vision.report.console import confusion_text

    lines = confusion_text([[5, 1], [0, 7]], ["cat", "dog"]).splitlines()
    assert len({len(line) for line in lines}) == 1  # every line as wide: the header's columns sit over the counts
    assert lines[0].index("cat") + len("cat") == lines[1].index("5") + 1 == lines[2].index("0") + 1


def stopped_line(settings, condition) -> str:
    """The headless stop line of a run stopped once ``condition(event)`` holds."""
    out, control = io.StringIO(), RunControl()
    printer = Printer(out)

    def emit(event):
        printer(event)
        if condition(event):
            control.stop()

    assert run(settings, emit, control).status == "stopped"
    [line] = [line for line in out.getvalue().splitlines() if line.startswith("Stopped")]
    return line


def test_the_stop_line_says_where_last_pt_stands_within_an_epoch(tiny_settings):
    # 10 steps per epoch (batch 50); a stop asked at step 15 of the run lands in epoch 2
    line = stopped_line(tiny_settings, lambda e: isinstance(e, ev.StepLogged) and e.global_step >= 15)
    run_dir = tiny_settings.output.dir + "/test"
    assert line == f"Stopped at epoch 2, step 5 of 10 (last.pt keeps it): resume with lstm-vision-tui --no-ui --resume {run_dir}"


def test_the_stop_line_at_an_epoch_boundary_names_the_epoch_finished(tiny_settings):
    tiny_settings.train.epochs = 3
    line = stopped_line(tiny_settings, lambda e: isinstance(e, ev.EpochFinished) and e.epoch == 1)
    assert line.startswith("Stopped after epoch 1 of 3 (last.pt keeps it): resume with ")


def test_the_stop_line_before_any_step_says_so():
    summary = {"epochs_completed": 0, "epochs": 5, "run_dir": "runs/x"}
    out = io.StringIO()
    Printer(out)(ev.RunStopped(summary, "runs/x/last.pt", 0, 131))
    assert out.getvalue().startswith("Stopped before the first step (last.pt keeps it)")


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as Printer asks (its width comes from COLUMNS)."""

    def isatty(self) -> bool:
        return True


def a_run() -> list[ev.Event]:
    return [
        run_started("runs/x", epochs=2, steps=3),
        resources(),
        progressed(1, 1, 3, 2),
        step(1, 2, 3, 2),
        progressed(1, 3, 3, 2),
        epoch_done(1, 2),
        ev.CheckpointSaved("runs/x/best.pt", "best", 1),
        ev.CheckpointSaved("runs/x/last.pt", "last", 1),
        ev.CheckpointSaved("runs/x/epoch-001.pt", "periodic", 1),
        ev.EvaluationFinished(split="test", epoch=2, loss=0.05, accuracy=0.9876, correct=9876, total=10000),
        predictions(),
        ev.RunFinished(summary={**summary("completed", 2), "run_dir": "runs/x"}, confusion_matrix=confusion()),
    ]


def printed(stream) -> str:
    printer = Printer(stream)
    for event in a_run():
        printer(event)
    return stream.getvalue()


def test_a_pipe_gets_one_plain_line_per_logged_step_and_no_progress_ticks(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out = printed(io.StringIO())
    assert "\r" not in out and "\x1b" not in out  # no animation in a log file
    lines = out.splitlines()
    assert lines[0] == "Run directory: runs/x"
    assert lines[2] == (
        "epoch 1 step 2/3  loss 1.0000  acc 20.00%  lr 1.00e-03  1,000 samples/s  elapsed 0:02  ETA 0:04  RSS 500.0 MiB"
    )  # the logged step; the ticks at steps 1 and 3 print nothing
    assert lines[3].startswith("epoch 1/2 done in 4.0 s (1,000 samples/s): train loss 1.0000")
    assert lines[4:6] == ["saved runs/x/best.pt", "saved runs/x/epoch-001.pt"]  # last.pt is saved every epoch: not said
    assert lines[6] == "Test data: Got 9876/10000 with accuracy 98.76 %"
    assert lines[-1].startswith("Completed: 2 epochs, training time 8.0 s (1,000 samples/s); results in runs/x")
    assert sum(line.startswith("epoch 1 step") for line in lines) == 1


def test_a_terminal_gets_a_live_line_redrawn_by_steps_and_ticks_then_the_same_plain_lines(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    tty, plain = printed(Terminal()), printed(io.StringIO())
    redraws = re.findall(r"\r\x1b\[2K([^\r\n]*)", tty)
    assert redraws == [
        "[###.................]  epoch 1 step 1/3  elapsed 1:00  ETA 2:30",  # a tick: 1 of 6 steps, its clock
        "[######..............]  epoch 1 step 2/3  loss 1.0000  acc 20.00%  lr 1.00e-03  1,000 samples/s  "
        "elapsed 0:02  ETA 0:04  RSS 500.0 MiB",
        "[##########..........]  epoch 1 step 3/3  elapsed 3:00  ETA 1:30",
    ]
    assert redraws[-1] + "\nepoch 1/2 done in" in tty  # the next plain line starts below the live line, not on it
    kept = [line for line in re.sub(r"\r\x1b\[2K[^\r\n]*", "", tty).split("\n") if line]
    assert kept == [line for line in plain.splitlines() if not line.startswith("epoch 1 step")]


def test_mnists_confusion_matrix_fits_80_columns():
    from lstm_vision.report.console import confusion_text

    names = [f"{k} - {word}" for k, word in enumerate("zero one two three four five six seven eight nine".split())]
    lines = confusion_text([[980 if i == j else 3 for j in range(10)] for i in range(10)], names).splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0].split()[-10:] == [str(k) for k in range(10)] and lines[8].startswith("7 - seven ")
