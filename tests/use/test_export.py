"""--export: the exported ONNX and TorchScript files, run by onnxruntime and torch.jit.load on real MNIST."""

import json
import warnings

import pytest
import torch
from processes import cli
from conftest import mnist_set, needs_real_mnist

from lstm_vision.use.export import load_exported
from lstm_vision.use.loaded_model import load_trained


@needs_real_mnist
@pytest.mark.parametrize("fmt, name", [("onnx", "model.onnx"), ("torchscript", "model.pt")])
def test_exported_model_gives_the_runs_test_accuracy(mnist_model, tmp_path, fmt, name):
    out = cli("--export", fmt, str(mnist_model), "--output", str(tmp_path / name))
    assert out.returncode == 0, out.stderr
    assert "largest logit difference" in out.stdout
    images, labels = mnist_set()
    with warnings.catch_warnings():  # torch.jit.load warns that TorchScript is deprecated
        warnings.simplefilter("ignore", FutureWarning)
        exported = load_exported(fmt, tmp_path / name)
        logits = torch.cat([exported(chunk) for chunk in images.split(2500)])  # any batch size: the dimension is dynamic
    with torch.no_grad():
        reference = load_trained(mnist_model, device="cpu").classifier(images[:1000])
    assert (logits[:1000] - reference).abs().max().item() <= 1e-4
    summary = json.loads((mnist_model / "summary.json").read_text())
    assert int((logits.argmax(1) == labels).sum()) == summary["test_correct"]

    meta = json.loads((tmp_path / f"{name}.json").read_text())
    assert meta["input"] == {"name": "images", "dtype": "uint8", "layout": "NHWC", "shape": ["batch", 28, 28, 1]}
    assert meta["output"]["shape"] == ["batch", 10]
    assert meta["class_names"][1] == "1 - one" and meta["format"] == fmt


def test_export_to_a_path_that_cannot_be_written_is_one_sentence(tmp_path):
    from lstm_vision.model.checkpoint import save_checkpoint
    from lstm_vision.model.lstm import LSTMClassifier

    save_checkpoint({"state_dict": LSTMClassifier(28, 28, 10, 8, 1, False).state_dict()}, tmp_path / "ref.pt")
    missing = tmp_path / "missing" / "m.onnx"
    out = cli("--export", "onnx", str(tmp_path / "ref.pt"), "--output", str(missing))
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: --output {missing}: folder {missing.parent} does not exist."
    folder = cli("--export", "torchscript", str(tmp_path / "ref.pt"), "--output", str(tmp_path))
    assert folder.returncode == 2
    assert folder.stderr.strip() == f"error: --output {tmp_path} is a folder; give a file name, e.g. {tmp_path / 'model.onnx'}."


def test_export_needs_a_known_format_and_an_output(tmp_path):
    unknown = cli("--export", "tflite", str(tmp_path), "--output", str(tmp_path / "m"))
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1].startswith("error: --export 'tflite': the format must be onnx or torchscript")
    no_output = cli("--export", "onnx", str(tmp_path))
    assert no_output.returncode == 2
    assert (
        no_output.stderr.strip().splitlines()[-1] == "error: --export needs --output PATH, the file to write (e.g. model.onnx)."
    )


def test_a_reference_checkpoint_exports_with_a_dynamic_batch(tmp_path):
    from lstm_vision.model.checkpoint import save_checkpoint
    from lstm_vision.model.lstm import LSTMClassifier

    model = LSTMClassifier(28, 28, 10, 8, 2, True)
    save_checkpoint({"state_dict": model.state_dict()}, tmp_path / "ref.pt")
    out = cli("--export", "ONNX", str(tmp_path / "ref.pt"), "--output", str(tmp_path / "ref.onnx"))  # any case
    assert out.returncode == 0, out.stderr
    run = load_exported("onnx", tmp_path / "ref.onnx")
    model.eval()
    for n in (1, 33):
        x = torch.randint(0, 256, (n, 28, 28, 1), dtype=torch.uint8)
        with torch.no_grad():
            expected = model(((x.float() / 255 - 0.5) / 0.5).view(n, 28, 28))
        assert (run(x) - expected).abs().max().item() <= 1e-4
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file is gone


def test_an_export_never_replaces_a_checkpoint(tmp_path):
    from lstm_vision.model.checkpoint import save_checkpoint
    from lstm_vision.model.lstm import LSTMClassifier

    save_checkpoint({"state_dict": LSTMClassifier(28, 28, 10, 8, 1, False).state_dict()}, tmp_path / "ref.pt")
    before = (tmp_path / "ref.pt").read_bytes()
    itself = cli("--export", "onnx", str(tmp_path / "ref.pt"), "--output", str(tmp_path / "ref.pt"))
    assert itself.returncode == 2 and (tmp_path / "ref.pt").read_bytes() == before
    assert "is the checkpoint to export; the export must not replace it" in itself.stderr
    (tmp_path / "metrics.jsonl").write_text("")  # tmp_path is now a run folder: its best.pt is off limits
    best = cli("--export", "torchscript", str(tmp_path / "ref.pt"), "--output", str(tmp_path / "best.pt"))
    assert best.returncode == 2 and not (tmp_path / "best.pt").exists()
    assert "is a checkpoint of a run; the export must not replace it" in best.stderr


def test_the_torchscript_export_refuses_what_is_not_uint8_images(tmp_path):
    from lstm_vision.model.checkpoint import save_checkpoint
    from lstm_vision.model.lstm import LSTMClassifier

    save_checkpoint({"state_dict": LSTMClassifier(28, 28, 10, 8, 1, False).state_dict()}, tmp_path / "ref.pt")
    out = cli("--export", "torchscript", str(tmp_path / "ref.pt"), "--output", str(tmp_path / "m.pt"))
    assert out.returncode == 0, out.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(tmp_path / "m.pt"))
    assert module(torch.zeros(3, 28, 28, 1, dtype=torch.uint8)).shape == (3, 10)
    with pytest.raises(Exception, match="expected uint8 images"):
        module(torch.zeros(3, 28, 28, 1) / 255)  # float pixels in [0, 1] would give confident nonsense
