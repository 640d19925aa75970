"""Batches straight from the in-memory uint8 tensors, and evaluation over them.

An epoch is one randperm; each rank takes every world_size-th index of it, so the
union of the ranks' batches at step s is exactly the single-process batch at step s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from lstm_vision.data.sets import DataBundle, ImageSet
from lstm_vision.system.devices import Precision
from lstm_vision.distributed.collectives import DistContext, all_reduce_sum

PREVIEW_IMAGES = 36  # test images (with predictions) sent to the app's image grid: 4 rows of 9 fill it at 200 x 50
MISTAKES = 32  # misclassified test images kept for mistakes.png


class Batcher:
    def __init__(
        self,
        data: DataBundle,
        batch_size: int,
        grad_accum_steps: int,
        sequence_length: int,
        input_size: int,
        seed: int,
        dist: DistContext,
    ) -> None:
        self.dist, self.seed = dist, seed
        self.sequence_length, self.input_size = sequence_length, input_size
        self.per_rank = batch_size // dist.world_size
        self.micro = max(1, self.per_rank // grad_accum_steps)
        self.train_size = len(data.train)
        self.shard = self.train_size // dist.world_size  # equal shards keep the ranks' step counts equal
        self.steps_per_epoch = max(1, math.ceil(self.shard / self.per_rank))
        self.device = data.train.images.device
        self.scale, self.shift = (t.to(self.device) for t in data.normalization.scale_shift())

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """This rank's sample order for ``epoch``: a pure function of seed and epoch, so resumes repeat it."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.train_size, generator=generator)
        return order[self.dist.rank :: self.dist.world_size][: self.shard].to(self.device, non_blocking=True)

    def micro_batches(self, order: torch.Tensor, step: int) -> list[torch.Tensor]:
        return list(order[step * self.per_rank : (step + 1) * self.per_rank].split(self.micro))

    def batch_samples(self, step: int) -> int:
        return min(self.per_rank, self.shard - step * self.per_rank)

    def batch(self, data: ImageSet, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = data.images[idx].float().mul_(self.scale).add_(self.shift)
        return x.view(len(idx), self.sequence_length, self.input_size), data.labels[idx]


@dataclass(frozen=True)
class Evaluation:
    """What evaluate() measured, all ranks together; matrix, preview and mistakes only with ``confusion``."""

    loss: float  # mean per sample
    accuracy: float
    correct: int
    total: int
    matrix: list[list[int]] | None = None  # rows: true class, columns: predicted
    preview: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # images, labels, predictions of the first batch
    mistakes: tuple[torch.Tensor, ...] | None = None  # this rank's misclassified images, labels, predictions, confidences


class EvaluationInterrupted(Exception):
    """A stop was asked for during an evaluation: its figures are incomplete and not reported."""


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: ImageSet,
    batcher: Batcher,
    precision: Precision,
    batch_size: int,
    label_smoothing: float,
    num_classes: int,
    dist: DistContext,
    confusion: bool = False,
    interrupt: Callable[[], bool] | None = None,
) -> Evaluation:
    """Loss, accuracy, correct and total over ``data`` (all ranks together); with ``confusion`` also the
    confusion matrix, a preview of the first batch and up to MISTAKES of this rank's misclassified images.
    ``interrupt`` (the same on every rank) is asked after each full batch; True raises EvaluationInterrupted."""
    was_training = model.training
    model.eval()
    device = batcher.device
    sums = torch.zeros(2, device=device, dtype=torch.float64)
    matrix = torch.zeros(num_classes * num_classes, device=device, dtype=torch.int64)
    preview = None
    mistakes: list[tuple[torch.Tensor, ...]] = []
    kept = 0
    # A collective in ``interrupt`` must be met by every rank: ask it only in the batches all ranks have.
    asks = len(data) // dist.world_size // batch_size
    for i, idx in enumerate(torch.arange(dist.rank, len(data), dist.world_size, device=device).split(batch_size)):
        x, y = batcher.batch(data, idx)
        with precision.autocast(device):
            logits = model(x).float()
        predicted = logits.argmax(1)
        sums[0] += F.cross_entropy(logits, y, label_smoothing=label_smoothing, reduction="sum").double()
        sums[1] += (predicted == y).sum()
        if confusion:
            matrix += torch.bincount(y * num_classes + predicted, minlength=num_classes * num_classes)
            if preview is None:
                preview = (data.images[idx[:PREVIEW_IMAGES]].cpu(), y[:PREVIEW_IMAGES].cpu(), predicted[:PREVIEW_IMAGES].cpu())
            if kept < MISTAKES:  # the final test pass only: its device sync per batch stops once enough are kept
                wrong = (predicted != y).nonzero().flatten()[: MISTAKES - kept]
                if len(wrong):
                    confidence = logits[wrong].softmax(1).gather(1, predicted[wrong, None]).flatten()
                    mistakes.append((data.images[idx[wrong]].cpu(), y[wrong].cpu(), predicted[wrong].cpu(), confidence.cpu()))
                    kept += len(wrong)
        if interrupt is not None and i < asks and interrupt():
            model.train(was_training)
            raise EvaluationInterrupted
    model.train(was_training)
    total = torch.tensor([len(range(dist.rank, len(data), dist.world_size))], device=device, dtype=torch.float64)
    loss_sum, correct, total_n = all_reduce_sum(torch.cat([sums, total]), dist).tolist()
    figures = dict(loss=loss_sum / max(total_n, 1), accuracy=correct / max(total_n, 1), correct=int(correct), total=int(total_n))
    if not confusion:
        return Evaluation(**figures)
    all_reduce_sum(matrix, dist)
    wrong = tuple(torch.cat(parts) for parts in zip(*mistakes)) if mistakes else None
    return Evaluation(**figures, matrix=matrix.view(num_classes, num_classes).tolist(), preview=preview, mistakes=wrong)
