"""Circuit breaker and reconnect backoff, on a test clock (no sleeping)."""

from __future__ import annotations

import random

import pytest

from engine.core.clock import TestClock
from engine.marketdata.feeds import CircuitBreaker, CircuitState, backoff_delay_s

MS = 1_000_000


def _breaker(clock: TestClock, changes: list[tuple[CircuitState, CircuitState]]) -> CircuitBreaker:
    return CircuitBreaker(
        failures=3,
        window_ns=1_000 * MS,
        open_ns=5_000 * MS,
        successes=2,
        clock=clock,
        on_change=lambda a, b: changes.append((a, b)),
    )


def test_breaker_when_n_failures_within_window_then_opens() -> None:
    clock, changes = TestClock(0), []
    breaker = _breaker(clock, changes)
    for _ in range(2):
        breaker.record_failure()
        clock.advance(100 * MS)
    assert breaker.state is CircuitState.CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()
    assert changes == [(CircuitState.CLOSED, CircuitState.OPEN)]
    assert breaker.remaining_open_ns() == 5_000 * MS


def test_breaker_when_failures_spread_beyond_window_then_stays_closed() -> None:
    clock, changes = TestClock(0), []
    breaker = _breaker(clock, changes)
    for _ in range(10):
        breaker.record_failure()
        clock.advance(600 * MS)  # never 3 within 1 s
    assert breaker.state is CircuitState.CLOSED and changes == []


def test_breaker_when_open_time_passed_then_half_open_and_k_successes_close() -> None:
    clock, changes = TestClock(0), []
    breaker = _breaker(clock, changes)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(4_999 * MS)
    assert not breaker.allow()
    clock.advance(1 * MS)
    assert breaker.allow() and breaker.state is CircuitState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert [b for _, b in changes] == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


def test_breaker_when_half_open_probe_fails_then_reopens_for_full_period() -> None:
    clock, changes = TestClock(0), []
    breaker = _breaker(clock, changes)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(5_000 * MS)
    assert breaker.allow()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN and breaker.opened_count == 2
    clock.advance(4_000 * MS)
    assert not breaker.allow()
    # a success while open changes nothing
    breaker.record_success()
    assert breaker.state is CircuitState.OPEN


def test_breaker_when_configured_nonsense_then_refused() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failures=0, window_ns=1, open_ns=1, successes=1, clock=TestClock(0))


def test_backoff_when_attempts_grow_then_exponential_capped_with_bounded_jitter() -> None:
    rng = random.Random(7)
    no_jitter = [backoff_delay_s(a, 100, 2_000, 0.0, rng) for a in range(7)]
    assert no_jitter == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    for attempt in range(12):
        delay = backoff_delay_s(attempt, 100, 2_000, 0.25, rng)
        base = min(2_000, 100 * 2**attempt) / 1000
        assert base * 0.75 <= delay <= base * 1.25
    jittered = {backoff_delay_s(3, 100, 2_000, 0.25, rng) for _ in range(20)}
    assert len(jittered) > 1  # jitter spreads reconnects of many clients
