"""The training loop. ``run(settings, emit, control)`` knows nothing about who watches it.

Reads top to bottom: prepare (data, model, optimizer, run directory), train epochs
(set lr, micro-steps under autocast and the scaler, clip, step, zero_grad, log every N),
evaluate, finish (test, summary, confusion matrix). Only rank 0 emits and writes files.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from lstm_vision.model import checkpoint as ckpt
from lstm_vision import events as ev
from lstm_vision.training.batches import Batcher, EvaluationInterrupted, check_batch_split
from lstm_vision.settings.schema import Settings, SettingsError, sequence_shape
from lstm_vision.control import RunControl
from lstm_vision.data.sets import load_data
from lstm_vision.system.devices import configure_threads, device_name, resolve_device, resolve_precision
from lstm_vision.training.gate import Cadence
from lstm_vision.distributed.collectives import DistContext, cleanup, context_from_env, init_process_group
from lstm_vision.training.state import (
    Job,
    NonFiniteLoss,
    PartialEpoch,
    RunResult,
    report_evaluation,
    restore,
    sample_resources,
    save,
)
from lstm_vision.training.meters import EpochMeters
from lstm_vision.model.lstm import build_model, count_parameters
from lstm_vision.data import normalization
from lstm_vision.model.optim import build_optimizer, lr_at
from lstm_vision.training.finish import draw_pictures, fail, finish
from lstm_vision.runs.liveness import Beacon
from lstm_vision.report.console import plural
from lstm_vision.training.resume import check_model_shape, check_same_data, prepare_resume
from lstm_vision.runs.folder import Journal, create_run_dir, run_dir_of, use_run_dir, write_settings
from lstm_vision.report.tensorboard import TensorBoardLog, check_available

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
        result = finish(job, train(job, control))
    except Exception as err:  # the worker must never die without a message and a summary
        result = fail(job, err)
    finally:
        if job.beacon is not None:
            job.beacon.close(result.exit_code if result is not None else 1)
        if job.journal is not None:
            job.journal.close()  # the app runs many runs in one process: no file handle per run left open
        if job.tensorboard is not None:
            job.tensorboard.close()
        cleanup()
    return result


def prepare(
    settings: Settings,
    emit: Callable[[ev.Event], None],
    dist_ctx: DistContext,
    resume: str | None,
    run_dir: str | None = None,
    control: RunControl | None = None,
) -> Job:
    check_available(settings)  # output.tensorboard without the package: refused before anything starts
    device = resolve_device(settings.system.device, dist_ctx.local_rank)
    precision = resolve_precision(settings.train.amp, device)
    threads = configure_threads(settings, device, dist_ctx.world_size)
    check_batch_split(settings.train.batch_size, settings.train.grad_accum_steps, dist_ctx.world_size)
    state = ckpt.load_checkpoint(resume) if resume else None
    if state is not None:
        check_same_data(resume, state, settings)  # before the data loads: another split is refused at once
    load_from = settings.train.load_checkpoint
    if settings.train.epochs == 0 and not (load_from or resume):
        raise SettingsError(
            "train.epochs = 0 evaluates a checkpoint: set train.load_checkpoint to its path (or train for at least 1 epoch)."
        )
    weights = ckpt.load_checkpoint(load_from) if load_from and not resume else None

    torch.manual_seed(settings.train.seed)
    data = load_data(settings.data, settings.train.seed)
    # The weights fix their inputs' scale: a loaded checkpoint's normalization wins over data.normalization.
    data.normalization, normalization_notes = normalization.choose(
        settings, data, state or weights, resume or load_from, resume is not None
    )
    settings = normalization.with_method(settings, data.normalization)
    sequence_length, input_size = sequence_shape(settings, data.image_shape)
    if state is not None:
        check_model_shape(resume, state, settings, sequence_length, input_size)
    model = build_model(settings.model, input_size, sequence_length, data.num_classes, settings.system.lstm_kernel)
    if state is not None or weights is not None:
        ckpt.load_weights(model, state or weights, resume or load_from)
    init_process_group(dist_ctx, settings.system.backend, device)
    model.to(device)
    data = data.to(device, pin=settings.data.pin_memory)
    optimizer = build_optimizer(model, settings.optim, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision.use_scaler)
    directions = 2 if settings.model.bidirectional else 1
    compiled = _compile(
        model,
        settings.train.compile_mode,
        torch.zeros(2, sequence_length, settings.model.hidden_size * directions, device=device),
    )
    train_model = model
    if dist_ctx.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            train_model, device_ids=[device.index] if device.type == "cuda" else None
        )
    batcher = Batcher(
        data,
        settings.train.batch_size,
        settings.train.grad_accum_steps,
        sequence_length,
        input_size,
        settings.train.seed,
        dist_ctx,
    )
    # Whole before any file of the run is written (a refused resume leaves it as it was); see training/resume.py.
    resume_notes = prepare_resume(resume, state, settings, batcher.steps_per_epoch, dist_ctx.is_main) if state is not None else []

    # A resumed run continues in the folder its checkpoint lives in.
    folder = run_dir_of(resume) if resume else None
    if dist_ctx.is_main:
        folder = folder or (use_run_dir(run_dir) if run_dir else create_run_dir(settings.output))
        write_settings(folder, settings)
        # The folder names its process before its journal has a line, so that no viewer ever sees the one without the other.
        beacon = Beacon(folder, control or RunControl()).start()
        journal: Journal | None = Journal(folder / "metrics.jsonl")
        tensorboard = TensorBoardLog(folder, settings) if settings.output.tensorboard else None

        def emit_all(event: ev.Event) -> None:
            journal.write(event)  # progress too: a viewer that follows the journal moves once a second
            if tensorboard is not None:
                tensorboard(event)
            emit(event)
    else:
        folder, journal, beacon, tensorboard = folder or Path(run_dir or settings.output.dir), None, None, None
        emit_all = _discard

    job = Job(
        settings,
        dist_ctx,
        device,
        precision,
        data,
        model,
        train_model,
        optimizer,
        scaler,
        batcher,
        folder,
        emit_all,
        compiled,
        journal=journal,
        beacon=beacon,
        tensorboard=tensorboard,
    )
    if state is not None:
        restore(job, state)
    train_n, val_n, test_n = len(data.train), len(data.val), len(data.test)
    emit_all(
        ev.RunStarted(
            str(folder),
            str(device),
            device_name(device),
            precision.name,
            settings.train.compile_mode,
            compiled,
            dist_ctx.world_size,
            count_parameters(model),
            train_n,
            val_n,
            test_n,
            settings.train.epochs,
            job.epoch,
            batcher.steps_per_epoch,
            settings.train.batch_size,
            sequence_length,
            input_size,
            data.num_classes,
            settings.data.dataset,
        )
    )
    emit_all(
        ev.LogMessage("info", f"Images of {'x'.join(map(str, data.image_shape))} (H x W x C); {plural(threads, 'CPU thread')}.")
    )
    for level, note in normalization_notes:
        emit_all(ev.LogMessage(level, note))
    if model.own_cpu_kernel and device.type == "cpu" and precision.name == "fp32":
        emit_all(ev.LogMessage("info", "LSTM kernel: lstm-vision's own for CPU (system.lstm_kernel = pytorch uses nn.LSTM's)."))
    if precision.without_onednn:
        emit_all(
            ev.LogMessage(
                "warning",
                "This CPU has no native bf16 (AVX512-BF16 or AMX): bf16 runs on a slower "
                "LSTM kernel than fp32 here; train.amp = auto picks the faster one.",
            )
        )
    if state is not None:
        emit_all(
            ev.LogMessage("info", f"Resumed from {resume} at epoch {job.epoch + 1} of {settings.train.epochs}, step {job.step}.")
        )
        for note in resume_notes:
            emit_all(ev.LogMessage("warning", note))
    sample_resources(job, force=True)
    return job


def _discard(event: ev.Event) -> None:
    pass


def _compile(model: nn.Module, mode: str, sample: torch.Tensor) -> str:
    """Compile the model's head (model.head) in place; returns what was compiled, as Dynamo found it.

    ``sample`` is an LSTM output of the right shape: Dynamo's dry run (explain) on it counts the graphs
    and breaks, so the report says what it compiles, and a head it cannot trace stays eager."""
    if mode == "off":
        return "nothing"
    try:
        found = torch._dynamo.explain(model.head)(sample)
    except Exception as err:  # an unsupported backend or op: train eager, and say why
        return f"nothing (Dynamo could not trace the head: {err.__class__.__name__}: {str(err).splitlines()[0][:120]})"
    if found.graph_count == 0:
        return "nothing (Dynamo found no graph in the head)"
    model.head = torch.compile(model.head, mode=mode, dynamic=False)
    breaks = (
        f", {found.graph_break_count} graph break{'s' if found.graph_break_count != 1 else ''}" if found.graph_break_count else ""
    )
    return (
        f"the head after the LSTM (dropout, flatten, linear: {found.op_count} ops in "
        f"{found.graph_count} graph{'s' if found.graph_count != 1 else ''}{breaks}) with mode={mode}; "
        f"nn.LSTM runs eager"
    )


def train(job: Job, control: RunControl) -> str:
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
    return "completed"


def _log_step(job: Job, meters: EpochMeters, lr: float, total_steps: int, first_step: int) -> None:
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


def _progress(job: Job, total_steps: int, in_epoch: float, first_step: int) -> None:
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


def _hint_long_cpu_run(job: Job, eta: float, in_epoch: float) -> None:
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


def _eta(job: Job, total_steps: int, in_epoch: float, first_step: int) -> float:
    """Seconds left: the remaining steps at this epoch's pace so far (steps since first_step in in_epoch s),
    plus the validations left at the last one's duration (none measured yet: 0)."""
    return (total_steps - job.global_step) * in_epoch / max(1, job.step - first_step) + _validations_left(job) * job.val_time_s


def _validations_left(job: Job) -> int:
    """Validations after the epochs done: every val_log_every-th epoch and always the last."""
    every, epochs, done = job.settings.train.val_log_every, job.settings.train.epochs, job.epoch
    return max(0, epochs // every - done // every) + (1 if epochs % every and done < epochs else 0)


def _paused(job: Job, paused: bool) -> None:
    job.emit((ev.RunPaused if paused else ev.RunResumed)(job.epoch + 1, job.step))


def _account(job: Job, meters: EpochMeters) -> None:
    """Fold this epoch's time into the run's, and keep its sums for end_epoch or a resume (all ranks)."""
    seconds = meters.seconds()
    job.train_time_s += seconds
    job.partial = meters.so_far(seconds, job.dist)


def train_step(job: Job, order: torch.Tensor, step: int) -> torch.Tensor:
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


def _check_finite(job: Job, meters: EpochMeters) -> None:
    if not job.settings.train.stop_on_nan:
        return
    step = meters.nonfinite_step(job.dist)
    if step is not None:
        raise NonFiniteLoss(
            f"The training loss became NaN or infinite at step {step}; the last good checkpoint is kept. "
            f"Try a lower optim.learning_rate, train.max_norm > 0, or train.amp = bf16/off instead of fp16."
        )


def end_epoch(job: Job, interrupt: Callable[[], bool] | None = None) -> bool:
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
        save(job, "last")
        draw_pictures(job)
    sample_resources(job, force=True)
    return not stopped
