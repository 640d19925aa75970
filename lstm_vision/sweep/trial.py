"""One trial: Optuna's choice of settings, trained as an ordinary run in ``<sweep>/trial-NNNN/`` by the runner
every run uses, each validated epoch reported to Optuna, and a trial its pruner judges stopped through its
RunControl (it ends as "pruned": training/finish.py)."""

from __future__ import annotations

import shutil
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import optuna

from lstm_vision import events as ev
from lstm_vision.control import RunControl
from lstm_vision.errors import DataError, SettingsError
from lstm_vision.report.trackers import nested_under
from lstm_vision.runs.follow import JournalReader
from lstm_vision.runs.folder import CONTROL_FILE, LAST_CHECKPOINT, METRICS_FILE, OUTPUT_LOG, PROCESS_FILE, read_summary
from lstm_vision.settings import Settings
from lstm_vision.sweep.folder import trial_dir_name
from lstm_vision.sweep.spec import SweepSpec, trial_settings, value_text
from lstm_vision.text import format_metric, format_number

RUN_DIR_ATTR = "lstm_vision.run_dir"  # a trial's run folder's name (a retry inherits its predecessor's)
WORKER_ATTR = "lstm_vision.worker"  # the worker that runs it: workers/<host>-<pid>
ERROR_ATTR = "lstm_vision.error"
PRUNED_ATTR = "lstm_vision.pruned"  # why the pruner cut it short
STOPPED_ATTR = "lstm_vision.stopped"  # stopped by its worker's stop: queued again, to continue from its last.pt
NO_DATA_ATTR = "lstm_vision.no_data"  # the data could not be read: not the trial's fault, queued again


class TrialFailed(Exception):
    """The trial's run failed or its settings were refused: the trial fails, the sweep goes on."""


class TrialStopped(Exception):
    """The worker was asked to stop: the trial's run is stopped resumably and the trial is queued again."""


def suggest(trial: optuna.Trial, spec: SweepSpec) -> dict[str, Any]:
    params = {}
    for dim in spec.space:
        if dim.values is not None:
            params[dim.name] = trial.suggest_categorical(dim.name, list(dim.values))
        elif dim.integer:
            params[dim.name] = trial.suggest_int(dim.name, int(dim.low), int(dim.high), log=dim.log)
        else:
            params[dim.name] = trial.suggest_float(dim.name, dim.low, dim.high, log=dim.log)
    return params


def params_text(params: dict[str, Any]) -> str:
    """Values for the progress lines: a sampled float to 4 significant digits (trials.csv keeps every digit)."""
    return " ".join(
        f"{name}={format_number(value) if isinstance(value, float) else value_text(value)}" for name, value in params.items()
    )


metric_text = format_metric  # the sweep's lines and the app's tables write a metric alike (text.py)


class TrialRunner:
    """Optuna's objective: runs one trial; ``say`` prints the sweep's own lines, ``on_start`` is called once the
    trial has its settings and its folder (trials.csv shows it running), ``on_epoch`` once an epoch's metric is
    reported (trials.csv shows a running trial's last validated epoch)."""

    def __init__(
        self,
        spec: SweepSpec,
        base: Settings,
        sweep_dir: Path,
        worker_id: str,
        say: Callable[[str], None],
        on_start: Callable[[optuna.Trial], None],
        on_epoch: Callable[[], None],
    ) -> None:
        self.spec, self.base, self.sweep_dir, self.worker_id = spec, base, sweep_dir, worker_id
        self.say, self.on_start, self.on_epoch = say, on_start, on_epoch
        self.control: RunControl | None = None  # the running trial's, for the worker's stop / pause
        self.stop_requested = False
        self.data_error: DataError | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        params = suggest(trial, self.spec)
        previous = trial.user_attrs.get(RUN_DIR_ATTR)
        name = trial_dir_name(trial.number + 1)
        trial.set_user_attr(RUN_DIR_ATTR, name)
        trial.set_user_attr(WORKER_ATTR, self.worker_id)
        self.on_start(trial)
        try:
            settings = trial_settings(self.base, params)
        except SettingsError as err:
            return self._fail(trial, str(err))
        run_dir = self.sweep_dir / name
        resume = continue_from(self.sweep_dir, previous, run_dir)
        run_dir.mkdir(exist_ok=True)
        retry = f", continues {previous} from its last.pt" if resume else (f", again after {previous}" if previous else "")
        self.say(f"{self.position(trial)} ({name}{retry}): {params_text(params)}")
        return self._run(trial, settings, run_dir, resume, previous)

    def position(self, trial: optuna.Trial) -> str:
        total = self.spec.total
        return f"Trial {trial.number + 1} of {total}" if trial.number < total else f"Trial {trial.number + 1}"

    def _run(self, trial: optuna.Trial, settings: Settings, run_dir: Path, resume: str | None, previous: str | None) -> float:
        """The trial's run and its metric. ``previous``: the folder of the trial this one retries (a point run with
        several seeds, sweep/repeats.py's RepeatingRunner, keeps the repeats it completed)."""
        reported: dict[int, float] = {}
        if resume:
            for epoch, value in journal_values(run_dir, self.spec.metric).items():
                trial.report(value, epoch)
                reported[epoch] = value
        result = self.train(trial, settings, run_dir, resume, lambda control: self._judge(trial, control, reported))
        return self._outcome(trial, result, reported)

    def train(
        self,
        trial: optuna.Trial,
        settings: Settings,
        run_dir: Path,
        resume: str | None,
        make_judge: Callable[[RunControl], Callable[[ev.Event], None]],
    ):
        """One run of the trial in ``run_dir``, each event also to the judge ``make_judge`` makes for its control;
        the run's result. A run that cannot start fails the trial (TrialFailed)."""
        from lstm_vision.dispatch import runner_for
        from lstm_vision.report.console import Printer

        control = self.control = RunControl()
        if self.stop_requested:
            control.stop()
        with open(run_dir / OUTPUT_LOG, "a", encoding="utf-8") as log:
            printer = Printer(log)
            judge = make_judge(control)

            def emit(event: ev.Event) -> None:
                printer(event)
                judge(event)

            try:
                with nested_under(self.sweep_dir):  # an MLflow trial is a child of the sweep's run
                    result = runner_for(settings)(settings, emit, control, resume, str(run_dir))
            except DataError as err:  # the same data for every trial: the sweep cannot go on
                self.data_error = err
                trial.set_user_attr(NO_DATA_ATTR, True)
                return self._fail(trial, str(err))
            except SettingsError as err:  # these settings only (a shape the data does not allow)
                return self._fail(trial, str(err))
            except KeyboardInterrupt:  # a second Ctrl-C: the run quit at once; a stop still, no failure of the trial's
                trial.set_user_attr(STOPPED_ATTR, True)
                raise
            finally:
                self.control = None
        return result

    def _judge(self, trial: optuna.Trial, control: RunControl, reported: dict[int, float]) -> Callable[[ev.Event], None]:
        metric = self.spec.metric

        def judge(event: ev.Event) -> None:
            if not isinstance(event, ev.EpochFinished) or getattr(event, metric) is None:
                return
            value = float(getattr(event, metric))
            trial.report(value, event.epoch)
            reported[event.epoch] = value
            self.say(f"  trial {trial.number + 1} epoch {event.epoch}/{event.epochs}: {metric_text(metric, value)}")
            self.on_epoch()
            if event.epoch < event.epochs and not control.stop_requested and trial.should_prune():
                control.prune(prune_reason(trial, self.spec, event.epoch, value))

        return judge

    def _outcome(self, trial: optuna.Trial, result, reported: dict[int, float]) -> float:
        summary = result.summary or {}
        if result.status == "completed":
            if not reported:
                return self._fail(trial, f"the run validated no epoch, so it has no {self.spec.metric}")
            return reported[max(reported)]
        if result.status == "pruned":
            trial.set_user_attr(PRUNED_ATTR, summary.get("pruned_reason") or "")
            raise optuna.TrialPruned(summary.get("pruned_reason") or "pruned")
        if result.status == "stopped":
            trial.set_user_attr(STOPPED_ATTR, True)
            raise TrialStopped(f"stopped; {trial_dir_name(trial.number + 1)}/last.pt keeps it")
        return self._fail(trial, summary.get("error") or "the run failed")

    def _fail(self, trial: optuna.Trial, message: str) -> float:
        trial.set_user_attr(ERROR_ATTR, message)
        raise TrialFailed(message)


def prune_reason(trial: optuna.Trial, spec: SweepSpec, epoch: int, value: float) -> str:
    """One sentence for the trial's log: what the pruner compared (MedianPruner: the complete trials' values
    after the same epoch)."""
    shown = metric_text(spec.metric, value)
    if spec.prune == "median":
        complete = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        others = [t.intermediate_values[epoch] for t in complete if epoch in t.intermediate_values]
        if others:
            median = statistics.median(others)
            return f"{shown} after epoch {epoch} trails the median of the complete trials there ({metric_text(spec.metric, median)})."
    return f"{shown} after epoch {epoch} trails the other trials of its {spec.prune} pruner's bracket."


def journal_values(run_dir: Path, metric: str) -> dict[int, float]:
    """The validated epochs' metric as a run's metrics.jsonl recorded them (a continued trial reports them again)."""
    values: dict[int, float] = {}
    for event in JournalReader(run_dir / METRICS_FILE).read():
        if isinstance(event, ev.EpochFinished) and getattr(event, metric) is not None:
            values[event.epoch] = float(getattr(event, metric))
    return values


def continue_from(sweep_dir: Path, previous: str | None, run_dir: Path) -> str | None:
    """A retried trial (its worker stopped or died) continues its predecessor's run from its last.pt, in a copy
    of that folder named after itself: the predecessor's folder stays as it ended. None: start afresh."""
    if not previous or previous == run_dir.name:
        return None
    source = sweep_dir / previous
    if not (source / LAST_CHECKPOINT).is_file() or read_summary(source).get("status") in ("completed", "pruned"):
        return None
    if run_dir.exists():  # this trial's own folder from an earlier attempt (a worker killed as it copied)
        shutil.rmtree(run_dir)
    leave_out = shutil.ignore_patterns(PROCESS_FILE, CONTROL_FILE, OUTPUT_LOG, ".*")
    shutil.copytree(source, run_dir, ignore=leave_out)
    return str(run_dir)


def elapsed_s(frozen: optuna.trial.FrozenTrial) -> float | None:
    if frozen.datetime_start is None:
        return None
    if frozen.datetime_complete is not None:
        return (frozen.datetime_complete - frozen.datetime_start).total_seconds()
    return max(0.0, time.time() - frozen.datetime_start.timestamp())
