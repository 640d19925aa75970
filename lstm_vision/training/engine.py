"""The training loop. ``run(settings, emit, control)`` knows nothing about who watches it.

Reads top to bottom: prepare (training/setup.py: data, model, optimizer, run directory), train epochs
(set lr, micro-steps under autocast and the scaler, clip, step, zero_grad, log every N),
evaluate, finish (test, summary, confusion matrix). Only rank 0 emits and writes files.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from lstm_vision import events as ev
from lstm_vision.training.batches import EvaluationInterrupted
from lstm_vision.settings import Settings
from lstm_vision.control import RunControl
from lstm_vision.training.cadence import Cadence
from lstm_vision.distributed.collectives import cleanup, context_from_env
from lstm_vision.training.state import (
    PreparedRun,
    NonFiniteLoss,
    PartialEpoch,
    report_evaluation,
    sample_resources,
    save,
)
from lstm_vision.training.meters import EpochMeters
from lstm_vision.model.optim import lr_at
from lstm_vision.training.early_stop import reason
from lstm_vision.training.finish import draw_pictures, fail, finish
from lstm_vision.training.setup import prepare
from lstm_vision.runs.result import RunResult

PROGRESS_PERIOD_S = 1.0


def run(
    settings: Settings,
    emit: Callable[[ev.Event], None],
    control: RunControl,
    resume: str | None = None,
    run_dir: str | None = None,
) -> RunResult:
    """Train, evaluate and write the run directory (``run_dir`` if given: a new or empty folder, else
    one under output.dir). Raises SettingsError for bad settings before any file is written; any later
    failure is reported as RunFailed and status "failed". While it runs, the run directory names this
    process with a heartbeat and honours pause / resume / stop requests written there (runs/liveness.py)."""
    dist_ctx = context_from_env()
    job = prepare(settings, emit, dist_ctx, resume, run_dir, control)
    result: RunResult | None = None
    try:
        result = finish(job, train(job, control), control.prune_reason)
    except Exception as err:  # the worker must never die without a message and a summary
        result = fail(job, err)
    finally:
        job.outputs.close(result.exit_code if result is not None else 1)
        cleanup()
    return result


def train(job: PreparedRun, control: RunControl) -> str:
    """Train the remaining epochs; returns "completed" or "stopped"."""
    s, steps = job.settings.train, job.batcher.steps_per_epoch
    total_steps = s.epochs * steps
    cadence = Cadence(control, job.dist, job.device, lambda paused: _paused(job, paused))
    log_due = True  # the first step is logged: the charts get a point at once, however slow the model
    while job.epoch < s.epochs:
        if cadence.stop_requested():  # asked for during the last epoch's evaluation and saves: stop at the boundary
            return "stopped"
        job.train_model.train()
        order = job.batcher.epoch_order(job.epoch)
        meters, first_step = EpochMeters(job.partial, job.device), job.step
        while job.step < steps:
            lr = lr_at(job.global_step, total_steps, job.settings.optim)
            for group in job.optimizer.param_groups:
                group["lr"] = lr
            stats = train_step(job, order, job.step)
            job.step += 1
            job.global_step += 1
            meters.add(stats, job.global_step, job.batcher.batch_samples(job.step - 1))
            logged = log_due or job.global_step % s.log_every == 0 or job.step == steps
            if logged:
                _log_step(job, meters, lr, total_steps, first_step)
            else:
                _progress(job, total_steps, meters.seconds(), first_step)
            tick = cadence.tick(logged)  # stop? pause? a log due by the clock? All ranks together.
            meters.exclude_pause(tick.paused_s)
            log_due = tick.log_next
            if tick.stop:
                _account(job, meters)
                return "stopped"
        _account(job, meters)
        if not end_epoch(job, cadence.stop_requested):  # a stop during validation ends the run here
            return "stopped"
        if job.early_stopped_epoch is not None:  # saved, as every epoch: now tested as a completed run
            return "completed"
    return "completed"


def _log_step(job: PreparedRun, meters: EpochMeters, lr: float, total_steps: int, first_step: int) -> None:
    """The steps since the last logged one, over all ranks: on every rank at the same step (collectives)."""
    loss, accuracy, rate = meters.log_window(job.dist)
    _check_finite(job, meters)
    in_epoch = meters.seconds()
    eta = _eta(job, total_steps, in_epoch, first_step)
    job.emit(
        ev.StepLogged(
            job.epoch + 1,
            job.step,
            job.batcher.steps_per_epoch,
            job.global_step,
            total_steps,
            loss,
            accuracy,
            lr,
            rate,
            job.train_time_s + in_epoch,
            eta,
        )
    )
    _hint_long_cpu_run(job, eta, in_epoch)
    sample_resources(job)


def _progress(job: PreparedRun, total_steps: int, in_epoch: float, first_step: int) -> None:
    """Once a second between logged steps: where the run is, from host-side counts (no device sync)."""
    now = time.monotonic()
    if now - job.last_progress < PROGRESS_PERIOD_S:
        return
    job.last_progress = now
    job.emit(
        ev.StepProgressed(
            job.epoch + 1,
            job.step,
            job.batcher.steps_per_epoch,
            job.global_step,
            total_steps,
            job.train_time_s + in_epoch,
            _eta(job, total_steps, in_epoch, first_step),
        )
    )


LONG_CPU_RUN_S = 600.0  # an ETA beyond this on a CPU gets the hint below, once
ETA_SETTLED_S = 5.0  # the first steps' pace (warm-up, allocation) is not yet the run's


def _hint_long_cpu_run(job: PreparedRun, eta: float, in_epoch: float) -> None:
    """A new user who starts the default model on a laptop sees an ETA of hours: say once what the
    `cpu` preset does there instead."""
    if job.hinted or job.device.type != "cpu" or in_epoch < ETA_SETTLED_S or eta < LONG_CPU_RUN_S:
        return
    job.hinted = True
    hours, rest = divmod(int(eta), 3600)
    job.emit(
        ev.LogMessage(
            "warning",
            f"This run needs about {hours} h {rest // 60:02d} min more on this CPU. The cpu preset "
            f"trains MNIST to 99 % in about 30 s on 2 cores: --preset cpu, or Load preset… "
            f"(ctrl+p) in the app.",
        )
    )


def _eta(job: PreparedRun, total_steps: int, in_epoch: float, first_step: int) -> float:
    """Seconds left: the remaining steps at this epoch's pace so far (steps since first_step in in_epoch s),
    plus the validations left at the last one's duration (none measured yet: 0)."""
    return (total_steps - job.global_step) * in_epoch / max(1, job.step - first_step) + _validations_left(job) * job.val_time_s


def _validations_left(job: PreparedRun) -> int:
    """Validations after the epochs done: every val_log_every-th epoch and always the last."""
    every, epochs, done = job.settings.train.val_log_every, job.settings.train.epochs, job.epoch
    return max(0, epochs // every - done // every) + (1 if epochs % every and done < epochs else 0)


def _paused(job: PreparedRun, paused: bool) -> None:
    job.emit((ev.RunPaused if paused else ev.RunResumed)(job.epoch + 1, job.step))


def _account(job: PreparedRun, meters: EpochMeters) -> None:
    """Fold this epoch's time into the run's, and keep its sums for end_epoch or a resume (all ranks)."""
    seconds = meters.seconds()
    job.train_time_s += seconds
    job.partial = meters.so_far(seconds, job.dist)


def train_step(job: PreparedRun, order: torch.Tensor, step: int) -> torch.Tensor:
    """One optimizer step over grad_accum_steps micro-batches; returns [loss sum, correct, samples] on device."""
    s = job.settings.train
    micro_batches = job.batcher.micro_batches(order, step)
    stats = torch.zeros(3, device=job.device, dtype=torch.float64)
    total = sum(len(idx) for idx in micro_batches)
    for i, idx in enumerate(micro_batches):
        x, y = job.batcher.batch(job.data.train, idx)
        last = i == len(micro_batches) - 1
        sync = job.train_model.no_sync() if job.dist.enabled and not last else nullcontext()
        with sync:
            with job.precision.autocast(job.device):
                logits = job.train_model(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=s.label_smoothing)
            job.scaler.scale(loss * (len(idx) / total)).backward()
        with torch.no_grad():
            stats[0] += loss.detach().double() * len(idx)
            stats[1] += (logits.argmax(1) == y).sum()
            stats[2] += len(idx)
    if s.max_norm > 0:
        job.scaler.unscale_(job.optimizer)
        nn.utils.clip_grad_norm_(job.model.parameters(), s.max_norm)
    job.scaler.step(job.optimizer)
    job.scaler.update()
    job.optimizer.zero_grad(set_to_none=True)
    return stats


def _check_finite(job: PreparedRun, meters: EpochMeters) -> None:
    if not job.settings.train.stop_on_nan:
        return
    step = meters.nonfinite_step(job.dist)
    if step is not None:
        raise NonFiniteLoss(
            f"The training loss became NaN or infinite at step {step}; the last good checkpoint is kept. "
            f"Try a lower optim.learning_rate, train.max_norm > 0, or train.amp = bf16/off instead of fp16."
        )


def end_epoch(job: PreparedRun, interrupt: Callable[[], bool] | None = None) -> bool:
    """Validate, report and checkpoint the epoch just trained. False when a stop came during the
    validation: it is cut short (``interrupt`` is polled between its batches) and the epoch is kept."""
    s = job.settings.train
    trained = job.partial  # over all ranks; its seconds are the whole epoch's, also across a stop and resume
    epoch_time, seen = trained.seconds, max(trained.seen, 1)
    # the rate of the epoch's last step, also when a resume found that step already done
    lr = lr_at(job.global_step - 1, s.epochs * job.batcher.steps_per_epoch, job.settings.optim)
    epoch_samples = int(trained.seen)
    job.train_samples += epoch_samples
    job.epoch += 1
    job.step = 0
    job.partial = PartialEpoch()
    val_loss = val_acc = job.val_loss = job.val_accuracy = None
    improved = stopped = False
    if job.epoch % s.val_log_every == 0 or job.epoch == s.epochs:
        try:
            started = time.perf_counter()
            val = report_evaluation(job, "val", job.data.val, interrupt=interrupt)
            job.val_time_s = time.perf_counter() - started
        except EvaluationInterrupted:
            stopped = True
            job.emit(
                ev.LogMessage(
                    "warning", f"Validation after epoch {job.epoch} cut short by the stop; the epoch's training is kept."
                )
            )
        else:
            val_loss, val_acc = val.loss, val.accuracy
            job.val_loss, job.val_accuracy = val_loss, val_acc  # what this epoch's checkpoints carry as their own
            improved = job.best_val_loss is None or val_loss < job.best_val_loss
            if improved:
                job.best_val_loss, job.best_val_accuracy, job.best_val_epoch = val_loss, val_acc, job.epoch
            job.early_stop.observe(val_loss, s.early_stop_min_delta)
    remaining = (s.epochs - job.epoch) * epoch_time + _validations_left(job) * job.val_time_s
    job.emit(
        ev.EpochFinished(
            job.epoch,
            s.epochs,
            trained.loss / seen,
            trained.correct / seen,
            val_loss,
            val_acc,
            lr,
            epoch_time,
            epoch_samples / max(epoch_time, 1e-9),
            job.best_val_loss,
            job.train_time_s,
            remaining,
        )
    )
    if improved:  # saved after epoch_finished, so that a resume from best.pt keeps that record in metrics.jsonl
        save(job, "best")
    if s.checkpoint_every and job.epoch % s.checkpoint_every == 0:
        save(job, "periodic")
    if not stopped:  # a stopped run's last.pt is saved once, as it ends (outcome.finish)
        if job.epoch < s.epochs and job.early_stop.due(s.early_stop_patience):
            job.early_stopped_epoch = job.epoch
        save(job, "last")
        draw_pictures(job)
    sample_resources(job, force=True)
    if job.early_stopped_epoch is not None:
        job.emit(ev.LogMessage("info", early_stop_reason(job)))
    return not stopped


def early_stop_reason(job: PreparedRun) -> str:
    s = job.settings.train
    return reason(job.epoch, s.early_stop_patience, s.early_stop_min_delta, job.best_val_loss, job.best_val_epoch)
