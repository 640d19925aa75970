"""Where a run came from: the checkout lstm-vision runs from, and its commit."""

from __future__ import annotations

import re
import subprocess

from lstm_vision.system.provenance import CHECKOUT, _git_commit


def test_the_checkout_is_the_project_folder_and_its_commit_is_recorded():
    # the folder that holds pyproject.toml (the package moved into lstm_vision/system/: one level more)
    assert (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "lstm_vision").is_dir()
    inside = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if inside.returncode == 0:  # the tests run from a git checkout (a worktree too): summary.json names its commit
        assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", _git_commit() or "")
        assert _git_commit().startswith(inside.stdout.strip())
