"""The model: LSTMClassifier, the CPU LSTM kernel, checkpoints, the optimiser and its schedule."""
