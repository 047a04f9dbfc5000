"""Clocks. All times are integer nanoseconds since the Unix epoch.

``LiveClock`` reads the system clock and schedules timers on the running event loop;
``TestClock`` only moves when told to and fires due timers in time order as it advances, so tests
and backtests are deterministic and never sleep.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Clock", "LiveClock", "TestClock", "TimeEvent"]


@dataclass(frozen=True, slots=True)
class TimeEvent:
    """Passed to a timer callback: which timer fired and the scheduled time it fired for."""

    name: str
    ts_event: int


TimerCallback = Callable[[TimeEvent], None]


class Clock(Protocol):
    def timestamp_ns(self) -> int: ...

    def set_timer(
        self, name: str, interval_ns: int, callback: TimerCallback, *, start_ns: int | None = None
    ) -> None: ...

    def set_alert(self, name: str, at_ns: int, callback: TimerCallback) -> None: ...

    def cancel_timer(self, name: str) -> None: ...

    def timer_names(self) -> list[str]: ...


def _check_timer(name: str, interval_ns: int) -> None:
    if not name:
        raise ValueError("timer name must not be empty")
    if type(interval_ns) is not int or interval_ns <= 0:
        raise ValueError(f"interval_ns must be a positive int, got {interval_ns!r}")


class LiveClock:
    """Wall-clock time; timers run on the event loop that is running when they are set."""

    def __init__(self) -> None:
        self._handles: dict[str, asyncio.TimerHandle] = {}

    #: ``time.time_ns`` itself (no Python frame: read several times per order).
    timestamp_ns = staticmethod(time.time_ns)
    monotonic_ns = staticmethod(time.monotonic_ns)

    def set_timer(
        self, name: str, interval_ns: int, callback: TimerCallback, *, start_ns: int | None = None
    ) -> None:
        _check_timer(name, interval_ns)
        self.cancel_timer(name)
        first = (start_ns if start_ns is not None else self.timestamp_ns()) + interval_ns
        self._schedule(name, first, callback, interval_ns)

    def set_alert(self, name: str, at_ns: int, callback: TimerCallback) -> None:
        _check_timer(name, 1)
        self.cancel_timer(name)
        self._schedule(name, at_ns, callback, None)

    def _schedule(self, name: str, at_ns: int, callback: TimerCallback, interval_ns: int | None) -> None:
        loop = asyncio.get_running_loop()
        delay_s = max(at_ns - self.timestamp_ns(), 0) / 1e9

        def fire() -> None:
            if interval_ns is None:
                self._handles.pop(name, None)
            else:
                self._schedule(name, at_ns + interval_ns, callback, interval_ns)
            callback(TimeEvent(name, at_ns))

        self._handles[name] = loop.call_later(delay_s, fire)

    def cancel_timer(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def timer_names(self) -> list[str]:
        return sorted(self._handles)


@dataclass(order=True, slots=True)
class _Timer:
    next_ns: int
    seq: int
    name: str = field(compare=False)
    interval_ns: int | None = field(compare=False)
    callback: TimerCallback = field(compare=False)
    live: bool = field(default=True, compare=False)


class TestClock:
    """A clock that moves only when told to; never goes backwards."""

    __test__ = False  # not a pytest test class

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns
        self._heap: list[_Timer] = []
        self._timers: dict[str, _Timer] = {}
        self._seq = 0

    def timestamp_ns(self) -> int:
        return self._now

    def monotonic_ns(self) -> int:
        return self._now

    def set_time(self, ts_ns: int) -> None:
        """Jump to ``ts_ns`` without firing timers (use ``advance_to`` to fire them)."""
        if ts_ns < self._now:
            raise ValueError(f"TestClock cannot go backwards ({ts_ns} < {self._now})")
        self._now = ts_ns

    def advance(self, delta_ns: int) -> list[TimeEvent]:
        return self.advance_to(self._now + delta_ns)

    def advance_to(self, ts_ns: int) -> list[TimeEvent]:
        """Move to ``ts_ns``, firing every due timer in time order with the clock at its time."""
        if ts_ns < self._now:
            raise ValueError(f"TestClock cannot go backwards ({ts_ns} < {self._now})")
        fired = []
        while self._heap and self._heap[0].next_ns <= ts_ns:
            timer = heapq.heappop(self._heap)
            if not timer.live:
                continue
            self._now = timer.next_ns
            event = TimeEvent(timer.name, timer.next_ns)
            if timer.interval_ns is None:
                timer.live = False
                self._timers.pop(timer.name, None)
            else:
                timer.next_ns += timer.interval_ns
                self._push(timer)
            fired.append(event)
            timer.callback(event)
        self._now = ts_ns
        return fired

    def set_timer(
        self, name: str, interval_ns: int, callback: TimerCallback, *, start_ns: int | None = None
    ) -> None:
        _check_timer(name, interval_ns)
        self.cancel_timer(name)
        start = self._now if start_ns is None else start_ns
        timer = _Timer(start + interval_ns, 0, name, interval_ns, callback)
        self._timers[name] = timer
        self._push(timer)

    def set_alert(self, name: str, at_ns: int, callback: TimerCallback) -> None:
        _check_timer(name, 1)
        self.cancel_timer(name)
        timer = _Timer(max(at_ns, self._now), 0, name, None, callback)
        self._timers[name] = timer
        self._push(timer)

    def _push(self, timer: _Timer) -> None:
        self._seq += 1
        timer.seq = self._seq
        heapq.heappush(self._heap, timer)

    def cancel_timer(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.live = False

    def timer_names(self) -> list[str]:
        return sorted(self._timers)
