"""Event-loop lag: the first latency signal of a single-writer engine.

Every ``interval_ms`` a probe measures two things and records the larger:

* the *queue delay* — from scheduling a ``call_soon`` callback to the loop running it, with
  ``perf_counter_ns`` resolution (an idle loop shows a few microseconds);
* the *timer overrun* — how much later than due the sampling timer itself fired, minus the 1 ms
  granularity of libuv timers (a callback that blocked the loop for 50 ms shows up here).

Samples feed a Prometheus histogram and a ring buffer from which ``snapshot`` reports p50/p99/max.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from prometheus_client import Histogram

#: libuv (uvloop) timers have millisecond resolution; lateness below this is the timer, not load.
TIMER_RESOLUTION_NS = 1_000_000


@dataclass(frozen=True, slots=True)
class LoopLagSnapshot:
    p50_ns: int
    p99_ns: int
    max_ns: int
    samples: int
    window_ns: int


class LoopLagMonitor:
    def __init__(self, interval_ms: int, window_samples: int, histogram: Histogram | None = None) -> None:
        self._interval_ns = interval_ms * 1_000_000
        self._ring = [0] * window_samples
        self._count = 0
        self._histogram = histogram
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due_ns = 0

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._arm()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self) -> None:
        assert self._loop is not None
        self._due_ns = time.perf_counter_ns() + self._interval_ns
        self._handle = self._loop.call_later(self._interval_ns / 1e9, self._on_timer)

    def _on_timer(self) -> None:
        fired_ns = time.perf_counter_ns()
        overrun_ns = max(fired_ns - self._due_ns - TIMER_RESOLUTION_NS, 0)
        assert self._loop is not None
        self._loop.call_soon(self._on_probe, fired_ns, overrun_ns)
        self._arm()

    def _on_probe(self, scheduled_ns: int, overrun_ns: int) -> None:
        lag_ns = max(time.perf_counter_ns() - scheduled_ns, overrun_ns)
        self.record(lag_ns)

    def record(self, lag_ns: int) -> None:
        self._ring[self._count % len(self._ring)] = lag_ns
        self._count += 1
        if self._histogram is not None:
            self._histogram.observe(lag_ns / 1e9)

    def snapshot(self) -> LoopLagSnapshot:
        n = min(self._count, len(self._ring))
        if n == 0:
            return LoopLagSnapshot(0, 0, 0, 0, 0)
        samples = sorted(self._ring[:n])
        return LoopLagSnapshot(
            p50_ns=samples[(n - 1) // 2],
            p99_ns=samples[min(n - 1, (99 * n + 99) // 100 - 1)],
            max_ns=samples[-1],
            samples=n,
            window_ns=n * self._interval_ns,
        )
