"""DelayLine on a live clock: items due now (``push_due``) run from the next loop iteration, never
inside the push, in the heap's order (due time, then push order) whatever mix of pushes came first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from engine.core.clock import LiveClock
from engine.venues.sim.delay import DelayLine


class _SteppedClock(LiveClock):
    """A live clock whose wall time the test sets (to step it back, as NTP may)."""

    def __init__(self, now_ns: int) -> None:
        super().__init__()
        self.now_ns = now_ns

    def timestamp_ns(self) -> int:  # type: ignore[override]
        return self.now_ns


async def _turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def _recorder(ran: list[tuple[str, int]], name: str) -> Callable[[int], None]:
    return lambda due: ran.append((name, due))


async def test_push_due_when_pushed_then_runs_on_the_next_iteration_in_push_order() -> None:
    clock = LiveClock()
    line = DelayLine(clock, "t")
    line.start()
    ran: list[tuple[str, int]] = []
    now = clock.timestamp_ns()
    line.push_due(now, _recorder(ran, "a"))
    line.push_due(now, _recorder(ran, "b"))
    assert ran == []  # never from inside the push
    assert line.pending == 2
    await _turns()
    assert ran == [("a", now), ("b", now)]
    assert line.pending == 0
    line.stop()


async def test_push_due_when_a_later_push_is_due_earlier_then_the_earlier_runs_first() -> None:
    clock = LiveClock()
    line = DelayLine(clock, "t")
    line.start()
    ran: list[tuple[str, int]] = []
    now = clock.timestamp_ns()
    line.push_due(now, _recorder(ran, "due-now"))
    line.push(now - 1_000, _recorder(ran, "due-earlier"))  # e.g. a report of an earlier event
    line.push_due(now, _recorder(ran, "due-now-2"))
    await _turns()
    assert ran == [("due-earlier", now - 1_000), ("due-now", now), ("due-now-2", now)]
    line.stop()


async def test_push_due_when_the_wall_clock_stepped_back_then_items_run_in_due_order() -> None:
    clock = _SteppedClock(10_000)
    line = DelayLine(clock, "t")
    line.start()
    ran: list[tuple[str, int]] = []
    line.push_due(10_000, _recorder(ran, "first"))
    clock.now_ns = 9_000
    line.push_due(9_000, _recorder(ran, "stepped-back"))
    clock.now_ns = 10_000
    await _turns()
    assert ran == [("stepped-back", 9_000), ("first", 10_000)]
    line.stop()


async def test_push_due_when_not_due_at_the_iteration_then_it_waits_for_its_time() -> None:
    clock = _SteppedClock(10_000)
    line = DelayLine(clock, "t")
    line.start()
    ran: list[tuple[str, int]] = []
    line.push_due(10_000, _recorder(ran, "a"))
    clock.now_ns = 5_000  # stepped back before the loop turned: not due yet
    await _turns()
    assert ran == []
    assert line.pending == 1 and clock.timer_names() == ["t"]  # an alert at its due time
    clock.now_ns = 10_000
    await asyncio.sleep(0.01)  # the alert (scheduled ~5 us ahead) fires
    assert ran == [("a", 10_000)]
    line.stop()


async def test_push_due_when_stopped_before_the_iteration_then_runs_only_after_start() -> None:
    clock = LiveClock()
    line = DelayLine(clock, "t")
    line.start()
    ran: list[tuple[str, int]] = []
    now = clock.timestamp_ns()
    line.push_due(now, _recorder(ran, "a"))
    line.stop()
    await _turns()
    assert ran == [] and line.pending == 1
    line.start()
    await asyncio.sleep(0.01)
    assert ran == [("a", now)]
    line.stop()


async def test_push_due_when_line_not_running_then_kept_until_start() -> None:
    clock = LiveClock()
    line = DelayLine(clock, "t")
    ran: list[tuple[str, int]] = []
    now = clock.timestamp_ns()
    line.push_due(now, _recorder(ran, "a"))
    await _turns()
    assert ran == [] and line.pending == 1
    line.start()
    await asyncio.sleep(0.01)
    assert ran == [("a", now)]
    line.stop()


def test_push_due_when_the_line_outlives_its_loop_then_the_next_loop_runs_its_items() -> None:
    """The line remembers the loop it scheduled on (one ``get_running_loop`` less per command); a
    line used again under a new loop (the old one finished) schedules on the new one."""
    clock = LiveClock()
    line = DelayLine(clock, "t")
    line.start()
    ran: list[tuple[str, int]] = []

    async def one(name: str) -> asyncio.AbstractEventLoop:
        now = clock.timestamp_ns()
        line.push_due(now, _recorder(ran, name))
        assert ran[-1:] != [(name, now)]  # never from inside the push
        await _turns()
        assert ran[-1] == (name, now)
        return asyncio.get_running_loop()

    first = asyncio.run(one("first"))
    second = asyncio.run(one("second"))
    assert first is not second and first.is_closed()
    assert [name for name, _ in ran] == ["first", "second"]
    line.stop()
