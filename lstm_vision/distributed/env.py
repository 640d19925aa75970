"""Is this process a rank that torchrun started, and which: read from torchrun's environment, without importing
torch (the CLI and the headless runner ask before torch loads)."""

from __future__ import annotations

import os


def under_torchrun() -> bool:
    return "RANK" in os.environ


def rank() -> int:
    """This process's rank; 0 outside torchrun."""
    return int(os.environ.get("RANK", 0))
