"""Settings: one dataclass per section of settings.toml.

Every field carries its help text and its constraints in its metadata, so the
TOML loader, the ``--set`` overrides, ``--help`` and the app's generated form all
validate with the same code and show the same words.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    words: bool = False,
) -> Any:
    """A dataclass field with the help text and constraints the form and validator use. ``words``: a list
    setting whose items are words (output.tags), not numbers (optim.betas)."""
    meta = {"help": help, "choices": choices, "low": low, "high": high, "low_open": low_open, "high_open": high_open}
    meta["words"] = words
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


DATASETS = ("mnist", "fashion-mnist", "kmnist", "emnist-<split>", "cifar10", "cifar100", "svhn", "folder")

EMNIST_SPLITS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")

AMP_MODES = ("auto", "off", "bf16", "fp16")

COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")

SCHEDULES = ("constant", "onecycle", "cosine")

BACKENDS = ("auto", "gloo", "nccl")

LSTM_KERNELS = ("auto", "own", "pytorch")

NORMALIZATIONS = ("dataset", "reference")  # lstm_vision.data.normalization.METHODS


@dataclass
class DataSettings:
    dataset: str = setting("mnist", "Data set: mnist, fashion-mnist, kmnist, emnist-<split>, cifar10, cifar100, svhn or folder.")
    root: str = setting(
        "data", "Folder holding the data set files (for folder: the ImageFolder tree, or a folder with train/ and test/)."
    )
    download: bool = setting(True, "Download the data set into root if its files are missing.")
    train_split: float = setting(
        5 / 6,
        "Fraction of the training set used for training; the rest is the validation set.",
        low=0,
        high=1,
        low_open=True,
        high_open=True,
    )
    channels: int = setting(
        1, "Image channels fed to the model (1 = grey, 3 = colour); images are converted to it.", low=1, high=4
    )
    image_size: int = setting(
        0,
        "Side in pixels that folder images are resized to (0 = the images' most common size; torchvision sets keep their own).",
        low=0,
        high=1024,
    )
    sequence_length: int = setting(0, "Time steps per image (0 = image height, i.e. row by row).", low=0)
    input_size: int = setting(0, "Features per time step (0 = width x channels).", low=0)
    normalization: str = setting(
        "dataset",
        "Input normalization of a new run: dataset (the training split's per-channel mean and std) or reference ((x/255 - 0.5) / 0.5, as the reference). Stored in every checkpoint; a run from a checkpoint uses the checkpoint's.",
        choices=NORMALIZATIONS,
    )
    num_workers: int = setting(
        0, "DataLoader worker processes that decode folder images (in-memory tensor sets need none).", low=0, high=64
    )
    pin_memory: bool = setting(False, "Pin host memory of the in-memory data set for faster copies to the GPU.")


@dataclass
class ModelSettings:
    hidden_size: int = setting(256, "Hidden units of each LSTM layer (per direction).", low=1, high=8192)
    num_layers: int = setting(3, "Stacked LSTM layers.", low=1, high=16)
    bidirectional: bool = setting(True, "Read each sequence in both directions.")
    dropout: float = setting(
        0.2,
        "Dropout on the LSTM's outputs, before the linear layer (as the reference's dropout_rate).",
        low=0,
        high=1,
        high_open=True,
    )
    lstm_dropout: float = setting(
        0.0, "Dropout between stacked LSTM layers (nn.LSTM's dropout; the reference has none).", low=0, high=1, high_open=True
    )


@dataclass
class OptimSettings:
    learning_rate: float = setting(2e-3, "Peak learning rate of AdamW.", low=0, high=10, low_open=True)
    betas: list = setting([0.9, 0.999], "AdamW betas [beta1, beta2], each in [0, 1).")
    eps: float = setting(1e-8, "AdamW epsilon.", low=0, high=1, low_open=True)
    weight_decay: float = setting(1e-2, "AdamW decoupled weight decay.", low=0, high=1)
    schedule: str = setting(
        "onecycle", "Learning-rate schedule: constant, onecycle or cosine (with linear warm-up).", choices=SCHEDULES
    )
    warmup_fraction: float = setting(
        0.1, "Fraction of all steps spent warming up (onecycle and cosine).", low=0, high=1, high_open=True
    )


@dataclass
class TrainSettings:
    epochs: int = setting(15, "Training epochs (0 = only evaluate the checkpoint in load_checkpoint).", low=0, high=100000)
    batch_size: int = setting(256, "Samples per optimizer step, over all processes together.", low=1, high=1 << 20)
    grad_accum_steps: int = setting(
        1, "Micro-batches accumulated per optimizer step (each is batch_size / grad_accum_steps).", low=1, high=1024
    )
    max_norm: float = setting(0.0, "Clip the gradient norm to this value (0 = no clipping).", low=0)
    label_smoothing: float = setting(0.1, "Label smoothing of the cross-entropy loss.", low=0, high=1, high_open=True)
    amp: str = setting("auto", "Mixed precision: auto, off, bf16 or fp16 (fp16 uses a GradScaler; CUDA only).", choices=AMP_MODES)
    compile_mode: str = setting(
        "off",
        "torch.compile mode for the model's head after the LSTM (dropout, flatten, linear; nn.LSTM stays eager): off, default, reduce-overhead or max-autotune.",
        choices=COMPILE_MODES,
    )
    seed: int = setting(0, "Random seed for weights, split and shuffling.", low=0, high=2**32 - 1)
    log_every: int = setting(
        50, "Report training loss and accuracy every N optimizer steps (and at least every 2 s, for the charts).", low=1
    )
    val_log_every: int = setting(
        1, "Evaluate on the validation set every N epochs (and always after the last); best.pt is chosen among these.", low=1
    )
    eval_batch_size: int = setting(1024, "Samples per batch when evaluating.", low=1, high=1 << 20)
    checkpoint_every: int = setting(
        0, "Also keep a checkpoint every N epochs as epoch-NNN.pt (0 = only best.pt and last.pt).", low=0
    )
    load_checkpoint: str = setting(
        "", "Checkpoint to start from: its weights and its input normalization (use --resume to continue a run). Empty = none."
    )
    stop_on_nan: bool = setting(True, "Stop the run when the loss becomes NaN or infinite.")
    early_stop_patience: int = setting(
        0,
        "Stop after this many validated epochs without an improvement of the validation loss (the metric that picks best.pt); the run still tests and completes (0 = off).",
        low=0,
    )
    early_stop_min_delta: float = setting(
        0.0, "The least fall of the validation loss that counts as an improvement for train.early_stop_patience.", low=0
    )


@dataclass
class SystemSettings:
    device: str = setting("auto", "Device: auto (CUDA if available, else CPU), cpu, cuda or cuda:N.")
    threads: int = setting(0, "CPU threads for PyTorch (0 = the cores this process may use).", low=0, high=1024)
    lstm_kernel: str = setting(
        "auto",
        "LSTM kernel for CPU training: auto (the faster of the two for this CPU, precision and model, measured at the first run and cached), own (lstm-vision's, fp32 or bf16) or pytorch (nn.LSTM's); GPUs and evaluation always use nn.LSTM's.",
        choices=LSTM_KERNELS,
    )
    nproc: int = setting(1, "Processes on this machine; more than 1 launches torchrun with DDP.", low=1, high=1024)
    ddp: bool = setting(
        False,
        "DistributedDataParallel with one process per visible GPU, as the reference's use_ddp (nproc > 1 sets the count yourself, on CPUs too; under torchrun DDP is implied).",
    )
    backend: str = setting("auto", "DDP backend: auto (nccl on CUDA, gloo on CPU), gloo or nccl.", choices=BACKENDS)
    master_addr: str = setting("127.0.0.1", "Address of the rank-0 process for DDP launched by lstm-vision.")
    master_port: int = setting(
        29500, "Port of the rank-0 process for DDP launched by lstm-vision (0 = pick a free one).", low=0, high=65535
    )


@dataclass
class OutputSettings:
    dir: str = setting("runs", "Folder that holds one sub-folder per run.")
    run_name: str = setting("", "Name of this run's folder (empty = a timestamp).")
    tensorboard: bool = setting(
        False,
        "Also write TensorBoard event files into the run's folder (needs the tensorboard package, the tensorboard extra of lstm-vision).",
    )
    tags: list = setting([], 'Words that mark this run, e.g. ["baseline", "small"] (summary.json\'s tags).', words=True)
    notes: str = setting("", "Free text about this run (summary.json's notes; editable after the run).")
    mlflow: str = setting(
        "",
        "MLflow tracking URI to log this run to, e.g. http://127.0.0.1:5000 (needs the mlflow extra of lstm-vision; empty = off).",
    )
    mlflow_experiment: str = setting("lstm-vision", "MLflow experiment the runs are logged under.")
    wandb: str = setting(
        "", "Weights & Biases project to log this run to (needs the wandb extra; honours WANDB_MODE=offline; empty = off)."
    )


@dataclass
class Settings:
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    system: SystemSettings = field(default_factory=SystemSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(Settings)}  # type: ignore[misc]


def section_fields(section: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(SECTIONS[section])}


def known_image_shape(data: DataSettings) -> tuple[int, int, int] | None:
    """The (H, W, C) the model will see, where the settings alone tell it (data/registry.py converts every set to
    data.channels; folder images are resized to data.image_size); None where only the files tell (a folder set
    with data.image_size = 0) or for a data set not known here."""
    name = data.dataset
    if name in ("mnist", "fashion-mnist", "kmnist") or name.startswith("emnist-"):
        return 28, 28, data.channels
    if name in ("cifar10", "cifar100", "svhn"):
        return 32, 32, data.channels
    if name == "folder" and data.image_size:
        return data.image_size, data.image_size, data.channels
    return None


HEADER = "lstm-vision settings. Every key: lstm-vision-tui --help. Override one: --set section.key=value"


def help_lines() -> list[str]:
    """One line per setting: name, default, help (for --help)."""
    lines = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = getattr(cls(), f.name)
            lines.append(f"  {section}.{f.name} = {default!r}\n      {f.metadata['help']}")
    return lines
