"""The reference's conf.yaml keys, each with the setting of ours it is, how its value converts, its default
in the reference's latest conf.yaml and, in a few words, what differs (the README's table is made of these).

The reference (github.com/ImahnShekhzadeh/lstm_vision) has read configs/conf.yaml with Hydra since May 2024;
its keys changed a little since: training.compile_mode became compilation_mode (Feb 2026), freq_output__train
and freq_output__val went (March 2026), optim.T_0, T_mult and eta_min came with a cosine schedule with warm
restarts (May 2026). Every one of them is read, so a conf.yaml of any of those versions migrates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from lstm_vision.errors import SettingsError
from lstm_vision.settings.schema import Settings
from lstm_vision.settings.validate import as_written

# value (as YAML gave it), the settings so far -> ({our setting: value}, a note or "")
Convert = Callable[[Any, Settings], tuple[dict[str, Any], str]]


@dataclass(frozen=True)
class ReferenceKey:
    ours: str  # our setting as the README shows it ("optim.betas[0]"); "" = none
    convert: Convert
    reference_default: str  # as the reference's latest conf.yaml writes it
    differs: str = ""  # what differs besides the default, in a few words ("" = the same meaning)


def shown(value: Any) -> str:
    """A value as settings files write it: true, null, 1048576, "text"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return as_written(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    return repr(value)


REFUSE, KEEP = object(), object()  # what a null means: refused (the reference cannot run with it) / no change


def same(ours: str, null: Any = REFUSE) -> Convert:
    """The same meaning under another name; ``null`` is the value a null stands for (or REFUSE, KEEP)."""

    def convert(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
        if value is None and null is KEEP:
            return {}, ""
        return {ours: null if value is None and null is not REFUSE else value}, ""

    return convert


def _beta(index: int) -> Convert:
    def convert(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
        betas = list(settings.optim.betas)
        betas[index] = value
        return {"optim.betas": betas}, ""

    return convert


def _use_amp(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if not isinstance(value, bool):
        raise SettingsError(f"training.use_amp must be true or false, not {shown(value)}.")
    if not value:
        return {"train.amp": "off"}, ""
    return {"train.amp": "fp16"}, (
        "training.use_amp = true is train.amp = fp16 (autocast with a GradScaler, as the reference), "
        "which needs a CUDA GPU: on a CPU add --set train.amp=auto."
    )


def _batch_size(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    note = ""
    if settings.system.ddp and isinstance(value, int):
        note = (
            f"training.batch_size = {value} is each GPU's batch in the reference, but train.batch_size is the "
            f"batch of all processes together: multiply it by the number of GPUs."
        )
    return {"train.batch_size": value}, note


def _additional_checkpoints(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(f"training.num_additional_cps must be a whole number >= 0 (extra checkpoints), not {shown(value)}.")
    epochs = settings.train.epochs
    if value == 0 or epochs == 0:
        return {"train.checkpoint_every": 0}, ""
    every = epochs // min(value, epochs)  # the reference: one after each epoch whose number divides by this
    return {"train.checkpoint_every": every}, (
        f"training.num_additional_cps = {value} counts extra checkpoints, train.checkpoint_every is an interval: "
        f"with {epochs} epochs that is train.checkpoint_every = {every} (epoch-NNN.pt every {every} epochs)."
    )


def _saving_path(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if value is None:
        return {}, ""
    return {"output.dir": value}, (
        f"training.saving_path = {shown(value)} is output.dir: each run writes into a folder of its own inside it "
        f"(output.run_name, a timestamp by default)."
    )


def _wandb(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if value in (None, ""):
        return {}, ""
    return {}, (  # the key itself is never repeated: it is a secret
        "training.wandb__api_key is ignored: a key is no setting; W&B reads it from `wandb login` or WANDB_API_KEY, "
        "and --set output.wandb=PROJECT logs the run there."
    )


def _freq_train(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if value is None:
        return {}, (
            f"training.freq_output__train = null turns off the reference's lines per batch; lstm-vision reports "
            f"every train.log_every = {settings.train.log_every} steps all the same (its charts and journal use them)."
        )
    return {"train.log_every": value}, ""


def _freq_val(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if value is None:
        return {}, ""
    return {}, (
        f"training.freq_output__val = {shown(value)} (a line every {shown(value)} validation batches) has no "
        f"equal: lstm-vision prints one line per validation pass; ignored."
    )


def _seed(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if value is None:
        return (
            {},
            f"training.seed_number = null leaves the reference unseeded; lstm-vision always seeds (train.seed = {settings.train.seed}).",
        )
    return {"train.seed": value}, ""


def _port(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if value is None:
        return {}, ""
    # The reference's README passes it quoted (training.master_port='"29500"'), and its code takes text.
    return {"system.master_port": int(value) if isinstance(value, str) and value.strip().isdigit() else value}, ""


def _restart_period(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(f"optim.T_0 must be a whole number >= 1 (epochs before the first restart), not {shown(value)}.")
    return {"optim.schedule": "cosine", "optim.warmup_fraction": 0.0}, (
        f"optim.T_0 = {value}: the reference restarts its cosine schedule every {value} epochs; optim.schedule = cosine "
        f"decays once over the whole run, without restarts."
    )


def _restart_growth(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if value == 1:
        return {}, ""
    return {}, f"optim.T_mult = {shown(value)} has no equal (lstm-vision's cosine schedule does not restart); ignored."


def _floor(value: Any, settings: Settings) -> tuple[dict[str, Any], str]:
    if value in (0, None):
        return {}, ""
    return {}, f"optim.eta_min = {shown(value)} has no equal (lstm-vision's cosine schedule decays to 0); ignored."


_COMPILE = same("train.compile_mode", null="off")
_COMPILE_DIFFERS = "null = off; lstm-vision compiles the head after the LSTM, the reference the whole model"

KEYS: dict[str, ReferenceKey] = {
    "dataset.channels_img": ReferenceKey("data.channels", same("data.channels"), "1"),
    "dataset.train_split": ReferenceKey("data.train_split", same("data.train_split"), "0.8333333333333334"),
    "dataloading.num_workers": ReferenceKey(
        "data.num_workers", same("data.num_workers"), "4", "MNIST is held in memory here: workers only decode folder images"
    ),
    "dataloading.pin_memory": ReferenceKey("data.pin_memory", same("data.pin_memory"), "true"),
    "model.loading_path": ReferenceKey(
        "train.load_checkpoint",
        same("train.load_checkpoint", null=""),
        "null",
        "null = none; loads the weights, not the optimizer's state (--resume continues an lstm-vision run)",
    ),
    "model.num_layers": ReferenceKey("model.num_layers", same("model.num_layers"), "3"),
    "model.hidden_size": ReferenceKey("model.hidden_size", same("model.hidden_size"), "256"),
    "model.bidirectional": ReferenceKey("model.bidirectional", same("model.bidirectional"), "true"),
    "model.dropout": ReferenceKey("model.dropout", same("model.dropout"), "0.2", "on the LSTM's outputs in both"),
    "optim.learning_rate": ReferenceKey("optim.learning_rate", same("optim.learning_rate"), "2e-3"),
    "optim.beta_1": ReferenceKey("optim.betas[0]", _beta(0), "0.9"),
    "optim.beta_2": ReferenceKey("optim.betas[1]", _beta(1), "0.999"),
    "optim.eps": ReferenceKey("optim.eps", same("optim.eps"), "1e-8"),
    "optim.weight_decay": ReferenceKey("optim.weight_decay", same("optim.weight_decay"), "0.0"),
    "optim.T_0": ReferenceKey(
        "optim.schedule",
        _restart_period,
        "20",
        "sets optim.schedule = cosine, one decay over the run: lstm-vision has no warm restarts (before May 2026 the reference's rate was constant)",
    ),
    "optim.T_mult": ReferenceKey("", _restart_growth, "1", "no restarts here; ignored"),
    "optim.eta_min": ReferenceKey("", _floor, "0", "the cosine schedule decays to 0; ignored"),
    "training.seed_number": ReferenceKey("train.seed", _seed, "0", "null = unseeded there; lstm-vision always seeds"),
    "training.use_ddp": ReferenceKey("system.ddp", same("system.ddp"), "false"),
    "training.master_addr": ReferenceKey("system.master_addr", same("system.master_addr", null=KEEP), "null"),
    "training.master_port": ReferenceKey(
        "system.master_port", _port, "null", "text (its README quotes it) or a number: both read"
    ),
    "training.use_amp": ReferenceKey("train.amp", _use_amp, "true", "true = fp16 with a GradScaler (CUDA only), false = off"),
    "training.num_epochs": ReferenceKey("train.epochs", same("train.epochs"), "50"),
    "training.batch_size": ReferenceKey(
        "train.batch_size", _batch_size, "8192", "per GPU there, all processes together here (16384 until Dec 2025)"
    ),
    "training.max_norm": ReferenceKey("train.max_norm", same("train.max_norm", null=0.0), "null", "null = 0, no clipping"),
    "training.num_grad_accum_steps": ReferenceKey("train.grad_accum_steps", same("train.grad_accum_steps"), "1"),
    "training.wandb__api_key": ReferenceKey(
        "", _wandb, "null", "ignored: W&B reads the key from `wandb login` or WANDB_API_KEY; output.wandb names the project"
    ),
    "training.num_additional_cps": ReferenceKey(
        "train.checkpoint_every", _additional_checkpoints, "2", "a count of extra checkpoints there, an interval in epochs here"
    ),
    "training.saving_path": ReferenceKey("output.dir", _saving_path, '"outputs"', "each run gets a folder of its own inside it"),
    "training.label_smoothing": ReferenceKey("train.label_smoothing", same("train.label_smoothing"), "0.1"),
    "training.compilation_mode": ReferenceKey("train.compile_mode", _COMPILE, '"default"', _COMPILE_DIFFERS),
    "training.compile_mode": ReferenceKey("train.compile_mode", _COMPILE, "null (its name until Feb 2026)", _COMPILE_DIFFERS),
    "training.freq_output__train": ReferenceKey(
        "train.log_every", _freq_train, "null (until March 2026)", "null = no lines per batch there; lstm-vision always reports"
    ),
    "training.freq_output__val": ReferenceKey(
        "", _freq_val, "null (until March 2026)", "lines per validation batch: none here; ignored"
    ),
}

# Sections only the reference has (model and optim are both projects'); hydra holds Hydra's own settings.
SECTIONS_OF_THE_REFERENCE = ("dataset", "dataloading", "training", "hydra")

# What the reference's code does whatever its conf.yaml says: a conf.yaml is read on top of these.
BASELINE: dict[str, Any] = {
    "data.normalization": "reference",
    "optim.schedule": "constant",
    "optim.warmup_fraction": 0.0,
    "model.lstm_dropout": 0.0,
}
