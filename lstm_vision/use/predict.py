"""--predict: classify image files with a trained model; one line (or CSV row) per image and a summary.

Images are decoded as `folder` data sets decode them (data/images.py), in a DataLoader so that large folders
decode in parallel workers, and classified in batches. An image whose parent folder is named after a class
is scored, so that a held-out ImageFolder tree gives its accuracy. A file that cannot be read is one
sentence and the rest go on; the exit code is then 2, so that scripts notice.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from lstm_vision.data import images
from lstm_vision.errors import SettingsError
from lstm_vision.system.devices import usable_cores
from lstm_vision.atomic import atomic_write_text
from lstm_vision.metrics import short_name
from lstm_vision.runs.result import EXIT_BAD_INPUT
from lstm_vision.use.loaded_model import TrainedModel, check_output_file, class_lookup, class_of_folder, unwritable_output

CSV_COLUMNS = [
    "path",
    "predicted",
    "probability",
    "second",
    "second_probability",
    "third",
    "third_probability",
    "label",
    "correct",
]
DECODE_BATCH = 512
PARALLEL_FROM = 2048
USED_SETTINGS = (
    "train.amp",
    "system.device",
    "train.eval_batch_size",
)  # what --set may change for --predict  # fewer files decode faster in this process than workers take to start


@dataclass
class Prediction:
    path: Path
    top: list[tuple[int, float]]  # (class index, probability), best first, up to 3
    label: int | None  # the class its parent folder names, if any

    @property
    def correct(self) -> bool | None:
        return None if self.label is None else self.top[0][0] == self.label


@dataclass
class PredictionReport:
    predictions: list[Prediction]
    problems: list[str]  # one sentence per input that could not be used
    seconds: float  # decoding and classification together

    @property
    def scored(self) -> list[Prediction]:
        return [p for p in self.predictions if p.label is not None]

    def accuracy(self) -> float | None:
        scored = self.scored
        return sum(bool(p.correct) for p in scored) / len(scored) if scored else None


def collect_files(paths: list[str]) -> tuple[list[Path], list[str]]:
    """The image files the arguments name (folders: every image below them, sorted) and a sentence for each
    argument that names none."""
    files: list[Path] = []
    problems: list[str] = []
    for arg in paths:
        path = Path(arg).expanduser()
        if path.is_dir():
            found = images.image_files(path)
            if not found:
                problems.append(f"Folder {path} holds no images ({', '.join(images.IMAGE_EXTENSIONS)}).")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(f"{path} does not exist.")
    return files, problems


class _Chunks(torch.utils.data.Dataset):
    """Item k: the k-th chunk of files decoded as one stacked tensor, so that a worker hands back one shared
    tensor per chunk rather than one per image."""

    def __init__(self, files: list[Path], shape: tuple[int, int, int]) -> None:
        self.files, self.shape = files, shape

    def __len__(self) -> int:
        return (len(self.files) + DECODE_BATCH - 1) // DECODE_BATCH

    def __getitem__(self, chunk: int) -> tuple[list[int], torch.Tensor, list[tuple[int, str]]]:
        decoded, problems = [], []
        for index in range(chunk * DECODE_BATCH, min(len(self.files), (chunk + 1) * DECODE_BATCH)):
            try:
                decoded.append((index, images.read_image(self.files[index], self.shape)))
            except images.UnreadableImage as err:
                problems.append((index, str(err)))
            except OSError as err:  # permissions, a file gone since the folder was listed
                problems.append((index, err.strerror or str(err)))
        stacked = torch.stack([image for _, image in decoded]) if decoded else torch.empty(0, *self.shape, dtype=torch.uint8)
        return [index for index, _ in decoded], stacked, problems


def _decoded(files: list[Path], shape: tuple[int, int, int]) -> Iterator[tuple[list[int], torch.Tensor, list[tuple[int, str]]]]:
    """(indices, images, problems) per chunk of files, decoded in worker processes when there are many."""
    workers = min(4, usable_cores()) if len(files) >= PARALLEL_FROM else 0
    loader = torch.utils.data.DataLoader(_Chunks(files, shape), batch_size=None, num_workers=workers)
    yield from loader


def predict(
    model: TrainedModel,
    files: list[Path],
    on_prediction: Callable[[Prediction], None] = lambda p: None,
    on_problem: Callable[[str], None] = lambda s: None,
) -> PredictionReport:
    """Classify ``files``; ``on_prediction`` and ``on_problem`` hear of each as it is known."""
    lookup = class_lookup(model.class_names)
    predictions: list[Prediction] = []
    problems: list[str] = []
    start = time.perf_counter()
    for indices, batch, unreadable in _decoded(files, model.image_shape):
        for i, reason in unreadable:
            problems.append(f"{files[i]} is not a readable image ({reason}); skipped.")
            on_problem(problems[-1])
        if not indices:
            continue
        probabilities = model.probabilities(batch)
        top_p, top_k = probabilities.topk(min(3, probabilities.shape[1]), dim=1)
        for i, ks, ps in zip(indices, top_k.tolist(), top_p.tolist()):
            prediction = Prediction(files[i], list(zip(ks, ps)), class_of_folder(lookup, files[i].parent.name))
            predictions.append(prediction)
            on_prediction(prediction)
    return PredictionReport(predictions, problems, time.perf_counter() - start)


def line(prediction: Prediction, names: list[str]) -> str:
    """``path  predicted  99.2 %  (then 8 0.5 %, 5 0.2 %)``, and the folder's class where it disagrees."""
    (best, p), *others = prediction.top
    text = f"{prediction.path}  {names[best]}  {100 * p:.1f} %"
    if others:
        text += "  (then " + ", ".join(f"{short_name(names[k])} {100 * q:.1f} %" for k, q in others) + ")"
    if prediction.correct is False:
        text += f"  wrong: the folder says {names[prediction.label]}"
    return text


def summary(report: PredictionReport, model: TrainedModel) -> str:
    n, seconds = len(report.predictions), max(report.seconds, 1e-9)
    if n == 0:
        unusable = len(report.problems)
        return (
            f"Predicted no image with {model.path}: {'the' if unusable == 1 else f'all {unusable:,}'} "
            f"input{'s' if unusable != 1 else ''} could not be used."
        )
    rate = f" ({n / seconds:,.0f} images/s)" if n >= 100 else ""  # a few images time the start-up, not the speed
    text = (
        f"Predicted {n:,} image{'s' if n != 1 else ''} with {model.path} ({model.device.type}, "
        f"{model.precision.name}) in {seconds:.1f} s{rate}"
    )
    accuracy = report.accuracy()
    if accuracy is not None:
        scored = report.scored
        right = sum(bool(p.correct) for p in scored)
        where = "all in folders named after their class" if len(scored) == n else "in folders named after a class"
        text += f"; accuracy {100 * accuracy:.2f} % ({right:,} of {len(scored):,}, {where})"
    if report.problems:
        text += f"; {len(report.problems)} input{'s' if len(report.problems) != 1 else ''} could not be used"
    return text + "."


def to_csv(report: PredictionReport, names: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in report.predictions:
        cells: list[object] = [str(p.path)]
        for k, q in p.top + [(None, None)] * (3 - len(p.top)):
            cells += ["", ""] if k is None else [names[k], f"{q:.6f}"]
        cells += ["", ""] if p.label is None else [names[p.label], int(bool(p.correct))]
        writer.writerow(cells)
    return buffer.getvalue()


def write_csv(report: PredictionReport, names: list[str], output: Path) -> None:
    try:
        atomic_write_text(output, to_csv(report, names))
    except OSError as err:
        raise unwritable_output(output, err) from None


def check_output(output: Path) -> None:
    """Refuse an --output that cannot be written before any image is read (a long run would be lost)."""
    if output.suffix.lower() in images.IMAGE_EXTENSIONS:
        raise SettingsError(f"--output {output} looks like an image file; the answers go to a CSV, e.g. predictions.csv.")
    check_output_file(output, "predictions.csv")


def run_predict(source: str, paths: list[str], output: str | None, overrides: list[str]) -> int:
    """The --predict command: lines (or a CSV) and a summary; 2 when any input could not be used."""
    import sys

    from lstm_vision.use.loaded_model import load_trained

    out = Path(output).expanduser() if output else None
    if out is not None:
        check_output(out)
    for item in overrides:
        if item.partition("=")[0].strip() not in USED_SETTINGS:
            print(
                f"warning: --set {item} is not used by --predict (the model's own settings are); "
                f"only {', '.join(USED_SETTINGS)} apply.",
                file=sys.stderr,
            )
    model = load_trained(source, overrides)  # a bad checkpoint: SettingsError, one sentence, before any image
    files, problems = collect_files(paths)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not files:  # each argument has had its sentence
        return EXIT_BAD_INPUT
    if out is not None and out.resolve() in {f.resolve() for f in files}:
        raise SettingsError(f"--output {out} is one of the images to predict; give a new file name, e.g. predictions.csv.")

    def show(prediction: Prediction) -> None:
        if out is None:
            print(line(prediction, model.class_names))

    report = predict(model, files, show, lambda problem: print(f"error: {problem}", file=sys.stderr))
    report.problems[:0] = problems
    if out is not None and report.predictions:  # none: no file, and the summary says why
        write_csv(report, model.class_names, out)
        rows = len(report.predictions)
        print(f"Wrote {rows:,} row{'s' if rows != 1 else ''} to {out} (unreadable files have none).")
    print(summary(report, model))  # also when every file was unreadable: a script's last line says so
    return EXIT_BAD_INPUT if report.problems else 0
