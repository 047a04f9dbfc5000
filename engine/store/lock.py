"""One engine per data directory, enforced with an OS lock (``flock``) on ``<data_dir>/engine.lock``.

The kernel releases the lock when the process dies, even by SIGKILL, so a crashed engine never leaves
a stale lock behind; the file itself stays and records the holder's pid and start time for the
refusal message.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from engine.core.errors import StartupError

LOCK_NAME = "engine.lock"


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StartupError(f"cannot use data directory {self.path.parent}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StartupError(
                f"data directory {self.path.parent} is in use by another AlgoTrendy engine{holder}; "
                "stop it first or choose another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={os.getpid()} started_at_ns={time.time_ns()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        fields = dict(part.split("=", 1) for part in os.pread(fd, 256, 0).decode().split() if "=" in part)
    except (OSError, UnicodeDecodeError, ValueError):
        return ""
    return f" (pid {fields['pid']})" if "pid" in fields else ""
