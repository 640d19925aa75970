"""When the loop looks at its control and logs: by the clock as well as by count (training/cadence.py)."""

from __future__ import annotations

import json

from lstm_vision.training import cadence
from lstm_vision.training import engine
from lstm_vision import events as ev
from lstm_vision.control import RunControl
from lstm_vision.training.engine import run


def test_steps_are_logged_by_the_clock_when_log_every_is_far_away(tiny_settings, monkeypatch):
    monkeypatch.setattr(cadence, "LOG_PERIOD_S", 0.0)  # every step is "a few seconds" late
    tiny_settings.train.log_every = 1000  # never reached by count in 2 epochs of 10 steps
    events = []
    run(tiny_settings, events.append, RunControl())
    logged = [e.global_step for e in events if isinstance(e, ev.StepLogged)]
    assert logged == list(range(1, 21))


def test_a_stop_during_validation_cuts_it_short_and_keeps_the_epoch(tiny_settings, monkeypatch):
    tiny_settings.train.eval_batch_size = 10  # 100 validation images: 10 batches, asked after each
    control = RunControl()
    real_report = engine.report_evaluation

    def report(job, split, data, confusion=False, interrupt=None):
        def stop_then_ask() -> bool:
            control.stop()  # the stop lands while the first validation batch is done
            return interrupt()

        return real_report(job, split, data, confusion, stop_then_ask if interrupt else None)

    monkeypatch.setattr(engine, "report_evaluation", report)
    events = []
    result = run(tiny_settings, events.append, control)
    assert result.status == "stopped" and result.exit_code == 130
    assert not [e for e in events if isinstance(e, ev.EvaluationFinished)]  # no figures from a partial pass
    assert any(isinstance(e, ev.LogMessage) and "Validation after epoch 1 cut short" in e.text for e in events)
    summary = json.loads(open(f"{result.run_dir}/summary.json").read())
    assert summary["status"] == "stopped" and summary["epochs_completed"] == 1


def test_a_long_run_on_a_cpu_points_to_the_cpu_preset_once(tiny_settings, monkeypatch):
    monkeypatch.setattr(engine, "LONG_CPU_RUN_S", 0.0)  # every ETA is "long"
    monkeypatch.setattr(engine, "ETA_SETTLED_S", 0.0)
    events = []
    run(tiny_settings, events.append, RunControl())
    hints = [e.text for e in events if isinstance(e, ev.LogMessage) and "--preset cpu" in e.text]
    assert len(hints) == 1 and hints[0].startswith("This run needs about ") and "on this CPU" in hints[0]
