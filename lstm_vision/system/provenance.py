"""Where a run came from: lstm-vision's version and commit, the software under it, the host, the command."""

from __future__ import annotations

import platform
import shlex
import socket
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import torch

from lstm_vision import __version__

CHECKOUT = Path(__file__).resolve().parents[2]  # lstm_vision/system/provenance.py -> the project folder


@lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """The commit of the checkout lstm-vision runs from (with "+dirty" for uncommitted changes), or None."""
    if not (CHECKOUT / ".git").exists():
        return None  # an installed package, not a checkout
    try:
        commit = subprocess.run(
            ["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(CHECKOUT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) or None


def provenance() -> dict:
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "lstm_vision": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "command": shlex.join(sys.argv),
    }
