"""Fixtures for the order manager: the real SimVenue on a TestClock, an in-memory journal and a
rule-based risk gate (small real implementations of the ports, not mocks)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from engine.core.clock import TestClock
from engine.core.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.core.enums import OrderType, Side, TimeInForce
from engine.core.events import Event, OrderEvent, OrderFilled, QuoteTick, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.oms import OrderManager
from engine.oms.order import Order
from engine.venues.sim import SimVenue, SimVenueConfig, default_instruments

BTC = InstrumentId("SIM:BTC-USD")
ETH = InstrumentId("SIM:ETH-USD")
MAIN, MM, TK = AccountId("main"), AccountId("mm"), AccountId("tk")
START_NS = 1_700_000_000_000_000_000


class MemoryJournal:
    """Keeps records in a list; durability resolves at once, or on ``release()`` while ``hold``."""

    def __init__(self) -> None:
        self.records: list[OrderEvent] = []
        self.hold = False
        self.fail: Exception | None = None
        self._pending: list[asyncio.Future[None]] = []

    def append(self, record: OrderEvent) -> asyncio.Future[None]:
        self.records.append(record)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail is not None:
            future.set_exception(self.fail)
        elif self.hold:
            self._pending.append(future)
        else:
            future.set_result(None)
        return future

    def commit_pending(self) -> bool:
        """Durable at once unless held or failing (then the manager awaits the futures)."""
        return not self.hold and self.fail is None

    def release(self) -> None:
        self.hold = False
        for future in self._pending:
            future.set_result(None)
        self._pending.clear()


@dataclass(frozen=True)
class Decision:
    approved: bool
    reason: str = ""
    detail: str = ""


@dataclass
class RuleRisk:
    """Denies orders above ``max_quantity``; tracks the open orders it is told about."""

    max_quantity: Quantity | None = None
    deny_cancels: bool = False
    open: set[tuple[str, str]] = field(default_factory=set)
    fills: list[OrderFilled] = field(default_factory=list)
    trades: int = 0
    quotes: int = 0
    checks: int = 0

    def check_submit(self, command: SubmitOrder, ts_ns: int) -> Decision:
        self.checks += 1
        if self.max_quantity is not None and command.quantity > self.max_quantity:
            return Decision(False, "RISK_MAX_ORDER_QUANTITY", f"{command.quantity} > {self.max_quantity}")
        return Decision(True)

    def check_amend(self, command: AmendOrder, ts_ns: int) -> Decision:
        if (
            self.max_quantity is not None
            and command.quantity is not None
            and command.quantity > self.max_quantity
        ):
            return Decision(False, "RISK_MAX_ORDER_QUANTITY", "")
        return Decision(True)

    def check_cancel(self, command: CancelOrder, ts_ns: int) -> Decision:
        return Decision(not self.deny_cancels, "" if not self.deny_cancels else "RISK_CANCEL_DENIED")

    def on_order_opened(self, order: Order) -> None:
        assert order.key not in self.open
        self.open.add(order.key)

    def on_order_updated(self, order: Order) -> None:
        assert order.key in self.open

    def on_order_closed(self, order: Order) -> None:
        self.open.remove(order.key)

    def on_fill(self, order: Order, fill: OrderFilled) -> None:
        self.fills.append(fill)

    def on_trade(self, tick: TradeTick) -> None:
        self.trades += 1

    def on_quote(self, tick: QuoteTick) -> None:
        self.quotes += 1


class RecordingVenue:
    """The venue port over the real SimVenue that notes what the journal held at each send."""

    def __init__(self, venue: SimVenue, journal: MemoryJournal) -> None:
        self.venue = venue
        self.journal = journal
        self.sent: list[object] = []
        self.journal_at_send: list[list[OrderEvent]] = []

    def send(self, command: object) -> None:
        self.sent.append(command)
        self.journal_at_send.append(list(self.journal.records))
        self.venue.send(command)  # type: ignore[arg-type]

    def order(self, account_id: AccountId, client_order_id: ClientOrderId):
        return self.venue.order(account_id, client_order_id)


@dataclass
class Harness:
    clock: TestClock
    venue: SimVenue
    port: RecordingVenue
    journal: MemoryJournal
    risk: RuleRisk
    oms: OrderManager
    published: list[OrderEvent]

    def route(self, event: Event) -> None:
        if isinstance(event, OrderEvent):
            self.oms.on_order_event(event)
        elif isinstance(event, TradeTick):
            self.oms.on_trade(event)
        elif isinstance(event, QuoteTick):
            self.oms.on_quote(event)

    def market(self, command: SubmitOrder | CancelOrder) -> list[Event]:
        """Another participant acts on the venue now; our side of it reaches the manager."""
        events = self.venue.apply(command)
        for event in events:
            self.route(event)
        return events

    async def settle(self, rounds: int = 6) -> None:
        """Let the venue run what was sent and the manager finish what it started (no sleeps)."""
        for _ in range(rounds):
            self.clock.advance(1)
            await self.oms.idle()
            await asyncio.sleep(0)


def make_harness(max_quantity: Quantity | None = None, clock: TestClock | None = None) -> Harness:
    clock = clock or TestClock(START_NS)
    venue = SimVenue(
        default_instruments(),
        clock,
        SimVenueConfig(
            accounts={
                "main": {"USD": "10000000"},
                "mm": {"USD": "10000000", "BTC": "100"},
                "tk": {"USD": "10000000", "BTC": "100"},
            }
        ),
    )
    journal = MemoryJournal()
    port = RecordingVenue(venue, journal)
    risk = RuleRisk(max_quantity=max_quantity)
    oms = OrderManager(clock=clock, venue=port, risk=risk, journal=journal, instruments=default_instruments())
    published: list[OrderEvent] = []
    oms.subscribe(published.append)
    harness = Harness(clock, venue, port, journal, risk, oms, published)
    venue.set_event_handler(harness.route)
    venue.start()
    return harness


@pytest.fixture
def h() -> Harness:
    return make_harness()


Build = Callable[..., SubmitOrder]


def order_cmd(
    coid: str,
    side: Side,
    qty: str,
    price: str | None = None,
    *,
    account: AccountId = MAIN,
    order_type: OrderType | None = None,
    trigger: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    expire_at_ns: int | None = None,
    instrument: InstrumentId = BTC,
    strategy: str = "s1",
) -> SubmitOrder:
    if order_type is None:
        order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    return SubmitOrder(
        ts_init=START_NS,
        account_id=account,
        strategy_id=StrategyId(strategy),
        client_order_id=ClientOrderId(coid),
        instrument_id=instrument,
        side=side,
        order_type=order_type,
        quantity=Quantity(qty),
        price=Price(price) if price is not None else None,
        trigger_price=Price(trigger) if trigger is not None else None,
        time_in_force=tif,
        expire_at_ns=expire_at_ns,
    )


def cancel_cmd(coid: str, account: AccountId = MAIN) -> CancelOrder:
    return CancelOrder(ts_init=START_NS, account_id=account, client_order_id=ClientOrderId(coid))


def amend_cmd(
    coid: str, *, qty: str | None = None, price: str | None = None, trigger: str | None = None
) -> AmendOrder:
    return AmendOrder(
        ts_init=START_NS,
        account_id=MAIN,
        client_order_id=ClientOrderId(coid),
        quantity=Quantity(qty) if qty is not None else None,
        price=Price(price) if price is not None else None,
        trigger_price=Price(trigger) if trigger is not None else None,
    )


def book(h: Harness, *, bid: str = "64999.0", ask: str = "65001.0", size: str = "1.0") -> None:
    """Resting liquidity from the market maker account on both sides."""
    h.market(order_cmd("mm-bid", Side.BUY, size, bid, account=MM))
    h.market(order_cmd("mm-ask", Side.SELL, size, ask, account=MM))


@pytest.fixture
def kit():
    """The builders and constants above, for test modules (importlib mode has no sibling imports)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        order=order_cmd,
        cancel=cancel_cmd,
        amend=amend_cmd,
        book=book,
        make=make_harness,
        BTC=BTC,
        ETH=ETH,
        MAIN=MAIN,
        MM=MM,
        TK=TK,
        START_NS=START_NS,
        MemoryJournal=MemoryJournal,
        RuleRisk=RuleRisk,
    )
