#!/usr/bin/env python
"""How fast --predict classifies image files, and where the time goes.

    .venv/bin/python benchmarks/predict_speed.py            # about 2 min on 2 cores
    .venv/bin/python benchmarks/predict_speed.py --rounds 3

Trains the `cpu` preset for one epoch in fp32 (or takes --checkpoint), writes the 10,000 MNIST test
images as PNG files in class folders, then, in alternating rounds:

- decoding, as shipped: chunks of 512 files per DataLoader item (one shared tensor per chunk);
- decoding, as first written: one DataLoader item per file (one shared tensor per image), the same workers;
- the whole command in this process (predict.predict: decode, classify, score), as shipped;
- the model alone on the decoded images: PyTorch fp32, PyTorch bf16 autocast (where the CPU has native
  bf16) and the ONNX export through onnxruntime.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, data_root, header, load  # noqa: E402

sys.path.insert(0, str(ROOT))
import torch  # noqa: E402

from lstm_vision.data import images
from lstm_vision.use import predict  # noqa: E402
from lstm_vision.system.devices import cpu_has_native_bf16, resolve_precision, usable_cores  # noqa: E402
from lstm_vision.use.loaded_model import load_trained  # noqa: E402


def train_model(root: str, out: Path) -> Path:
    from lstm_vision.settings import apply_overrides, load_settings, preset_path
    from lstm_vision.control import RunControl
    from lstm_vision.training.engine import run

    settings = apply_overrides(
        load_settings(preset_path("cpu")),
        [
            f"data.root={root}",
            "data.download=false",
            "train.epochs=1",
            "train.amp=off",
            f"output.dir={out}",
            "output.run_name=model",
        ],
    )
    return Path(run(settings, lambda event: None, RunControl()).run_dir)


def write_pngs(root: str, folder: Path) -> list[Path]:
    from torchvision.datasets import MNIST

    test = MNIST(root, train=False, download=False)
    files = []
    for i in range(len(test)):
        path = folder / str(int(test.targets[i])) / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        test[i][0].save(path)
        files.append(path)
    return files


class PerFile(torch.utils.data.Dataset):
    """The first version's loader: one item (one shared tensor from a worker) per file."""

    def __init__(self, files, shape):
        self.files, self.shape = files, shape

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return i, images.read_image(self.files[i], self.shape), ""


def decode_per_file(files, shape) -> int:
    loader = torch.utils.data.DataLoader(
        PerFile(files, shape), batch_size=512, collate_fn=list, num_workers=min(4, usable_cores())
    )
    return sum(len(batch) for batch in loader)


def decode_chunks(files, shape) -> int:
    return sum(len(indices) for indices, _, _ in predict._decoded(files, shape))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkpoint", help="a run folder or checkpoint of a model with 28 x 28 x 1 inputs")
    parser.add_argument("--data-root")
    args = parser.parse_args()
    root = data_root(args.data_root)
    header("predict_speed: --predict on the 10,000 MNIST test images as PNG files")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(args.checkpoint) if args.checkpoint else train_model(root, Path(tmp))
        files = write_pngs(root, Path(tmp) / "pngs")
        model = load_trained(source, ["train.amp=off"])
        shape = model.image_shape
        decoded = torch.cat([batch for _, batch, _ in predict._decoded(files, shape)])
        onnx_path = Path(tmp) / "model.onnx"
        from lstm_vision.use.export import export_model, load_exported

        export_model(load_trained(source, ["train.amp=off"], device="cpu"), "onnx", onnx_path)
        ort = load_exported("onnx", onnx_path)
        bf16 = load_trained(source, ["train.amp=bf16"]) if cpu_has_native_bf16() else None
        times: dict[str, list[float]] = {}
        for r in range(args.rounds):
            ways = {
                "decode, chunks of 512 (shipped)": lambda: decode_chunks(files, shape),
                "decode, one item per file (before)": lambda: decode_per_file(files, shape),
                "predict command, fp32 (decode + classify + score)": lambda: predict.predict(model, files),
                "model alone, PyTorch fp32": lambda: model.probabilities(decoded),
                "model alone, onnxruntime fp32": lambda: [ort(chunk) for chunk in decoded.split(1000)],
            }
            if bf16 is not None:
                ways["model alone, PyTorch bf16 autocast"] = lambda: bf16.probabilities(decoded)
            for name, fn in ways.items():
                times.setdefault(name, []).append(timed(fn))
            print(f"   round {r + 1}/{args.rounds} done, load {load()}", flush=True)
        n = len(files)
        print(
            f"   {n:,} files, model {model.path.name} ({sum(p.numel() for p in model.classifier.parameters()):,} "
            f"parameters), precision of 'auto' here: {resolve_precision('auto', torch.device('cpu')).name}"
        )
        for name, values in times.items():
            best, median = min(values), statistics.median(values)
            print(f"   {name:52s} median {median:6.2f} s = {n / median:8,.0f} images/s (best {n / best:,.0f})")
        before = statistics.median(times["decode, one item per file (before)"])
        after = statistics.median(times["decode, chunks of 512 (shipped)"])
        print(f"   decoding, shipped against before: {before / after:.2f}x faster")


if __name__ == "__main__":
    main()
