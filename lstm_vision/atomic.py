"""Atomic file writes: a crash or SIGKILL mid-write leaves the previous file intact."""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator


@contextmanager
def atomic_path(path: str | Path, durable: bool = True) -> Iterator[Path]:
    """A temporary file beside ``path`` for the block to write (by name: exporters and savefig want one); when
    the block ends without error it is fsynced and renamed over ``path``, else removed. The file keeps the mode
    ``path`` had, or gets the umask's default when new (mkstemp alone makes it 0600). ``durable=False`` skips
    the fsyncs: a reader still never sees half a file, but a crash may leave the old one (for files that are
    rewritten every few seconds and whose staleness is itself the signal)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _mode_for(path))
        os.close(fd)
        yield Path(tmp)
        if durable:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _fsync_dir(path.parent)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], durable: bool = True) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path`` (see atomic_path)."""
    with atomic_path(path, durable) as tmp, open(tmp, "wb") as handle:
        write(handle)


def _fsync_file(path: str) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


_umask_lock = threading.Lock()


def current_umask() -> int:
    # Linux shows it in /proc without changing it. Elsewhere os.umask must set it to read it: the lock keeps two
    # threads (the app saves settings while a run writes) from reading each other's stand-in value and keeping it.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str, durable: bool = True) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")), durable)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
