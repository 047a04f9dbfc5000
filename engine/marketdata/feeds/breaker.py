"""A per-venue circuit breaker: stop hammering a venue that keeps failing, probe it, recover.

CLOSED: calls go through; failures are counted in a sliding window. ``failures`` of them within
``window_ns`` open the circuit. OPEN: ``allow()`` is False (the feed falls back to REST polling and
does not reconnect) until ``open_ns`` has passed; then HALF_OPEN. HALF_OPEN: calls go through as
probes; ``successes`` successes close the circuit, any failure re-opens it for another ``open_ns``.

Time comes from the injected clock (``TestClock`` in tests), never from sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import IntEnum

from engine.core.clock import Clock

__all__ = ["CircuitBreaker", "CircuitState"]


class CircuitState(IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class CircuitBreaker:
    def __init__(
        self,
        *,
        failures: int,
        window_ns: int,
        open_ns: int,
        successes: int,
        clock: Clock,
        on_change: Callable[[CircuitState, CircuitState], None] | None = None,
    ) -> None:
        if failures < 1 or successes < 1 or window_ns <= 0 or open_ns <= 0:
            raise ValueError("circuit breaker: failures, successes, window and open time must be positive")
        self._failures_to_open = failures
        self._window_ns = window_ns
        self._open_ns = open_ns
        self._successes_to_close = successes
        self._clock = clock
        self._on_change = on_change
        self._failures: deque[int] = deque()
        self._successes = 0
        self._opened_at = 0
        self.state = CircuitState.CLOSED
        self.opened_count = 0

    def allow(self) -> bool:
        """May the caller try the venue now? (Moves OPEN -> HALF_OPEN once ``open_ns`` has passed.)"""
        if self.state is CircuitState.OPEN:
            if self._clock.timestamp_ns() - self._opened_at < self._open_ns:
                return False
            self._set(CircuitState.HALF_OPEN)
            self._successes = 0
        return True

    def remaining_open_ns(self) -> int:
        if self.state is not CircuitState.OPEN:
            return 0
        return max(self._opened_at + self._open_ns - self._clock.timestamp_ns(), 0)

    def record_failure(self) -> None:
        now = self._clock.timestamp_ns()
        if self.state is CircuitState.HALF_OPEN:
            self._open(now)
            return
        if self.state is CircuitState.OPEN:
            return
        failures = self._failures
        failures.append(now)
        while failures and now - failures[0] > self._window_ns:
            failures.popleft()
        if len(failures) >= self._failures_to_open:
            self._open(now)

    def record_success(self) -> None:
        if self.state is CircuitState.HALF_OPEN:
            self._successes += 1
            if self._successes >= self._successes_to_close:
                self._failures.clear()
                self._set(CircuitState.CLOSED)

    def _open(self, now: int) -> None:
        self._opened_at = now
        self._failures.clear()
        self.opened_count += 1
        self._set(CircuitState.OPEN)

    def _set(self, state: CircuitState) -> None:
        previous, self.state = self.state, state
        if previous is not state and self._on_change is not None:
            self._on_change(previous, state)
