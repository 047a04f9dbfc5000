"""A delay line on the engine clock: run callbacks at given times, on the loop, never re-entrantly.

The venues use it to model latency: a command reaches the matcher ``order_latency_ns`` after it was
sent, and its events reach the engine ``report_latency_ns`` after they happened. Due items run from a
clock alert (``LiveClock``: ``loop.call_later``; ``TestClock``: when the test advances time), in due
time order and, for equal times, in the order they were scheduled. A zero delay still defers to the
next alert, so a caller never receives events from inside its own ``send``.

On a ``LiveClock`` an item already due when pushed (zero latency) runs from ONE ``loop.call_soon``
per burst instead of a clock timer: the next loop iteration, without a timer handle, its closure and
a cancel/re-arm per push (a timer is also only millisecond-accurate in libuv). Same order, same
never-inside-``send`` rule; a ``TestClock`` keeps delivering only when the test advances time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

from engine.core.clock import Clock, LiveClock, TimeEvent

__all__ = ["DelayLine"]


class DelayLine:
    __slots__ = (
        "_armed_ns",
        "_clock",
        "_heap",
        "_live",
        "_name",
        "_next_extra",
        "_on_tick",
        "_running",
        "_seq",
        "_soon_scheduled",
    )

    def __init__(
        self,
        clock: Clock,
        name: str,
        *,
        on_tick: Callable[[int], None] | None = None,
        next_extra_ns: Callable[[], int] | None = None,
    ) -> None:
        """``on_tick(now)`` runs after the due items on every alert; ``next_extra_ns()`` names another
        time (ns, 0 = none) at which an alert is wanted (e.g. the next GTD expiry)."""
        self._clock = clock
        self._name = name
        self._heap: list[tuple[int, int, Callable[[int], None]]] = []
        self._seq = itertools.count()
        self._on_tick = on_tick
        self._next_extra = next_extra_ns
        self._armed_ns: int | None = None
        self._running = False
        #: Wall-clock time on the running loop: due-now items go through ``call_soon``.
        self._live = isinstance(clock, LiveClock)
        self._soon_scheduled = False

    @property
    def pending(self) -> int:
        return len(self._heap)

    def start(self) -> None:
        self._running = True
        self.rearm()

    def stop(self) -> None:
        self._running = False
        self._clock.cancel_timer(self._name)
        self._armed_ns = None

    def push(self, due_ns: int, callback: Callable[[int], None]) -> None:
        """Run ``callback(now_ns)`` at ``due_ns`` (or the first alert after it)."""
        heapq.heappush(self._heap, (due_ns, next(self._seq), callback))
        if not self._running:
            return
        if self._live and due_ns <= self._clock.timestamp_ns():
            if not self._soon_scheduled:
                self._soon_scheduled = True
                asyncio.get_running_loop().call_soon(self._fire_soon)
        elif self._armed_ns is None or due_ns < self._armed_ns:
            self._arm(due_ns)

    def rearm(self) -> None:
        """Re-compute the next alert (after the extra time source changed)."""
        if not self._running:
            return
        heap = self._heap
        at = heap[0][0] if heap else None
        if self._next_extra is not None:
            extra = self._next_extra()
            if extra and (at is None or extra < at):
                at = extra
        if at is not None:
            self._arm(at)
        elif self._armed_ns is not None:  # (None: no alert is set; nothing to cancel)
            self._clock.cancel_timer(self._name)
            self._armed_ns = None

    def _arm(self, at_ns: int) -> None:
        if at_ns == self._armed_ns:
            return
        self._armed_ns = at_ns
        self._clock.set_alert(self._name, at_ns, self._fire)

    def _fire_soon(self) -> None:
        self._soon_scheduled = False
        if not self._running:
            return
        self.run_due(self._clock.timestamp_ns())
        self.rearm()

    def _fire(self, event: TimeEvent) -> None:
        self._armed_ns = None
        self.run_due(self._clock.timestamp_ns())
        self.rearm()

    def run_due(self, now_ns: int) -> None:
        """Run every item due at or before ``now_ns``, each with its own due time (items they push
        for a time <= ``now_ns`` run too)."""
        heap = self._heap
        while heap and heap[0][0] <= now_ns:
            due, _, callback = heapq.heappop(heap)
            callback(due)
        if self._on_tick is not None:
            self._on_tick(now_ns)
