"""The training loop (engine), its set-up, state, batches, meters, cadence, finish and resume."""
