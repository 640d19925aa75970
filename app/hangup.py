"""What the terminal going away does: SIGHUP (the terminal or the SSH connection gone) and SIGTERM. A run this
process trains stops as F8 would (the batch finishes, last.pt, summary "stopped"), then the app ends; an attached
run goes on. A served app's terminal is its server (--serve): when that process is gone the app ends too."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Callable

from lstm_vision.runs.result import EXIT_CODES
from app.session import RunSession
from app.state import AppState

HANGUP_SAVE_S = 600.0  # how long a hung-up app waits for its run to finish the batch and save before it ends
SERVER_CHECK_S = 1.0  # how often a served app looks for its server


def install_hangup_handlers(session: RunSession, stop_run: Callable[[], None], quit_with: Callable[[int], None]) -> None:
    """``stop_run``: F8's; ``quit_with``: how the app exits with a code, on its own thread."""

    def terminal_lost() -> None:  # SIGTERM: the app can still draw and exit as usual
        if session.terminal_lost():
            stop_run()
            return
        quit_with(session.exit_code)

    def hung_up(signum, frame) -> None:
        # Nothing can be drawn any more, and the app cannot be shut down in the usual way: the run stops, and
        # once it has saved, the process ends.
        own = session.own_run_going
        if own:
            session.control.stop()
        threading.Thread(target=_end_after_run, args=(session, own), name="lstm-vision-hangup", daemon=True).start()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminal_lost)
    # A plain handler, not the event loop's: when the terminal is gone, Textual's writer thread dies on the first
    # failed write and the next screen update blocks the app's thread for good. A Python signal handler still
    # runs there (a blocked lock wait is interrupted for it).
    signal.signal(signal.SIGHUP, hung_up)


def _end_after_run(session: RunSession, own: bool) -> None:
    code = session.exit_code
    if own and session.run_done.wait(HANGUP_SAVE_S):
        code = getattr(session.run_result, "exit_code", EXIT_CODES[AppState.STOPPED])
    os._exit(code)  # every file of the run is written and closed: the engine returned


def end_with_server() -> None:
    """A served app (--serve runs it with exec: its parent is the server) ends once the server is gone, killed or
    crashed without closing its tabs. Nobody would see it again, and it would not end by itself: Textual's writer
    thread dies on the first write to the closed pipe and the app's thread then blocks for good, so a thread of
    its own checks. A served app trains nothing itself (its runs are background runs): ending at once loses nothing."""
    server = os.getppid()

    def check() -> None:
        while os.getppid() == server:
            threading.Event().wait(SERVER_CHECK_S)
        os._exit(0)

    threading.Thread(target=check, name="lstm-vision-server-check", daemon=True).start()
