from __future__ import annotations

import asyncio
import time

import pytest

from engine.core.clock import LiveClock, TestClock, TimeEvent


def test_test_clock_when_advanced_then_timers_fire_in_time_order_at_their_time() -> None:
    clock = TestClock(start_ns=1_000)
    fired: list[tuple[str, int, int]] = []
    clock.set_timer("every-10", 10, lambda e: fired.append((e.name, e.ts_event, clock.timestamp_ns())))
    clock.set_alert("once-at-1015", 1_015, lambda e: fired.append((e.name, e.ts_event, clock.timestamp_ns())))
    events = clock.advance_to(1_030)
    assert fired == [
        ("every-10", 1_010, 1_010),
        ("once-at-1015", 1_015, 1_015),
        ("every-10", 1_020, 1_020),
        ("every-10", 1_030, 1_030),
    ]
    assert events == [TimeEvent(n, ts) for n, ts, _ in fired]
    assert clock.timestamp_ns() == 1_030
    assert clock.timer_names() == ["every-10"]


def test_test_clock_when_timer_cancelled_then_never_fires_and_clock_never_goes_back() -> None:
    clock = TestClock()
    fired: list[TimeEvent] = []
    clock.set_timer("t", 5, fired.append)
    clock.advance(5)
    clock.cancel_timer("t")
    clock.advance(100)
    assert [e.ts_event for e in fired] == [5]
    with pytest.raises(ValueError, match="backwards"):
        clock.set_time(1)
    with pytest.raises(ValueError, match="interval_ns"):
        clock.set_timer("bad", 0, fired.append)


async def test_live_clock_when_timer_set_then_fires_on_the_loop_with_scheduled_times() -> None:
    clock = LiveClock()
    fired: list[TimeEvent] = []
    three = asyncio.Event()

    def on_tick(event: TimeEvent) -> None:
        fired.append(event)
        if len(fired) == 3:
            three.set()

    start = clock.timestamp_ns()
    clock.set_timer("tick", 5_000_000, on_tick, start_ns=start)
    await asyncio.wait_for(three.wait(), timeout=5)
    clock.cancel_timer("tick")
    assert [e.ts_event - start for e in fired[:3]] == [5_000_000, 10_000_000, 15_000_000]
    assert abs(clock.timestamp_ns() - time.time_ns()) < 1_000_000_000
