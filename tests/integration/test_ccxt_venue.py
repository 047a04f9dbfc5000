"""Live execution through real ccxt (async REST + ccxt.pro websockets) against a local stateful Binance
spot trading mock (tests/mockex/trading_binance.py), through the real order manager.

The OMS gets a small real journal (in memory) and an approve-all risk gate: the subject here is the
venue adapter and the OMS's venue paths, not risk or storage (those have their own tests).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mockex.trading_binance import BinanceTradingMock, load_exchange_info

from engine.core.clock import LiveClock
from engine.core.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.core.enums import LiquiditySide, OrderStatus, OrderType, Side
from engine.core.events import OrderEvent, OrderFilled
from engine.core.fixed import Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.oms import OrderManager
from engine.oms.order import Order
from engine.venues.ccxt import CcxtVenue, CcxtVenueConfig, build_exchange, load_instruments
from engine.venues.ccxt.exchange import Credentials

API_KEY = "mockKEY-4f1c9a7e2b6d8035"
SECRET = "mockSECRET-9d2e7b4a1c6f3058"
MAIN = AccountId("main")
BTC = InstrumentId("BINANCE:BTCUSDT")
STRATEGY = StrategyId("test")


class MemoryJournal:
    def __init__(self) -> None:
        self.records: list[OrderEvent] = []

    def append(self, record: OrderEvent) -> asyncio.Future[None]:
        self.records.append(record)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def commit_pending(self) -> bool:
        return True


@dataclass(frozen=True)
class Approved:
    approved: bool = True
    reason: str = ""
    detail: str = ""


@dataclass
class ApproveAll:
    fills: list[OrderFilled] = field(default_factory=list)

    def check_submit(self, command: Any, ts_ns: int) -> Approved:
        return Approved()

    def check_amend(self, command: Any, ts_ns: int) -> Approved:
        return Approved()

    def check_cancel(self, command: Any, ts_ns: int) -> Approved:
        return Approved()

    def on_order_opened(self, order: Order) -> None: ...

    def on_order_updated(self, order: Order) -> None: ...

    def on_order_closed(self, order: Order) -> None: ...

    def on_fill(self, order: Order, fill: OrderFilled) -> None:
        self.fills.append(fill)

    def on_trade(self, tick: Any) -> None: ...

    def on_quote(self, tick: Any) -> None: ...


@dataclass
class Stack:
    mock: BinanceTradingMock
    venue: CcxtVenue
    oms: OrderManager
    journal: MemoryJournal
    reconciles: list[int]


@pytest.fixture
async def mock(shared_data: Path) -> AsyncIterator[BinanceTradingMock]:
    server = BinanceTradingMock(
        load_exchange_info(shared_data, {"BTCUSDT", "ETHUSDT"}), api_key=API_KEY, secret=SECRET
    )
    await server.start()
    yield server
    await server.stop()


async def start_stack(
    mock: BinanceTradingMock, *, timeout_ms: int = 3_000, secret: str = SECRET, **config: Any
) -> Stack:
    credentials = Credentials(api_key=API_KEY, secret=secret)
    exchange = build_exchange(
        "binance", credentials=credentials, endpoint=mock.endpoint, timeout_ms=timeout_ms
    )
    instruments = await load_instruments(exchange, "BINANCE", ["BTC/USDT"])
    clock = LiveClock()
    venue = CcxtVenue(
        exchange,
        instruments,
        clock,
        CcxtVenueConfig(account_id=MAIN, **config),
        secrets=credentials.secrets(),
    )
    journal = MemoryJournal()
    oms = OrderManager(
        clock=clock, venue=venue, risk=ApproveAll(), journal=journal, instruments=instruments.values()
    )
    reconciles: list[int] = []

    async def reconcile() -> None:
        changed = await oms.reconcile()
        reconciles.append(len(changed))

    venue.set_event_handler(oms.on_order_event)
    venue.set_resync_handler(reconcile)
    await venue.start([o for o in oms.orders() if o.is_open])
    return Stack(mock, venue, oms, journal, reconciles)


async def eventually(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.01)


def limit(coid: str, quantity: str, price: str, side: Side = Side.BUY) -> SubmitOrder:
    return SubmitOrder(
        ts_init=0,
        account_id=MAIN,
        strategy_id=STRATEGY,
        client_order_id=ClientOrderId(coid),
        instrument_id=BTC,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=Quantity(quantity),
        price=Price(price),
    )


def kinds(stack: Stack, coid: str) -> list[str]:
    return [type(r).__name__ for r in stack.journal.records if r.client_order_id == coid]


async def test_ccxt_venue_when_order_lives_then_every_step_reaches_the_oms_exactly(
    mock: BinanceTradingMock,
) -> None:
    stack = await start_stack(mock)
    try:
        assert stack.venue.uses_websockets and mock.user_streams == 1
        order = await stack.oms.submit(limit("life-1", "0.0100", "30000.00"))
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what="accepted")
        (at_venue,) = mock.by_client_id("life-1")
        assert order.venue_order_id == str(at_venue.order_id)

        await mock.fill("life-1", "0.004")  # over the user websocket
        await eventually(lambda: order.filled_quantity == Quantity("0.004"), what="partial fill")
        assert order.status is OrderStatus.PARTIALLY_FILLED

        # Binance spot amends by cancel-replace: the new leg carries what remains (0.02 - 0.004).
        await stack.oms.amend(
            AmendOrder(
                ts_init=0,
                account_id=MAIN,
                client_order_id=ClientOrderId("life-1"),
                quantity=Quantity("0.02"),
                price=Price("30100.00"),
            )
        )
        await eventually(
            lambda: order.status is OrderStatus.PARTIALLY_FILLED and order.price == Price("30100"),
            what="amended",
        )
        assert order.quantity == Quantity("0.02")
        legs = mock.by_client_id("life-1")
        assert [leg.status for leg in legs] == ["CANCELED", "NEW"]
        assert str(legs[1].quantity.normalize()) == "0.016"

        await mock.fill("life-1", "0.006")
        await eventually(lambda: order.filled_quantity == Quantity("0.010"), what="second fill")
        await stack.oms.cancel(
            CancelOrder(ts_init=0, account_id=MAIN, client_order_id=ClientOrderId("life-1"))
        )
        await eventually(lambda: order.status is OrderStatus.CANCELED, what="canceled")

        fills = [r for r in stack.journal.records if isinstance(r, OrderFilled)]
        assert [(str(f.last_quantity), str(f.last_price)) for f in fills] == [
            ("0.00400000", "30000.00000000"),
            ("0.00600000", "30100.00000000"),
        ] or [(f.last_quantity, f.last_price) for f in fills] == [
            (Quantity("0.004"), Price("30000")),
            (Quantity("0.006"), Price("30100")),
        ]
        assert all(f.liquidity_side is LiquiditySide.MAKER for f in fills)
        assert all(f.venue_order_id == order.venue_order_id for f in fills)
        assert [f.commission.currency for f in fills] == ["USDT", "USDT"]
        assert kinds(stack, "life-1") == [
            "OrderInitialized",
            "OrderSubmitted",
            "OrderAccepted",
            "OrderFilled",
            "OrderPendingUpdate",
            "OrderUpdated",
            "OrderFilled",
            "OrderPendingCancel",
            "OrderCanceled",
        ]
        assert len(mock.creates()) == 1
        assert stack.oms.unknown_events == 0 and stack.oms.duplicate_events == 0
    finally:
        await stack.venue.stop()


async def test_ccxt_venue_when_create_times_out_after_the_venue_accepted_then_found_by_client_id_not_resent(
    mock: BinanceTradingMock,
) -> None:
    stack = await start_stack(mock, timeout_ms=500, order_lookup_timeout_ms=5_000)
    try:
        mock.delay_next("POST", "/api/v3/order", 1.5)  # carried out now, answered after ccxt gave up
        order = await stack.oms.submit(limit("slow-1", "0.01", "30000"))
        await eventually(lambda: stack.venue.lookups >= 1, what="lookup by client order id after the timeout")
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what="reconciled accept")
        (at_venue,) = mock.by_client_id("slow-1")
        assert order.venue_order_id == str(at_venue.order_id)
        await asyncio.sleep(1.6)  # past the delayed answer: still one order, never resubmitted
        assert len(mock.creates()) == 1
        assert len(mock.orders) == 1
        assert kinds(stack, "slow-1") == ["OrderInitialized", "OrderSubmitted", "OrderAccepted"]
    finally:
        await stack.venue.stop()


async def test_ccxt_venue_when_create_timed_out_and_the_venue_never_got_it_then_rejected_not_received(
    mock: BinanceTradingMock,
) -> None:
    stack = await start_stack(mock, timeout_ms=400, order_lookup_timeout_ms=1_000, lookup_interval_ms=100)
    try:
        mock.stall_next("POST", "/api/v3/order", 0.8)  # never carried out
        order = await stack.oms.submit(limit("ghost-1", "0.01", "30000"))
        await eventually(lambda: order.status is OrderStatus.REJECTED, what="rejected after lookups")
        assert order.reason == "NOT_RECEIVED_BY_VENUE"
        assert stack.venue.lookups >= 2
        assert len(mock.creates()) == 1 and len(mock.orders) == 0
    finally:
        await stack.venue.stop()


async def test_ccxt_venue_when_rate_limited_then_backs_off_and_sends_once_more(
    mock: BinanceTradingMock,
) -> None:
    stack = await start_stack(mock, backoff_ms=200)
    try:
        mock.rate_limit_next("POST", "/api/v3/order", retry_after_s=1)
        order = await stack.oms.submit(limit("busy-1", "0.01", "30000"))
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what="accepted after backoff")
        assert len(mock.create_times) == 2  # one refused with 429, one accepted
        assert mock.create_times[1] - mock.create_times[0] >= 1.0  # Retry-After honoured
        assert stack.venue.backoff_history_s[0] >= 1.0
        assert len(mock.orders) == 1
    finally:
        await stack.venue.stop()


async def test_ccxt_venue_when_reconnected_then_finds_the_fill_made_while_disconnected(
    mock: BinanceTradingMock,
) -> None:
    stack = await start_stack(mock, backoff_ms=300)
    try:
        order = await stack.oms.submit(limit("gap-1", "0.01", "30000"))
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what="accepted")
        await mock.drop_user_streams()
        await mock.fill("gap-1", "0.01")  # nobody is connected: only REST knows
        assert mock.user_streams == 0
        await eventually(lambda: stack.venue.reconnects >= 1, what="reconnect")
        await eventually(lambda: order.status is OrderStatus.FILLED, what="fill found by reconciliation")
        await eventually(lambda: len(stack.reconciles) >= 1, what="OMS reconcile after reconnect")
        (fill,) = [r for r in stack.journal.records if isinstance(r, OrderFilled)]
        assert fill.last_quantity == Quantity("0.01")
        assert mock.user_streams == 1
        assert mock.user_ws_connects == 2
    finally:
        await stack.venue.stop()


async def test_ccxt_venue_when_funds_are_short_then_rejected_with_the_reason(
    mock: BinanceTradingMock,
) -> None:
    stack = await start_stack(mock)
    try:
        order = await stack.oms.submit(limit("big-1", "1000", "30000"))
        await eventually(lambda: order.status is OrderStatus.REJECTED, what="rejected")
        assert order.reason == "INSUFFICIENT_FUNDS"
        assert len(mock.orders) == 0
    finally:
        await stack.venue.stop()


async def test_ccxt_venue_reads_balances_open_orders_and_own_trades_exactly(mock: BinanceTradingMock) -> None:
    stack = await start_stack(mock)
    try:
        order = await stack.oms.submit(limit("read-1", "0.5", "30000.01"))
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what="accepted")
        await mock.fill("read-1", "0.1")
        await eventually(lambda: len(order.trade_ids) == 1, what="fill")
        (snapshot,) = await stack.venue.fetch_open_orders()
        assert snapshot.client_order_id == "read-1" and snapshot.price == Price("30000.01")
        assert snapshot.filled_quantity == Quantity("0.1")
        balances = await stack.venue.fetch_balances()
        assert balances["BTC"].as_decimal() == mock.balances["BTC"]
        assert balances["USDT"].as_decimal() == mock.balances["USDT"]
        (trade,) = await stack.venue.fetch_my_trades(BTC)
        assert trade.quantity == Quantity("0.1") and trade.price == Price("30000.01")
        assert await stack.venue.fetch_positions() == []
    finally:
        await stack.venue.stop()


async def test_ccxt_venue_when_keys_are_wrong_then_rejected_and_no_credential_is_ever_logged(
    mock: BinanceTradingMock,
) -> None:
    buffer = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(buffer),
        cache_logger_on_first_use=False,
    )
    logging.getLogger("ccxt").setLevel(logging.DEBUG)
    try:
        good = await start_stack(mock, backoff_ms=100)
        mock.rate_limit_next("POST", "/api/v3/order", retry_after_s=0)
        await good.oms.submit(limit("log-1", "0.01", "30000"))
        await eventually(lambda: good.oms.get(MAIN, ClientOrderId("log-1")).status is OrderStatus.ACCEPTED)
        await good.venue.stop()
        bad = await start_stack(mock, secret="wrong-" + SECRET[6:], connect_timeout_ms=500, backoff_ms=100)
        order = await bad.oms.submit(limit("log-2", "0.01", "30000"))
        await eventually(lambda: order.status is OrderStatus.REJECTED, what="auth reject")
        assert order.reason == "VENUE_AUTH_FAILED"
        await bad.venue.stop()
    finally:
        structlog.reset_defaults()
    output = buffer.getvalue()
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert "venue.rate_limited" in events and "venue.create_failed" in events
    assert API_KEY not in output and SECRET not in output and SECRET[6:] not in output


async def test_ccxt_venue_when_websockets_are_off_then_rest_polling_reports_fills_and_cancels(
    mock: BinanceTradingMock,
) -> None:
    stack = await start_stack(mock, websockets=False, poll_interval_ms=100)
    try:
        assert not stack.venue.uses_websockets and mock.user_streams == 0
        order = await stack.oms.submit(limit("poll-1", "0.03", "30000"))
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what="accepted")
        await mock.fill("poll-1", "0.01")
        await eventually(lambda: order.filled_quantity == Quantity("0.01"), what="fill found by polling")
        await stack.oms.cancel(
            CancelOrder(ts_init=0, account_id=MAIN, client_order_id=ClientOrderId("poll-1"))
        )
        await eventually(lambda: order.status is OrderStatus.CANCELED, what="canceled")
        assert kinds(stack, "poll-1") == [
            "OrderInitialized",
            "OrderSubmitted",
            "OrderAccepted",
            "OrderFilled",
            "OrderPendingCancel",
            "OrderCanceled",
        ]
        assert mock.user_ws_connects == 0
    finally:
        await stack.venue.stop()


async def test_ccxt_venue_when_restarted_with_a_submit_in_flight_then_adopted_and_found_by_client_id(
    mock: BinanceTradingMock,
) -> None:
    first = await start_stack(mock, timeout_ms=5_000, websockets=False)  # the ack comes only in the answer
    mock.delay_next("POST", "/api/v3/order", 3.0)  # the venue has it; our process goes down first
    order = await first.oms.submit(limit("crash-1", "0.01", "30000"))
    await eventually(lambda: len(mock.orders) == 1, what="order at the venue")
    await first.venue.stop(timeout_s=0.1)  # the create's answer never arrives
    assert order.status is OrderStatus.SUBMITTED
    await mock.fill("crash-1", "0.004")  # and it traded while we were down

    # A new process: the OMS restored from the journal, the venue adopts its open orders.
    credentials = Credentials(api_key=API_KEY, secret=SECRET)
    exchange = build_exchange("binance", credentials=credentials, endpoint=mock.endpoint, timeout_ms=3_000)
    instruments = await load_instruments(exchange, "BINANCE", ["BTC/USDT"])
    clock = LiveClock()
    venue = CcxtVenue(
        exchange, instruments, clock, CcxtVenueConfig(account_id=MAIN), secrets=credentials.secrets()
    )
    journal = MemoryJournal()
    oms = OrderManager(
        clock=clock, venue=venue, risk=ApproveAll(), journal=journal, instruments=instruments.values()
    )
    oms.restore(first.journal.records)
    venue.set_event_handler(oms.on_order_event)
    try:
        await venue.start([o for o in oms.orders() if o.is_open])
        await venue.idle()
        await oms.reconcile()
        restored = oms.get(MAIN, ClientOrderId("crash-1"))
        assert restored.status is OrderStatus.PARTIALLY_FILLED
        assert restored.filled_quantity == Quantity("0.004")
        assert restored.venue_order_id == str(mock.by_client_id("crash-1")[0].order_id)
        assert len(mock.creates()) == 1  # found by client order id, never sent again
    finally:
        await venue.stop()


async def test_ccxt_venue_when_usdm_futures_then_amends_in_place_and_reads_positions(
    shared_data: Path,
) -> None:
    from mockex.trading_binance_usdm import BinanceUsdmTradingMock, load_usdm_exchange_info

    futures = BinanceUsdmTradingMock(
        load_usdm_exchange_info(shared_data, {"BTCUSDT"}),
        api_key=API_KEY,
        secret=SECRET,
        balances={"USDT": "100000"},
    )
    await futures.start()
    credentials = Credentials(api_key=API_KEY, secret=SECRET)
    exchange = build_exchange(
        "binanceusdm", credentials=credentials, endpoint=futures.endpoint, timeout_ms=3_000
    )
    instruments = await load_instruments(exchange, "BINANCE_USDM", ["BTC/USDT:USDT"])
    (instrument,) = instruments.values()
    clock = LiveClock()
    venue = CcxtVenue(
        exchange,
        instruments,
        clock,
        CcxtVenueConfig(account_id=MAIN, websockets=False, poll_interval_ms=100),
        secrets=credentials.secrets(),
    )
    journal = MemoryJournal()
    oms = OrderManager(
        clock=clock, venue=venue, risk=ApproveAll(), journal=journal, instruments=instruments.values()
    )
    venue.set_event_handler(oms.on_order_event)
    try:
        await venue.start()
        assert str(instrument.id) == "BINANCE_USDM:BTCUSDT"
        command = SubmitOrder(
            ts_init=0,
            account_id=MAIN,
            strategy_id=STRATEGY,
            client_order_id=ClientOrderId("fut-1"),
            instrument_id=instrument.id,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Quantity("0.010"),
            price=Price("30000.00"),
        )
        order = await oms.submit(command)
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what="accepted")
        await futures.fill("fut-1", "0.004")
        await eventually(lambda: order.filled_quantity == Quantity("0.004"), what="partial fill by polling")
        await oms.amend(
            AmendOrder(
                ts_init=0,
                account_id=MAIN,
                client_order_id=ClientOrderId("fut-1"),
                quantity=Quantity("0.020"),
                price=Price("30010"),
            )
        )
        await eventually(
            lambda: order.quantity == Quantity("0.02") and order.status is OrderStatus.PARTIALLY_FILLED,
            what="amended",
        )
        (at_venue,) = futures.by_client_id("fut-1")  # in place: one order, same id, total quantity
        assert at_venue.quantity == Decimal("0.020") and str(at_venue.order_id) == order.venue_order_id
        assert futures.amends[0]["quantity"].rstrip("0") == "0.02"
        (position,) = await venue.fetch_positions()
        assert position.instrument_id == instrument.id and position.side is Side.BUY
        assert position.quantity == Quantity("0.004") and position.entry_price == Price("30000")
        assert (await venue.fetch_balances())["USDT"].as_decimal() == futures.balances["USDT"]
    finally:
        await venue.stop()
        await futures.stop()


async def test_ccxt_venue_when_okx_spot_then_acknowledge_only_answers_are_completed_by_lookups(
    shared_data: Path,
) -> None:
    from mockex.trading_okx import OkxTradingMock, load_okx_instruments

    okx = OkxTradingMock(
        load_okx_instruments(shared_data, {"BTC-USDT"}),
        api_key=API_KEY,
        secret=SECRET,
        passphrase="okx-Passphrase-77",
    )
    await okx.start()
    credentials = Credentials(api_key=API_KEY, secret=SECRET, password="okx-Passphrase-77")
    exchange = build_exchange("okx", credentials=credentials, endpoint=okx.endpoint, timeout_ms=500)
    instruments = await load_instruments(exchange, "OKX", ["BTC/USDT"])
    (instrument,) = instruments.values()
    clock = LiveClock()
    venue = CcxtVenue(
        exchange,
        instruments,
        clock,
        CcxtVenueConfig(
            account_id=MAIN, websockets=False, poll_interval_ms=100, order_lookup_timeout_ms=5_000
        ),
        secrets=credentials.secrets(),
    )
    journal = MemoryJournal()
    oms = OrderManager(
        clock=clock, venue=venue, risk=ApproveAll(), journal=journal, instruments=instruments.values()
    )
    venue.set_event_handler(oms.on_order_event)

    def submit(coid: str) -> SubmitOrder:
        return SubmitOrder(
            ts_init=0,
            account_id=MAIN,
            strategy_id=STRATEGY,
            client_order_id=ClientOrderId(coid),
            instrument_id=instrument.id,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=Quantity("0.01"),
            price=Price("30000"),
        )

    try:
        await venue.start()
        assert str(instrument.id) == "OKX:BTC-USDT"
        order = await oms.submit(submit("okx1"))
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what="accepted")
        okx.fill("okx1", "0.004")
        await eventually(lambda: order.filled_quantity == Quantity("0.004"), what="fill found by polling")
        await oms.amend(
            AmendOrder(
                ts_init=0, account_id=MAIN, client_order_id=ClientOrderId("okx1"), quantity=Quantity("0.02")
            )
        )
        await eventually(
            lambda: order.quantity == Quantity("0.02") and order.status is OrderStatus.PARTIALLY_FILLED,
            what="amended",
        )
        await oms.cancel(CancelOrder(ts_init=0, account_id=MAIN, client_order_id=ClientOrderId("okx1")))
        await eventually(lambda: order.status is OrderStatus.CANCELED, what="canceled")
        (fill,) = [r for r in journal.records if isinstance(r, OrderFilled)]
        assert fill.commission.currency == "USDT" and fill.last_price == Price("30000")

        okx.delay_next("POST", "/api/v5/trade/batch-orders", 1.0)  # carried out, answered after the timeout
        slow = await oms.submit(submit("okx2"))
        await eventually(
            lambda: slow.status is OrderStatus.ACCEPTED, what="timed-out create found by clOrdId"
        )
        assert len(okx.creates()) == 2 and len(okx.by_client_id("okx2")) == 1
        assert okx.rejected_auth == 0
    finally:
        await venue.stop()
        await okx.stop()


async def test_ccxt_venue_when_reads_fail_transiently_then_retried_with_backoff(
    mock: BinanceTradingMock,
) -> None:
    stack = await start_stack(mock, backoff_ms=100)
    try:
        order = await stack.oms.submit(limit("read-retry-1", "0.01", "30000"))
        await eventually(lambda: order.status is OrderStatus.ACCEPTED, what="accepted")
        mock.stall_next("GET", "/api/v3/openOrders", 0.0)  # 503: a network-class failure
        mock.rate_limit_next("GET", "/api/v3/openOrders", retry_after_s=0)  # then a 429
        before = len([r for r in mock.requests if r[1] == "/api/v3/openOrders"])
        (snapshot,) = await stack.venue.fetch_open_orders()
        assert snapshot.client_order_id == "read-retry-1"
        assert len([r for r in mock.requests if r[1] == "/api/v3/openOrders"]) - before == 3
        assert len(stack.venue.backoff_history_s) == 1  # the 429 backed the whole venue off once
    finally:
        await stack.venue.stop()
