"""The CPU LSTM kernels' working memory (fp32 and bf16, cpu_lstm.py and cpu_lstm_bf16.py): buffers reused from
one step to the next, and the gate scale both kernels apply. Its own module so that the two kernels share it
without importing each other."""

from __future__ import annotations

from collections import OrderedDict

import torch

Tensor = torch.Tensor


class _BufferPool:
    """Free work buffers by (shape, dtype), so that each training step reuses the last one's memory.

    A buffer goes back to the pool only when the step that used it is done (the end of the backward
    pass, or of a forward without gradients); a graph dropped without backward simply lets its
    buffers be garbage-collected. Only the most recently used shapes are kept, so an evaluation batch
    or a last short batch does not pin memory for the rest of the run.
    """

    MAX_SHAPES = 24

    def __init__(self) -> None:
        self._free: OrderedDict[tuple, list[Tensor]] = OrderedDict()

    def take(self, *shape: int, dtype: torch.dtype) -> Tensor:
        key = (shape, dtype)
        free = self._free.get(key)
        if free:
            self._free.move_to_end(key)
            return free.pop()
        return torch.empty(shape, dtype=dtype)

    def give(self, *buffers: Tensor) -> None:
        for buffer in buffers:
            key = (tuple(buffer.shape), buffer.dtype)
            self._free.setdefault(key, []).append(buffer)
            self._free.move_to_end(key)
        while len(self._free) > self.MAX_SHAPES:
            self._free.popitem(last=False)

    def clear(self) -> None:
        self._free.clear()


_pool = _BufferPool()


def release_buffers() -> None:
    """Drop the reusable work buffers (the next training step allocates them again)."""
    _pool.clear()


def _gate_scale(hidden: int, dtype: torch.dtype) -> Tensor:
    """Row factors (4H, 1) that double the g gate, so sigmoid(scaled) gives tanh through 2s - 1."""
    scale = torch.ones(4 * hidden, 1, dtype=dtype)
    scale[2 * hidden : 3 * hidden] = 2
    return scale
