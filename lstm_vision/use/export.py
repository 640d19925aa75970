"""--export: a trained model as ONNX or TorchScript, for programs that do not run lstm-vision.

The exported model is trained.ImageClassifier: uint8 images (N, H, W, C) with any N in, logits out, the
normalization inside, in fp32. A JSON file beside it (PATH.json) names the classes and the input shape.
After writing, the file is loaded back (onnxruntime / torch.jit.load) and compared with PyTorch on a few
images of two batch sizes; the largest logit difference is reported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
import warnings
from importlib import metadata
from pathlib import Path

import torch

from lstm_vision.errors import SettingsError
from lstm_vision.atomic import atomic_path, atomic_write_text
from lstm_vision.use.loaded_model import TrainedModel, check_output_file, checkpoint_file, load_trained, unwritable_output
from lstm_vision.runs.folder import BEST_CHECKPOINT, LAST_CHECKPOINT, METRICS_FILE

FORMATS = ("onnx", "torchscript")
INPUT, OUTPUT = "images", "logits"
CHECK_BATCHES = (1, 5)  # two batch sizes prove the batch dimension is dynamic


def metadata_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def export_model(model: TrainedModel, fmt: str, output: Path) -> None:
    """Write ``model`` to ``output`` (through a temporary file: a failed export leaves no half file)."""
    if fmt not in FORMATS:
        raise SettingsError(f"--export {fmt!r}: the format must be one of {', '.join(FORMATS)}.")
    classifier = model.classifier.cpu().float().eval()
    example = torch.zeros(2, *model.image_shape, dtype=torch.uint8)
    with atomic_path(output, durable=False) as temporary, _quiet():
        if fmt == "onnx":
            _require_onnx()
            batch = torch.export.Dim("batch", min=1)
            torch.onnx.export(
                classifier,
                (example,),
                str(temporary),
                dynamo=True,
                external_data=False,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_shapes={INPUT: {0: batch}},
                verbose=False,
            )
        else:
            torch.jit.script(_Uint8Images(torch.jit.trace(classifier, example))).save(str(temporary))
    atomic_write_text(metadata_path(output), json.dumps(describe(model, fmt, output), indent=2) + "\n")


class _Uint8Images(torch.nn.Module):
    """A traced model computes whatever it is given; this guard (scripted, so it stays in the file) refuses
    what is not a batch of uint8 images, as ONNX's typed input does: float pixels in [0, 1] would give
    confident nonsense."""

    def __init__(self, traced: torch.nn.Module) -> None:
        super().__init__()
        self.traced = traced

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise RuntimeError("expected uint8 images (N, H, W, C) with values 0-255")
        return self.traced(images)


def describe(model: TrainedModel, fmt: str, output: Path) -> dict:
    height, width, channels = model.image_shape
    return {
        "format": fmt,
        "file": output.name,
        "input": {"name": INPUT, "dtype": "uint8", "layout": "NHWC", "shape": ["batch", height, width, channels]},
        "output": {
            "name": OUTPUT,
            "dtype": "float32",
            "shape": ["batch", len(model.class_names)],
            "meaning": "logits; softmax gives class probabilities",
        },
        "class_names": model.class_names,
        "normalization": {**model.normalization.to_dict(), "applied": "inside the model: (x / 255 - mean) / std"},
        "checkpoint": str(model.path.resolve()),
        "exported_by": f"lstm-vision {_version()}, torch {torch.__version__}",
        "exported_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def load_exported(fmt: str, path: Path):
    """A callable uint8 (N, H, W, C) tensor -> logits tensor, running the exported file itself."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda images: torch.from_numpy(session.run([OUTPUT], {INPUT: images.numpy()})[0])
    with _quiet():
        module = torch.jit.load(str(path), map_location="cpu")
    return lambda images: module(images).detach()


def largest_difference(model: TrainedModel, fmt: str, path: Path) -> float:
    """The largest |logit difference| between the exported file and PyTorch, on random images."""
    run = load_exported(fmt, path)
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    with torch.no_grad():
        for n in CHECK_BATCHES:
            images = torch.randint(0, 256, (n, *model.image_shape), dtype=torch.uint8, generator=generator)
            worst = max(worst, (run(images) - model.classifier(images)).abs().max().item())
    return worst


def run_export(fmt: str, source: str, output: str, overrides: list[str]) -> int:
    """The --export command."""
    out = Path(output).expanduser()
    check_output_file(out, "model.onnx")
    _check_not_a_checkpoint(out, checkpoint_file(source))
    model = load_trained(source, overrides, device="cpu")
    try:
        export_model(model, fmt, out)
    except OSError as err:
        raise unwritable_output(out, err) from None
    h, w, c = model.image_shape
    print(
        f"Exported {model.path} as {fmt} to {out} ({out.stat().st_size / 1e6:.1f} MB): uint8 images "
        f"(N, {h}, {w}, {c}) in, {len(model.class_names)} logits out; classes and input shape in {metadata_path(out)}."
    )
    if fmt == "onnx" and not _has("onnxruntime"):
        print("Not checked: onnxruntime is not installed (pip install 'lstm-vision[export]').")
        return 0
    difference = largest_difference(model, fmt, out)
    checker = "onnxruntime" if fmt == "onnx" else "torch.jit.load"
    print(
        f"Checked with {checker} against PyTorch on random images in batches of {' and '.join(map(str, CHECK_BATCHES))}: "
        f"largest logit difference {difference:.1e}."
    )
    return 0


def _check_not_a_checkpoint(out: Path, source: Path) -> None:
    """An export never replaces the checkpoint it reads, nor any checkpoint of a run."""
    run_checkpoint = (out.name in (LAST_CHECKPOINT, BEST_CHECKPOINT) or re.fullmatch(r"epoch-\d+\.pt", out.name)) and (
        out.parent / METRICS_FILE
    ).exists()
    what = "the checkpoint to export" if out.exists() and out.resolve() == source.resolve() else "a checkpoint of a run"
    if what == "the checkpoint to export" or run_checkpoint:
        raise SettingsError(
            f"--output {out} is {what}; the export must not replace it: give a new file name, e.g. model.onnx or model.pt."
        )


def _require_onnx() -> None:
    missing = [name for name in ("onnx", "onnxscript") if not _has(name)]
    if missing:
        raise SettingsError(
            f"--export onnx needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''}: "
            f"pip install 'lstm-vision[export]'."
        )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _version() -> str:
    try:
        return metadata.version("lstm-vision")
    except metadata.PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _quiet():
    """torch.onnx prints its progress and both exporters warn about their internals (and torch.jit about its
    own deprecation): none of it is the user's business when the export works; errors still raise."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield
