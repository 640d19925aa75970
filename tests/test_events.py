"""One schema, three consumers: a torchrun child's JSON-lines stream (printer.jsonl_emitter) read back by the
launcher (launcher.EventStream) gives the parent the very events the child emitted, every type of them."""

import io
import json
import os

from apps import confusion, epoch_done, predictions, progressed, resources, run_started, step, summary
from lstm_vision import events as ev
from lstm_vision.distributed.torchrun import EventStream
from lstm_vision.report.console import jsonl_emitter
from lstm_vision.text import format_clock
from processes import cli, journal, tiny_args

GPU = {
    "allocated_bytes": 3 << 30,
    "reserved_bytes": 4 << 30,
    "peak_allocated_bytes": 5 << 30,
    "total_bytes": 80 << 30,
    "utilization": 97,
    "temperature": 61,
    "name": "NVIDIA H200",
    "rank_peak_allocated_bytes": [5 << 30, 6 << 30],
}

# one of every event type, with the awkward values: None, nested dicts and lists, a newline and non-ASCII text
SAMPLES = [
    run_started("runs/ü x", epochs=2, steps=3),
    step(1, 2, 3, 2),
    progressed(1, 3, 3, 2),
    ev.EvaluationFinished(split="val", epoch=1, loss=0.1 / 3, accuracy=0.975, correct=195, total=200),
    epoch_done(1, 2),
    ev.EpochFinished(
        epoch=1,
        epochs=2,
        train_loss=0.5,
        train_accuracy=0.9,
        val_loss=None,
        val_accuracy=None,
        lr=1e-3,
        epoch_time_s=1.5,
        samples_per_s=400.0,
        best_val_loss=None,
        elapsed_s=1.5,
        eta_s=1.5,
    ),
    resources(),
    ev.ResourcesSampled(
        host_rss_bytes=1, host_peak_rss_bytes=2, host_total_bytes=3, host_available_bytes=4, gpu=GPU, note="NVML not found"
    ),
    ev.CheckpointSaved(path="runs/x/epoch-002.pt", kind="periodic", epoch=2),
    ev.LogMessage(level="warning", text='two\nlines, «ü» and a "quote"'),
    predictions(3),
    ev.RunPaused(epoch=1, step=2),
    ev.RunResumed(epoch=1, step=2),
    ev.SettingsChanged(epoch=1, step=2, changes={"train.epochs": [2, 4], "optim.betas": [[0.9, 0.999], [0.8, 0.99]]}),
    ev.RunFinished(summary={**summary("completed", 2), "per_class": [{"class": "0", "f1": 1.0}]}, confusion_matrix=confusion()),
    ev.RunStopped(summary=summary("stopped", 1), checkpoint="runs/x/last.pt", step=2, steps_per_epoch=3),
    ev.RunFailed(message="Rank 1 failed", log_path="runs/x/error.log", summary=None),
]


def stream_lines(events) -> list[str]:
    out = io.StringIO()
    emit = jsonl_emitter(out)
    for event in events:
        emit(event)
    return out.getvalue().splitlines(keepends=True)


def read_back(lines) -> tuple[list[ev.Event], EventStream]:
    got = []
    stream = EventStream(got.append, lambda run_dir: ev.LogMessage("info", f"launched into {run_dir}"))
    for line in lines:
        stream.feed(line)
    return got, stream


def test_the_samples_cover_every_event_type():
    assert {type(e) for e in SAMPLES} == set(ev.EVENT_NAMES)  # a new event type needs a sample here


def test_each_event_is_one_json_line_named_by_its_event_key():
    lines = stream_lines(SAMPLES)
    assert len(lines) == len(SAMPLES) and all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    assert [json.loads(line)["event"] for line in lines] == [ev.EVENT_NAMES[type(e)] for e in SAMPLES]


def test_every_event_type_round_trips_through_the_stream():
    got, stream = read_back(stream_lines(SAMPLES))
    started, failed = SAMPLES[0], SAMPLES[-1]
    # the parent sees each event as emitted; after run_started its own note; run_failed is held back until
    # torchrun has exited (the first failing rank is known only then)
    assert got == [started, ev.LogMessage("info", "launched into runs/ü x"), *SAMPLES[1:-1]]
    assert stream.started and stream.run_dir == "runs/ü x" and stream.final == failed


def test_the_final_event_is_kept_for_the_launchers_result():
    finished, stopped = SAMPLES[-3], SAMPLES[-2]
    got, stream = read_back(stream_lines([SAMPLES[0], finished]))
    assert got[-1] == finished and stream.final == finished
    got, stream = read_back(stream_lines([SAMPLES[0], stopped]))
    assert got[-1] == stopped and stream.final == stopped


def test_lines_that_are_not_events_become_log_lines_and_blank_lines_vanish():
    lines = [
        "Warning: a library prints to stdout\n",
        "\n",
        "   \n",
        '{"event": "no_such_event"}\n',
        "[1, 2]\n",
        '{"not": "an event"}\n',
        stream_lines([SAMPLES[1]])[0],
    ]
    got, stream = read_back(lines)
    assert got == [
        ev.LogMessage("info", "Warning: a library prints to stdout"),
        ev.LogMessage("info", '{"event": "no_such_event"}'),
        ev.LogMessage("info", "[1, 2]"),
        ev.LogMessage("info", '{"not": "an event"}'),
        SAMPLES[1],
    ]
    assert not stream.started and stream.final is None


def test_a_child_in_jsonl_mode_streams_the_events_of_its_journal(mnist_root, tmp_path):
    """As a torchrun child of the app runs (LSTM_VISION_EVENTS=jsonl): its stdout, read back, is metrics.jsonl."""
    result = cli(*tiny_args(mnist_root, tmp_path), env={**os.environ, ev.EVENTS_ENV: "jsonl"})
    assert result.returncode == 0, result.stderr
    got, stream = read_back(result.stdout.splitlines(keepends=True))
    run_dir = str(tmp_path / "cli")
    assert got[1] == ev.LogMessage("info", f"launched into {run_dir}")  # the launcher's note, then
    from_journal = [ev.event_from_dict(row) for row in journal(tmp_path / "cli")]
    assert got[:1] + got[2:] == from_journal  # the same events, in the same order, and no stray line
    assert isinstance(stream.final, ev.RunFinished) and {"step_logged", "epoch_finished"} <= {
        ev.EVENT_NAMES[type(e)] for e in from_journal
    }


def test_the_clock_time_of_each_event_survives_the_stream():
    got, _ = read_back(stream_lines(SAMPLES))
    assert [e.wall_time for e in got if e.wall_time in {s.wall_time for s in SAMPLES}] == [s.wall_time for s in SAMPLES[:-1]]
    assert all(isinstance(s.wall_time, float) for s in SAMPLES)


def test_a_journal_line_without_a_clock_time_replays_with_none_not_the_time_of_the_replay():
    line = {"event": "run_paused", "epoch": 1, "step": 2}  # as journals were written before wall_time
    assert ev.event_from_dict(line) == ev.RunPaused(1, 2) and ev.event_from_dict(line).wall_time is None
    assert format_clock(ev.event_from_dict(line).wall_time) == "--:--:--"


def test_a_replayed_event_shows_the_clock_time_it_happened_at():
    import datetime as dt

    happened = dt.datetime(2026, 12, 7, 13, 5, 9).timestamp()  # this machine's local time
    line = json.loads(ev.RunPaused(1, 2, wall_time=happened).to_json())
    assert format_clock(ev.event_from_dict(line).wall_time) == "13:05:09"


def test_every_journal_line_of_a_run_carries_its_clock_time(tiny_settings):
    import time

    from lstm_vision.control import RunControl
    from lstm_vision.training.engine import run

    before = time.time()
    result = run(tiny_settings, lambda e: None, RunControl())
    after = time.time()
    rows = journal(result.run_dir)
    assert len(rows) > 10 and all(isinstance(row["wall_time"], float) for row in rows)
    times = [row["wall_time"] for row in rows]
    assert before <= times[0] and times == sorted(times) and times[-1] <= after  # seconds since the epoch, in order
