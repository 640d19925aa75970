"""The own CPU LSTM kernel computes what nn.LSTM computes: outputs and every gradient, in float64."""

from __future__ import annotations

import torch
from hypothesis import given, settings as hyp_settings, strategies as st
from torch import nn

from lstm_vision.model import cpu_lstm
from lstm_vision.settings import ModelSettings
from lstm_vision.model.lstm import build_model


def _outputs_and_grads(lstm: nn.LSTM, x: torch.Tensor, grad_out: torch.Tensor, own: bool):
    x = x.detach().requires_grad_(True)
    out = cpu_lstm.lstm_forward(lstm, x) if own else lstm(x)[0]
    grads = torch.autograd.grad(out, [x, *lstm.parameters()], grad_out)
    return out.detach(), grads


@hyp_settings(max_examples=25, deadline=None)
@given(
    steps=st.integers(1, 5),
    batch=st.integers(1, 4),
    inputs=st.integers(1, 5),
    hidden=st.integers(1, 4),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_matches_nn_lstm_outputs_and_gradients(steps, batch, inputs, hidden, layers, bidirectional, bias, seed):
    torch.manual_seed(seed)
    lstm = nn.LSTM(inputs, hidden, layers, batch_first=True, bidirectional=bidirectional, bias=bias).double()
    x = torch.randn(batch, steps, inputs, dtype=torch.float64)
    grad_out = torch.randn(batch, steps, hidden * (2 if bidirectional else 1), dtype=torch.float64)
    ref_out, ref_grads = _outputs_and_grads(lstm, x, grad_out, own=False)
    # Twice: the second step reuses the first one's pooled buffers, which must not leak into it.
    for _ in range(2):
        out, grads = _outputs_and_grads(lstm, x, grad_out, own=True)
        torch.testing.assert_close(out, ref_out)
        for got, want in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(got, want)


def test_float32_close_to_nn_lstm_at_training_size():
    torch.manual_seed(0)
    lstm = nn.LSTM(28, 32, 2, batch_first=True, bidirectional=True)
    x = torch.randn(64, 28, 28)
    grad_out = torch.randn(64, 28, 64)
    ref_out, ref_grads = _outputs_and_grads(lstm, x, grad_out, own=False)
    out, grads = _outputs_and_grads(lstm, x, grad_out, own=True)
    torch.testing.assert_close(out, ref_out, atol=2e-5, rtol=1e-4)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-3)


def test_forward_without_gradients_matches_and_keeps_no_graph():
    torch.manual_seed(1)
    lstm = nn.LSTM(6, 5, 2, batch_first=True, bidirectional=True).double().eval()
    x = torch.randn(3, 7, 6, dtype=torch.float64)
    with torch.no_grad():
        out = cpu_lstm.lstm_forward(lstm, x)
        again = cpu_lstm.lstm_forward(lstm, x)
        ref = lstm(x)[0]
    assert out.grad_fn is None
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(again, ref)


def test_dropout_between_layers_only_in_training():
    torch.manual_seed(2)
    lstm = nn.LSTM(4, 8, 2, batch_first=True, dropout=0.5).double()
    x = torch.randn(16, 5, 4, dtype=torch.float64)
    lstm.eval()
    torch.testing.assert_close(cpu_lstm.lstm_forward(lstm, x), lstm(x)[0])
    without_dropout = cpu_lstm.lstm_forward(lstm, x)
    lstm.train()
    assert not torch.allclose(cpu_lstm.lstm_forward(lstm, x), without_dropout)


def test_model_uses_own_kernel_only_where_supported():
    model = build_model(
        ModelSettings(hidden_size=8, num_layers=2, bidirectional=True, dropout=0.0), 4, 5, 3, lstm_kernel="auto"
    ).double()
    reference = build_model(
        ModelSettings(hidden_size=8, num_layers=2, bidirectional=True, dropout=0.0), 4, 5, 3, lstm_kernel="pytorch"
    ).double()
    reference.load_state_dict(model.state_dict())
    assert model.own_cpu_kernel and not reference.own_cpu_kernel
    assert model.state_dict().keys() == reference.state_dict().keys()  # checkpoints stay interchangeable
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(model(x), reference(x))
    assert model(x).grad_fn is not None
    calls = []
    model.LSTM.register_forward_hook(lambda *args: calls.append("nn.LSTM"))
    model(x)
    assert calls == []  # training: the own kernel, not nn.LSTM's forward
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))
    assert calls == ["nn.LSTM"]  # evaluation: oneDNN's inference kernel is the faster one
    model(x).sum().backward()
    assert cpu_lstm._pool._free  # the training step left its buffers for the next one
    model.eval()
    assert not cpu_lstm._pool._free  # switching to evaluation hands that memory back
    assert cpu_lstm.supports(model.LSTM, x.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert cpu_lstm.supports(model.LSTM, x.float())  # bf16 autocast: the bf16 kernel (test_cpu_lstm_bf16.py)
        assert not cpu_lstm.supports(model.LSTM, x)  # but not for float64 inputs


def test_fast_dropout_keeps_the_expectation_and_masks_the_gradient():
    torch.manual_seed(3)
    x = torch.ones(200_000, requires_grad=True)
    y = cpu_lstm.dropout(x, 0.3, training=True)
    kept = y.detach() > 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005  # 15-bit draws: p to 1/32768, sampling noise ~0.001
    torch.testing.assert_close(y.detach()[kept], torch.full((int(kept.sum()),), 1 / 0.7))
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.7)
    assert cpu_lstm.dropout(x, 0.3, training=False) is x
    torch.manual_seed(3)
    torch.testing.assert_close(cpu_lstm.dropout(x, 0.3, training=True), y)  # torch.manual_seed governs it


def test_gradients_accumulate_over_backward_calls_like_nn_lstm():
    # grad_accum_steps: .grad sums several backward passes, so no two parameters may share a gradient.
    torch.manual_seed(4)
    lstm = nn.LSTM(5, 6, 2, batch_first=True, bidirectional=True).double()
    x = torch.randn(8, 4, 5, dtype=torch.float64)
    grad_out = torch.randn(8, 4, 12, dtype=torch.float64)
    accumulated = {}
    for own in (False, True):
        lstm.zero_grad(set_to_none=True)
        for xs, gs in zip(x.chunk(2), grad_out.chunk(2), strict=True):
            (cpu_lstm.lstm_forward(lstm, xs) if own else lstm(xs)[0]).backward(gs)
        accumulated[own] = [p.grad.clone() for p in lstm.parameters()]
    for got, want in zip(accumulated[True], accumulated[False], strict=True):
        torch.testing.assert_close(got, want)


def test_the_model_drops_out_with_the_fast_dropout_after_either_kernel():
    """After nn.LSTM too, training on the CPU draws cpu_lstm.dropout's mask (F.dropout's Bernoulli draws cost
    a quarter of a cpu-preset step in bf16); evaluation drops nothing."""
    settings = ModelSettings(hidden_size=8, num_layers=1, bidirectional=False, dropout=0.4)
    x = torch.randn(64, 5, 4)
    for kernel in ("pytorch", "own"):
        model = build_model(settings, 4, 5, 3, lstm_kernel=kernel)
        torch.manual_seed(7)
        logits = model(x)
        with torch.no_grad():
            out = model.LSTM(x)[0]
        torch.manual_seed(7)
        expected = model.fc(cpu_lstm.dropout(out, 0.4, training=True).flatten(1))
        torch.testing.assert_close(logits, expected)
        model.eval()
        torch.testing.assert_close(model(x), model.fc(out.flatten(1)))
