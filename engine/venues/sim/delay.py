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

``push_due`` is ``push`` for an item due at the time the caller just read (a zero-latency command):
while nothing else is pending it joins a FIFO of due items instead of the heap (no heap entry to
order, no second clock read), and the heap path takes that FIFO over (in order) the moment anything
else is pushed, so the run order is the heap's own: due time, then push order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable

from engine.core.clock import Clock, LiveClock, TimeEvent

__all__ = ["DelayLine"]


class DelayLine:
    __slots__ = (
        "_armed_ns",
        "_clock",
        "_heap",
        "_live",
        "_loop",
        "_name",
        "_next_extra",
        "_on_tick",
        "_ready",
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
        #: Items due when pushed by ``push_due`` while the heap was empty, in (due, seq) order; only
        #: ever non-empty while the heap is empty (``push`` moves them into it first).
        self._ready: deque[tuple[int, int, Callable[[int], None]]] = deque()
        self._seq = itertools.count()
        self._on_tick = on_tick
        self._next_extra = next_extra_ns
        self._armed_ns: int | None = None
        self._running = False
        #: Wall-clock time on the running loop: due-now items go through ``call_soon``.
        self._live = isinstance(clock, LiveClock)
        #: The running loop the last ``call_soon`` went to (``asyncio.get_running_loop`` costs ~0.2 us:
        #: once per zero-latency command otherwise); asked again whenever it is not running.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._soon_scheduled = False

    @property
    def pending(self) -> int:
        return len(self._heap) + len(self._ready)

    def start(self) -> None:
        self._running = True
        self.rearm()

    def stop(self) -> None:
        self._running = False
        if self._ready:  # (a stopped line keeps its items in the heap, as ``push`` leaves them)
            self._heap_ready()
        self._clock.cancel_timer(self._name)
        self._armed_ns = None

    def push(self, due_ns: int, callback: Callable[[int], None]) -> None:
        """Run ``callback(now_ns)`` at ``due_ns`` (or the first alert after it)."""
        if self._ready:
            self._heap_ready()
        heapq.heappush(self._heap, (due_ns, next(self._seq), callback))
        if not self._running:
            return
        if self._live and due_ns <= self._clock.timestamp_ns():
            if not self._soon_scheduled:
                self._soon_scheduled = True
                self._running_loop().call_soon(self._fire_soon)
        elif self._armed_ns is None or due_ns < self._armed_ns:
            self._arm(due_ns)

    def push_due(self, now_ns: int, callback: Callable[[int], None]) -> None:
        """``push(now_ns, callback)`` where ``now_ns`` is the clock's time the caller just read (an
        item due now: a zero-latency command). On a running live line with no timed item pending it
        is queued as due (see the module docstring): run from the next loop iteration, in order."""
        if self._running and self._live and not self._heap:
            ready = self._ready
            if not ready or ready[-1][0] <= now_ns:  # (a wall clock stepped back: the heap orders it)
                ready.append((now_ns, next(self._seq), callback))
                if not self._soon_scheduled:
                    self._soon_scheduled = True
                    loop = self._loop  # (``_running_loop``, inlined: once per command)
                    if loop is None or not loop.is_running():
                        loop = self._loop = asyncio.get_running_loop()
                    loop.call_soon(self._fire_soon)
                return
        self.push(now_ns, callback)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (``asyncio.get_running_loop``, remembered while it runs; raises as it
        does when none is running)."""
        loop = self._loop
        if loop is None or not loop.is_running():
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def _heap_ready(self) -> None:
        """Move the due FIFO into the heap (its entries keep their sequence numbers: same order)."""
        heap = self._heap
        ready = self._ready
        while ready:
            heapq.heappush(heap, ready.popleft())

    def rearm(self) -> None:
        """Re-compute the next alert (after the extra time source changed)."""
        if not self._running:
            return
        if self._ready:  # (due items a stepped-back wall clock left: the heap's alert runs them)
            self._heap_ready()
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
        ready = self._ready
        while True:
            if ready:  # (only while the heap is empty; a callback's ``push`` moves the rest there)
                if ready[0][0] > now_ns:
                    break
                due, _, callback = ready.popleft()
            elif heap and heap[0][0] <= now_ns:
                due, _, callback = heapq.heappop(heap)
            else:
                break
            callback(due)
        if self._on_tick is not None:
            self._on_tick(now_ns)
