"""torchrun: collectives, launching, watching the ranks, which rank failed first."""
