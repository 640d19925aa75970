"""The Try screen's browser of the test set's mistakes: the first n or p evaluates the test set once (in a
thread), then n and p step through the images the model gets wrong, each shown on the canvas with what the
model says of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from textual import work

from lstm_vision.metrics import short_name
from lstm_vision.use.loaded_model import TrainedModel
from lstm_vision.text import plural

if TYPE_CHECKING:
    from textual.screen import Screen

    from app.widgets.canvas import Canvas


@dataclass
class Mistakes:
    """The test images the model gets wrong, with what it says of them."""

    indices: list[int]  # in the test set
    images: torch.Tensor  # uint8 (M, H, W, C)
    labels: list[int]
    predictions: list[int]
    probabilities: torch.Tensor  # (M, classes)
    total: int  # test images


@dataclass
class Mistake:
    number: int  # 0-based, among the mistakes
    index: int  # in the test set
    label: int
    predicted: int
    probabilities: list[float]


if TYPE_CHECKING:  # what the mixin uses of TryScreen, for the type checker; at run time a plain object

    class _TryHost(Screen):
        model: TrainedModel | None
        showing: str  # the line under the canvas that says what it shows

        @property
        def canvas(self) -> Canvas: ...

        def _show_info(self) -> None: ...
else:
    _TryHost = object


def find_mistakes(model: TrainedModel) -> Mistakes:
    """Evaluate the model's test set (as its settings name it) and keep the images it gets wrong."""
    from lstm_vision.data.registry import load_data

    test = load_data(model.settings.data, model.settings.train.seed).test
    probabilities = model.probabilities(test.images)
    predictions = probabilities.argmax(dim=1)
    wrong = (predictions != test.labels.cpu()).nonzero().flatten()
    return Mistakes(
        wrong.tolist(),
        test.images[wrong].cpu(),
        test.labels[wrong].tolist(),
        predictions[wrong].tolist(),
        probabilities[wrong],
        len(test),
    )


class MistakeBrowsing(_TryHost):
    """Mixed into TryScreen: n / p, the worker that finds the mistakes, and showing one of them."""

    mistakes: Mistakes | None = None
    mistake: Mistake | None = None  # the one on the canvas
    _mistake_step = 0  # asked for while the test set loads

    def action_mistake(self, step: int) -> None:
        if self.model is None:
            return
        if self.mistakes is None:
            if not self._mistake_step:  # the first n or p: evaluate the test set once
                self._mistake_step = step
                self.showing = "Finding the test set's mistakes…"
                self._show_info()
                self._find_mistakes(self.model)
            return
        if not self.mistakes.indices:
            self.app.notify(f"The model gets all {self.mistakes.total:,} test images right.")
            return
        current = self.mistake.number if self.mistake is not None else (-1 if step > 0 else 0)
        self.show_mistake((current + step) % len(self.mistakes.indices))

    @work(thread=True, exclusive=True, group="try-mistakes", exit_on_error=False)
    def _find_mistakes(self, model: TrainedModel) -> Mistakes:
        return find_mistakes(model)  # TryScreen.on_worker_state_changed hands the result to _mistakes_loaded

    def _mistakes_loaded(self, mistakes: Mistakes) -> None:
        self.mistakes = mistakes
        step, self._mistake_step = self._mistake_step, 0
        self.showing = f"{plural(len(mistakes.indices), 'mistake')} in {mistakes.total:,} test images; n / p step through them."
        self._show_info()
        if step:
            self.action_mistake(step)

    def show_mistake(self, number: int) -> None:
        m = self.mistakes
        assert m is not None and self.model is not None
        self.mistake = Mistake(
            number, m.indices[number], m.labels[number], m.predictions[number], m.probabilities[number].tolist()
        )
        names = self.model.class_names
        p = self.mistake.probabilities
        label, predicted = short_name(names[self.mistake.label]), short_name(names[self.mistake.predicted])
        self.showing = (
            f"Mistake {number + 1}/{len(m.indices)}, test image {self.mistake.index}: labelled {label}, read as "
            f"{predicted} ({100 * p[self.mistake.predicted]:.0f}%; {label}: {100 * p[self.mistake.label]:.0f}%)"
        )
        self.canvas.set_image(m.images[number])
