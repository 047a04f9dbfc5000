"""Replay pacing on a test clock (1x, 10x, max with no sleeps), books, and the loop staying responsive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.core.clock import TestClock
from engine.core.errors import ValidationError
from engine.core.events import Bar, DataQualityAlert, Event, OrderBookUpdated, QuoteTick, TradeTick
from engine.core.fixed import Price, Quantity
from engine.marketdata.io.records import OrderBookDeltas
from engine.store.recording import RecordingReader, RecordingWriter
from engine.store.replay import ReplayFeed, parse_speed
from tests.unit.store.market_samples import IID, instrument, market_events

S = 1_000_000_000
T0 = 1_700_000_000 * S


class Capture:
    """A FeedSink that remembers what it got and when (on the test clock)."""

    def __init__(self, clock: TestClock) -> None:
        self.clock = clock
        self.events: list[Event] = []
        self.at: list[int] = []

    def _got(self, event: Event) -> None:
        self.events.append(event)
        self.at.append(self.clock.timestamp_ns())

    def on_trade(self, tick: TradeTick) -> None:
        self._got(tick)

    def on_quote(self, tick: QuoteTick) -> None:
        self._got(tick)

    def on_book(self, event: OrderBookUpdated) -> None:
        self._got(event)

    def on_bar(self, bar: Bar) -> None:
        self._got(bar)

    def on_alert(self, alert: DataQualityAlert) -> None:
        self._got(alert)


def recorded(tmp_path: Path, events: list[Event]) -> RecordingReader:
    writer = RecordingWriter(tmp_path / "rec", block_records=256)
    writer.add_instrument(instrument())
    for event in events:
        writer.append(event)
    writer.close()
    return RecordingReader(tmp_path / "rec")


def test_parse_speed() -> None:
    assert parse_speed("1x") == 1.0 and parse_speed("10X") == 10.0 and parse_speed("0.5x") == 0.5
    assert parse_speed("max") is None and parse_speed(None) is None
    for bad in ("fast", "0x", "-1x", "10"):
        with pytest.raises(ValidationError):
            parse_speed(bad)


@pytest.mark.parametrize("speed", [1.0, 10.0])
async def test_replay_when_paced_then_each_event_at_its_due_time_on_the_clock(tmp_path: Path, speed) -> None:
    # Irregular spacing: bursts and gaps.
    events = [e for e in market_events(400, start=T0, step=S // 7) if not isinstance(e, OrderBookDeltas)]
    reader = recorded(tmp_path, events)
    clock = TestClock(5 * S)
    asked: list[float] = []

    async def sleep(seconds: float) -> None:  # the test clock's sleep: time moves, nothing waits
        asked.append(seconds)
        clock.advance(round(seconds * 1e9))

    sink = Capture(clock)
    stats = await ReplayFeed(reader, sink, speed=speed, clock=clock, sleep=sleep).run()
    assert sink.events == events and stats.finished and stats.events == len(events)
    for event, at in zip(events, sink.at, strict=True):
        due = 5 * S + int((event.ts_init - events[0].ts_init) / speed)
        assert abs(at - due) <= 1_000  # float seconds -> ns rounding only
    span = events[-1].ts_init - events[0].ts_init
    assert abs(sum(asked) * 1e9 - span / speed) < 1e5
    assert stats.waits == len(asked) > 0


async def test_replay_when_max_then_never_sleeps_and_delivers_everything_in_order(tmp_path: Path) -> None:
    events = market_events(5000, start=T0)
    reader = recorded(tmp_path, events)
    clock = TestClock(0)

    async def sleep(seconds: float) -> None:
        raise AssertionError(f"max speed must not wait (asked {seconds} s)")

    sink = Capture(clock)
    feed = ReplayFeed(reader, sink, speed=None, clock=clock, sleep=sleep)
    stats = await feed.run()
    assert stats.waits == 0 and stats.events == 5000
    # Book records arrive as OrderBookUpdated; everything else as recorded.
    expected = [
        OrderBookUpdated(
            ts_event=e.ts_event,
            ts_init=e.ts_init,
            instrument_id=e.instrument_id,
            sequence=e.sequence,
            is_snapshot=e.is_snapshot,
        )
        if isinstance(e, OrderBookDeltas)
        else e
        for e in events
    ]
    assert sink.events == expected
    assert (stats.trades, stats.quotes, stats.book_updates, stats.bars) == (1250, 1250, 1250, 1250)


async def test_replay_books_when_snapshot_deltas_and_invalidation_then_book_follows() -> None:
    inst = instrument()
    ts = T0

    def rec(**kw) -> OrderBookDeltas:
        nonlocal ts
        ts += 1
        base = {"bid_ticks": (), "bid_lots": (), "ask_ticks": (), "ask_lots": ()}
        return OrderBookDeltas(ts_event=ts, ts_init=ts, instrument_id=IID, **(base | kw))

    stream = [
        rec(
            bid_ticks=(100, 99),
            bid_lots=(5, 7),
            ask_ticks=(101, 102),
            ask_lots=(1, 2),
            sequence=10,
            is_snapshot=True,
        ),
        rec(bid_ticks=(100,), bid_lots=(0,), ask_ticks=(101,), ask_lots=(4,), sequence=11),
    ]
    clock = TestClock(0)
    sink = Capture(clock)
    feed = ReplayFeed(stream, sink, instruments=[inst], clock=clock)
    await feed.run()
    book = feed.books[IID]
    assert book.best_bid() == (Price("0.99"), Quantity("0.007"))
    assert book.best_ask() == (Price("1.01"), Quantity("0.004"))
    assert [(u.sequence, u.is_snapshot) for u in sink.events] == [(10, True), (11, False)]
    invalid = [rec(sequence=-1, is_snapshot=True)]
    await ReplayFeed(invalid, sink, instruments=[inst], books=feed.books, clock=clock).run()
    assert book.best_bid() is None and book.l2.needs_snapshot


async def test_replay_when_max_speed_then_the_loop_keeps_running_other_tasks(tmp_path: Path) -> None:
    """Behaviour, not timing: a ticker task makes progress while a long max-speed replay runs."""
    reader = recorded(tmp_path, market_events(20_000, start=T0))
    ticks_during: list[int] = []
    sink = Capture(TestClock(0))
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks_during.append(len(sink.events))
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await ReplayFeed(reader, sink, speed=None, yield_every=512).run()
    done.set()
    await task
    # The ticker saw the replay part-way through many times: the replay yielded to the loop.
    assert len({n for n in ticks_during if 0 < n < 20_000}) >= 20


async def test_replay_feed_start_stop_like_a_live_feed(tmp_path: Path) -> None:
    reader = recorded(tmp_path, market_events(1000, start=T0))
    sink = Capture(TestClock(0))
    feed = ReplayFeed(reader, sink, speed=None)
    await feed.start()
    stats = await feed.wait()
    assert stats.finished and len(sink.events) == 1000
    slow = ReplayFeed(reader, Capture(TestClock(0)), speed=1.0)  # would take ~100 s of wall time
    await slow.start()
    await asyncio.sleep(0.01)
    await slow.stop()
    assert not slow.stats.finished
