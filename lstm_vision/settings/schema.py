"""Settings: one dataclass per section of settings.toml.

Every field carries its help text and its constraints in its metadata, so the
TOML loader, the ``--set`` overrides, ``--help`` and the app's generated form all
validate with the same code and show the same words.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions

from lstm_vision.atomic import atomic_write_text


class SettingsError(ValueError):
    """A user mistake in the settings: the message is one sentence meant for them."""


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] = (),
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """A dataclass field with the help text and constraints the form and validator use."""
    meta = {"help": help, "choices": choices, "low": low, "high": high, "low_open": low_open, "high_open": high_open}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


DATASETS = ("mnist", "fashion-mnist", "kmnist", "emnist-<split>", "cifar10", "cifar100", "svhn", "folder")
EMNIST_SPLITS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
AMP_MODES = ("auto", "off", "bf16", "fp16")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
SCHEDULES = ("constant", "onecycle", "cosine")
BACKENDS = ("auto", "gloo", "nccl")
LSTM_KERNELS = ("auto", "pytorch")
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
        28, "Side in pixels that folder images are resized to (torchvision sets keep their own size).", low=1, high=1024
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


@dataclass
class SystemSettings:
    device: str = setting("auto", "Device: auto (CUDA if available, else CPU), cpu, cuda or cuda:N.")
    threads: int = setting(0, "CPU threads for PyTorch (0 = the cores this process may use).", low=0, high=1024)
    lstm_kernel: str = setting(
        "auto",
        "LSTM kernel: auto (lstm-vision's own for CPU training in fp32, nn.LSTM otherwise) or pytorch (always nn.LSTM).",
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


def _closest(name: str, options) -> str:
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else f"; valid: {', '.join(options)}"


def _field(section: str, key: str) -> dataclasses.Field:
    if section not in SECTIONS:
        raise SettingsError(f"Unknown settings section [{section}]{_closest(section, SECTIONS)}.")
    fields = section_fields(section)
    if key not in fields:
        raise SettingsError(f"Unknown setting {section}.{key}{_closest(key, fields)}.")
    return fields[key]


def _kind(f: dataclasses.Field) -> type:
    return type(f.default) if f.default is not dataclasses.MISSING else list


def check_dataset_name(name: str) -> None:
    if name in DATASETS or (name.startswith("emnist-") and name.removeprefix("emnist-") in EMNIST_SPLITS):
        return
    raise SettingsError(
        f"data.dataset {name!r} is not known; valid: {', '.join(DATASETS)} (emnist splits: {', '.join(EMNIST_SPLITS)})."
    )


def check_run_name(name: str) -> None:
    """A run's folder is one plain name inside output.dir: a path would write the run elsewhere."""
    if name and (name in (".", "..") or "/" in name or "\\" in name or name != name.strip() or "\x00" in name):
        raise SettingsError(
            f"output.run_name must be one plain folder name (no '/', no '..', no surrounding spaces), "
            f"not {name!r}; output.dir chooses where runs go."
        )


def sequence_shape(settings: Settings, image_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(sequence_length, input_size); 0 means derive from the image: rows as steps."""
    height, width, channels = image_shape
    pixels = height * width * channels
    seq = settings.data.sequence_length or (pixels // settings.data.input_size if settings.data.input_size else height)
    inp = settings.data.input_size or pixels // seq
    if seq * inp != pixels:
        raise SettingsError(
            f"data.sequence_length x data.input_size = {seq} x {inp} = {seq * inp} must equal the "
            f"image's H x W x C = {height} x {width} x {channels} = {pixels} (e.g. {height} x {width * channels} "
            f"row by row, or {pixels} x 1 pixel by pixel)."
        )
    return seq, inp


def known_image_shape(data: DataSettings) -> tuple[int, int, int] | None:
    """The (H, W, C) the model will see, where the settings alone tell it (data/sets.py converts every set to
    data.channels; folder images are resized to data.image_size); None for a data set not known here."""
    name = data.dataset
    if name in ("mnist", "fashion-mnist", "kmnist") or name.startswith("emnist-"):
        return 28, 28, data.channels
    if name in ("cifar10", "cifar100", "svhn"):
        return 32, 32, data.channels
    if name == "folder":
        return data.image_size, data.image_size, data.channels
    return None


def check_sequence_shape(settings: Settings) -> None:
    """Refuse a sequence_length x input_size that the data set's images cannot have, before any data loads."""
    shape = known_image_shape(settings.data)
    if shape is not None:
        sequence_shape(settings, shape)


def _describe_range(meta: dict) -> str:
    low, high = meta["low"], meta["high"]
    lo = "" if low is None else (f"> {low:g}" if meta["low_open"] else f">= {low:g}")
    hi = "" if high is None else (f"< {high:g}" if meta["high_open"] else f"<= {high:g}")
    return " and ".join(p for p in (lo, hi) if p)


def check_value(section: str, key: str, value: Any) -> Any:
    """Return ``value`` converted to the field's type, or raise SettingsError naming the setting."""
    f = _field(section, key)
    kind, meta, name = _kind(f), f.metadata, f"{section}.{key}"
    if kind is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{name} must be true or false, not {value!r}.")
        return value
    if kind is list:  # betas: two numbers in [0, 1)
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            raise SettingsError(f"{name} must be a list of two numbers like [0.9, 0.999], not {value!r}.")
        if not all(0 <= v < 1 for v in value):
            raise SettingsError(f"{name} must hold two numbers in [0, 1), not {list(value)!r}.")
        return [float(v) for v in value]
    if kind is str:
        if not isinstance(value, str):
            raise SettingsError(f"{name} must be text, not {value!r}.")
        if meta["choices"] and value not in meta["choices"]:
            raise SettingsError(f"{name} must be one of {', '.join(meta['choices'])}, not {value!r}.")
        if name == "data.dataset":
            check_dataset_name(value)
        if name == "output.run_name":
            check_run_name(value)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{name} must be a {'whole number' if kind is int else 'number'}, not {value!r}.")
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise SettingsError(f"{name} must be a whole number, not {value!r}.")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise SettingsError(f"{name} must be a finite number, not {value!r}.")
    low, high = meta["low"], meta["high"]
    too_low = low is not None and (value <= low if meta["low_open"] else value < low)
    too_high = high is not None and (value >= high if meta["high_open"] else value > high)
    if too_low or too_high:
        raise SettingsError(f"{name} must be {_describe_range(meta)}, not {value!r}.")
    return value


# Python's int() and float() also take "64_0" and non-ASCII digits ("٦٤"): a typo or a pasted
# look-alike would then run as a number the user never typed. Typed numbers are plain ASCII.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_text(section: str, key: str, text: str) -> Any:
    """Turn the text a user typed (``--set`` or a form field) into a checked value."""
    kind = _kind(_field(section, key))
    text = text.strip()
    name = f"{section}.{key}"
    if kind is str:
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1]
        return check_value(section, key, text)
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return check_value(section, key, True)
        if lowered in ("false", "no", "off", "0"):
            return check_value(section, key, False)
        raise SettingsError(f"{name} must be true or false, not {text!r}.")
    if kind is list:
        parts = [p for p in text.strip("[]() ").replace(",", " ").split() if p]
        try:
            if not all(_NUMBER.fullmatch(p) for p in parts):
                raise ValueError(text)
            numbers = [float(p) for p in parts]
        except ValueError:
            raise SettingsError(f"{name} must be a list of two numbers like [0.9, 0.999], not {text!r}.") from None
        return check_value(section, key, numbers)
    if not _NUMBER.fullmatch(text):
        raise SettingsError(f"{name} must be a {'whole number' if kind is int else 'number'} (digits 0-9), not {text!r}.")
    try:
        number: Any = int(text) if kind is int else float(text)
    except ValueError:
        try:
            number = float(text)  # "1e3" for an int field is fine when whole
        except ValueError:
            raise SettingsError(f"{name} must be a {'whole number' if kind is int else 'number'}, not {text!r}.") from None
    return check_value(section, key, number)


def apply_dict(settings: Settings, data: dict, source: str) -> Settings:
    """Overlay a parsed {section: {key: value}} mapping on settings."""
    for section, values in data.items():
        if section not in SECTIONS:
            raise SettingsError(f"{source}: unknown section [{section}]{_closest(section, SECTIONS)}.")
        if not isinstance(values, dict):
            raise SettingsError(f"{source}: [{section}] must be a table of settings, not {values!r}.")
        for key, value in values.items():
            try:
                checked = check_value(section, key, _plain(value))
            except SettingsError as err:
                raise SettingsError(f"{source}: {err}") from None
            setattr(getattr(settings, section), key, checked)
    return settings


def _plain(value: Any) -> Any:
    """tomlkit items -> plain Python values."""
    return value.unwrap() if hasattr(value, "unwrap") else value


def read_toml(path: str | Path) -> tomlkit.TOMLDocument:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # Windows editors start files with a byte-order mark
    except FileNotFoundError:
        raise SettingsError(f"Settings file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"Settings file {path} cannot be read: {err}.") from None
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as err:
        raise SettingsError(
            f"Settings file {path} is not valid TOML at line {err.line}, column {err.col}: {_parse_reason(err)}."
        ) from None
    except tomlkit.exceptions.TOMLKitError as err:
        raise SettingsError(f"Settings file {path} is not valid TOML: {err}.") from None


def _parse_reason(err: Exception) -> str:
    text = str(err)
    return text.split(" at line ")[0] if " at line " in text else text


def load_settings(path: str | Path, base: Settings | None = None) -> Settings:
    doc = read_toml(path)
    return apply_dict(base or Settings(), doc.unwrap(), str(path))


def apply_overrides(settings: Settings, overrides: list[str]) -> Settings:
    for item in overrides:
        name, sep, text = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot:
            raise SettingsError(f"--set {item!r} must look like section.key=value, e.g. train.epochs=5.")
        value = parse_text(section, key, text)  # raises for an unknown section or key
        setattr(getattr(settings, section), key, value)
    return settings


PRESET_DIR = Path(__file__).parent / "presets"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise SettingsError(f"Unknown preset {name!r}; shipped presets: {', '.join(preset_names())}.")
    return path


def render_toml(settings: Settings, template: tomlkit.TOMLDocument | None = None) -> str:
    """Settings as TOML; values are written into ``template`` so its comments survive."""
    doc = template if template is not None else _commented_document()
    for section, values in settings.to_dict().items():
        if section not in doc:
            doc[section] = tomlkit.table()
        table = doc[section]
        for key, value in values.items():
            table[key] = value
    return tomlkit.dumps(doc)


HEADER = "lstm-vision settings. Every key: lstm-vision-tui --help. Override one: --set section.key=value"


def _commented_document() -> tomlkit.TOMLDocument:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(HEADER))
    for section, cls in SECTIONS.items():
        table = tomlkit.table()
        for f in dataclasses.fields(cls):
            table.add(tomlkit.comment(f.metadata["help"]))
            table.add(f.name, getattr(cls(), f.name))
        doc.add(tomlkit.nl())
        doc[section] = table
    return doc


def save_settings(settings: Settings, path: str | Path, keep_comments_of: str | Path | None = None) -> None:
    """Write settings atomically, keeping the comments of an existing file when there is one: of ``path``
    itself as they are, of another file (``keep_comments_of``) only where they still hold (settings/comments.py)."""
    path = Path(path)
    if not path.parent.is_dir():  # else the error would name the temporary file written beside it
        raise SettingsError(f"Cannot save {path}: the folder {path.parent} does not exist.")
    template = None
    source = Path(keep_comments_of) if keep_comments_of else path
    if source.is_file():
        try:
            template = tomlkit.parse(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomlkit.exceptions.TOMLKitError):
            template = None  # an unreadable old file is replaced, not merged
    if template is not None and source.resolve() != path.resolve():
        from lstm_vision.settings.comments import comments_true_of

        template = comments_true_of(template, settings)
    atomic_write_text(path, render_toml(settings, template))


def help_lines() -> list[str]:
    """One line per setting: name, default, help (for --help)."""
    lines = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = getattr(cls(), f.name)
            lines.append(f"  {section}.{f.name} = {default!r}\n      {f.metadata['help']}")
    return lines
