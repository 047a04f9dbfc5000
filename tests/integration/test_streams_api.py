"""Streams over the real engine: grpc.aio on port 0, real LMDB journal, the simulated venue.

* resume: a client that goes away mid-stream (call canceled, channel closed, process killed with
  SIGKILL) resumes from its last sequence and ends with exactly the events an uninterrupted
  subscriber got -- byte for byte, order events and position updates, across an engine restart too;
* slow consumers: an order stream that cannot keep up is closed RESOURCE_EXHAUSTED and the resume
  recovers every event; market data conflates for a slow reader while a fast one gets everything;
* validation: every bad field is named, nothing is subscribed.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest

from algotrendy.v1 import (
    common_pb2,
    marketdata_pb2,
    marketdata_pb2_grpc,
    orders_pb2,
    orders_pb2_grpc,
    portfolio_pb2,
    portfolio_pb2_grpc,
)
from engine.app import Engine
from engine.config import load_config
from engine.core.enums import Side
from engine.core.events import QuoteTick, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId, TradeId

BTC = "SIM:BTC-USD"
SOL = "SIM:SOL-USD"
Channel = marketdata_pb2.MarketDataChannel
TIMEOUT_S = 20.0
#: A client that reads nothing: no dynamic flow-control window, ~1 KiB of it.
SLOW_READER_OPTIONS = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 1024)]

StartEngine = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def start_engine(tmp_path: Path) -> AsyncIterator[StartEngine]:
    engines: list[Engine] = []

    async def start(data_dir: Path | None = None, **overrides: Any) -> Engine:
        config = load_config(
            env={},
            overrides={
                "data_dir": str(data_dir or tmp_path / "data"),
                "grpc.port": 0,
                "metrics.enabled": False,
                "sim.step_ms": 20,
                "store.durability": "async",
                "auth.argon2_memory_kib": 64,
                "auth.argon2_time_cost": 1,
                "streams.heartbeat_interval_ms": 100,
                **overrides,
            },
        )
        engine = Engine(config)
        await engine.start()
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        await engine.stop()


def admin_authorization(data_dir: Path) -> str:
    """The local admin's API key credential (written by the engine's first start; "" without auth)."""
    path = Path(data_dir) / "admin-credentials.json"
    return f"ApiKey {json.loads(path.read_text())['api_key']}" if path.exists() else ""


class Client:
    """Stubs over one channel; every call carries the admin credential."""

    def __init__(self, engine: Engine, options: list[tuple[str, Any]] | None = None) -> None:
        self.target = f"127.0.0.1:{engine.grpc.port}"
        self.authorization = admin_authorization(engine.config.data_dir)
        self.metadata = (("authorization", self.authorization),) if self.authorization else ()
        self.channel = grpc.aio.insecure_channel(self.target, options=options or [])
        self.orders = orders_pb2_grpc.OrderServiceStub(self.channel)
        self.portfolio = portfolio_pb2_grpc.PortfolioServiceStub(self.channel)
        self.marketdata = marketdata_pb2_grpc.MarketDataServiceStub(self.channel)

    def order_events(self, from_sequence: int = 0, **filters: str) -> Any:
        request = orders_pb2.StreamOrderEventsRequest(from_sequence=from_sequence, **filters)
        return self.orders.StreamOrderEvents(request, metadata=self.metadata)

    def positions(self, from_sequence: int = 0, **filters: str) -> Any:
        request = portfolio_pb2.StreamPositionsRequest(from_sequence=from_sequence, **filters)
        return self.portfolio.StreamPositions(request, metadata=self.metadata)

    def market_data(self, instruments: list[str], *channels: marketdata_pb2.ChannelSubscription) -> Any:
        request = marketdata_pb2.StreamMarketDataRequest(instrument_ids=instruments, channels=channels)
        return self.marketdata.StreamMarketData(request, metadata=self.metadata)

    async def close(self) -> None:
        await self.channel.close()


def channel(kind: int, **fields: Any) -> marketdata_pb2.ChannelSubscription:
    return marketdata_pb2.ChannelSubscription(channel=kind, **fields)


# == helpers: order flow and collectors =============================================================
async def trade(client: Client, count: int, prefix: str) -> None:
    """``count`` rounds of order flow on BTC: a marketable buy and sell (IOC: fills, never resting
    against each other), and a resting buy that is then canceled -- the common order events."""

    async def submit(cid: str, side: int, price: Decimal, tif: int = common_pb2.TIME_IN_FORCE_IOC) -> None:
        await client.orders.SubmitOrder(
            orders_pb2.SubmitOrderRequest(
                account_id="main",
                client_order_id=cid,
                instrument_id=BTC,
                side=side,
                order_type=common_pb2.ORDER_TYPE_LIMIT,
                quantity=common_pb2.Decimal(value="0.01"),
                price=common_pb2.Decimal(value=str(price)),
                time_in_force=tif,
            ),
            metadata=client.metadata,
            timeout=TIMEOUT_S,
        )

    for i in range(count):
        book = await client.marketdata.GetOrderBook(
            marketdata_pb2.GetOrderBookRequest(instrument_id=BTC, depth=1), metadata=client.metadata
        )
        bid, ask = Decimal(book.bids[0].price.value), Decimal(book.asks[0].price.value)
        tick = Decimal("0.1")
        await submit(f"{prefix}-b{i}", common_pb2.SIDE_BUY, (ask * Decimal("1.002")).quantize(tick))
        await submit(f"{prefix}-s{i}", common_pb2.SIDE_SELL, (bid * Decimal("0.998")).quantize(tick))
        resting = (bid * Decimal("0.99")).quantize(tick)
        await submit(f"{prefix}-r{i}", common_pb2.SIDE_BUY, resting, common_pb2.TIME_IN_FORCE_GTC)
        await client.orders.CancelOrder(
            orders_pb2.CancelOrderRequest(account_id="main", client_order_id=f"{prefix}-r{i}"),
            metadata=client.metadata,
            timeout=TIMEOUT_S,
        )


class Collected:
    """(sequence, serialized event) pairs read from a sequenced stream, plus how it ended."""

    def __init__(self) -> None:
        self.items: list[tuple[int, bytes]] = []
        self.error: grpc.aio.AioRpcError | None = None
        self.messages = 0

    @property
    def last(self) -> int:
        return self.items[-1][0] if self.items else 0


async def collect(
    call: Any, out: Collected, *, until: Callable[[Collected], bool] = lambda c: False
) -> Collected:
    """Read ``call`` into ``out`` until ``until(out)`` or the stream ends (an error is kept)."""
    try:
        async for message in call:
            out.messages += 1
            entries = message.events if hasattr(message, "events") else message.updates
            out.items.extend((e.sequence, e.SerializeToString()) for e in entries)
            if until(out):
                call.cancel()
                break
    except grpc.aio.AioRpcError as exc:
        out.error = exc
    return out


async def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def head(engine: Engine) -> int:
    assert engine.trading is not None and engine.trading.oms is not None
    return engine.trading.oms.sequence


async def durable_head(engine: Engine) -> int:
    """The order-event head once everything is durable (what a stream can deliver)."""
    assert engine.trading is not None and engine.trading.persistence is not None
    await engine.trading.persistence.journal.flush()
    return head(engine)


async def reference(
    engine: Engine, client: Client, kind: str = "orders"
) -> tuple[Collected, asyncio.Task[Any]]:
    """An uninterrupted subscriber from sequence 1 (runs until canceled)."""
    ref = Collected()
    call = client.order_events(1) if kind == "orders" else client.positions(1)
    task = asyncio.ensure_future(collect(call, ref))
    await wait_for(lambda: len(engine.streams) >= 1, "the reference subscriber")
    return ref, task


# == resume ========================================================================================
async def test_order_stream_when_client_cancels_or_closes_mid_stream_then_resume_equals_uninterrupted(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine()
    client = Client(engine)
    ref, ref_task = await reference(engine, client)
    flow = asyncio.ensure_future(trade(client, 4, "a"))
    # Break 1: the call is canceled mid-stream, while orders flow.
    first = await collect(client.order_events(1), Collected(), until=lambda c: c.last >= 5)
    # Break 2: another channel resumes after the last event seen; its channel is then closed.
    second_client = Client(engine)
    second = await collect(
        second_client.order_events(first.last + 1), Collected(), until=lambda c: len(c.items) >= 3
    )
    await second_client.close()
    await flow
    await trade(client, 3, "b")
    final_head = await durable_head(engine)
    third = await collect(
        client.order_events(second.last + 1), Collected(), until=lambda c: c.last >= final_head
    )
    await wait_for(lambda: ref.last >= final_head, "the reference to reach the head")
    ref_task.cancel()
    resumed = first.items + second.items + third.items
    assert [s for s, _ in resumed] == list(range(1, final_head + 1))
    assert resumed == ref.items[:final_head]
    await client.close()


@pytest.mark.parametrize("kind", ["orders", "positions"])
async def test_stream_when_client_process_killed_then_resume_from_last_sequence_is_exact(
    start_engine: StartEngine, tmp_path: Path, kind: str
) -> None:
    engine = await start_engine()
    client = Client(engine)
    ref, ref_task = await reference(engine, client, kind)
    script = Path(__file__).with_name("stream_client_process.py")

    def spawn(from_sequence: int, out: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                str(script),
                client.target,
                client.authorization,
                kind,
                str(from_sequence),
                str(out),
            ],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )

    def lines(path: Path) -> list[tuple[int, bytes]]:
        if not path.exists():
            return []
        out = []
        for line in path.read_text().split("\n")[:-1]:  # the text after the last newline may be torn
            seq, data = line.split(" ")
            out.append((int(seq), bytes.fromhex(data)))
        return out

    first_out, second_out = tmp_path / "first.txt", tmp_path / "second.txt"
    first = spawn(1, first_out)
    try:
        flow = asyncio.ensure_future(trade(client, 6, "k"))
        await wait_for(lambda: len(lines(first_out)) >= 4, "the client process to receive events")
        os.kill(first.pid, signal.SIGKILL)
        assert await asyncio.to_thread(first.wait, TIMEOUT_S) == -signal.SIGKILL
        await flow
        got = lines(first_out)
        second = spawn(got[-1][0] + 1, second_out)
        try:
            await trade(client, 2, "m")
            final_head = await durable_head(engine)
            expected_last = (
                final_head if kind == "orders" else max(s for s, _ in ref.items if s <= final_head)
            )
            await wait_for(lambda: ref.last >= expected_last, "the reference to reach the head")
            await wait_for(
                lambda: lines(second_out) and lines(second_out)[-1][0] >= expected_last,
                "the resumed client process to reach the head",
            )
        finally:
            os.kill(second.pid, signal.SIGKILL)
            second.wait(TIMEOUT_S)
    finally:
        if first.poll() is None:
            first.kill()
    ref_task.cancel()
    resumed = got + lines(second_out)
    expected = [item for item in ref.items if item[0] <= expected_last]
    assert [s for s, _ in resumed] == [s for s, _ in expected]
    assert resumed == expected
    if kind == "orders":
        assert [s for s, _ in resumed] == list(range(1, final_head + 1))
    await client.close()


async def test_position_stream_when_resumed_then_updates_equal_live_and_end_at_the_portfolio(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine()
    client = Client(engine)
    ref, ref_task = await reference(engine, client, "positions")
    await trade(client, 3, "p")
    final_head = await durable_head(engine)
    await wait_for(lambda: len(ref.items) >= 4, "fills")
    fills = [s for s, _ in ref.items]
    # Resume from the middle fill: rebuilt from the journal, byte-equal to what live sent.
    middle = fills[len(fills) // 2]
    resumed = Collected()
    await collect(client.positions(middle), resumed, until=lambda c: c.last >= fills[-1])
    ref_task.cancel()
    assert resumed.items == [item for item in ref.items if item[0] >= middle]
    last = portfolio_pb2.PositionUpdate.FromString(ref.items[-1][1])
    positions = await client.portfolio.ListPositions(
        portfolio_pb2.ListPositionsRequest(account_id="main", instrument_id=BTC), metadata=client.metadata
    )
    live = positions.positions[0] if positions.positions else None
    assert Decimal(last.position.quantity.value) == (Decimal(live.quantity.value) if live else 0)
    assert last.position.realised_pnl.value == (
        live.realised_pnl.value if live else last.position.realised_pnl.value
    )
    assert not last.position.HasField("mark_price") and not last.position.HasField("unrealised_pnl")
    assert fills[-1] <= final_head
    await client.close()


async def test_order_stream_when_engine_restarted_then_resume_reads_the_journal_exactly(
    start_engine: StartEngine, tmp_path: Path
) -> None:
    data_dir = tmp_path / "restart"
    engine = await start_engine(data_dir)
    client = Client(engine)
    ref, ref_task = await reference(engine, client)
    await trade(client, 3, "x")
    old_head = await durable_head(engine)
    await wait_for(lambda: ref.last >= old_head, "the reference to reach the head")
    ref_task.cancel()
    await client.close()
    await engine.stop()
    again = await start_engine(data_dir)
    client = Client(again)
    assert head(again) >= old_head  # reconciliation may add events, never remove one
    replayed = Collected()
    await collect(client.order_events(2), replayed, until=lambda c: c.last >= old_head)
    assert replayed.items[: old_head - 1] == ref.items[1:old_head]
    await client.close()


# == slow consumers ================================================================================
async def test_order_stream_when_reader_too_slow_then_resource_exhausted_and_resume_recovers_every_event(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine(**{"streams.order_queue_max": 40, "streams.batch_max_events": 8})
    client = Client(engine)
    ref, ref_task = await reference(engine, client)
    slow_client = Client(engine, SLOW_READER_OPTIONS)
    slow_call = slow_client.order_events(1)
    await wait_for(lambda: len(engine.streams) >= 2, "the slow subscriber")
    await trade(client, 12, "s")  # ~120 events; the slow reader reads nothing meanwhile
    await wait_for(lambda: engine.streams.slow_consumers >= 1, "the slow consumer to be closed")
    slow = await collect(slow_call, Collected())
    assert slow.error is not None and slow.error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(slow.error.trailing_metadata() or ())["algotrendy-reason"] == "SLOW_CONSUMER"
    final_head = await durable_head(engine)
    assert slow.last < final_head
    resumed = await collect(
        client.order_events(slow.last + 1), Collected(), until=lambda c: c.last >= final_head
    )
    await wait_for(lambda: ref.last >= final_head, "the reference to reach the head")
    ref_task.cancel()
    assert ref.error is None  # the fast subscriber was not affected
    assert slow.items + resumed.items == ref.items[:final_head]
    assert [s for s, _ in slow.items + resumed.items] == list(range(1, final_head + 1))
    await slow_client.close()
    await client.close()


def _trade_tick(i: int, ts: int) -> TradeTick:
    return TradeTick(
        ts_event=ts,
        ts_init=ts,
        instrument_id=InstrumentId(SOL),
        price=Price(f"{150 + i % 7}.{i % 1000:03d}"),
        size=Quantity("0.10"),
        aggressor_side=Side.BUY if i % 2 else Side.SELL,
        trade_id=TradeId(f"t{i}"),
    )


def _quote_tick(i: int, ts: int) -> QuoteTick:
    return QuoteTick(
        ts_event=ts,
        ts_init=ts,
        instrument_id=InstrumentId(SOL),
        bid_price=Price(f"{100 + i}.000"),
        bid_size=Quantity("1.00"),
        ask_price=Price(f"{100 + i}.001"),
        ask_size=Quantity("1.00"),
    )


async def test_market_data_when_one_reader_is_slow_then_it_is_conflated_and_a_fast_one_gets_everything(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine(
        **{"streams.marketdata_queue_max": 30, "streams.conflation_window_ms": 2, "sim.step_ms": 60_000}
    )
    fast_client, slow_client = Client(engine), Client(engine, SLOW_READER_OPTIONS)
    channels = (channel(Channel.MARKET_DATA_CHANNEL_TRADES), channel(Channel.MARKET_DATA_CHANNEL_BBO))
    fast_events: list[marketdata_pb2.MarketDataEvent] = []

    async def read_fast() -> None:
        async for message in fast_client.market_data([SOL], *channels):
            fast_events.extend(message.events)

    fast_task = asyncio.ensure_future(read_fast())
    slow_call = slow_client.market_data([SOL], *channels)
    await wait_for(lambda: len(engine.streams) >= 2, "both subscribers")
    rounds, per_round = 40, 10
    clock = engine.clock
    for r in range(rounds):
        for j in range(per_round):
            engine.bus.publish(f"data.trades.{SOL}", _trade_tick(r * per_round + j, clock.timestamp_ns()))
        engine.bus.publish(f"data.quotes.{SOL}", _quote_tick(r, clock.timestamp_ns()))
        await asyncio.sleep(0.01)  # longer than the window: a reader that keeps up gets every quote
    total = rounds * per_round

    def trades(events: list[marketdata_pb2.MarketDataEvent]) -> list[str]:
        return [e.trade.trade_id for e in events if e.WhichOneof("event") == "trade"]

    await wait_for(lambda: len(trades(fast_events)) >= total, "the fast reader to get every trade")
    fast_task.cancel()
    assert trades(fast_events) == [f"t{i}" for i in range(total)]
    ours = [f"{100 + r}.000" for r in range(rounds)]
    fast_quotes = [e.bbo.bid_price.value for e in fast_events if e.WhichOneof("event") == "bbo"]
    # (a BBO the simulated market left before the test is the first message's current BBO)
    assert [q for q in fast_quotes if q in ours] == ours
    assert not any(e.WhichOneof("event") == "trades_skipped" for e in fast_events)
    # The slow reader now drains what is left for it: fewer, current values and a skip report.
    slow_events: list[marketdata_pb2.MarketDataEvent] = []
    conflated = 0
    async for message in slow_call:
        slow_events.extend(message.events)
        conflated = message.conflated
        skipped = sum(
            e.trades_skipped.count for e in slow_events if e.WhichOneof("event") == "trades_skipped"
        )
        quotes = [e.bbo.bid_price.value for e in slow_events if e.WhichOneof("event") == "bbo"]
        if len(trades(slow_events)) + skipped >= total and quotes and quotes[-1] == f"{100 + rounds - 1}.000":
            break
    slow_call.cancel()
    slow_trades = trades(slow_events)
    assert skipped > 0 and len(slow_trades) + skipped == total
    assert slow_trades == [f"t{i}" for i in range(len(slow_trades))]  # in order, a prefix, then the report
    report = next(e.trades_skipped for e in slow_events if e.WhichOneof("event") == "trades_skipped")
    assert report.instrument_id == SOL and Decimal(report.volume.value) == Decimal("0.10") * report.count
    assert conflated > 0 and len(quotes) < rounds
    await fast_client.close()
    await slow_client.close()


async def test_market_data_when_subscribed_then_sim_trades_bbo_book_bars_and_heartbeats_arrive(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine(**{"bars.intervals": ["100ms"]})
    client = Client(engine)
    call = client.market_data(
        [BTC],
        channel(Channel.MARKET_DATA_CHANNEL_TRADES),
        channel(Channel.MARKET_DATA_CHANNEL_BBO),
        channel(Channel.MARKET_DATA_CHANNEL_BOOK, book_depth=3),
        channel(Channel.MARKET_DATA_CHANNEL_BARS, bar_interval_ns=100_000_000),
        channel(
            Channel.MARKET_DATA_CHANNEL_INDICATOR,
            bar_interval_ns=100_000_000,
            indicator="sma",
            indicator_params={"timeperiod": 2},
        ),
    )
    seen: dict[str, Any] = {}
    async for message in call:
        for event in message.events:
            kind = event.WhichOneof("event")
            seen[kind] = getattr(event, kind)  # the latest of each kind
        book, indicator = seen.get("book"), seen.get("indicator")
        if (
            len(seen) == 5
            and len(book.bids) == 3
            and len(book.asks) == 3
            and not all(math.isnan(v) for v in indicator.values)
        ):
            break
    call.cancel()
    assert Decimal(seen["trade"].price.value) > 0 and seen["trade"].instrument_id == BTC
    assert Decimal(seen["bbo"].bid_price.value) < Decimal(seen["bbo"].ask_price.value)
    assert len(seen["book"].bids) == 3 and len(seen["book"].asks) == 3
    bar = seen["bar"]
    assert bar.interval_ns == 100_000_000 and bar.ts_open_ns % 100_000_000 == 0 and bar.trade_count > 0
    assert Decimal(bar.low.value) <= Decimal(bar.close.value) <= Decimal(bar.high.value)
    assert list(seen["indicator"].outputs) == ["real"] and dict(seen["indicator"].params) == {
        "timeperiod": 2.0
    }
    await client.close()


async def test_market_data_when_quiet_then_heartbeats_arrive(start_engine: StartEngine) -> None:
    engine = await start_engine(**{"sim.step_ms": 60_000})
    client = Client(engine)
    quiet = client.market_data([SOL], channel(Channel.MARKET_DATA_CHANNEL_TRADES))
    beat = await asyncio.wait_for(_first_heartbeat(quiet), TIMEOUT_S)
    assert beat.heartbeat and not beat.events and beat.ts_ns > 0
    quiet.cancel()
    await client.close()


async def _first_heartbeat(call: Any) -> Any:
    async for message in call:
        if message.heartbeat:
            return message
    raise AssertionError("the stream ended without a heartbeat")


# == validation ====================================================================================
async def _error_of(call: Any) -> grpc.aio.AioRpcError:
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the stream did not fail")


MARKET_DATA_CASES = [
    ([], [channel(Channel.MARKET_DATA_CHANNEL_TRADES)], "INVALID_ARGUMENT", "instrument_ids"),
    ([BTC], [], "INVALID_ARGUMENT", "channels"),
    (["not an id"], [channel(Channel.MARKET_DATA_CHANNEL_TRADES)], "INVALID_ARGUMENT", "instrument_ids[0]"),
    ([BTC, BTC], [channel(Channel.MARKET_DATA_CHANNEL_TRADES)], "INVALID_ARGUMENT", "instrument_ids[1]"),
    ([BTC], [channel(Channel.MARKET_DATA_CHANNEL_UNSPECIFIED)], "INVALID_ARGUMENT", "channels[0].channel"),
    ([BTC], [channel(99)], "INVALID_ARGUMENT", "channels[0].channel"),
    (
        [BTC],
        [channel(Channel.MARKET_DATA_CHANNEL_BOOK, book_depth=101)],
        "INVALID_ARGUMENT",
        "channels[0].book_depth",
    ),
    (
        [BTC],
        [channel(Channel.MARKET_DATA_CHANNEL_TRADES, book_depth=5)],
        "INVALID_ARGUMENT",
        "channels[0].book_depth",
    ),
    (
        [BTC],
        [channel(Channel.MARKET_DATA_CHANNEL_BARS, bar_interval_ns=7)],
        "INVALID_ARGUMENT",
        "channels[0].bar_interval_ns",
    ),
    (
        [BTC],
        [channel(Channel.MARKET_DATA_CHANNEL_INDICATOR, bar_interval_ns=1_000_000_000, indicator="nope")],
        "INVALID_ARGUMENT",
        "channels[0].indicator",
    ),
    (
        [BTC],
        [channel(Channel.MARKET_DATA_CHANNEL_INDICATOR, bar_interval_ns=1_000_000_000)],
        "INVALID_ARGUMENT",
        "channels[0].indicator",
    ),
    (
        [BTC],
        [
            channel(
                Channel.MARKET_DATA_CHANNEL_INDICATOR,
                bar_interval_ns=1_000_000_000,
                indicator="rsi",
                indicator_params={"timeperiod": 0},
            )
        ],
        "INVALID_ARGUMENT",
        "channels[0].indicator_params.timeperiod",
    ),
    (
        [BTC],
        [
            channel(
                Channel.MARKET_DATA_CHANNEL_INDICATOR,
                bar_interval_ns=1_000_000_000,
                indicator="rsi",
                indicator_params={"timeperiod": 2.5},
            )
        ],
        "INVALID_ARGUMENT",
        "channels[0].indicator_params.timeperiod",
    ),
    (
        [BTC],
        [
            channel(
                Channel.MARKET_DATA_CHANNEL_INDICATOR,
                bar_interval_ns=1_000_000_000,
                indicator="rsi",
                indicator_params={"period": 3},
            )
        ],
        "INVALID_ARGUMENT",
        "channels[0].indicator_params.period",
    ),
    (
        [BTC],
        [channel(Channel.MARKET_DATA_CHANNEL_TRADES), channel(Channel.MARKET_DATA_CHANNEL_TRADES)],
        "INVALID_ARGUMENT",
        "channels[1]",
    ),
    (["SIM:NOPE-USD"], [channel(Channel.MARKET_DATA_CHANNEL_TRADES)], "NOT_FOUND", "instrument_ids[0]"),
]


async def test_market_data_stream_when_request_invalid_then_rejected_naming_the_field(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine()
    client = Client(engine)
    for instruments, channels, code, field in MARKET_DATA_CASES:
        error = await _error_of(client.market_data(instruments, *channels))
        assert error.code().name == code, field
        metadata = dict(error.trailing_metadata() or ())
        if code == "INVALID_ARGUMENT":
            assert metadata["algotrendy-field"] == field
        else:
            assert metadata["algotrendy-reason"] == "UNKNOWN_INSTRUMENT"
        assert (error.details() or "").startswith(field)
        assert len(engine.streams) == 0  # nothing subscribed
    await client.close()


SEQUENCED_CASES = [
    ({"from_sequence": 10_000}, "INVALID_ARGUMENT", "from_sequence"),
    ({"account_id": "no such"}, "INVALID_ARGUMENT", "account_id"),
    ({"account_id": "ghost"}, "NOT_FOUND", "UNKNOWN_ACCOUNT"),
    ({"instrument_id": "SIM:NOPE-USD"}, "NOT_FOUND", "UNKNOWN_INSTRUMENT"),
    ({"instrument_id": "nope"}, "INVALID_ARGUMENT", "instrument_id"),
]


async def test_sequenced_stream_when_request_invalid_then_rejected_naming_the_field(
    start_engine: StartEngine,
) -> None:
    engine = await start_engine()
    client = Client(engine)
    for kind in ("orders", "positions"):
        for case, code, field_or_reason in SEQUENCED_CASES:
            filters = dict(case)
            from_sequence = filters.pop("from_sequence", 0)
            open_stream = client.order_events if kind == "orders" else client.positions
            error = await _error_of(open_stream(from_sequence, **filters))
            assert error.code().name == code, (kind, field_or_reason)
            metadata = dict(error.trailing_metadata() or ())
            if code == "INVALID_ARGUMENT":
                assert metadata["algotrendy-field"] == field_or_reason
            else:
                assert metadata["algotrendy-reason"] == field_or_reason
            if field_or_reason == "from_sequence":
                assert metadata["algotrendy-reason"] == "SEQUENCE_BEYOND_HEAD"
            assert len(engine.streams) == 0
    await client.close()


async def test_streams_when_engine_drains_then_they_end_unavailable(start_engine: StartEngine) -> None:
    engine = await start_engine()
    client = Client(engine)
    call = client.order_events(1)
    task = asyncio.ensure_future(_error_of(call))
    await wait_for(lambda: len(engine.streams) == 1, "the subscriber")
    await engine.stop()
    error = await asyncio.wait_for(task, TIMEOUT_S)
    assert error.code() is grpc.StatusCode.UNAVAILABLE
    assert dict(error.trailing_metadata() or ())["algotrendy-reason"] == "ENGINE_DRAINING"
    await client.close()
