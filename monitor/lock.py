"""An exclusive lock on an output folder, naming its holder, so two runs never share one.

The lock is an ``flock`` on ``DIR/.monitor.lock``: the kernel drops it when the holder exits,
even after ``kill -9``, so a stale file never blocks anyone. The file records the holder's pid,
host and start time for the message the second run prints.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, the lock is a no-op
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".monitor.lock"


class FolderError(OSError):
    """The output folder cannot be created or written; the message names it."""


class LockHeldError(RuntimeError):
    """Another process holds the folder's lock; the message names its pid and host."""

    def __init__(self, folder: Path, holder: dict[str, Any]) -> None:
        self.folder, self.holder = folder, holder
        since = holder.get("started")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "?"
        super().__init__(
            f"output folder {folder} is in use by pid {holder.get('pid', '?')} on host "
            f"{holder.get('host', '?')} (since {when}); wait for it to finish or use another --out"
        )


def writable_folder(folder: Path) -> Path:
    """Create ``folder`` if needed; ``FolderError`` naming it when it cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise FolderError(
            f"cannot write to output folder {folder}: {err.strerror or err}"
        ) from None
    return folder


class FolderLock:
    """Held while a run writes into ``folder``; a second holder gets ``LockHeldError``.

    Example:
        >>> import tempfile
        >>> with FolderLock(Path(tempfile.mkdtemp())) as lock:
        ...     lock.holder()["pid"] == os.getpid()
        True
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fh: IO[str] | None = None

    def holder(self) -> dict[str, Any]:
        """What the lock file says about its holder (empty when unreadable)."""
        try:
            data = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def acquire(self) -> FolderLock:
        """Take the lock without waiting; raises ``LockHeldError`` or ``FolderError``."""
        writable_folder(self.folder)
        try:
            fh = self.path.open("a+", encoding="utf-8")
        except OSError as err:
            raise FolderError(f"cannot write to output folder {self.folder}: {err}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                raise LockHeldError(self.folder, self.holder()) from None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps(me))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        """Drop the lock (the file stays; its content is only read while someone holds it)."""
        if self._fh is not None:
            self._fh.close()  # closing the descriptor releases the flock
            self._fh = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(
        self, tp: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
