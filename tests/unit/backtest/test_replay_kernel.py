"""``engine.ext.backtest.replay``: the compiled per-bar path (``BarPusher``, ``run_bars``) against
what the Python loop it replaces did bar by bar."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace

import pytest

from engine.core.clock import TestClock
from engine.core.ids import InstrumentId
from engine.ext.backtest.replay import BarPusher, run_bars
from engine.strategy.api import BarView

BTC = InstrumentId("SIM:BTC-USD")


class _Handlers:
    """The host's side of a pusher: its handler table and its error sink."""

    def __init__(self, *fns: object) -> None:
        self.fns = list(fns)
        self.lookups = 0
        self.failures: list[tuple[object, str, str]] = []

    def handlers_for(self, key: object) -> tuple[tuple[str, object], ...]:
        self.lookups += 1
        return tuple((f"slot-{i}", fn) for i, fn in enumerate(self.fns))

    def failed(self, slot: object, callback: str, exc: BaseException) -> None:
        self.failures.append((slot, callback, str(exc)))


def _pusher(host: _Handlers) -> BarPusher:
    return BarPusher(BarView(BTC, 60), (BTC, 60), host.handlers_for, host.failed)


def test_bar_pusher_when_bar_pushed_then_view_filled_and_every_handler_called() -> None:
    seen: list[tuple[object, ...]] = []

    def record(view: BarView) -> None:
        seen.append((view.ts_open, view.ts_event, view.open, view.high, view.low, view.close, view.volume))

    host = _Handlers(record)
    push = _pusher(host)
    push(0, 60, 1.0, 3.0, 0.5, 2.0, 7.0)
    push(60, 120, 2.0, 2.5, 1.5, 2.25, 1.0, 4)
    assert seen == [(0, 60, 1.0, 3.0, 0.5, 2.0, 7.0), (60, 120, 2.0, 2.5, 1.5, 2.25, 1.0)]
    assert push.view.trade_count == 4 and push.view.instrument_id == BTC
    assert host.lookups == 1  # looked up on the first bar only

    calls: list[str] = []
    host.fns = [lambda v: calls.append("a"), lambda v: calls.append("b")]
    push(120, 180, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert calls == []  # no reset: the table it looked up stays
    push.reset()
    push(180, 240, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert calls == ["a", "b"] and host.lookups == 2


def test_bar_pusher_when_a_handler_raises_then_reported_and_the_others_still_run() -> None:
    calls: list[str] = []

    def boom(view: BarView) -> None:
        raise RuntimeError(f"bad bar {view.ts_event}")

    host = _Handlers(boom, lambda v: calls.append("after"))
    push = _pusher(host)
    push(0, 60, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert host.failures == [("slot-0", "on_bar", "bad bar 60")] and calls == ["after"]
    only = _Handlers(boom)  # one handler: the path without a loop reports the same way
    _pusher(only)(0, 90, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert only.failures == [("slot-0", "on_bar", "bad bar 90")]


def test_bar_pusher_when_view_lacks_a_bar_field_then_refused() -> None:
    class NoVolume:
        __slots__ = ("close", "high", "low", "open", "trade_count", "ts_event", "ts_open")

    with pytest.raises(AttributeError):
        BarPusher(NoVolume(), None, lambda key: (), lambda *a: None)


def _columns(
    n: int,
) -> tuple[list[int], list[int], list[float], list[float], list[float], list[float], list[float]]:
    tso = [60 * i for i in range(n)]
    tsc = [60 * (i + 1) for i in range(n)]
    prices = [100.0 + i for i in range(n)]
    return tso, tsc, prices, prices, prices, prices, [1.0] * n


def test_run_bars_when_nothing_happens_then_whole_chunk_pushed_with_the_clock_at_each_close() -> None:
    clock = TestClock(0)
    times: list[tuple[int, int]] = []
    push = _pusher(_Handlers(lambda v: times.append((v.ts_event, clock.timestamp_ns()))))
    router = SimpleNamespace(pending=0)
    # bars 10..14 of a chunk starting at bar 10
    out = run_bars(10, 15, 10, *_columns(5), push, clock, clock._heap, set(), deque(), router)
    assert out == 15
    assert times == [(60, 60), (120, 120), (180, 180), (240, 240), (300, 300)]


def test_run_bars_when_a_bar_needs_the_engine_then_stops_before_or_after_it() -> None:
    clock = TestClock(0)
    pushed: list[int] = []
    queue: deque[str] = deque()
    router = SimpleNamespace(pending=0)

    def on_bar(view: BarView) -> None:
        pushed.append(view.ts_event)
        if view.ts_event == 120:
            queue.append("order")  # the strategy sent a command: the venue has work

    push = _pusher(_Handlers(on_bar))
    cols = _columns(5)
    # after bar 1 (close 120) the queue holds a command: stop after it, -(1 + 1)
    assert run_bars(0, 5, 0, *cols, push, clock, clock._heap, set(), queue, router) == -2
    assert pushed == [60, 120]
    queue.clear()
    # working orders: stop before the bar, nothing pushed
    assert run_bars(2, 5, 0, *cols, push, clock, clock._heap, {"o-1"}, queue, router) == 2
    assert pushed == [60, 120]
    # an alert due by bar 3's close (240): bar 2 runs, then stop before bar 3
    clock.set_alert("t", 200, lambda event: None)
    assert run_bars(2, 5, 0, *cols, push, clock, clock._heap, set(), queue, router) == 3
    assert pushed == [60, 120, 180]
    # a router call in progress after a push: stop after that bar
    clock.advance_to(240)
    router.pending = 1
    assert run_bars(3, 5, 0, *cols, push, clock, clock._heap, set(), queue, router) == -4
    with pytest.raises(IndexError):
        run_bars(6, 5, 0, *cols, push, clock, clock._heap, set(), queue, router)
    with pytest.raises(ValueError, match="shorter"):
        run_bars(0, 9, 0, *cols, push, clock, clock._heap, set(), queue, router)
