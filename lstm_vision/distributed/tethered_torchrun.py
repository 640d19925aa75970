"""torchrun, tethered to the process that started it: ``python -m lstm_vision.distributed.tethered_torchrun PARENT_PID
TMP_DIR TORCHRUN_ARGS...``, the program the launcher starts.

It asks the kernel for SIGTERM when the thread that started it dies (PR_SET_PDEATHSIG, Linux), so that a
killed app or runner never leaves ranks training on their own, and then removes the launcher's temporary
folder, which that launcher can no longer do. It needs nothing else of lstm_vision: it starts before the
ranks and must stay cheap.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import runpy
import shutil
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    parent, folder, torchrun_args = int(argv[0]), argv[1], argv[2:]
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    except (AttributeError, OSError):  # not Linux: the launcher's own cleanup is all there is
        pass
    # Only an orphan cleans up: a living launcher removes its folder itself, after reading the ranks' error files.
    atexit.register(lambda: os.getppid() != parent and shutil.rmtree(folder, ignore_errors=True))
    if os.getppid() != parent:
        sys.exit(1)  # the parent died before the tether was tied
    sys.argv = ["torchrun", *torchrun_args]
    runpy.run_module("torch.distributed.run", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
