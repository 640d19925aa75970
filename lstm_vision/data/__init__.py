"""Data sets: the registry, image folders, decoding and normalization, into uint8 tensors (N, H, W, C)."""
