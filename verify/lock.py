"""One lengthgen process per result folder: an exclusive lock on ``<folder>/.lock``.

Two ``lengthgen report`` processes on the same suite folder would both see the same runs missing
and both train every one of them.  The command that writes a store takes this lock for its whole
invocation; a second one refuses at once with a message naming the holder's pid, or, with
``wait=True`` (``--wait``), blocks until the holder finishes.  The lock is ``fcntl.flock`` on a
file that stays in place: the kernel releases it when the holder exits, even by SIGKILL, so a
crash never leaves a stale lock behind.  The pid written in the file is only for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path
from typing import Iterator

from .store import StoreError

LOCK_NAME = ".lock"


class LockError(StoreError):
    """Another process holds the folder's lock."""


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "another process"


@contextlib.contextmanager
def folder_lock(directory: Path, wait: bool = False, command: str = "lengthgen") -> Iterator[Path]:
    """Hold an exclusive lock on ``directory`` (created if missing) while the block runs."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise LockError(f"{directory} is in use by {_holder(path)} (another {command} writing the same "
                                f"results); wait for it to finish, or add --wait to queue behind it") from None
            print(f"lengthgen: {directory} is in use by {_holder(path)}; waiting (--wait)", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        os.close(fd)  # releases the lock
