"""The pictures a run leaves in its folder: curves.png, confusion_matrix.png, mistakes.png."""

from __future__ import annotations

from PIL import Image

from processes import journal
from lstm_vision import events as ev
from lstm_vision.report import plots
from lstm_vision.control import RunControl
from lstm_vision.training.engine import run


def test_a_run_leaves_its_three_pictures_and_what_they_draw(tiny_settings):
    tiny_settings.train.epochs, tiny_settings.optim.learning_rate = 1, 1e-4  # barely trained: many mistakes
    result = run(tiny_settings, lambda e: None, RunControl())
    folder = result.run_dir
    for name in ("curves.png", "confusion_matrix.png", "mistakes.png"):
        with Image.open(f"{folder}/{name}") as picture:
            assert picture.format == "PNG" and picture.width > 300 and picture.height > 200, name
    series = plots.read_curves(plots.Path(folder) / "metrics.jsonl")
    logged = [r for r in journal(folder) if r["event"] == "step_logged"]
    assert series.step_loss == [e["loss"] for e in logged] and series.epoch_x == [1]
    assert series.val_x == [1] and len(series.lr) == len(logged)


def test_mistakes_are_the_misclassified_test_images(tiny_settings, monkeypatch):
    drawn = {}
    monkeypatch.setattr(
        plots,
        "draw_mistakes",
        lambda run_dir, images, labels, predicted, confidence, names: drawn.update(
            images=images, labels=labels, predicted=predicted, confidence=confidence
        ),
    )
    tiny_settings.train.epochs, tiny_settings.optim.learning_rate = 1, 1e-4  # barely trained: many mistakes
    result = run(tiny_settings, lambda e: None, RunControl())
    wrong = result.summary["test_total"] - result.summary["test_correct"]
    assert wrong > 32 and len(drawn["labels"]) == 32 == len(drawn["images"])
    assert all(t != p for t, p in zip(drawn["labels"], drawn["predicted"]))
    assert all(0 < c <= 1 for c in drawn["confidence"]) and drawn["images"].shape[1:] == (28, 28, 1)


def test_a_picture_that_cannot_be_drawn_is_a_warning_not_a_failure(tiny_settings, monkeypatch):
    def broken(*args):
        raise RuntimeError("no display of any kind")

    monkeypatch.setattr(plots, "draw_confusion", broken)
    events = []
    tiny_settings.train.epochs = 1
    result = run(tiny_settings, events.append, RunControl())
    assert result.status == "completed"
    assert any(
        isinstance(e, ev.LogMessage)
        and e.level == "warning"
        and "Pictures not drawn" in e.text
        and "no display of any kind" in e.text
        for e in events
    )
