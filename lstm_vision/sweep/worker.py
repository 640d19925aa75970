"""A sweep worker: takes trials from the study one at a time and runs each as an ordinary run, until the study
is done (every grid point, or ``trials``, ended), it is stopped, or the data cannot be read.

Trials are handed out under a lock (a file lock in the sweep folder, or a PostgreSQL advisory lock for a shared
database), so that each decision "take a queued trial, start a new one, wait, or end" sees every other worker's:
- a grid's points are queued once (Optuna's GridSampler can hand one point to two workers);
- ``trials`` caps the study's total, not this process's (optimize's n_trials counts per process);
- a trial whose worker died is failed and queued again: by Optuna's heartbeat on the database storage (it
  beats only inside study.optimize, which is why each trial runs through it), and by the workers' liveness
  files on the journal storage, which has no heartbeat;
- a worker with nothing to take while others still run trials waits for them: a trial may yet fail and come
  back. So a worker ends with 0 only when the study is done.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Callable

import optuna
from optuna.trial import TrialState

from lstm_vision.settings import Settings
from lstm_vision.sweep.distinct import DUPLICATES_ATTR
from lstm_vision.sweep.folder import IMPORTANCE_CSV, WORKERS_DIR, read_importance, worker_alive, worker_dir
from lstm_vision.sweep.importance import importance_text
from lstm_vision.sweep.repeats import METRIC_STD_ATTR, RepeatingRunner
from lstm_vision.sweep.report import best_trial, update_reports
from lstm_vision.sweep.spec import SweepSpec
from lstm_vision.sweep.study import GRID_ATTR, RETRIES_OF_A_DEAD_TRIAL
from lstm_vision.sweep.trial import (
    ERROR_ATTR,
    NO_DATA_ATTR,
    PRUNED_ATTR,
    STOPPED_ATTR,
    WORKER_ATTR,
    TrialFailed,
    TrialRunner,
    TrialStopped,
    metric_text,
    params_text,
)
from lstm_vision.text import format_duration
from lstm_vision.runs.result import EXIT_BAD_INPUT, EXIT_STOPPED

WAIT_POLL_S = 2.0  # how often a worker with nothing to take looks again


class Worker:
    """Also the RunControl of the worker as a whole, for its liveness beacon and its signal handlers: stop ends
    the running trial resumably and takes no other; pause and resume act on the running trial."""

    def __init__(
        self,
        spec: SweepSpec,
        base: Settings,
        sweep_dir: Path,
        study: optuna.Study,
        database: bool,
        lock,
        report_lock,
        say: Callable[[str], None],
    ) -> None:
        self.spec, self.base, self.sweep_dir, self.study, self.database = spec, base, sweep_dir, study, database
        self.lock, self.report_lock, self.say = lock, report_lock, say
        self.id = worker_dir(sweep_dir, socket.gethostname(), os.getpid()).name
        runner = RepeatingRunner if spec.repeats > 1 else TrialRunner  # K seeds a point: sweep/repeats.py
        self.runner = runner(spec, base, sweep_dir, self.id, say, self._started, lambda: self._report(picture=False))
        self._stop = threading.Event()
        self._waiting_for: set[int] = set()

    # -- control ------------------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()
        self.runner.stop_requested = True
        if self.runner.control is not None:
            self.runner.control.stop()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def pause(self) -> None:
        if self.runner.control is not None:
            self.runner.control.pause()

    def resume(self) -> None:
        if self.runner.control is not None:
            self.runner.control.resume()

    @property
    def paused(self) -> bool:
        return self.runner.control is not None and self.runner.control.paused

    # -- the loop -----------------------------------------------------------------------------------------
    def run(self) -> int:
        """0: the study is done; 130: stopped; 2: the data cannot be read (every trial would fail)."""
        while not self.stop_requested:
            decision = self._next()
            if decision == "done":
                self._report()
                self.say(self.final_line())
                return 0
            if decision == "wait":
                self._stop.wait(WAIT_POLL_S)
                continue
            code = self._run_one()
            if code is not None:
                return code
        return EXIT_STOPPED

    def _next(self) -> str:
        """Under the lock: "ask" (the lock stays held until the trial is taken), "wait" or "done"."""
        self.lock.acquire()
        try:
            self._recover_dead()
            if self.spec.method == "grid" and not self.study.user_attrs.get(GRID_ATTR):
                for point in self.spec.grid_points():
                    self.study.enqueue_trial(point, skip_if_exists=True)  # again after a worker died halfway
                self.study.set_user_attr(GRID_ATTR, True)
            trials = self.study.get_trials(deepcopy=False)
            waiting = any(t.state == TrialState.WAITING for t in trials)
            if waiting or (self.spec.method != "grid" and counted(trials) < self.spec.total):
                return "ask"
            running = {t.number for t in trials if t.state == TrialState.RUNNING}
        except BaseException:
            self.lock.release()
            raise
        self.lock.release()
        if running and running != self._waiting_for:
            self.say(f"Waiting for {_numbers(running)} (another worker's) to end: a trial that fails comes back.")
        self._waiting_for = running
        return "wait" if running else "done"

    def _recover_dead(self) -> None:
        """Fail the running trials whose worker is gone, and queue each again."""
        if self.database:
            optuna.storages.fail_stale_trials(self.study)  # the heartbeat's verdict; its callback queues them
            return
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        others = [f for f in (self.sweep_dir / WORKERS_DIR).glob("*") if f.name != self.id] if running else []
        anyone_else = any(worker_alive(f) for f in others)
        for frozen in running:
            worker = frozen.user_attrs.get(WORKER_ATTR)
            if worker == self.id:
                continue
            # a worker killed between taking a trial and naming itself on it: dead once no other worker lives
            if worker_alive(self.sweep_dir / WORKERS_DIR / worker) if worker else anyone_else:
                continue
            self.study.tell(frozen.number, state=TrialState.FAIL, skip_if_finished=True)
            self.say(f"Trial {frozen.number + 1}: its worker {worker or '(unnamed)'} is gone; queued again.")
            optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=RETRIES_OF_A_DEAD_TRIAL)(self.study, frozen)

    def _started(self, trial: optuna.Trial) -> None:
        """The trial is taken and named after this worker: other workers may decide again; trials.csv shows it."""
        avoided = getattr(self.study.sampler, "avoided", {}).pop(trial.number, 0)  # sweep/distinct.py
        if avoided:
            trial.set_user_attr(DUPLICATES_ATTR, avoided)
        self.lock.release()
        self._report(picture=False)

    def _run_one(self) -> int | None:
        try:
            self.study.optimize(
                self.runner, n_trials=1, catch=(TrialFailed, TrialStopped), callbacks=[self._ended], gc_after_trial=False
            )
        except KeyboardInterrupt:  # a second Ctrl-C: the run quit at once; Optuna failed the trial
            self._requeue_mine()
            return EXIT_STOPPED
        finally:
            self.lock.release()  # when optimize failed before the trial was taken
        if self.runner.data_error is not None:
            self.say(f"error: {self.runner.data_error}")
            return EXIT_BAD_INPUT
        return None

    def _ended(self, study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        if frozen.state == TrialState.FAIL and (frozen.user_attrs.get(STOPPED_ATTR) or frozen.user_attrs.get(NO_DATA_ATTR)):
            # a stop, or data that cannot be read, is not the trial's fault: it runs again when the sweep goes on
            optuna.storages.RetryHeartbeatStaleTrialCallback()(study, frozen)
        self._report()
        self.say(self.result_line(frozen))

    def _requeue_mine(self) -> None:
        """After a quit at once: this worker's last trial, failed by Optuna as the run quit, is queued again."""
        trials = self.study.get_trials(deepcopy=False)
        mine = [t for t in trials if t.user_attrs.get(WORKER_ATTR) == self.id]
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        last = mine[-1] if mine else None
        if (
            last is not None
            and last.state == TrialState.FAIL
            and last.number not in retried
            and not last.user_attrs.get(ERROR_ATTR)
        ):
            optuna.storages.RetryHeartbeatStaleTrialCallback()(self.study, last)
            self._report(picture=False)  # quitting at once: a module the interrupt cut short may be half imported

    def _report(self, picture: bool = True) -> None:
        with self.report_lock:
            try:
                warning = update_reports(self.study, self.spec, self.sweep_dir, self.base, picture)
                if warning:
                    self.say(f"warning: {warning}")
            except OSError as err:  # a full disk must not end the sweep; the study has every result
                self.say(f"warning: the sweep's reports were not written: {err}")

    # -- lines --------------------------------------------------------------------------------------------
    def result_line(self, frozen: optuna.trial.FrozenTrial) -> str:
        head = self.runner.position(frozen)
        took = f" in {format_duration(_duration(frozen))}" if _duration(frozen) is not None else ""
        if frozen.state == TrialState.COMPLETE:
            text = f"{head}: {metric_text(self.spec.metric, frozen.value, frozen.user_attrs.get(METRIC_STD_ATTR))}{took}"
        elif frozen.state == TrialState.PRUNED:
            reason = frozen.user_attrs.get(PRUNED_ATTR) or f"after epoch {max(frozen.intermediate_values, default=0)}"
            text = f"{head}: pruned{took}: {reason.rstrip('.')}"
        elif frozen.user_attrs.get(STOPPED_ATTR):
            return f"{head}: stopped{took}; queued again, to continue from its last.pt."
        else:
            text = f"{head}: failed: {frozen.user_attrs.get(ERROR_ATTR) or 'see its folder'}"
        return f"{text}; {self.best_text()}"

    def best_text(self) -> str:
        best = best_trial(self.study)
        if best is None:
            return "no trial complete yet"
        return f"best so far: trial {best.number + 1}, {metric_text(self.spec.metric, best.value)}"

    def final_line(self) -> str:
        trials = self.study.get_trials(deepcopy=False)
        retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        failed = [t for t in trials if t.state == TrialState.FAIL]
        stopped = sum(bool(t.user_attrs.get(STOPPED_ATTR)) for t in failed)
        no_data = sum(bool(t.user_attrs.get(NO_DATA_ATTR)) for t in failed)
        lost = sum(
            t.number in retried and not t.user_attrs.get(STOPPED_ATTR) and not t.user_attrs.get(NO_DATA_ATTR) for t in failed
        )
        counts = {
            "complete": sum(t.state == TrialState.COMPLETE for t in trials),
            "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "failed": len(failed) - stopped - lost - no_data,
            "without their data and queued again": no_data,
            "stopped and continued": stopped,
            "lost with their worker and run again": lost,
        }
        tally = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
        avoided = sum(bool(t.user_attrs.get(DUPLICATES_ATTR)) for t in trials)
        if avoided:
            tally += f"; {avoided} given a new point where the sampler proposed one already run"
        best = best_trial(self.study)
        if best is None:
            return f"Sweep {self.spec.name} done: {len(trials)} trials ({tally}); none completed."
        seeds = f" (mean +- std of {self.spec.repeats} seeds)" if self.spec.repeats > 1 else ""
        mattered = importance_text(read_importance(self.sweep_dir))
        return (
            f"Sweep {self.spec.name} done: {len(trials)} trials ({tally}). Best: trial {best.number + 1}, "
            f"{metric_text(self.spec.metric, best.value, best.user_attrs.get(METRIC_STD_ATTR))}{seeds} with "
            f"{params_text(best.params)}; its settings: {self.sweep_dir / 'best.toml'}"
            + (f"; {mattered}: {self.sweep_dir / IMPORTANCE_CSV}" if mattered else "")
        )


def counted(trials: list[optuna.trial.FrozenTrial]) -> int:
    """Trials toward ``trials``: all but the failed ones that were queued again (their retry counts instead)."""
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return sum(1 for t in trials if not (t.state == TrialState.FAIL and t.number in retried))


def _numbers(numbers: set[int]) -> str:
    shown = sorted(n + 1 for n in numbers)
    return ("trial " if len(shown) == 1 else "trials ") + ", ".join(map(str, shown))


def _duration(frozen: optuna.trial.FrozenTrial) -> float | None:
    if frozen.datetime_start is None or frozen.datetime_complete is None:
        return None
    return (frozen.datetime_complete - frozen.datetime_start).total_seconds()
