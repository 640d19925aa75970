"""What a resume may change, decided before any file of the run is touched.

A checkpoint records where training stands: the epochs done, the step within the next epoch, and the
settings it ran with. ``--resume`` continues exactly from there, so it refuses what it cannot honour:

- A completed run (summary "completed", checkpoint at its last epoch) has nothing to resume. Extending
  a run that trained all its epochs is refused as well: the learning-rate schedule (onecycle, cosine)
  has run to its end, and stretched over more epochs it would warm up again from the bottom. A new run
  that fine-tunes from best.pt (train.load_checkpoint) says what it does; a completed run stays final.
- train.epochs below the epochs already trained (or equal to them with a partial epoch in the checkpoint):
  that training cannot be taken back.
- Within an epoch (step > 0) the saved step indexes this epoch's shuffled order in batches of
  train.batch_size, so the batch size and the steps per epoch must stay. grad_accum_steps and the number
  of processes may change: the batch is global, so step s still trains the same samples, only split
  otherwise (the same gradient up to float rounding; DDP resumes without DDP and back, tests/distributed/test_ddp.py).
- At an epoch boundary (step 0) the batch size may change: no epoch is in flight, so every sample is still
  trained once per epoch, and restore() counts the finished epochs in the new steps, so the schedule goes on
  from the same fraction of the run (rounded to the new steps: the log gives the rate before and after).
- The model's shape (hidden size, layers, direction, the sequence it reads): the weights go on from where
  they were, so check_model_shape names the setting that changed, before load_weights would name tensors.
- The data it splits (data.dataset, data.train_split, data.channels, a folder set's data.image_size, and
  train.seed, which draws the validation split): another split would validate on images the run has
  trained on, or train on other images under the same name. check_same_data refuses it before any data
  loads. data.root may change (the files moved).

A resume that changes the learning rate at its step (train.epochs stretch or shrink the schedule, or the
optim settings changed) is allowed and said in the log, with the rate before and after.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pathlib import Path

from lstm_vision.settings import Settings
from lstm_vision.errors import CheckpointError, SettingsError
from lstm_vision.data.registry import split_changes
from lstm_vision.model.optim import lr_at
from lstm_vision.runs.folder import read_summary, rewind_journal, run_dir_of
from lstm_vision.model.checkpoint import is_reference, load_checkpoint
from lstm_vision.runs.folder import BEST_CHECKPOINT
from lstm_vision.text import plural


def load_resumed(resume: str) -> dict[str, Any]:
    """The checkpoint --resume names; one that is missing or damaged offers its run's best.pt where that loads
    (a kill during the save of last.pt, or a copy cut short, leaves the run resumable from its best epoch)."""
    try:
        return load_checkpoint(resume)
    except CheckpointError as err:
        best = run_dir_of(resume) / BEST_CHECKPOINT
        if Path(resume).name == BEST_CHECKPOINT or not best.is_file():
            raise
        try:
            epoch = int(load_checkpoint(best).get("epoch") or 0)
        except CheckpointError:
            raise err from None
        raise CheckpointError(
            f"{str(err).rstrip('.')}; its run's best.pt (epoch {epoch}) is intact: resume from it with --resume {best}."
        ) from None


def prepare_resume(resume: str, state: dict[str, Any], settings: Settings, steps_per_epoch: int, is_main: bool) -> list[str]:
    """Refuse (SettingsError) what the resume cannot honour; then, on rank 0, cut metrics.jsonl back to the
    checkpoint. Returns the lines to log about what the resume changes."""
    if is_reference(state):  # its weights are loaded, training starts afresh
        return []
    notes = check_resume(resume, state, settings, steps_per_epoch)
    if is_main:
        cut = rewind_journal(run_dir_of(resume), state.get("journal_bytes"))
        notes += [cut] if cut else []
    return notes


# What a resume does not use: it goes on in its own folder, from its own checkpoint.
NOT_FOR_A_RESUME = frozenset({"output.dir", "output.run_name", "train.load_checkpoint"})


def settings_changes(state: dict[str, Any], settings: Settings) -> dict[str, list[Any]]:
    """What a resume changes of the settings its checkpoint ran with: section.key -> [before, after], in the
    order of the schema. A reference checkpoint, or one that recorded no settings, has nothing to compare."""
    saved = state.get("settings") or {}
    if is_reference(state) or not saved:
        return {}
    changes = {}
    for section, values in settings.to_dict().items():
        before = saved.get(section) or {}
        for key, value in values.items():
            name = f"{section}.{key}"
            if name not in NOT_FOR_A_RESUME and key in before and before[key] != value:
                changes[name] = [before[key], value]
    return changes


def check_same_data(resume: str, state: dict[str, Any], settings: Settings) -> None:
    """Refuse a resume whose settings change which images the run trains and validates on."""
    saved = state.get("settings") or {}
    if is_reference(state) or not saved:  # training starts afresh
        return
    for name, old in split_changes(saved, settings).items():
        raise SettingsError(
            f"{resume} trained with {name} = {_toml(old)} and a resume must keep the images it trains and "
            f"validates on: set {name} = {_toml(old)}, or fine-tune in a new run with "
            f"--set train.load_checkpoint={run_dir_of(resume) / 'best.pt'}."
        )


def check_model_shape(resume: str, state: dict[str, Any], settings: Settings, sequence_length: int, input_size: int) -> None:
    """Refuse a resume whose settings change the model's shape, by the first setting that does."""
    saved = state.get("model")
    if is_reference(state) or not saved:  # or one from before the model was recorded
        return
    m = settings.model
    now = {
        "model.hidden_size": m.hidden_size,
        "model.num_layers": m.num_layers,
        "model.bidirectional": m.bidirectional,
        "data.sequence_length": sequence_length,
        "data.input_size": input_size,
    }
    for name, value in now.items():
        old = saved.get(name.split(".")[1])
        if old is not None and old != value:
            raise SettingsError(
                f"{resume} trained a model with {name} = {_toml(old)} and a resume goes on with that model, "
                f"not with {name} = {_toml(value)}: set {name} = {_toml(old)}, or train the new shape "
                f"in a new run."
            )


def _toml(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_resume(resume: str, state: dict[str, Any], settings: Settings, steps_per_epoch: int) -> list[str]:
    run_dir = run_dir_of(resume)
    saved = state.get("settings") or {}
    saved_train = saved.get("train") or {}
    done, step = int(state["epoch"]), int(state["step"])
    planned = int(saved_train.get("epochs", settings.train.epochs))
    epochs = settings.train.epochs
    if step == 0 and done >= planned:  # this checkpoint ends its run's training
        if (read_summary(run_dir) or {}).get("status") == "completed" and epochs <= planned:
            raise SettingsError(f"{run_dir} completed; nothing to resume.")
        if epochs > planned:
            best = run_dir / BEST_CHECKPOINT
            schedule = (saved.get("optim") or {}).get("schedule", settings.optim.schedule)
            why = (
                f"its {schedule} learning rate has decayed and would warm up again"
                if schedule != "constant"
                else "a run that trained all its epochs is final"
            )
            raise SettingsError(
                f"{run_dir} trained all its {_epochs(planned)} and a resume cannot extend it to {epochs} "
                f"({why}); fine-tune from its best weights in a new run instead: "
                f"--set train.load_checkpoint={best}."
            )
    if epochs < done:
        raise SettingsError(
            f"train.epochs = {epochs} is fewer than the {_epochs(done)} {resume} has already trained; "
            f"resume with train.epochs >= {done}."
        )
    if epochs == done and step > 0:
        raise SettingsError(
            f"train.epochs = {epochs} would end before epoch {done + 1}, within which {resume} stopped; "
            f"resume with train.epochs >= {done + 1}."
        )
    old_steps = _saved_steps_per_epoch(state, done, step) or steps_per_epoch
    if step > 0:
        old_batch = int(saved_train.get("batch_size", settings.train.batch_size))
        if settings.train.batch_size != old_batch:
            raise SettingsError(
                f"{resume} stopped within epoch {done + 1} (step {step} of {old_steps}) at "
                f"train.batch_size = {old_batch}, and a resume within an epoch must keep it: set "
                f"train.batch_size = {old_batch} (a checkpoint at an epoch boundary, as best.pt, may change it)."
            )
        if steps_per_epoch != old_steps:  # the same batch over another number of processes: a shard's tail differs
            ranks = state.get("world_size")
            raise SettingsError(
                f"{resume} stopped within epoch {done + 1} (step {step} of {old_steps} steps per epoch"
                f"{f' with {ranks} processes' if ranks else ''}); with this number of processes an epoch has "
                f"{steps_per_epoch} steps, so that step cannot be continued: resume with "
                f"{ranks or 'as many'} processes."
            )
    return _schedule_notes(state, saved, settings, done, step, planned, old_steps, steps_per_epoch)


def _schedule_notes(
    state: dict[str, Any],
    saved: dict[str, Any],
    settings: Settings,
    done: int,
    step: int,
    planned: int,
    old_steps: int,
    steps_per_epoch: int,
) -> list[str]:
    """Say so when the learning rate at the resumed step is not the one the stopped run would have used."""
    known = {f.name for f in dataclasses.fields(settings.optim)}
    old_optim = dataclasses.replace(settings.optim, **{k: v for k, v in (saved.get("optim") or {}).items() if k in known})
    before = lr_at(int(state["global_step"]), planned * old_steps, old_optim)
    now = lr_at(done * steps_per_epoch + step, settings.train.epochs * steps_per_epoch, settings.optim)
    if abs(now - before) <= 1e-6 * max(abs(before), 1e-12):
        return []
    why = [f"train.epochs {planned} -> {settings.train.epochs}"] if planned != settings.train.epochs else []
    if old_steps != steps_per_epoch:  # at a boundary: the schedule is the same fraction of the run, rounded to steps
        why.append(f"{old_steps} -> {steps_per_epoch} steps per epoch")
    why += [
        f"optim.{name} {getattr(old_optim, name)} -> {getattr(settings.optim, name)}"
        for name in ("schedule", "learning_rate", "warmup_fraction")
        if getattr(old_optim, name) != getattr(settings.optim, name)
    ]
    why = why or ["the schedule counts its steps otherwise"]
    return [f"Learning rate at the resumed step: {now:.3g} (the stopped run's schedule had {before:.3g}), as {', '.join(why)}."]


def _saved_steps_per_epoch(state: dict[str, Any], done: int, step: int) -> int | None:
    """Steps per epoch of the run that saved ``state``; checkpoints from before it was recorded tell it by
    their global step, once an epoch is done."""
    if state.get("steps_per_epoch"):
        return int(state["steps_per_epoch"])
    return (int(state["global_step"]) - step) // done if done else None


def _epochs(n: int) -> str:
    return plural(n, "epoch")
