"""An LSTM forward and backward for CPU training, on nn.LSTM's own parameters.

Why: on CPU, nn.LSTM runs oneDNN's RNN kernels, whose backward pass is slow on AVX2 machines (a
bidirectional 2 x 128 LSTM at batch 512: about 300 ms forward and 800 ms backward on the 2-core dev
machine). The same maths written as a few large matrix products and in-place element-wise steps
trains 1.4-1.5x faster there in the engine (benchmarks/RESULTS.md section 4):

- the input projection of all time steps, and after the backward loop all weight gradients and the
  input gradient, are one batched matrix product each (both directions at once);
- only the recurrent product and the cell's element-wise update remain per time step, done in place
  in buffers reused across steps (fresh 50 MB allocations cost page faults on every step);
- tanh(z) = 2 sigmoid(2z) - 1: doubling the g-gate rows lets one sigmoid cover all four gates (this
  torch build's tanh is 4x slower than its sigmoid on AVX2);
- dropout draws 15-bit random numbers, four per generator call, instead of F.dropout's Bernoulli
  samples (see `dropout`).

The parameters, their names and the maths are nn.LSTM's (checkpoints are interchangeable);
`tests/model/test_cpu_lstm.py` checks outputs and gradients against nn.LSTM in float64. It is for
training: without gradients oneDNN's inference kernel is faster, and the model uses that.
"""

from __future__ import annotations


import torch
from torch import nn
from torch.nn import functional as F

from lstm_vision.model.cpu_lstm_bf16 import _LSTMLayerBF16
from lstm_vision.model.cpu_lstm_buffers import _gate_scale, _pool, release_buffers
from lstm_vision.model.cpu_lstm_cell import CellGrad, cell_forward, layer_output, output_grad_in_loop_order

Tensor = torch.Tensor

__all__ = ["lstm_forward", "release_buffers", "supports"]


class _LSTMLayer(torch.autograd.Function):
    """One LSTM layer, all directions, time-major: x (T, B, I) -> y (T, B, D * H).

    Weights are stacked over directions: w_ih (D, 4H, I), w_hh (D, 4H, H), b_ih and b_hh (D, 4H).
    The reverse direction reads the time-flipped input, so that at loop step s both directions
    read and write index s of their own buffers.
    """

    @staticmethod
    def forward(ctx, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        steps, batch, inputs = x.shape
        directions, _, hidden = w_hh.shape
        dtype = x.dtype
        scale = _gate_scale(hidden, dtype)
        bias = b_ih + b_hh
        xd = torch.stack((x, x.flip(0))) if directions == 2 else x.unsqueeze(0)  # (D, T, B, I)
        # gates (D, T, B, 4H) starts as the input projection of every step; the loop adds h @ W_hh.
        gates = _pool.take(directions, steps * batch, 4 * hidden, dtype=dtype)
        torch.baddbmm(
            (bias * scale[:, 0]).unsqueeze(1),
            xd.view(directions, steps * batch, inputs),
            (w_ih * scale).transpose(1, 2),
            out=gates,
        )
        gates = gates.view(directions, steps, batch, 4 * hidden)
        w_hh_t = (w_hh * scale).transpose(1, 2)
        cells = _pool.take(steps + 1, directions, batch, hidden, dtype=dtype)  # c_0 .. c_T
        hiddens = _pool.take(directions, steps + 1, batch, hidden, dtype=dtype)  # h_0 .. h_T
        tanh_cells = _pool.take(steps, directions, batch, hidden, dtype=dtype)
        cells[0] = 0
        hiddens[:, 0] = 0
        for s in range(steps):
            a = gates[:, s]
            a.baddbmm_(hiddens[:, s], w_hh_t)
            cell_forward(a, cells[s], cells[s + 1], tanh_cells[s], hiddens[:, s + 1])
        y = layer_output(hiddens)  # before the buffers go back to the pool
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(xd, w_ih, w_hh, gates, cells, hiddens, tanh_cells)
        else:
            _pool.give(gates.view(directions, steps * batch, 4 * hidden), cells, hiddens, tanh_cells)
        return y

    @staticmethod
    def backward(ctx, dy: Tensor):
        xd, w_ih, w_hh, gates, cells, hiddens, tanh_cells = ctx.saved_tensors
        directions, steps, batch, inputs = xd.shape
        hidden = w_hh.shape[2]
        dtype = dy.dtype
        # dL/dh_s from the layer's output, in loop order for both directions.
        dh_out = output_grad_in_loop_order(dy, _pool.take(steps, directions, batch, hidden, dtype=dtype))
        dgates = _pool.take(directions, steps * batch, 4 * hidden, dtype=dtype)
        dgates_steps = dgates.view(directions, steps, batch, 4 * hidden)
        dh = torch.zeros(directions, batch, hidden, dtype=dtype)
        cell = CellGrad(directions, batch, hidden, dtype)
        for s in reversed(range(steps)):
            dht = dh_out[s]
            dht += dh
            da = cell.step(dht, gates[:, s], cells[s], tanh_cells[s], dgates_steps[:, s])
            torch.bmm(da, w_hh, out=dh)
        dgates_t = dgates.transpose(1, 2)
        dw_hh = torch.bmm(dgates_t, hiddens[:, :steps].reshape(directions, steps * batch, hidden))
        dw_ih = torch.bmm(dgates_t, xd.view(directions, steps * batch, inputs))
        dbias = dgates.sum(1)
        dx = None
        if ctx.needs_input_grad[0]:
            dxd = torch.bmm(dgates, w_ih).view(directions, steps, batch, inputs)
            dx = dxd[0] + dxd[1].flip(0) if directions == 2 else dxd[0]
        _pool.give(gates.view(directions, steps * batch, 4 * hidden), cells, hiddens, tanh_cells, dh_out, dgates)
        # Two tensors, not one: autograd may keep a returned gradient as the parameter's .grad, and
        # b_ih and b_hh sharing one would double-count every later accumulation (grad_accum_steps).
        return dx, dw_ih, dw_hh, dbias, dbias.clone()


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """F.dropout for CPU tensors, 2.5-3x faster forward and backward: p is honoured to 1/32768.

    F.dropout on CPU draws one Bernoulli sample per element (about 13 ns each here: 86 ms of an 850 ms
    training step of the 2 x 128 model, RESULTS.md section 4). Here each 64-bit draw of torch's CPU generator (so torch.manual_seed
    and the checkpointed RNG state still govern it) gives four 15-bit uniform numbers.
    """
    if not training or p == 0:
        return x
    if x.device.type != "cpu" or p >= 1:
        return F.dropout(x, p, training)
    draws = torch.empty((x.numel() + 3) // 4, dtype=torch.int64).random_()  # 63 random bits each
    uniform = draws.view(torch.int16)[: x.numel()].view(x.shape).bitwise_and_(0x7FFF)
    mask = (uniform >= round(p * 32768)).to(x.dtype).mul_(1 / (1 - p))  # a multiply also serves the backward
    return x * mask


def in_bf16() -> bool:
    """Whether lstm_forward runs its bf16 kernel here: under CPU autocast to bfloat16."""
    return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


def supports(lstm: nn.LSTM, x: Tensor) -> bool:
    """Whether lstm_forward can stand in for lstm(x): CPU, float32/64 without autocast or under bf16
    autocast (cpu_lstm_bf16), no projections."""
    if x.device.type != "cpu" or not lstm.batch_first or lstm.proj_size != 0:
        return False
    if torch.is_autocast_enabled("cpu"):
        return in_bf16() and x.dtype in (torch.float32, torch.bfloat16)
    return x.dtype in (torch.float32, torch.float64)


def _stacked(lstm: nn.LSTM, name: str, layer: int) -> Tensor:
    suffixes = [f"_l{layer}"] + ([f"_l{layer}_reverse"] if lstm.bidirectional else [])
    return torch.stack([getattr(lstm, name + suffix) for suffix in suffixes])


def lstm_forward(lstm: nn.LSTM, x: Tensor) -> Tensor:
    """The output sequence of lstm(x)[0] (batch first) from zero initial states, nn.LSTM's dropout included;
    in bf16 under CPU bf16 autocast, else in x's dtype."""
    layer_class = _LSTMLayerBF16 if in_bf16() else _LSTMLayer
    layer_input = x.transpose(0, 1).contiguous()
    for layer in range(lstm.num_layers):
        if layer > 0:
            layer_input = dropout(layer_input, lstm.dropout, lstm.training)
        w_ih, w_hh = _stacked(lstm, "weight_ih", layer), _stacked(lstm, "weight_hh", layer)
        if lstm.bias:
            b_ih, b_hh = _stacked(lstm, "bias_ih", layer), _stacked(lstm, "bias_hh", layer)
        else:
            b_ih = b_hh = w_ih.new_zeros(w_ih.shape[:2])
        layer_input = layer_class.apply(layer_input, w_ih, w_hh, b_ih, b_hh)
    return layer_input.transpose(0, 1)
