"""--predict: real checkpoints, real image files, the real command line."""

import csv
import warnings
from pathlib import Path

import pytest
import torch
from processes import cli, start_cli
from conftest import mnist_set, needs_real_mnist
from PIL import Image

from lstm_vision.errors import CheckpointError
from lstm_vision.model.checkpoint import save_checkpoint
from lstm_vision.settings import apply_overrides, load_settings, preset_path
from lstm_vision.control import RunControl
from lstm_vision.training.engine import run
from lstm_vision.data.images import read_image
from lstm_vision.model.lstm import LSTMClassifier
from lstm_vision.model.architecture import architecture
from lstm_vision.use.loaded_model import class_lookup, class_of_folder, load_trained


def write_png(path: Path, image: torch.Tensor) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image.squeeze(-1).numpy()).save(path)
    return path


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# --- a held-out ImageFolder: the run's own test accuracy, image for image ----------------------------------


@needs_real_mnist
def test_predict_on_a_held_out_folder_agrees_with_the_runs_test_evaluation(tmp_path):
    train_images, train_labels = mnist_set(train=True)
    tree = tmp_path / "digits"
    for split, first, count in (("train", 0, 3000), ("test", 50000, 600)):
        for i in range(first, first + count):
            write_png(tree / split / str(int(train_labels[i])) / f"{i}.png", train_images[i])
    settings = apply_overrides(
        load_settings(preset_path("cpu")),
        [
            "data.dataset=folder",
            f"data.root={tree}",
            "data.image_size=28",
            "data.channels=1",
            "train.epochs=2",
            "train.amp=off",
            f"output.dir={tmp_path / 'runs'}",
            "output.run_name=folder",
        ],
    )
    result = run(settings, lambda event: None, RunControl())
    assert result.status == "completed"
    run_dir = Path(result.run_dir)

    out = cli("--predict", str(run_dir), str(tree / "test"), "--output", str(tmp_path / "p.csv"))
    assert out.returncode == 0, out.stderr
    rows = read_rows(tmp_path / "p.csv")
    assert len(rows) == 600 and list(rows[0])[:3] == ["path", "predicted", "probability"]
    # the confusion matrix of the answers is the run's own, cell for cell
    names = [str(k) for k in range(10)]
    matrix = [[0] * 10 for _ in names]
    for row in rows:
        matrix[names.index(row["label"])][names.index(row["predicted"])] += 1
    with open(run_dir / "confusion_matrix.csv", newline="") as handle:
        own = [[int(v) for v in line[1:]] for line in list(csv.reader(handle))[1:]]
    assert matrix == own
    correct = sum(row["correct"] == "1" for row in rows)
    assert correct == result.summary["test_correct"]
    assert f"accuracy {100 * correct / 600:.2f} %" in out.stdout


@needs_real_mnist
def test_png_files_decode_to_the_data_sets_own_pixels_and_are_scored_by_folder(mnist_model, tmp_path):
    images, labels = mnist_set()
    files = [write_png(tmp_path / "by-class" / str(int(labels[i])) / f"{i}.png", images[i]) for i in range(64)]
    files.append(write_png(tmp_path / "loose" / "x.png", images[64]))  # not in a class folder: predicted, not scored
    assert all(torch.equal(read_image(files[i], (28, 28, 1)), images[i]) for i in range(64))

    out = cli("--predict", str(mnist_model), str(tmp_path / "by-class"), str(files[-1]))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 66  # one per image and the summary
    model = load_trained(mnist_model)
    expected = model.probabilities(images[:64]).argmax(1)
    right = int((expected == labels[:64]).sum())
    assert f"accuracy {100 * right / 64:.2f} % ({right:,} of 64, in folders named after a class)" in lines[-1]
    loose = next(line for line in lines if line.startswith(str(files[-1])))
    assert loose.split("  ")[1] == model.class_names[int(model.probabilities(images[64:65]).argmax())]


# --- loading: reference checkpoints, names --------------------------------------------------------------------


def test_a_reference_checkpoint_loads_from_its_weights_alone(tmp_path):
    model = LSTMClassifier(28, 28, 10, hidden_size=12, num_layers=2, bidirectional=True)
    save_checkpoint({"epoch": 3, "state_dict": model.state_dict()}, tmp_path / "ref.pt")
    trained = load_trained(tmp_path / "ref.pt", ["train.amp=off"])  # the default, auto, may pick bf16 here
    assert trained.image_shape == (28, 28, 1)
    assert trained.class_names == [str(k) for k in range(10)]
    assert trained.normalization.method == "reference"
    x = torch.randint(0, 256, (3, 28, 28, 1), dtype=torch.uint8)
    model.eval()
    with torch.no_grad():  # the reference's inputs: (x/255 - 0.5) / 0.5, row by row
        expected = torch.softmax(model(((x.float() / 255 - 0.5) / 0.5).view(3, 28, 28)), 1)
        assert torch.allclose(trained.probabilities(x), expected, atol=1e-6)


def test_architecture_is_read_from_the_weights():
    model = LSTMClassifier(56, 14, 7, hidden_size=20, num_layers=3, bidirectional=False)
    assert architecture(model.state_dict(), Path("x.pt")) == {
        "input_size": 56,
        "hidden_size": 20,
        "num_layers": 3,
        "bidirectional": False,
        "sequence_length": 14,
        "num_classes": 7,
    }
    with pytest.raises(CheckpointError, match="holds no LSTM classifier weights"):
        architecture({"fc.weight": torch.zeros(2, 2)}, Path("x.pt"))


def test_folder_names_match_torchvision_class_names():
    lookup = class_lookup(["0 - zero", "1 - one", "cat"])
    assert lookup["1"] == lookup["one"] == lookup["1 - one"] == 1
    assert lookup["cat"] == 2 and "dog" not in lookup


# --- bad input: one sentence, exit 2 --------------------------------------------------------------------------


def test_missing_checkpoint_is_one_sentence(tmp_path):
    out = cli("--predict", str(tmp_path / "nope"), str(tmp_path))
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == f"error: Checkpoint {tmp_path / 'nope'} does not exist; give a run folder or a checkpoint file (.pt)."
    )


def test_a_run_folder_without_last_pt_names_best_pt(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"")
    out = cli("--predict", str(tmp_path), str(tmp_path))
    assert out.returncode == 2
    assert "holds no last.pt (it has best.pt: give that file)" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_file_that_is_not_an_image_is_one_sentence(tiny_model, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    out = cli("--predict", str(tiny_model), str(tmp_path / "notes.txt"))
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {tmp_path / 'notes.txt'} is not a readable image (cannot identify image file); skipped."
    assert out.stdout == f"Predicted no image with {tiny_model / 'last.pt'}: the input could not be used.\n"


def test_a_folder_whose_only_images_are_unreadable_still_ends_with_its_summary(tiny_model, tmp_path):
    """A script reads the last line: it says that nothing was predicted and why, as with one bad file among good ones."""
    (tmp_path / "imgs" / "3").mkdir(parents=True)
    (tmp_path / "imgs" / "3" / "empty.png").write_bytes(b"")
    truncated = write_png(tmp_path / "imgs" / "3" / "cut.png", torch.randint(0, 256, (28, 28, 1), dtype=torch.uint8))
    truncated.write_bytes(truncated.read_bytes()[:60])
    out = cli("--predict", str(tiny_model), str(tmp_path / "imgs"), "--output", str(tmp_path / "p.csv"))
    assert out.returncode == 2
    assert [line.split(" is not a readable image")[0] for line in out.stderr.splitlines()] == [
        f"error: {tmp_path / 'imgs' / '3' / name}" for name in ("cut.png", "empty.png")
    ]
    assert out.stdout == f"Predicted no image with {tiny_model / 'last.pt'}: all 2 inputs could not be used.\n"
    assert not (tmp_path / "p.csv").exists()  # no rows to write


def test_a_folder_with_no_images_is_one_sentence(tiny_model, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no images here")
    out = cli("--predict", str(tiny_model), str(tmp_path / "empty"))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().startswith(f"error: Folder {tmp_path / 'empty'} holds no images (.jpg, .jpeg, .png")
    assert len(out.stderr.strip().splitlines()) == 1


def test_an_unreadable_file_is_skipped_and_the_rest_go_on(tiny_model, tmp_path):
    good = [write_png(tmp_path / "imgs" / f"{k}.png", torch.randint(0, 256, (28, 28, 1), dtype=torch.uint8)) for k in range(3)]
    (tmp_path / "imgs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = cli("--predict", str(tiny_model), str(tmp_path / "imgs"), "--output", str(tmp_path / "p.csv"))
    assert out.returncode == 2  # scripts notice that an input was skipped
    assert "broken.png is not a readable image" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert [row["path"] for row in read_rows(tmp_path / "p.csv")] == [str(p) for p in good]
    assert "Predicted 3 images" in out.stdout and "1 input could not be used" in out.stdout


def test_an_output_that_cannot_be_written_is_refused_before_any_image_is_read(tiny_model, tmp_path):
    image = write_png(tmp_path / "a.png", torch.zeros(28, 28, 1, dtype=torch.uint8))
    out = cli("--predict", str(tiny_model), str(image), "--output", str(tmp_path / "no" / "p.csv"))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == f"error: --output {tmp_path / 'no' / 'p.csv'}: folder {tmp_path / 'no'} does not exist."


def test_predict_does_not_combine_with_training_options(tiny_model, tmp_path):
    out = cli("--predict", str(tiny_model), str(tmp_path), "--resume", str(tiny_model))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == (
        "error: --predict uses the trained model's own settings; it combines with --output and --set only, not --resume."
    )


def test_predict_applies_set_overrides(tiny_model, tmp_path):
    image = write_png(tmp_path / "a.png", torch.zeros(28, 28, 1, dtype=torch.uint8))
    out = cli("--predict", str(tiny_model), str(image), "--set", "train.amp=bf16")
    assert out.returncode == 0, out.stderr
    assert "(cpu, bf16)" in out.stdout
    bad = cli("--predict", str(tiny_model), str(image), "--set", "train.amp=fp16")
    assert bad.returncode == 2 and "train.amp = fp16 needs a CUDA GPU" in bad.stderr


@pytest.mark.parametrize("shape, mode", [((40, 33, 3), "RGB"), ((50, 50), "L"), ((20, 30, 4), "RGBA")])
def test_decoding_is_torchvisions_convert_and_antialiased_resize(tmp_path, shape, mode):
    """read_image skips the resize when the size is right (the fast path); otherwise it must be exactly
    PILToTensor + Resize(antialias=True), as the folder data sets were decoded when models were trained."""
    import numpy as np
    from torchvision.transforms import v2

    Image.fromarray(np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8), mode).save(tmp_path / "x.png")
    for channels, size in ((1, 28), (3, 32), (1, shape[0])):
        with Image.open(tmp_path / "x.png") as image:
            converted = image.convert("L" if channels == 1 else "RGB")
        expected = v2.Compose([v2.PILToTensor(), v2.Resize((size, size), antialias=True)])(converted).permute(1, 2, 0)
        assert torch.equal(read_image(tmp_path / "x.png", (size, size, channels)), expected)


def test_images_may_follow_output_and_the_csv_never_replaces_an_input(tiny_model, tmp_path):
    image = write_png(tmp_path / "imgs" / "a.png", torch.zeros(28, 28, 1, dtype=torch.uint8))
    after = cli("--predict", str(tiny_model), "--output", str(tmp_path / "p.csv"), str(image))
    assert after.returncode == 0, after.stderr
    assert [row["path"] for row in read_rows(tmp_path / "p.csv")] == [str(image)]
    over = cli("--predict", str(tiny_model), str(image), "--output", str(image))
    assert over.returncode == 2 and image.read_bytes().startswith(b"\x89PNG")
    assert (
        over.stderr.strip() == f"error: --output {image} looks like an image file; the answers go to a CSV, e.g. predictions.csv."
    )
    odd = tmp_path / "imgs" / "b.data"  # an image under a name that is not an image's
    odd.write_bytes(image.read_bytes())
    same = cli("--predict", str(tiny_model), str(odd), "--output", str(odd))
    assert same.returncode == 2 and odd.read_bytes().startswith(b"\x89PNG")
    assert "is one of the images to predict" in same.stderr


def test_settings_predict_does_not_use_are_said_to_be_ignored(tiny_model, tmp_path):
    image = write_png(tmp_path / "a.png", torch.zeros(28, 28, 1, dtype=torch.uint8))
    out = cli("--predict", str(tiny_model), str(image), "--set", "model.hidden_size=7")
    assert out.returncode == 0
    assert out.stderr.strip() == (
        "warning: --set model.hidden_size=7 is not used by --predict (the model's own settings "
        "are); only train.amp, system.device, train.eval_batch_size apply."
    )


def test_a_reader_that_goes_away_ends_predict_quietly(tiny_model, tmp_path):
    import subprocess

    for k in range(300):
        write_png(tmp_path / "imgs" / f"{k:03d}.png", torch.zeros(28, 28, 1, dtype=torch.uint8))
    with open(tmp_path / "stderr.txt", "w") as errors:
        child = start_cli("--predict", str(tiny_model), str(tmp_path / "imgs"), stdout=subprocess.PIPE, stderr=errors)
        assert child.stdout.readline().startswith(str(tmp_path / "imgs" / "000.png").encode())
        child.stdout.close()  # as `| head -1` does
        assert child.wait(timeout=120) == 0
    assert (tmp_path / "stderr.txt").read_text() == ""


def test_class_folders_match_in_any_case_unless_that_is_ambiguous():
    lookup = class_lookup(["0 - zero", "1 - one", "A", "a", "Cat"])
    assert class_of_folder(lookup, "ONE") == 1 and class_of_folder(lookup, "cat") == 4
    assert class_of_folder(lookup, "A") == 2 and class_of_folder(lookup, "a") == 3  # EMNIST keeps both


def test_a_torchscript_export_given_as_the_checkpoint_is_named_so(tmp_path):
    model = LSTMClassifier(28, 28, 10, hidden_size=8, num_layers=1, bidirectional=False)
    with warnings.catch_warnings():  # torch.jit.trace: deprecation and tracer warnings
        warnings.simplefilter("ignore")
        torch.jit.trace(model.eval(), torch.zeros(1, 28, 28)).save(str(tmp_path / "model.pt"))
    with pytest.raises(
        CheckpointError, match="is a TorchScript model .as --export torchscript writes., not a training checkpoint"
    ):
        load_trained(tmp_path / "model.pt")
