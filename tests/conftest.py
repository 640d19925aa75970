import os
import shutil
import sys
from pathlib import Path
from typing import Callable

import pytest
from filelock import FileLock

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout: settings.toml, README.md, pyproject.toml
sys.path.insert(0, str(Path(__file__).parent))

from idx import make_mnist  # noqa: E402

from lstm_vision import events as ev  # noqa: E402
from lstm_vision.settings import Settings  # noqa: E402
from lstm_vision.control import RunControl  # noqa: E402


def built_once(tmp_path_factory, name: str, build: Callable[[Path], Path]) -> Path:
    """What ``build(folder)`` makes in an empty ``folder`` (and returns the path of), made once for the whole
    test session: under pytest-xdist the workers share the session's temp root, the first to ask builds it
    while the others wait on a file lock, and all use the same files. Whoever uses it reads, never writes."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's temp folder lies in the session's
        root = root.parent
    folder, made = root / f"shared-{name}", root / f"shared-{name}.path"
    with FileLock(str(root / f"shared-{name}.lock")):
        if not made.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed before
            folder.mkdir(parents=True)
            made.write_text(str(build(folder)), encoding="utf-8")
    return Path(made.read_text(encoding="utf-8"))


@pytest.fixture(scope="session", autouse=True)
def user_cache_folder(tmp_path_factory) -> Path:
    """XDG_CACHE_HOME for the whole session, subprocesses included: the LSTM kernel's calibration
    (lstm_vision/model/kernel_choice.py) never writes into the real home."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture(scope="session")
def mnist_root(tmp_path_factory) -> Path:
    """A tiny learnable MNIST-format data set, read by torchvision.datasets.MNIST."""
    return built_once(tmp_path_factory, "mnist", make_mnist)


def tiny_run_settings(mnist_root: Path, out_dir: Path, run_name: str = "test") -> Settings:
    """A run of a few seconds on the tiny data set; dropout 0 and a constant learning rate so runs compare."""
    s = Settings()
    s.data.root, s.data.download = str(mnist_root), False
    s.model.hidden_size, s.model.num_layers, s.model.bidirectional, s.model.dropout = 16, 1, False, 0.0
    s.optim.learning_rate, s.optim.schedule = 1e-2, "constant"
    s.train.epochs, s.train.batch_size, s.train.log_every = 2, 50, 5
    s.train.amp, s.train.label_smoothing = "off", 0.0
    s.output.dir, s.output.run_name = str(out_dir), run_name
    return s


@pytest.fixture
def tiny_settings(mnist_root, tmp_path) -> Settings:
    return tiny_run_settings(mnist_root, tmp_path / "runs")


def real_data_root() -> Path | None:
    value = os.environ.get("LSTM_VISION_TEST_DATA")
    return Path(value) if value else None


needs_real_mnist = pytest.mark.skipif(
    real_data_root() is None, reason="set LSTM_VISION_TEST_DATA to the folder holding MNIST/raw"
)


def save_as_reference(model, optimizer, loss, path) -> None:
    """A checkpoint as the reference script saves it: a DDP-wrapped model's state dict, none of our entries."""
    import torch

    torch.save(
        {
            "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "epoch": 1,
            "val_loss": loss.item(),
            "val_acc": 0.0,
        },
        path,
    )


def mnist_set(train: bool = False):
    """Real MNIST's test (or training) images, uint8 (N, 28, 28, 1), and their labels, as torchvision reads them."""
    from torchvision.datasets import MNIST

    data = MNIST(str(real_data_root().resolve()), train=train, download=False)
    return data.data[..., None].contiguous(), data.targets


@pytest.fixture(scope="session")
def tiny_model(mnist_root, tmp_path_factory) -> Path:
    """A run folder with a real last.pt, trained for seconds (2 epochs) on the tiny bar-pattern data set: for
    the Try screen, --predict's bad-input checks and --export."""

    def train(out: Path) -> Path:
        from lstm_vision.training.engine import run

        result = run(tiny_run_settings(mnist_root, out, "tiny"), lambda event: None, RunControl())
        assert result.status == "completed", result
        return Path(result.run_dir)

    return built_once(tmp_path_factory, "tiny-model", train)


@pytest.fixture(scope="session")
def mnist_model(tmp_path_factory) -> Path:
    """A run folder of the cpu preset trained on real MNIST for 2 epochs in fp32 (about 98 % test accuracy):
    the model that --predict, --export and the Try screen are tried on. fp32 (train.amp = off) so that
    every later use of the weights, also in fp32, computes what the run's own evaluation did."""
    if real_data_root() is None:
        pytest.skip("set LSTM_VISION_TEST_DATA to the folder holding MNIST/raw")

    def train(out: Path) -> Path:
        from lstm_vision.settings import apply_overrides, load_settings, preset_path
        from lstm_vision.training.engine import run

        overrides = [f"data.root={real_data_root().resolve()}", "data.download=false", "train.epochs=2", "train.amp=off"]
        settings = apply_overrides(load_settings(preset_path("cpu")), [*overrides, f"output.dir={out}", "output.run_name=cpu"])
        result = run(settings, lambda event: None, RunControl())
        assert result.status == "completed", result
        return Path(result.run_dir)

    return built_once(tmp_path_factory, "mnist-model", train)


class Recorder:
    """An ``emit`` that keeps every event; with ``stop_at_step`` it asks ``control`` to stop once that global
    step is logged."""

    def __init__(self, stop_at_step: int | None = None, control: RunControl | None = None):
        self.events, self.stop_at_step = [], stop_at_step
        self.control = control if control is not None else RunControl()

    def __call__(self, event):
        self.events.append(event)
        if self.stop_at_step is not None and isinstance(event, ev.StepLogged) and event.global_step >= self.stop_at_step:
            self.control.stop()

    def of(self, cls) -> list:
        return [e for e in self.events if isinstance(e, cls)]

    def logs(self, level: str | None = None) -> list[str]:
        return [e.text for e in self.of(ev.LogMessage) if level in (None, e.level)]

    def evaluation(self, split: str) -> ev.EvaluationFinished:
        return [e for e in self.of(ev.EvaluationFinished) if e.split == split][-1]
