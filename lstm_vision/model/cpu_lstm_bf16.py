"""The own CPU LSTM kernel in bf16: the maths of cpu_lstm, its matrix products in bfloat16.

Why: where the CPU multiplies bf16 natively (AVX512-BF16, AMX), oneDNN's bf16 GEMMs run several times
faster than fp32 ones at this kernel's shapes, while oneDNN's own bf16 LSTM is not faster than its fp32
one (benchmarks/RESULTS.md section 12). Whether this kernel beats nn.LSTM on a given CPU is measured,
not assumed: `system.lstm_kernel = auto` times both (lstm_vision/model/kernel_choice.py).

What is bf16 and what stays fp32 (accuracy where it needs it):

- bf16: every matrix product's operands (x, h, the weights, the gate gradients) and the layer's output
  h, which is what the next layer's and the head's products read anyway under autocast. oneDNN accumulates
  each product in fp32 and rounds its result once;
- fp32: the gate sums (input projection + bias + recurrent product), the activations, the cell state
  c and tanh(c), the whole element-wise backward (dh, dc, the gate gradients before they are rounded for
  the products), the bias gradient's sum and the returned weight gradients.

The products run per direction with torch.mm/addmm: this torch's bf16 bmm does not reach oneDNN's fast
GEMM (3-20x slower than two mm calls at the recurrent shape on the AVX512-BF16 dev machine).
`tests/model/test_cpu_lstm_bf16.py` checks outputs and gradients against nn.LSTM in float64, with
tolerances stated there.
"""

from __future__ import annotations

import torch

from lstm_vision.model.cpu_lstm_buffers import _gate_scale, _pool
from lstm_vision.model.cpu_lstm_cell import CellGrad, cell_forward, layer_output, output_grad_in_loop_order

Tensor = torch.Tensor
BF16 = torch.bfloat16
F32 = torch.float32


def _mm(a: Tensor, b: Tensor, out: Tensor) -> Tensor:
    """out[d] = a[d] @ b[d] for each direction d (a bmm that reaches oneDNN's bf16 GEMM)."""
    for d in range(a.shape[0]):
        torch.mm(a[d], b[d], out=out[d])
    return out


class _LSTMLayerBF16(torch.autograd.Function):
    """One LSTM layer, all directions, time-major: x (T, B, I) -> y (T, B, D * H) in bf16 (see cpu_lstm._LSTMLayer)."""

    @staticmethod
    def forward(ctx, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
        with torch.autocast("cpu", enabled=False):  # the dtypes here are chosen, not cast by autocast
            return _forward(ctx, x, w_ih, w_hh, b_ih, b_hh)

    @staticmethod
    def backward(ctx, dy: Tensor):
        with torch.autocast("cpu", enabled=False):
            return _backward(ctx, dy)


def _forward(ctx, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor, b_hh: Tensor) -> Tensor:
    steps, batch, inputs = x.shape
    directions, _, hidden = w_hh.shape
    scale = _gate_scale(hidden, F32)
    input_dtype, x = x.dtype, x.to(BF16)
    xd = torch.stack((x, x.flip(0))) if directions == 2 else x.unsqueeze(0)  # (D, T, B, I) bf16
    w_ih_t = (w_ih.float() * scale).to(BF16).transpose(1, 2)
    w_hh_t = (w_hh.float() * scale).to(BF16).transpose(1, 2)
    projection = _mm(
        xd.view(directions, steps * batch, inputs), w_ih_t, _pool.take(directions, steps * batch, 4 * hidden, dtype=BF16)
    )
    gates = _pool.take(directions, steps * batch, 4 * hidden, dtype=F32)
    # fp32 gate sums. A copy, then same-dtype adds: a mixed bf16 + fp32 add runs 1.7x slower than both.
    gates.copy_(projection).add_(((b_ih + b_hh).float() * scale[:, 0]).unsqueeze(1))
    _pool.give(projection)
    gates = gates.view(directions, steps, batch, 4 * hidden)
    cells = _pool.take(steps + 1, directions, batch, hidden, dtype=F32)  # c_0 .. c_T
    hiddens = _pool.take(directions, steps + 1, batch, hidden, dtype=BF16)  # h_0 .. h_T, rounded once
    tanh_cells = _pool.take(steps, directions, batch, hidden, dtype=F32)
    recurrent = torch.empty(directions, batch, 4 * hidden, dtype=BF16)
    recurrent_f32 = torch.empty(directions, batch, 4 * hidden, dtype=F32)
    cells[0] = 0
    hiddens[:, 0] = 0
    for s in range(steps):
        a = gates[:, s]
        a += recurrent_f32.copy_(_mm(hiddens[:, s], w_hh_t, recurrent))
        cell_forward(a, cells[s], cells[s + 1], tanh_cells[s], hiddens[:, s + 1])  # h rounded to bf16 on the store
    y = layer_output(hiddens)  # before the buffers go back to the pool
    if any(ctx.needs_input_grad):
        ctx.save_for_backward(xd, w_ih, w_hh, gates, cells, hiddens, tanh_cells)
        ctx.input_dtype = input_dtype
    else:
        _pool.give(gates.view(directions, steps * batch, 4 * hidden), cells, hiddens, tanh_cells)
    return y


def _backward(ctx, dy: Tensor):
    xd, w_ih, w_hh, gates, cells, hiddens, tanh_cells = ctx.saved_tensors
    directions, steps, batch, inputs = xd.shape
    hidden = w_hh.shape[2]
    # dL/dh_s from the layer's output, in loop order, in fp32.
    dh_out = output_grad_in_loop_order(dy, _pool.take(steps, directions, batch, hidden, dtype=F32))
    # The gate gradients in bf16 for the products; each step's are computed in fp32 in `da` first.
    dgates = _pool.take(directions, steps * batch, 4 * hidden, dtype=BF16)
    dgates_steps = dgates.view(directions, steps, batch, 4 * hidden)
    w_hh_b = w_hh.to(BF16)  # unscaled: the gate gradients are taken with respect to the unscaled sums
    dbias = torch.zeros(directions, 4 * hidden, dtype=F32)
    dh = torch.zeros(directions, batch, hidden, dtype=BF16)
    da = torch.empty(directions, batch, 4 * hidden, dtype=F32)
    cell = CellGrad(directions, batch, hidden, F32)
    for s in reversed(range(steps)):
        dht = dh_out[s]
        dht += dh
        cell.step(dht, gates[:, s], cells[s], tanh_cells[s], da)
        dbias += da.sum(1)  # in fp32, before the rounding
        db = dgates_steps[:, s]
        db.copy_(da)
        _mm(db, w_hh_b, dh)
    dgates_t = dgates.transpose(1, 2)
    dw_hh = _mm(dgates_t, hiddens[:, :steps].reshape(directions, steps * batch, hidden), torch.empty_like(w_hh_b))
    dw_ih = _mm(dgates_t, xd.view(directions, steps * batch, inputs), torch.empty(w_ih.shape, dtype=BF16))
    dx = None
    if ctx.needs_input_grad[0]:
        dxd = _mm(dgates, w_ih.to(BF16), torch.empty(directions, steps * batch, inputs, dtype=BF16))
        dxd = dxd.view(directions, steps, batch, inputs)
        dx = (dxd[0].float() + dxd[1].flip(0).float() if directions == 2 else dxd[0]).to(ctx.input_dtype)
    _pool.give(gates.view(directions, steps * batch, 4 * hidden), cells, hiddens, tanh_cells, dh_out, dgates)
    # Two bias tensors, not one shared (see cpu_lstm); the weight gradients in the parameters' dtype.
    dtype = w_ih.dtype
    return dx, dw_ih.to(dtype), dw_hh.to(dtype), dbias.to(dtype), dbias.to(dtype).clone()
