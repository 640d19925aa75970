"""A run's set-up, in the order it happens: what the settings ask of this machine and which checkpoint the
run starts from; the data and its normalization; the model, its compiled and DDP views, the optimizer; the
run's outputs (folder, journal, liveness, TensorBoard); the announcement. Everything that can be refused is
refused before the first file of the run is written."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from lstm_vision import events as ev
from lstm_vision.control import RunControl
from lstm_vision.data import normalization
from lstm_vision.data.normalization import Normalization
from lstm_vision.data.registry import load_data, split_changes
from lstm_vision.data.sets import DataBundle
from lstm_vision.distributed.collectives import DistContext, init_process_group
from lstm_vision.errors import SettingsError
from lstm_vision.model import checkpoint as ckpt
from lstm_vision.model.architecture import take_architecture
from lstm_vision.model.kernel_choice import KernelChoice, choose_kernel
from lstm_vision.model.lstm import build_model, count_parameters
from lstm_vision.model.optim import build_optimizer
from lstm_vision.report.tensorboard import TensorBoardLog, check_available
from lstm_vision.report.trackers import Trackers, check_trackers
from lstm_vision.runs.folder import METRICS_FILE, SETTINGS_FILE, Journal, create_run_dir, run_dir_of, use_run_dir, write_settings
from lstm_vision.runs.liveness import Beacon
from lstm_vision.settings import Settings, check_batch_split, sequence_shape
from lstm_vision.system.devices import Precision, configure_threads, device_name, resolve_device, resolve_precision
from lstm_vision.text import plural
from lstm_vision.training.batches import Batcher
from lstm_vision.training.resume import check_model_shape, check_same_data, load_resumed, prepare_resume, settings_changes
from lstm_vision.training.state import PreparedRun, restore, sample_resources


def prepare(
    settings: Settings,
    emit: Callable[[ev.Event], None],
    dist_ctx: DistContext,
    resume: str | None,
    run_dir: str | None = None,
    control: RunControl | None = None,
) -> PreparedRun:
    """Everything a run needs, built once; ``run`` closes its outputs (job.outputs) whatever happens."""
    start = resolve(settings, dist_ctx, resume)
    data, settings, notes = load_inputs(settings, start)
    if settings.train.epochs == 0 and start.weights is not None:  # evaluation only: the weights say the model
        weights = ckpt.clean_state_dict(start.weights["state_dict"])
        settings, taken = take_architecture(settings, weights, start.source, data.image_shape)
        notes = [("info", taken), *notes] if taken else notes
    sequence_length, input_size = sequence_shape(settings, data.image_shape)
    if start.state is not None:
        check_model_shape(resume, start.state, settings, sequence_length, input_size)
    model, train_model, compiled = build_model_views(settings, start, data, dist_ctx, sequence_length, input_size)
    data = data.to(start.device, pin=settings.data.pin_memory)
    train = settings.train
    batcher = Batcher(data, train.batch_size, train.grad_accum_steps, sequence_length, input_size, train.seed, dist_ctx)
    kernel = None
    if train.epochs > 0:  # which LSTM kernel trains faster here: measured once per CPU and shape, then cached
        kernel = choose_kernel(
            settings.system.lstm_kernel, model.LSTM, start.device, start.precision, batcher.micro, sequence_length, start.threads
        )
        model.own_cpu_kernel = kernel.own
    # Whole before any file of the run is written (a refused resume leaves it as it was); see training/resume.py.
    resume_notes, changes = [], {}
    if start.state is not None:
        resume_notes = prepare_resume(resume, start.state, settings, batcher.steps_per_epoch, dist_ctx.is_main)
        changes = settings_changes(start.state, settings)
    outputs = open_outputs(settings, emit, dist_ctx, resume, run_dir, control)
    job = PreparedRun(
        settings,
        dist_ctx,
        start.device,
        start.precision,
        data,
        model,
        train_model,
        build_optimizer(model, settings.optim, start.device),
        torch.amp.GradScaler(start.device.type, enabled=start.precision.use_scaler),
        batcher,
        outputs.folder,
        outputs.emit,
        compiled,
        outputs=outputs,
    )
    if start.state is not None:
        restore(job, start.state)
    announce(job, start, notes, resume, resume_notes, kernel)
    if changes:  # after "Resumed from": the journal says from where the new settings apply
        job.emit(ev.SettingsChanged(job.epoch, job.step, changes))
    sample_resources(job, force=True)
    return job


@dataclass
class StartingPoint:
    """What the settings ask of this machine, and the checkpoint the run starts from (read, not yet used)."""

    device: torch.device
    precision: Precision
    threads: int
    state: dict[str, Any] | None  # --resume's checkpoint: weights, optimizer, progress
    weights: dict[str, Any] | None  # train.load_checkpoint's: weights only
    source: str | None  # the path of whichever of the two is loaded

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        return self.state if self.state is not None else self.weights


def resolve(settings: Settings, dist_ctx: DistContext, resume: str | None) -> StartingPoint:
    check_available(settings)  # output.tensorboard without the package: refused before anything starts
    if dist_ctx.is_main:  # MLflow, W&B: missing or not answering, refused before anything is written
        check_trackers(settings)
    device = resolve_device(settings.system.device, dist_ctx.local_rank)
    precision = resolve_precision(settings.train.amp, device)
    threads = configure_threads(settings, device, dist_ctx.world_size)
    check_batch_split(settings.train.batch_size, settings.train.grad_accum_steps, dist_ctx.world_size)
    state = load_resumed(resume) if resume else None
    if state is not None:
        check_same_data(resume, state, settings)  # before the data loads: another split is refused at once
    load_from = settings.train.load_checkpoint
    if settings.train.epochs == 0 and not (load_from or resume):
        raise SettingsError(
            "train.epochs = 0 evaluates a checkpoint: set train.load_checkpoint to its path (or train for at least 1 epoch)."
        )
    weights = ckpt.load_checkpoint(load_from) if load_from and not resume else None
    return StartingPoint(device, precision, threads, state, weights, resume or load_from or None)


def load_inputs(settings: Settings, start: StartingPoint) -> tuple[DataBundle, Settings, list[tuple[str, str]]]:
    """The data in memory, normalized as the weights want: a loaded checkpoint's own normalization wins over
    data.normalization. Returns the settings as the run records them, and the log lines (level, text) that
    say how a folder's files were read and where the normalization comes from."""
    torch.manual_seed(settings.train.seed)
    data = load_data(settings.data, settings.train.seed)
    data.normalization, notes = choose_normalization(settings, data, start.checkpoint, start.source, start.state is not None)
    notes = [("info", note) for note in data.notes] + notes  # how the files were read, then what normalizes them
    return data, with_normalization_method(settings, data.normalization), notes


def build_model_views(
    settings: Settings, start: StartingPoint, data: DataBundle, dist_ctx: DistContext, sequence_length: int, input_size: int
) -> tuple[nn.Module, nn.Module, str]:
    """The model with its loaded weights; the view training steps through (compiled head, DDP); what was compiled."""
    model = build_model(settings.model, input_size, sequence_length, data.num_classes, settings.system.lstm_kernel)
    if start.checkpoint is not None:
        ckpt.load_weights(model, start.checkpoint, start.source)
    init_process_group(dist_ctx, settings.system.backend, start.device)
    model.to(start.device)
    directions = 2 if settings.model.bidirectional else 1
    sample = torch.zeros(2, sequence_length, settings.model.hidden_size * directions, device=start.device)
    compiled = compile_head(model, settings.train.compile_mode, sample)
    train_model = model
    if dist_ctx.enabled:
        device = start.device
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return model, train_model, compiled


@dataclass
class Outputs:
    """The run's outputs: its folder, and on rank 0 its journal (metrics.jsonl), its liveness beacon
    (process.json, control requests) and TensorBoard; ``emit`` writes every event to all of them, then hands it
    to the caller's. ``run`` closes them whatever happens."""

    folder: Path
    emit: Callable[[ev.Event], None]
    journal: Journal | None = None
    beacon: Beacon | None = None
    tensorboard: TensorBoardLog | None = None
    trackers: Trackers | None = None

    def close(self, exit_code: int) -> None:
        if self.trackers is not None:  # before the beacon says the run ended: its files are all logged by then
            self.trackers.close(exit_code)
        if self.beacon is not None:
            self.beacon.close(exit_code)
        if self.journal is not None:
            self.journal.close()  # the app runs many runs in one process: no file handle per run left open
        if self.tensorboard is not None:
            self.tensorboard.close()


def open_outputs(
    settings: Settings,
    emit: Callable[[ev.Event], None],
    dist_ctx: DistContext,
    resume: str | None,
    run_dir: str | None,
    control: RunControl | None,
) -> Outputs:
    folder = run_dir_of(resume) if resume else None  # a resumed run continues in the folder its checkpoint lives in
    if not dist_ctx.is_main:
        return Outputs(folder or Path(run_dir or settings.output.dir), _discard)
    folder = folder or (use_run_dir(run_dir) if run_dir else create_run_dir(settings.output))
    if not resume or not (folder / SETTINGS_FILE).is_file():  # a resume keeps the file its run started with
        write_settings(folder, settings)  # (what a resume changes goes to the journal: settings_changed)
    # The folder names its process before its journal has a line, so that no viewer ever sees the one without the other.
    beacon = Beacon(folder, control or RunControl()).start()
    journal = Journal(folder / METRICS_FILE)
    tensorboard = TensorBoardLog(folder, settings) if settings.output.tensorboard else None
    trackers = Trackers(folder, settings) if settings.output.mlflow or settings.output.wandb else None

    def emit_all(event: ev.Event) -> None:
        journal.write(event)  # progress too: a viewer that follows the journal moves once a second
        if tensorboard is not None:
            tensorboard(event)
        said = trackers(event) if trackers is not None else []
        emit(event)
        for level, text in said:  # where a tracker's run is; a tracker that failed: said once, the run goes on
            emit_all(ev.LogMessage(level, text))

    return Outputs(folder, emit_all, journal, beacon, tensorboard, trackers)


def _discard(event: ev.Event) -> None:
    pass


def announce(
    job: PreparedRun,
    start: StartingPoint,
    normalization_notes: list[tuple[str, str]],
    resume: str | None,
    resume_notes: list[str],
    kernel: KernelChoice | None = None,
) -> None:
    """run_started, then what the log should say about how the run was set up."""
    settings, data, batcher = job.settings, job.data, job.batcher
    job.emit(
        ev.RunStarted(
            str(job.run_dir),
            str(job.device),
            device_name(job.device),
            job.precision.name,
            settings.train.compile_mode,
            job.compiled,
            job.dist.world_size,
            count_parameters(job.model),
            len(data.train),
            len(data.val),
            len(data.test),
            settings.train.epochs,
            job.epoch,
            batcher.steps_per_epoch,
            settings.train.batch_size,
            batcher.sequence_length,
            batcher.input_size,
            data.num_classes,
            settings.data.dataset,
        )
    )
    shape = "x".join(map(str, data.image_shape))
    job.emit(ev.LogMessage("info", f"Images of {shape} (H x W x C); {plural(start.threads, 'CPU thread')}."))
    for level, note in normalization_notes:
        job.emit(ev.LogMessage(level, note))
    if kernel is not None and job.device.type == "cpu":
        job.emit(ev.LogMessage("info", kernel.describe(job.precision.name)))
    if job.precision.without_onednn:
        job.emit(
            ev.LogMessage(
                "warning",
                "This CPU has no native bf16 (AVX512-BF16 or AMX): bf16 runs on a slower "
                "LSTM kernel than fp32 here; train.amp = auto picks the faster one.",
            )
        )
    if start.state is not None:
        job.emit(
            ev.LogMessage("info", f"Resumed from {resume} at epoch {job.epoch + 1} of {settings.train.epochs}, step {job.step}.")
        )
        for note in resume_notes:
            job.emit(ev.LogMessage("warning", note))


def compile_head(model: nn.Module, mode: str, sample: torch.Tensor) -> str:
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


def choose_normalization(
    settings: Settings, data: DataBundle, state: dict[str, Any] | None, path: str | None, resumed: bool
) -> tuple[Normalization, list[tuple[str, str]]]:
    """This run's normalization and the log lines (level, text) that say where it comes from. ``state`` is
    the checkpoint the run loads (None for a new run); ``data.normalization`` is what the settings give."""
    own, method = data.normalization, settings.data.normalization
    if state is None:
        return own, [("info", f"Inputs normalized with {own.describe()}.")]
    channels = data.image_shape[-1]
    if "normalization" in state:
        saved = normalization.stored(state["normalization"], path, channels)
        notes = [("info", f"Inputs normalized as checkpoint {path} was trained: {saved.describe()}.")]
        if saved.method != method:  # the weights fix the scale of their inputs; the setting is for new runs
            who = "a resumed run" if resumed else "a run from a checkpoint"
            notes.append(
                (
                    "warning",
                    f"data.normalization = {method} is not used: {who} keeps the normalization "
                    f"the checkpoint was trained with ({saved.method}).",
                )
            )
        return saved, notes
    if not ckpt.is_reference(state):
        # Saved before checkpoints stored it, when every run used its training split's statistics.
        stats = own if own.method == "dataset" else normalization.of_images(data.train.images)
        changed = split_changes(state.get("settings") or {}, settings)
        text = (
            f"Checkpoint {path} predates stored normalization: inputs normalized with this run's "
            f"{stats.describe().removeprefix('the ')}, as lstm-vision then always did"
        )
        if changed:
            trained_with = ", ".join(f"{name} = {old}" for name, old in changed.items())
            return stats, [("warning", f"{text}; it was trained with {trained_with}, so its statistics may differ slightly.")]
        return stats, [("info", f"{text}, on the same split.")]
    return normalization.reference(channels), [
        (
            "info",
            f"Checkpoint {path} stores no normalization, as a reference checkpoint: "
            f"inputs normalized as the reference does, (x/255 - 0.5) / 0.5.",
        )
    ]


def with_normalization_method(settings: Settings, used: Normalization) -> Settings:
    """``settings`` with data.normalization naming the method this run uses, so that the run's settings.toml
    and its checkpoints' settings say what it did (the caller's object is left as it is)."""
    if used.method == settings.data.normalization or used.method not in normalization.METHODS:
        return settings
    return dataclasses.replace(settings, data=dataclasses.replace(settings.data, normalization=used.method))
