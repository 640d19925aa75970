"""LSTMClassifier: the reference architecture, state-dict compatible with the reference checkpoints."""

from __future__ import annotations

import torch
from torch import nn

from lstm_vision.model import cpu_lstm
from lstm_vision.settings import ModelSettings


class LSTMClassifier(nn.Module):
    """nn.LSTM (batch first) -> dropout on its outputs -> one linear layer over all time steps, as the
    reference; dropout between stacked LSTM layers is a separate setting (model.lstm_dropout, 0 = none)."""

    def __init__(
        self,
        input_size: int,
        sequence_length: int,
        num_classes: int,
        hidden_size: int = 256,
        num_layers: int = 3,
        bidirectional: bool = True,
        dropout: float = 0.2,
        lstm_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        directions = 2 if bidirectional else 1
        # The attribute names (LSTM, fc) are the reference's: its checkpoints load as they are.
        self.LSTM = nn.LSTM(
            input_size,
            hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=lstm_dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * directions * sequence_length, num_classes)
        # Train the LSTM through cpu_lstm where it can (CPU, fp32 or bf16) and where it is the faster (kernel_choice).
        # Without gradients (evaluation) oneDNN's inference kernel is the faster one (RESULTS.md §4).
        self.own_cpu_kernel = False

    def train(self, mode: bool = True) -> LSTMClassifier:
        if not mode:  # evaluation runs nn.LSTM: let it use the memory the own kernel's buffers hold
            cpu_lstm.release_buffers()
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, sequence_length, input_size)
        # The own kernel runs eagerly only: torch.compile or torch.export of the whole model would unroll its
        # time loop into one huge graph, so a trace takes nn.LSTM (same parameters, same result) instead.
        # (torch.compiler.is_compiling is a flag; torch.compiler.disable would import all of torch._dynamo.)
        if (
            self.own_cpu_kernel
            and torch.is_grad_enabled()
            and not torch.compiler.is_compiling()
            and cpu_lstm.supports(self.LSTM, x)
        ):
            out = cpu_lstm.lstm_forward(self.LSTM, x)
        else:
            out = self.LSTM(x)[0]
            if torch.compiler.is_compiling():
                return self.head(out)
        # cpu_lstm.dropout also after nn.LSTM: F.dropout's Bernoulli draws took 2.6-2.8 ms of a 10 ms bf16 step of
        # the cpu preset (benchmarks/RESULTS.md section 13); elsewhere than on the CPU it is F.dropout.
        return self.head(cpu_lstm.dropout(out, self.dropout.p, self.training), dropped=True)

    def head(self, out: torch.Tensor, dropped: bool = False) -> torch.Tensor:
        """Everything after the LSTM: dropout (unless forward already did it, eagerly), flatten, linear.
        It is what torch.compile compiles (engine.compile_head): Dynamo cannot trace into nn.LSTM's
        cuDNN / oneDNN kernels, and tracing the whole model fails at them."""
        return self.fc((out if dropped else self.dropout(out)).flatten(1))


def build_model(
    settings: ModelSettings, input_size: int, sequence_length: int, num_classes: int, lstm_kernel: str = "pytorch"
) -> LSTMClassifier:
    model = LSTMClassifier(
        input_size,
        sequence_length,
        num_classes,
        settings.hidden_size,
        settings.num_layers,
        settings.bidirectional,
        settings.dropout,
        settings.lstm_dropout,
    )
    model.own_cpu_kernel = lstm_kernel in ("auto", "own")  # a run's setup settles auto by measurement (kernel_choice)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
