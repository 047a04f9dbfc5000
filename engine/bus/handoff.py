"""A bounded hand-off from other threads to the event-loop thread.

Threads that are not the loop (an LMDB writer, a metrics scraper, a blocking SDK) never touch
trading state; they ``submit`` a (topic, message) pair here and the loop publishes it on the bus.

Bounded by ``capacity``: when full, ``submit`` waits up to ``timeout_s`` for room and then returns
``False`` (the caller decides whether that is a drop or an error). One wake-up of the loop is
scheduled per burst, not per message, and a drain publishes at most ``batch_size`` messages before
yielding so a flood from another thread cannot starve the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

from engine.bus.bus import MessageBus


class HandoffClosedError(RuntimeError):
    pass


class ThreadHandoff:
    def __init__(
        self,
        bus: MessageBus,
        loop: asyncio.AbstractEventLoop,
        *,
        capacity: int = 65_536,
        batch_size: int = 1_024,
    ) -> None:
        if capacity <= 0 or batch_size <= 0:
            raise ValueError("capacity and batch_size must be positive")
        self._bus = bus
        self._loop = loop
        self._capacity = capacity
        self._batch_size = batch_size
        self._items: deque[tuple[str, Any]] = deque()
        self._cond = threading.Condition()
        self._wake_pending = False
        self._closed = False
        #: Messages refused because the queue stayed full for ``timeout_s``.
        self.rejected_count = 0
        #: Messages published on the loop.
        self.delivered_count = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def submit(self, topic: str, message: Any, *, timeout_s: float | None = 0.0) -> bool:
        """Queue a message for the loop; thread-safe. ``timeout_s=None`` waits for room forever.

        Returns ``False`` if there was no room in time. Raises ``HandoffClosedError`` after ``close``.
        """
        with self._cond:
            if self._closed:
                raise HandoffClosedError("the engine is shutting down; the hand-off is closed")
            if len(self._items) >= self._capacity:
                if timeout_s == 0.0 or not self._cond.wait_for(
                    lambda: self._closed or len(self._items) < self._capacity, timeout_s
                ):
                    self.rejected_count += 1
                    return False
                if self._closed:
                    raise HandoffClosedError("the engine is shutting down; the hand-off is closed")
            self._items.append((topic, message))
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed underneath us
                with self._cond:
                    self._wake_pending = False
                raise HandoffClosedError("the event loop is closed") from None
        return True

    def _drain(self) -> None:
        """Runs on the loop: publish up to one batch, reschedule if more is waiting."""
        with self._cond:
            n = min(len(self._items), self._batch_size)
            batch = [self._items.popleft() for _ in range(n)]
            more = bool(self._items)
            if not more:
                self._wake_pending = False
            self._cond.notify_all()
        if more:
            self._loop.call_soon(self._drain)
        publish = self._bus.publish_c
        for topic, message in batch:
            publish(topic, message)
        self.delivered_count += len(batch)

    def close(self) -> int:
        """Refuse new messages and publish everything already queued (call on the loop thread)."""
        with self._cond:
            self._closed = True
            batch = list(self._items)
            self._items.clear()
            self._wake_pending = False
            self._cond.notify_all()
        for topic, message in batch:
            self._bus.publish_c(topic, message)
        self.delivered_count += len(batch)
        return len(batch)
