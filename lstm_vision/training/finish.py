"""How a run ends: test and train accuracy, confusion matrix, summary.json; or a failure explained."""

from __future__ import annotations

import traceback
from typing import Any

import torch

from lstm_vision import events as ev
from lstm_vision.system import resources
from lstm_vision.errors import SettingsError
from lstm_vision.system.devices import device_name
from lstm_vision.distributed.collectives import record_failure
from lstm_vision.runs.result import RunResult
from lstm_vision.training.state import PreparedRun, NonFiniteLoss, report_evaluation, save
from lstm_vision.metrics import macro, per_class
from lstm_vision.model.lstm import count_parameters
from lstm_vision.system.provenance import provenance
from lstm_vision.runs.folder import write_confusion_matrix, write_per_class, write_summary
from lstm_vision.runs.folder import ERROR_LOG, LAST_CHECKPOINT
from lstm_vision.runs.follow import settings_changes
from lstm_vision.runs.notes import read_notes


def finish(job: PreparedRun, status: str, prune_reason: str | None = None) -> RunResult:
    """Test (and train) accuracy, confusion matrix, summary. A stopped run saves last.pt and skips the test.
    A run stopped by a sweep's pruner (``prune_reason``) ends as "pruned", its reason in its log and summary:
    the one place that tells a pruned run from a stopped one."""
    if status == "stopped":
        if prune_reason is not None:
            status = "pruned"
            job.emit(ev.LogMessage("info", f"Pruned: {prune_reason}"))
        save(job, "last")
        draw_pictures(job, force=True)
        summary = build_summary(job, status)
        if prune_reason is not None:
            summary["pruned_reason"] = prune_reason
        _write_summary(job, summary)
        job.emit(ev.RunStopped(summary, str(job.run_dir / LAST_CHECKPOINT), job.step, job.batcher.steps_per_epoch))
        return RunResult(status, str(job.run_dir), summary)
    test = report_evaluation(job, "test", job.data.test, confusion=True)
    train = report_evaluation(job, "train", job.data.train)
    summary = build_summary(job, "completed", test=(test.correct, test.total), train=(train.correct, train.total))
    classes = per_class(test.matrix, job.data.class_names)
    summary["per_class"], summary["macro_f1"] = classes, macro(classes, "f1")
    if job.dist.is_main:
        write_confusion_matrix(job.run_dir, test.matrix, job.data.class_names)
        write_per_class(job.run_dir, classes)
        job.emit(_preview_event(job, test.preview))
        draw_pictures(job, test.matrix, test.mistakes)
    _write_summary(job, summary)
    job.emit(ev.RunFinished(summary, test.matrix))
    return RunResult("completed", str(job.run_dir), summary)


CURVES_EVERY_S = 60.0  # at epoch ends curves.png is redrawn at most this often: drawing takes ~0.5 s


def draw_pictures(job: PreparedRun, matrix: list[list[int]] | None = None, mistakes=None, force: bool = False) -> None:
    """curves.png (at an epoch's end: when the last one is a minute old), and at the end of the run also
    confusion_matrix.png and mistakes.png. Rank 0 only; a picture that fails is one warning, not a failure."""
    import time

    from lstm_vision.report import plots

    final = matrix is not None
    if not job.dist.is_main or (not (final or force) and time.monotonic() - job.last_curves < CURVES_EVERY_S):
        return
    job.last_curves = time.monotonic()
    names = job.data.class_names
    try:
        plots.draw_curves(job.run_dir)
        if final:
            plots.draw_confusion(job.run_dir, matrix, names)
            images, labels, predicted, confidence = mistakes if mistakes is not None else ([], [], [], [])
            plots.draw_mistakes(
                job.run_dir, images, list(map(int, labels)), list(map(int, predicted)), list(map(float, confidence)), names
            )
    except Exception as err:  # matplotlib missing or failing must not cost the run
        job.emit(ev.LogMessage("warning", f"Pictures not drawn in {job.run_dir}: {err.__class__.__name__}: {err}"))


def _preview_event(job: PreparedRun, preview: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> ev.PredictionsSampled:
    images, labels, predictions = preview
    h, w, c = job.data.image_shape
    return ev.PredictionsSampled(
        h, w, c, images.reshape(len(images), -1).tolist(), labels.tolist(), predictions.tolist(), job.data.class_names
    )


def fail(job: PreparedRun, err: BaseException) -> RunResult:
    log_path = job.run_dir / ERROR_LOG
    message = _explain(job, err)
    record_failure(message)  # under torchrun: names this rank and its error in torchrun's report
    summary = build_summary(job, "failed")
    summary["error"] = message
    try:
        if job.dist.is_main:
            log_path.write_text(traceback.format_exc(), encoding="utf-8")
        _write_summary(job, summary)
    except OSError:
        pass  # a full disk may be what failed; the message still reaches the user
    job.emit(ev.RunFailed(message, str(log_path), summary))
    return RunResult("failed", str(job.run_dir), summary)


def _explain(job: PreparedRun, err: BaseException) -> str:
    s = job.settings.train
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return (
            f"The GPU ran out of memory at train.batch_size = {s.batch_size} with precision {job.precision.name}; "
            f"lower train.batch_size, raise train.grad_accum_steps, or use train.amp = bf16/fp16."
        )
    if isinstance(err, (NonFiniteLoss, SettingsError)):
        return str(err)
    if isinstance(err, OSError) and err.errno == 28:
        return f"The disk is full while writing to {job.run_dir}; the previous checkpoints are intact. Free space and resume."
    return f"{err.__class__.__name__}: {err}"


def build_summary(
    job: PreparedRun, status: str, test: tuple[int, int] | None = None, train: tuple[int, int] | None = None
) -> dict[str, Any]:
    gpu = resources.gpu_memory(job.device)
    # train_time_s includes the epoch a stop cut short, so the samples do too (its partial sums, all ranks)
    trained = job.train_samples + int(job.partial.seen)
    return {
        "status": status,
        "run_name": job.run_dir.name,  # the folder's name: output.run_name, a timestamp, or either with a -2 suffix
        "tags": list(job.settings.output.tags),
        "notes": read_notes(job.run_dir, job.settings.output.notes),  # edited ones (set_notes) win, also over a resume
        "early_stopped_epoch": job.early_stopped_epoch,  # None: it ran every epoch (or was stopped otherwise)
        "epochs_completed": job.epoch,
        "epochs": job.settings.train.epochs,
        "best_val_loss": job.best_val_loss,
        "best_val_accuracy": job.best_val_accuracy,
        "best_val_epoch": job.best_val_epoch,
        "test_accuracy": test[0] / max(test[1], 1) if test else None,
        "train_accuracy": train[0] / max(train[1], 1) if train else None,
        "test_correct": test[0] if test else None,
        "test_total": test[1] if test else None,
        "train_correct": train[0] if train else None,
        "train_total": train[1] if train else None,
        "train_time_s": job.train_time_s,
        "train_samples": trained,
        "train_samples_per_s": trained / job.train_time_s if job.train_time_s > 0 else None,
        "world_size": job.dist.world_size,
        "device": str(job.device),
        "device_name": device_name(job.device),
        "precision": job.precision.name,
        "compile_mode": job.settings.train.compile_mode,
        "parameters": count_parameters(job.model),
        "peak_host_rss_bytes": resources.peak_host_rss_bytes(),
        "peak_gpu_allocated_bytes": max([gpu["peak_allocated_bytes"], *(job.rank_peaks or [])]) if gpu else None,
        "peak_gpu_allocated_bytes_per_rank": job.rank_peaks,
        "run_dir": str(job.run_dir),
        # settings.toml is how the run started; what each resume changed, from where (its journal's settings_changed)
        "settings_changes": settings_changes(job.run_dir),
        "provenance": provenance(),
    }


def _write_summary(job: PreparedRun, summary: dict[str, Any]) -> None:
    if job.dist.is_main:
        write_summary(job.run_dir, summary)
