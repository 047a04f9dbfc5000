"""QuestDB sink against a local ILP server run by the test: every row checked, outage -> spool ->
drain with equal counts, restart with a non-empty spool, and the loop never blocked by a stuck server."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest

from engine.core.enums import LiquiditySide, Side
from engine.core.events import Bar, Event, OrderFilled, QuoteTick, TradeTick
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId
from engine.marketdata.io.records import OrderBookDeltas
from engine.store.questdb import EquitySampled, QuestDbSettings, QuestDbSink, table_ddl
from tests.unit.store.ilp_server import IlpHttpServer, IlpTcpServer, Row
from tests.unit.store.market_samples import IID, market_events

S = 1_000_000_000
T0 = 1_700_000_000 * S


def fill(i: int) -> OrderFilled:
    return OrderFilled(
        ts_event=T0 + i,
        ts_init=T0 + i + 1,
        account_id=AccountId("main"),
        client_order_id=ClientOrderId(f"c-{i}"),
        instrument_id=IID,
        sequence=100 + i,
        venue_order_id=VenueOrderId(f"v-{i}"),
        trade_id=TradeId(f"f-{i}"),
        side=Side.SELL,
        last_price=Price("50000.25"),
        last_quantity=Quantity("0.125"),
        liquidity_side=LiquiditySide.MAKER,
        commission=Money("0.0125", "USD"),
    )


def equity(i: int) -> EquitySampled:
    return EquitySampled(
        ts_event=T0 + i * S,
        ts_init=T0 + i * S,
        account_id=AccountId("main"),
        equity=Money(f"1000000.{i:02d}", "USD"),
    )


def series(n: int, start: int = T0) -> list[Event]:
    return [e for e in market_events(n, start=start) if not isinstance(e, OrderBookDeltas)]


def expected_row(e: Event) -> Row:
    """The row the schema says an event becomes (independent of the sink's code)."""
    if isinstance(e, TradeTick):
        return (
            "trades",
            {"instrument": str(e.instrument_id), "side": e.aggressor_side.name},
            {
                "price": float(Decimal(str(e.price))),
                "size": float(Decimal(str(e.size))),
                "trade_id": str(e.trade_id),
                "ts_init": ("ts_us", e.ts_init // 1000),
            },
            e.ts_event,
        )
    if isinstance(e, QuoteTick):
        return (
            "bbo",
            {"instrument": str(e.instrument_id)},
            {
                "bid": float(str(e.bid_price)),
                "bid_size": float(str(e.bid_size)),
                "ask": float(str(e.ask_price)),
                "ask_size": float(str(e.ask_size)),
                "ts_event": ("ts_us", e.ts_event // 1000),
            },
            e.ts_init,
        )
    if isinstance(e, Bar):
        fields = {
            "open": float(str(e.open)),
            "high": float(str(e.high)),
            "low": float(str(e.low)),
            "close": float(str(e.close)),
            "volume": float(str(e.volume)),
            "trade_count": e.trade_count,
            "revision": e.revision,
            "ts_close": ("ts_us", e.ts_event // 1000),
        }
        if e.vwap is not None:
            fields["vwap"] = float(str(e.vwap))
        return ("bars", {"instrument": str(e.instrument_id), "interval": "1s"}, fields, e.ts_open)
    if isinstance(e, OrderFilled):
        return (
            "fills",
            {
                "account": "main",
                "instrument": str(e.instrument_id),
                "side": "SELL",
                "liquidity": "MAKER",
                "commission_currency": "USD",
            },
            {
                "client_order_id": str(e.client_order_id),
                "venue_order_id": str(e.venue_order_id),
                "trade_id": str(e.trade_id),
                "price": 50000.25,
                "quantity": 0.125,
                "commission": 0.0125,
                "sequence": e.sequence,
            },
            e.ts_event,
        )
    assert isinstance(e, EquitySampled)
    return (
        "equity",
        {"account": "main", "currency": "USD"},
        {"equity": float(e.equity.amount_str())},
        e.ts_event,
    )


def settings(port: int, **kw) -> QuestDbSettings:
    base = {
        "port": port,
        "flush_interval_ms": 20,
        "retry_backoff_ms": 20,
        "retry_backoff_max_ms": 100,
        "batch_rows": 500,
    }
    return QuestDbSettings(**(base | kw))


def wait_until(predicate, timeout_s: float = 30.0) -> None:
    """Poll with a deadline (a safety net for a broken build, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached before the deadline")
        time.sleep(0.01)


@pytest.fixture
def server():
    srv = IlpHttpServer()
    yield srv
    srv.down()


def test_questdb_sink_when_every_kind_then_every_row_captured_exactly(
    server: IlpHttpServer, tmp_path: Path
) -> None:
    events: list[Event] = [*series(2000), *(fill(i) for i in range(50)), *(equity(i) for i in range(20))]
    sink = QuestDbSink(settings(server.port), tmp_path / "spool")
    sink.start()
    for e in events:
        sink.submit(e)
    sink.submit(market_events(3)[2])  # book deltas are not a QuestDB table: counted, not sent
    assert sink.stop()
    rows = server.snapshot()
    assert rows == [expected_row(e) for e in events]
    assert server.queries == table_ddl()
    assert sink.stats.rows_sent == len(events) and sink.stats.rows_unsupported == 1
    assert sink.stats.spool_rows == 0 and sink.stats.send_failures == 0


def test_questdb_sink_over_tcp_then_rows_captured(tmp_path: Path) -> None:
    tcp = IlpTcpServer()
    try:
        events = series(400)
        sink = QuestDbSink(settings(tcp.port, protocol="tcp"), tmp_path / "spool")
        sink.start()
        for e in events:
            sink.submit(e)
        assert sink.stop()
        wait_until(lambda: len(tcp.snapshot()) == len(events))
        assert tcp.snapshot() == [expected_row(e) for e in events]
    finally:
        tcp.close()


def test_questdb_sink_when_server_down_then_spools_and_drains_in_order_with_equal_counts(
    server: IlpHttpServer, tmp_path: Path
) -> None:
    before, during, after = series(1000), series(3000, start=T0 + 10**12), series(500, start=T0 + 10**13)
    sink = QuestDbSink(settings(server.port), tmp_path / "spool")
    sink.start()
    for e in before:
        sink.submit(e)
    wait_until(lambda: len(server.snapshot()) == len(before))
    server.down()  # outage
    for e in during:
        sink.submit(e)
    wait_until(lambda: sink.stats.spool_rows == len(during) and sink.pending == 0)
    assert not sink.stats.connected and sink.stats.send_failures >= 1
    server.up()  # same port: QuestDB is back
    for e in after:
        sink.submit(e)
    wait_until(
        lambda: (
            sink.stats.spool_rows == 0 and len(server.snapshot()) == len(before) + len(during) + len(after)
        )
    )
    assert sink.stop()
    rows = server.snapshot()
    # Nothing lost, nothing duplicated, and in production order (after waited behind the spool).
    assert rows == [expected_row(e) for e in before + during + after]
    assert sink.stats.rows_sent + sink.stats.rows_drained == len(before) + len(during) + len(after)
    assert sink.stats.connected


def test_questdb_sink_when_stopped_during_outage_then_next_start_drains_the_spool(
    server: IlpHttpServer, tmp_path: Path
) -> None:
    events = series(1200)
    server.down()
    sink = QuestDbSink(settings(server.port), tmp_path / "spool")
    sink.start()
    for e in events:
        sink.submit(e)
    assert sink.stop()
    assert sink.stats.spool_rows == len(events) and server.snapshot() == []
    server.up()
    again = QuestDbSink(settings(server.port), tmp_path / "spool")
    again.start()
    assert again.stats.spool_rows == len(events)  # the spool survived the restart
    wait_until(lambda: again.stats.spool_rows == 0)
    assert again.stop()
    assert server.snapshot() == [expected_row(e) for e in events]


async def test_questdb_sink_when_server_stuck_then_the_loop_keeps_running(
    server: IlpHttpServer, tmp_path: Path
) -> None:
    """Behaviour: with the sink thread stuck inside a write, the loop keeps scheduling and submitting."""
    sink = QuestDbSink(settings(server.port, batch_rows=100), tmp_path / "spool")
    sink.start()
    server.hold()
    first = series(200)
    for e in first:
        sink.submit(e)
    await asyncio.get_running_loop().run_in_executor(None, server.waiting.wait, 30)
    assert server.waiting.is_set()  # the sink thread is now blocked in an HTTP request
    ticks = 0
    more = series(10_000, start=T0 + 10**12)

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(200):
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    for i, e in enumerate(more):
        sink.submit(e)
        if i % 500 == 0:
            await asyncio.sleep(0)
    await task
    # Everything was accepted and the loop ran its other task to completion while QuestDB hung.
    assert ticks == 200 and sink.stats.rows_submitted == len(first) + len(more)
    assert server.waiting.is_set() and len(server.snapshot()) < len(first) + len(more)
    server.release()
    await asyncio.get_running_loop().run_in_executor(None, sink.stop)
    assert server.snapshot() == [expected_row(e) for e in first + more]


def test_questdb_sink_when_far_behind_then_drops_are_counted_not_blocking(tmp_path: Path) -> None:
    sink = QuestDbSink(settings(1, max_pending_rows=10), tmp_path / "spool")  # not started: nothing drains
    events = series(30)
    for e in events:
        sink.submit(e)
    assert sink.pending == 10 and sink.stats.rows_dropped == len(events) - 10


def test_questdb_settings_validate() -> None:
    with pytest.raises(Exception, match="protocol"):
        QuestDbSettings(protocol="udp")
    assert "retry_timeout=0" in QuestDbSettings().conf_string()
    assert InstrumentId("SIM:BTC-USD") == IID


def test_questdb_sink_when_down_from_the_start_then_reports_disconnected(tmp_path: Path) -> None:
    states: list[tuple[bool, str]] = []
    server = IlpHttpServer()
    port = server.port
    server.down()
    sink = QuestDbSink(
        settings(port), tmp_path / "spool", on_state_change=lambda ok, detail: states.append((ok, detail))
    )
    sink.start()
    sink.submit(series(1)[0])
    wait_until(lambda: sink.stats.spool_rows == 1)
    assert states[0][0] is False and "refused" in states[0][1].lower()
    server.up()
    wait_until(lambda: len(server.snapshot()) == 1 and sink.stats.spool_rows == 0)
    assert sink.stop()
    assert states[-1] == (True, "") and len(server.snapshot()) == 1
    server.down()
