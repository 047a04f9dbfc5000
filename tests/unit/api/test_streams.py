"""Stream machinery on real components (LMDB journal, the codec): journal positioning for resume,
durable-before-sent release, the slow-consumer bound, market-data queue bounds and conflation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from algotrendy.v1 import marketdata_pb2, orders_pb2
from engine.api.streams import MarketDataHub, OrderEventSource, SequencedHub, Streams
from engine.api.streams.encode import trade_entry
from engine.api.streams.marketdata import MarketDataSubscriber
from engine.api.streams.sequenced import locate_order_sequence
from engine.config.model import StreamsConfig
from engine.core.enums import Side, TradingState
from engine.core.errors import ResourceExhaustedError, ValidationError
from engine.core.events import OrderAccepted, QuoteTick, TradeTick, TradingStateChanged
from engine.core.fixed import Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId
from engine.marketdata.registry import MarketDataRegistry
from engine.store import LmdbStore, Persistence
from engine.venues.sim import default_instruments

BTC = InstrumentId("SIM:BTC-USD")


def _accepted(seq: int) -> OrderAccepted:
    return OrderAccepted(
        ts_event=seq,
        ts_init=seq,
        account_id=AccountId("main"),
        client_order_id=ClientOrderId(f"c{seq}"),
        instrument_id=BTC,
        sequence=seq,
        venue_order_id=VenueOrderId(f"v{seq}"),
    )


def _other(i: int) -> TradingStateChanged:
    return TradingStateChanged(
        ts_event=i,
        ts_init=i,
        account_id=AccountId("main"),
        previous=TradingState.ACTIVE,
        current=TradingState.ACTIVE,
        reason=f"r{i}",
    )


@pytest.fixture
async def persistence(tmp_path: Path) -> AsyncIterator[Persistence]:
    store = LmdbStore(tmp_path / "lmdb", map_size_mb=64, durability="sync")
    store.open(time.time_ns())
    p = Persistence(store)
    p.start()
    yield p
    await p.close()
    store.close(time.time_ns())


async def test_locate_order_sequence_when_other_records_interleaved_then_resume_starts_exactly(
    persistence: Persistence,
) -> None:
    journal = persistence.journal
    for i in range(60):  # runs of 0..3 other records between order events
        for j in range(i % 4):
            journal.append(_other(i * 10 + j))
        journal.append(_accepted(i + 1))
    journal.append(_other(999))
    last = await journal.flush()
    source = OrderEventSource(journal)
    for target in (1, 2, 17, 59, 60):
        start = locate_order_sequence(journal, target, last)
        first = next(r for _, r in journal.read(start, last) if isinstance(r, OrderAccepted))
        assert first.sequence == target
        earlier = [r for _, r in journal.read(1, start - 1) if isinstance(r, OrderAccepted)]
        assert all(r.sequence < target for r in earlier)
        replayed = [item.sequence for item in source.replay(target, 60, last)]
        assert replayed == list(range(target, 61))
    beyond = locate_order_sequence(journal, 61, last)  # beyond the head: no order event from there
    assert not [r for _, r in journal.read(beyond, last) if isinstance(r, OrderAccepted)]
    assert beyond == 151  # right after the last order event (150 records in: 90 others + 60 orders)


async def test_sequenced_hub_when_event_not_yet_durable_then_it_is_released_only_after(
    persistence: Persistence,
) -> None:
    journal = persistence.journal
    streams = Streams(StreamsConfig())
    hub = SequencedHub(
        "order-event",
        OrderEventSource(journal),
        journal,
        streams,
        orders_pb2.StreamOrderEventsResponse,
        head=0,
    )
    subscriber = hub.subscribe(None, from_sequence=1)
    event = _accepted(1)
    journal.append(event)  # as the OMS does: journal first, then publish
    hub.on_order_event(event)
    assert not subscriber.queue and hub.head == 0  # the sync writer thread has not committed yet
    await journal.flush()
    deadline = time.monotonic() + 5
    while not subscriber.queue:
        assert time.monotonic() < deadline, "the durable event was never released"
        await asyncio.sleep(0.001)
    assert [item.sequence for item in subscriber.queue] == [1] and hub.head == 1
    hub.on_order_event(event)  # a duplicate (same sequence) is ignored
    await asyncio.sleep(0.01)
    assert len(subscriber.queue) == 1
    with pytest.raises(ValidationError) as beyond:
        hub.subscribe(None, from_sequence=3)
    assert beyond.value.field == "from_sequence" and beyond.value.reason == "SEQUENCE_BEYOND_HEAD"


async def test_sequenced_hub_when_queue_reaches_the_bound_then_the_subscriber_fails_slow_consumer(
    persistence: Persistence,
) -> None:
    journal = persistence.journal
    streams = Streams(StreamsConfig(order_queue_max=5))
    hub = SequencedHub(
        "order-event",
        OrderEventSource(journal),
        journal,
        streams,
        orders_pb2.StreamOrderEventsResponse,
        head=0,
    )
    slow = hub.subscribe(None)
    other_account = hub.subscribe(None, account_id="other")  # filtered out: its queue stays empty
    for seq in range(1, 6):
        event = _accepted(seq)
        journal.append(event)
        hub.on_order_event(event)
    await journal.flush()
    deadline = time.monotonic() + 5
    while slow.failure is None:
        assert time.monotonic() < deadline, "the slow subscriber was never failed"
        await asyncio.sleep(0.001)
    assert isinstance(slow.failure, ResourceExhaustedError) and slow.failure.reason == "SLOW_CONSUMER"
    assert not slow.queue  # its memory is freed; it resumes from the journal
    assert other_account.failure is None and not other_account.queue
    assert streams.slow_consumers == 1


def _trade(i: int) -> TradeTick:
    return TradeTick(
        ts_event=i,
        ts_init=i,
        instrument_id=BTC,
        price=Price(f"{100 + i}.0"),
        size=Quantity("0.50"),
        aggressor_side=Side.BUY,
        trade_id=TradeId(f"t{i}"),
    )


def _window(first: int, n: int) -> tuple[bytes, list[tuple[bytes, TradeTick]]]:
    trades = [(trade_entry(_trade(i)), _trade(i)) for i in range(first, first + n)]
    return b"".join(entry for entry, _ in trades), trades


def test_market_data_subscriber_when_queue_would_overflow_then_trades_are_summarised_in_place() -> None:
    subscriber = MarketDataSubscriber(None, [])
    for first in (0, 3, 6):  # 3 + 3 fit the bound of 7; the third window would not
        subscriber.add_trades(*_window(first, 3), limit=7)
    subscriber.add_trades(*_window(9, 1), limit=7)  # after a skip, skipping continues until reported
    subscriber.put_latest(("bbo", str(BTC)), b"", replaced=2)
    message = marketdata_pb2.StreamMarketDataResponse.FromString(subscriber.take(1000, 42))
    kinds = [event.WhichOneof("event") for event in message.events]
    assert kinds == ["trade"] * 6 + ["trades_skipped"]
    assert [e.trade.trade_id for e in message.events[:6]] == [f"t{i}" for i in range(6)]
    skipped = message.events[6].trades_skipped
    assert skipped.count == 4 and skipped.volume.value == "2.00"
    assert (skipped.low.value, skipped.high.value, skipped.last_price.value) == ("106.0", "109.0", "109.0")
    assert (skipped.first_ts_event_ns, skipped.last_ts_event_ns) == (6, 9)
    assert message.conflated == 2 and message.ts_ns == 42 and not message.heartbeat
    subscriber.add_trades(*_window(10, 2), limit=7)  # reported: queued again
    again = marketdata_pb2.StreamMarketDataResponse.FromString(subscriber.take(1000, 43))
    assert [e.trade.trade_id for e in again.events] == ["t10", "t11"]


def test_market_data_subscriber_when_latest_value_replaced_then_only_the_last_is_sent() -> None:
    subscriber = MarketDataSubscriber(None, [])
    for i in range(3):
        subscriber.put_latest(("bbo", "X"), f"v{i}".encode())
    assert subscriber.latest == {("bbo", "X"): b"v2"} and subscriber.conflated == 2
    assert subscriber.take(1000, 1) is not None
    assert subscriber.take(1000, 2) is None  # nothing new, no heartbeat due
    subscriber.heartbeat_due = True
    beat = marketdata_pb2.StreamMarketDataResponse.FromString(subscriber.take(1000, 3))
    assert beat.heartbeat and not beat.events


async def test_market_data_hub_when_a_reader_falls_far_behind_then_shared_log_stays_short_and_pickup_is_exact() -> (
    None
):
    """Trade windows go once into the instrument's shared log; a subscriber picks them up when it
    writes. One that does not write for many windows is caught up when the log is trimmed: its own
    bounded queue takes what fits and the rest becomes its skip report, while a reader that keeps
    up gets every trade in order, and each gets one BBO with the others counted as conflated."""
    registry = MarketDataRegistry()
    for instrument in default_instruments():
        registry.add_book(instrument)
    streams = Streams(StreamsConfig(conflation_window_ms=10_000, marketdata_queue_max=50))
    hub = MarketDataHub(registry, streams, timestamp_ns=lambda: 1)
    request = marketdata_pb2.StreamMarketDataRequest(
        instrument_ids=[str(BTC)],
        channels=[
            marketdata_pb2.ChannelSubscription(channel=marketdata_pb2.MARKET_DATA_CHANNEL_TRADES),
            marketdata_pb2.ChannelSubscription(channel=marketdata_pb2.MARKET_DATA_CHANNEL_BBO),
        ],
    )
    keeping_up, behind = hub.subscribe(request, None), hub.subscribe(request, None)
    windows, per_window = 1_000, 2
    fast: list[marketdata_pb2.MarketDataEvent] = []
    for w in range(windows):
        for j in range(per_window):
            hub.on_trade(_trade(w * per_window + j))
        hub.on_quote(_quote(w))
        hub._flush()  # the window closes (its timer, called directly)
        fast.extend(marketdata_pb2.StreamMarketDataResponse.FromString(keeping_up.take(1000, 2)).events)
    total = windows * per_window
    assert [e.trade.trade_id for e in fast if e.WhichOneof("event") == "trade"] == [
        f"t{i}" for i in range(total)
    ]
    assert len(hub._trades[str(BTC)].windows) <= 256  # trimmed: the reader behind was caught up
    late = marketdata_pb2.StreamMarketDataResponse.FromString(behind.take(100_000, 3))
    trades = [e.trade.trade_id for e in late.events if e.WhichOneof("event") == "trade"]
    skipped = [e.trades_skipped for e in late.events if e.WhichOneof("event") == "trades_skipped"]
    quotes = [e.bbo.bid_price.value for e in late.events if e.WhichOneof("event") == "bbo"]
    assert trades == [f"t{i}" for i in range(50)]  # the bound, then the report of the rest
    assert len(skipped) == 1 and skipped[0].count == total - 50
    assert quotes == [f"{windows - 1}.0"] and late.conflated == windows - 1
    hub.unsubscribe(keeping_up)
    hub.unsubscribe(behind)
    assert str(BTC) not in hub._trades and len(streams) == 0
    assert hub.skipped_trades == total - 50 and hub.conflated == windows - 1


async def test_market_data_hub_when_a_subscriber_sends_then_it_takes_the_open_window_and_idle_ones_wait_for_its_end() -> (
    None
):
    """A subscriber about to send anyway (its write just completed, news is waiting) first closes
    the open conflation window, so its message carries every trade and the latest quote published
    until then; an idle subscriber is not woken by that, only by the window's end (``_flush``), and
    then gets the same events once. Trades stay in order, nothing is sent twice, counts are exact."""
    registry = MarketDataRegistry()
    for instrument in default_instruments():
        registry.add_book(instrument)
    streams = Streams(StreamsConfig(conflation_window_ms=10_000))  # the window ends when the test says
    hub = MarketDataHub(registry, streams, timestamp_ns=lambda: 1)
    request = marketdata_pb2.StreamMarketDataRequest(
        instrument_ids=[str(BTC)],
        channels=[
            marketdata_pb2.ChannelSubscription(channel=marketdata_pb2.MARKET_DATA_CHANNEL_TRADES),
            marketdata_pb2.ChannelSubscription(channel=marketdata_pb2.MARKET_DATA_CHANNEL_BBO),
        ],
    )
    busy, idle = hub.subscribe(request, None), hub.subscribe(request, None)
    busy_stream, idle_stream = hub.stream(busy), hub.stream(idle)

    def events(message: bytes) -> list[tuple[str, str]]:
        parsed = marketdata_pb2.StreamMarketDataResponse.FromString(message).events
        return [
            ("trade", e.trade.trade_id)
            if e.WhichOneof("event") == "trade"
            else ("bbo", e.bbo.bid_price.value)
            for e in parsed
        ]

    idle_next = asyncio.ensure_future(anext(idle_stream))
    await asyncio.sleep(0)  # parked, waiting for news
    hub.on_trade(_trade(0))
    hub._flush()  # the first window ends: t0 is news for both
    assert events(await idle_next) == [("trade", "t0")]
    idle_next = asyncio.ensure_future(anext(idle_stream))
    await asyncio.sleep(0)  # parked again

    hub.on_trade(_trade(1))  # the open window: not yet in the shared log
    hub.on_quote(_quote(1))
    hub.on_quote(_quote(2))  # replaces q1 within the window
    hub.on_trade(_trade(2))
    # ``busy`` still has t0 to send: its message takes the open window too, newest quote included.
    assert events(await anext(busy_stream)) == [
        ("trade", "t0"),
        ("trade", "t1"),
        ("trade", "t2"),
        ("bbo", "2.0"),
    ]
    assert busy.conflated == 1
    await asyncio.sleep(0)
    assert not idle_next.done()  # not woken by the early close

    hub._flush()  # the window ends: the idle subscriber gets the same events, once
    assert events(await idle_next) == [("trade", "t1"), ("trade", "t2"), ("bbo", "2.0")]
    assert idle.conflated == 1
    hub.on_trade(_trade(3))
    hub._flush()
    assert events(await anext(busy_stream)) == [("trade", "t3")]  # nothing of the earlier window again
    assert events(await anext(idle_stream)) == [("trade", "t3")]
    await busy_stream.aclose()
    await idle_stream.aclose()
    assert len(streams) == 0 and hub.conflated == 2


async def test_market_data_hub_when_a_window_has_only_quotes_then_trades_only_subscribers_stay_parked() -> (
    None
):
    """A window with only a quote reaches the instrument's BBO subscribers; one that asked for its
    trades only gets no message (no empty one either) until a trade comes."""
    registry = MarketDataRegistry()
    for instrument in default_instruments():
        registry.add_book(instrument)
    streams = Streams(StreamsConfig(conflation_window_ms=10_000))
    hub = MarketDataHub(registry, streams, timestamp_ns=lambda: 1)

    def request(*channels: int) -> marketdata_pb2.StreamMarketDataRequest:
        return marketdata_pb2.StreamMarketDataRequest(
            instrument_ids=[str(BTC)],
            channels=[marketdata_pb2.ChannelSubscription(channel=c) for c in channels],
        )

    trades_only = hub.stream(hub.subscribe(request(marketdata_pb2.MARKET_DATA_CHANNEL_TRADES), None))
    with_bbo = hub.stream(
        hub.subscribe(
            request(marketdata_pb2.MARKET_DATA_CHANNEL_TRADES, marketdata_pb2.MARKET_DATA_CHANNEL_BBO), None
        )
    )
    trades_next = asyncio.ensure_future(anext(trades_only))
    bbo_next = asyncio.ensure_future(anext(with_bbo))
    await asyncio.sleep(0)
    hub.on_quote(_quote(1))
    hub._flush()
    bbo_message = marketdata_pb2.StreamMarketDataResponse.FromString(await bbo_next)
    assert [e.bbo.bid_price.value for e in bbo_message.events] == ["1.0"]
    await asyncio.sleep(0)
    assert not trades_next.done()
    hub.on_trade(_trade(1))
    hub._flush()
    trade_message = marketdata_pb2.StreamMarketDataResponse.FromString(await trades_next)
    assert [e.trade.trade_id for e in trade_message.events] == ["t1"]
    await trades_only.aclose()
    await with_bbo.aclose()
    assert len(streams) == 0


def _quote(i: int) -> QuoteTick:
    return QuoteTick(
        ts_event=i,
        ts_init=i,
        instrument_id=BTC,
        bid_price=Price(f"{i}.0"),
        bid_size=Quantity("1.00"),
        ask_price=Price(f"{i + 1}.0"),
        ask_size=Quantity("1.00"),
    )
