"""The own CPU LSTM kernel in bf16 (under CPU bf16 autocast) computes what nn.LSTM computes in float64,
within bf16's precision.

Tolerances, stated: bf16 keeps 8 significant bits (a relative rounding of at most 2^-9 = 0.2 %). Each
output and each gradient, as a whole, must lie within 3 % of float64 nn.LSTM's (relative Frobenius norm;
an absolute floor of 1e-3 per element covers gradients that are nearly zero), and at training size within
1 %; the kernel gives 0.2-0.5 % there (the gate sums, the cell state and the element-wise backward are fp32,
only the products' operands and the layer's output are rounded).
"""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings as hyp_settings, strategies as st
from torch import nn

from lstm_vision.model import cpu_lstm
from lstm_vision.model.lstm import build_model
from lstm_vision.settings import ModelSettings

BF16 = torch.autocast("cpu", dtype=torch.bfloat16)


def _reference(lstm: nn.LSTM, x: torch.Tensor, grad_out: torch.Tensor):
    ref = nn.LSTM(
        lstm.input_size, lstm.hidden_size, lstm.num_layers, bias=lstm.bias, batch_first=True, bidirectional=lstm.bidirectional
    ).double()
    ref.load_state_dict(lstm.state_dict())
    x = x.double().requires_grad_(True)
    out = ref(x)[0]
    return out.detach(), torch.autograd.grad(out, [x, *ref.parameters()], grad_out.double())


def _own_bf16(lstm: nn.LSTM, x: torch.Tensor, grad_out: torch.Tensor):
    x = x.detach().requires_grad_(True)
    with BF16:
        out = cpu_lstm.lstm_forward(lstm, x)
    assert out.dtype == torch.bfloat16  # what autocast's products read next anyway
    grads = torch.autograd.grad(out, [x, *lstm.parameters()], grad_out)
    assert all(g.dtype == torch.float32 for g in grads)  # the parameters' and the input's own dtype
    return out.detach(), grads


def _assert_near(got: torch.Tensor, want: torch.Tensor, relative: float) -> None:
    error = (got.double() - want).norm().item()
    allowed = relative * want.norm().item() + 1e-3 * math.sqrt(want.numel())
    assert error <= allowed, f"{tuple(want.shape)}: error {error:.3g} > {allowed:.3g}"


@hyp_settings(max_examples=25, deadline=None)
@given(
    steps=st.integers(1, 6),
    batch=st.integers(1, 5),
    inputs=st.integers(1, 6),
    hidden=st.integers(1, 6),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_matches_nn_lstm_in_float64_within_bf16_precision(steps, batch, inputs, hidden, layers, bidirectional, bias, seed):
    torch.manual_seed(seed)
    lstm = nn.LSTM(inputs, hidden, layers, batch_first=True, bidirectional=bidirectional, bias=bias)
    x = torch.randn(batch, steps, inputs)
    grad_out = torch.randn(batch, steps, hidden * (2 if bidirectional else 1))
    ref_out, ref_grads = _reference(lstm, x, grad_out)
    for _ in range(2):  # the second step reuses the first one's pooled buffers
        out, grads = _own_bf16(lstm, x, grad_out)
        _assert_near(out, ref_out, 0.03)
        for got, want in zip(grads, ref_grads, strict=True):
            _assert_near(got, want, 0.03)


def test_within_one_percent_at_training_size():
    torch.manual_seed(0)
    lstm = nn.LSTM(28, 64, 2, batch_first=True, bidirectional=True)
    x = torch.randn(64, 28, 28)
    grad_out = torch.randn(64, 28, 128)
    ref_out, ref_grads = _reference(lstm, x, grad_out)
    out, grads = _own_bf16(lstm, x, grad_out)
    _assert_near(out, ref_out, 0.01)
    for got, want in zip(grads, ref_grads, strict=True):
        _assert_near(got, want, 0.01)


def test_the_model_trains_through_it_under_bf16_autocast():
    torch.manual_seed(1)
    model = build_model(ModelSettings(hidden_size=16, num_layers=2, bidirectional=True, dropout=0.1), 8, 6, 3, lstm_kernel="own")
    calls = []
    model.LSTM.register_forward_hook(lambda *args: calls.append("nn.LSTM"))
    x, labels = torch.randn(32, 6, 8), torch.randint(0, 3, (32,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        with BF16:
            loss = nn.functional.cross_entropy(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert calls == []  # the own kernel, not nn.LSTM's forward
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in model.parameters())
    assert losses[-1] < 0.01 * losses[0]  # it learns a small fixed batch (as nn.LSTM and the fp32 kernel do)
    with torch.no_grad(), BF16:
        model(x)
    assert calls == ["nn.LSTM"]  # evaluation keeps oneDNN's inference kernel


def test_float16_autocast_is_not_supported():
    lstm = nn.LSTM(4, 4, batch_first=True)
    x = torch.randn(2, 3, 4)
    assert cpu_lstm.supports(lstm, x)
    with BF16:
        assert cpu_lstm.supports(lstm, x) and cpu_lstm.in_bf16()
    with torch.autocast("cpu", dtype=torch.float16):
        assert not cpu_lstm.supports(lstm, x)
