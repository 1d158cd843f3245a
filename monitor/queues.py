"""Bounded hand-off between loops: when full, the oldest item is dropped and counted (Frigate-style).

A slow detector then sheds load instead of building latency; ``dropped`` says how much it shed.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Closed(Exception):
    """Raised by ``get`` once the queue is closed and drained."""


class DropOldestQueue(Generic[T]):
    """Thread-safe FIFO of at most ``maxsize`` items; ``put`` never blocks.

    Example:
        >>> q = DropOldestQueue[int](2)
        >>> for i in range(3): q.put(i)
        >>> q.get(), q.dropped
        (1, 1)
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> None:
        """Append; if full, drop the oldest item first."""
        with self._cond:
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> T:
        """Oldest item; blocks until one arrives. Raises ``Closed`` when closed and empty,
        ``TimeoutError`` when nothing came within ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                raise TimeoutError("queue get timed out")
            if self._items:
                return self._items.popleft()
            raise Closed

    def close(self) -> None:
        """No more puts; readers drain what is left, then get ``Closed``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
