"""One owner per log directory: an exclusive `flock` on `<log>/lock`, held while the log is open.

Two processes appending to one directory would each keep their own index of the segments, so
one's appends would be invisible to the other and overwritten by it. Instead the first process
to open a directory holds the lock; any other (or another EmbeddedLog in the same process) gets
`LogLockedError` naming the holder's pid and command line, which the holder writes into the
lock file. The kernel drops an flock when its holder exits, kill -9 included, so a crashed
owner never leaves a stale lock behind.
"""
from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import IO, Optional

from pyksqlite.log.api import LogLockedError

LOCK_FILE = "lock"


class DirectoryLock:
    def __init__(self, handle: IO[str]):
        self._handle: Optional[IO[str]] = handle

    @classmethod
    def acquire(cls, directory: Path) -> "DirectoryLock":
        handle = open(directory / LOCK_FILE, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process (it has not written its name yet)"
            handle.close()
            raise LogLockedError(f"the log directory {directory} is in use by {holder}; stop that "
                                 f"process or give this one another data directory") from None
        handle.truncate(0)
        handle.write(f"process {os.getpid()} ({_command_line()})\n")
        handle.flush()
        return cls(handle)

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the descriptor drops the flock
            self._handle = None


def _command_line() -> str:
    try:
        with open("/proc/self/cmdline", "rb") as f:
            words = f.read().rstrip(b"\0").split(b"\0")
        return " ".join(w.decode(errors="replace") for w in words)[:500]
    except OSError:
        return " ".join([sys.executable, *sys.argv])[:500]
