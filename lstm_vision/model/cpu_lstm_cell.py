"""One time step of the LSTM cell, forward and backward, element-wise and in place, and the layer output's
order: the parts the fp32 kernel (cpu_lstm.py) and the bf16 kernel (cpu_lstm_bf16.py) share. Both call it on fp32 tensors (the bf16 kernel
keeps its element-wise work in fp32, and the fp32 kernel also runs float64 for its tests); what differs
between them is only the matrix products around it. Its own module, so that neither kernel imports the other
for it.

The gate rows arrive scaled by cpu_lstm_buffers._gate_scale (the g gate doubled), so that one sigmoid
covers all four gates: tanh(z) = 2 sigmoid(2z) - 1, and tanh(c) is taken the same way (this torch build's
tanh is about 4x slower than its sigmoid on AVX2, cpu_lstm.py).
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def cell_forward(a: Tensor, c_prev: Tensor, c: Tensor, tanh_c: Tensor, h: Tensor) -> None:
    """From the scaled gate sums a (D, B, 4H) of one step: the gates into a, the cell state into c, tanh(c)
    into tanh_c and the output o * tanh(c) into h (which may be bf16: rounded on the store)."""
    a.sigmoid_()
    i, f, g, o = a.chunk(4, -1)
    g.mul_(2).sub_(1)  # = tanh of the unscaled g gate
    torch.mul(f, c_prev, out=c)
    c.addcmul_(i, g)
    torch.mul(c, 2, out=tanh_c)
    tanh_c.sigmoid_().mul_(2).sub_(1)  # = tanh(c)
    torch.mul(o, tanh_c, out=h)


class CellGrad:
    """The backward of cell_forward, one step at a time, with its scratch memory allocated once per layer.

    step() takes dL/dh of the step (the output's and the next step's, summed) and carries dL/dc from one
    step to the one before in `dc`; it writes the gradient with respect to the unscaled gate sums into `da`.
    """

    def __init__(self, directions: int, batch: int, hidden: int, dtype: torch.dtype) -> None:
        self.dc = torch.zeros(directions, batch, hidden, dtype=dtype)
        self._scratch = torch.empty(directions, batch, hidden, dtype=dtype)
        self._slope = torch.empty(directions, batch, 4 * hidden, dtype=dtype)
        self._one = torch.ones((), dtype=dtype)
        self._hidden = hidden

    def step(self, dh: Tensor, a: Tensor, c_prev: Tensor, tanh_c: Tensor, da: Tensor) -> Tensor:
        """dh (D, B, H), the step's gates a (D, B, 4H) as cell_forward left them, c_{s-1}, tanh(c_s);
        writes dL/d(gate sums) into da (D, B, 4H) and returns it."""
        dc, scratch, slope, one, hidden = self.dc, self._scratch, self._slope, self._one, self._hidden
        i, f, g, o = a.chunk(4, -1)
        di, df, dg, do = da.chunk(4, -1)
        torch.mul(dh, tanh_c, out=do)
        torch.addcmul(one, tanh_c, tanh_c, value=-1, out=scratch)  # 1 - tanh(c)^2
        scratch.mul_(o)
        dc.addcmul_(dh, scratch)
        torch.mul(dc, g, out=di)
        torch.mul(dc, i, out=dg)
        torch.mul(dc, c_prev, out=df)
        dc.mul_(f)
        torch.addcmul(a, a, a, value=-1, out=slope)  # sigmoid' = s (1 - s)
        torch.addcmul(one, g, g, value=-1, out=slope[..., 2 * hidden : 3 * hidden])  # tanh' = 1 - g^2
        return da.mul_(slope)


def layer_output(hiddens: Tensor) -> Tensor:
    """The layer's output (T, B, D * H) from h_0 .. h_T of each direction (D, T + 1, B, H) in loop order
    (the reverse direction ran over the time-flipped input, so its sequence is flipped back)."""
    directions, steps, batch, hidden = hiddens.shape
    steps -= 1
    y = torch.empty(steps, batch, directions, hidden, dtype=hiddens.dtype)
    y[:, :, 0] = hiddens[0, 1:]
    if directions == 2:
        y[:, :, 1] = hiddens[1, 1:].flip(0)
    return y.view(steps, batch, directions * hidden)


def output_grad_in_loop_order(dy: Tensor, out: Tensor) -> Tensor:
    """dL/dh_s from the layer's output gradient dy (T, B, D * H), into out (T, D, B, H) in loop order for
    both directions (the reverse of layer_output), converted to out's dtype."""
    steps, directions, batch, hidden = out.shape
    dy = dy.view(steps, batch, directions, hidden)
    out[:, 0] = dy[:, :, 0]
    if directions == 2:
        out[:, 1] = dy[:, :, 1].flip(0)
    return out
