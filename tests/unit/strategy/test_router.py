"""``OmsOrderRouter``: strategy intents through the real risk gate and order manager to the paper
venue, on the running loop; denials come back as events, failures before the order exists are
reported to the host, refused cancels are counted."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from engine.app.adapters import RiskAdapter
from engine.backtest.fills import UNLIMITED_LOTS, BarBooks
from engine.bus import MessageBus
from engine.core.clock import LiveClock
from engine.core.commands import CancelOrder
from engine.core.enums import OrderStatus, Side, TradingState
from engine.core.events import Event, OrderEvent, OrderFilled, QuoteTick
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import StrategyId
from engine.oms.manager import OrderManager
from engine.oms.portfolio import Portfolio
from engine.risk import RiskEngine
from engine.risk.limits import AccountLimits, InstrumentLimits, StrategyLimits
from engine.strategy import Strategy, StrategyHost
from engine.strategy.router import OmsOrderRouter
from engine.venues.sim import PaperVenue, PaperVenueConfig

from .conftest import BTC, MAIN, no_fee_instruments


class MemoryJournal:
    """``JournalPort`` keeping records in a list; durable at once."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def append(self, record: Any) -> asyncio.Future[None]:
        self.records.append(record)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def commit_pending(self) -> bool:
        return True


class Seen(Strategy):
    def on_start(self) -> None:
        self.events: list[str] = []

    def on_order_event(self, event: OrderEvent) -> None:
        self.events.append(f"{event.client_order_id}:{type(event).__name__}")


class Rig:
    def __init__(self, *, register_strategy: bool = True) -> None:
        instruments = no_fee_instruments()
        btc = next(i for i in instruments if i.id == BTC)
        self.clock = LiveClock()
        self.bus = MessageBus()
        risk = RiskEngine(quote_currency="USD")
        wide = Money("100000000", "USD")
        risk.register_instrument(
            btc,
            InstrumentLimits(
                max_order_quantity=Quantity("100"),
                max_order_notional=wide,
                max_position=Quantity("100"),
                price_band_bps=500,
                max_data_age_ms=60_000,
            ),
        )
        risk.register_account(
            MAIN,
            AccountLimits(
                max_gross_exposure=wide,
                max_net_exposure=wide,
                max_open_orders=10,
                max_orders_per_second=100,
                order_burst=100,
                max_daily_loss=wide,
                max_drawdown=wide,
                breach_state=TradingState.HALTED,
            ),
        )
        if register_strategy:
            risk.register_strategy(
                StrategyId("s"), StrategyLimits(max_orders_per_second=100, order_burst=100)
            )
        self.books = BarBooks([btc], Decimal(0))
        self.portfolio = Portfolio([btc], balances={MAIN: {"USD": Money("1000000", "USD")}})
        self.venue = PaperVenue(
            self.books.books,
            self.clock,
            PaperVenueConfig(accounts={str(MAIN): {"USD": "1000000"}}),
            on_event=self._venue,
        )
        self.books.bind(self.venue)
        self.oms = OrderManager(
            clock=self.clock,
            venue=self.venue,
            risk=RiskAdapter(risk),
            journal=MemoryJournal(),
            instruments=[btc],
        )
        self.oms.subscribe(self._applied)
        self.router = OmsOrderRouter(self.oms)
        self.host = StrategyHost(
            clock=self.clock, router=self.router, portfolio=self.portfolio, instruments=[btc], account_id=MAIN
        )
        self.slot = self.host.add(Seen, instruments=[BTC], strategy_id="s")
        self.host.attach(self.bus)
        self.host.start()
        self.venue.start()
        ticks = btc.price_to_ticks(Price("100.0"))
        now = self.clock.timestamp_ns()
        self.books.set_reference(BTC, ticks, now)
        big = Quantity.from_raw(UNLIMITED_LOTS * btc.size_increment.raw, btc.size_precision)
        self.oms.on_quote(
            QuoteTick(
                ts_event=now,
                ts_init=now,
                instrument_id=BTC,
                bid_price=Price("100.0"),
                bid_size=big,
                ask_price=Price("100.0"),
                ask_size=big,
            )
        )

    def _venue(self, event: Event) -> None:
        if isinstance(event, OrderEvent):
            self.oms.on_order_event(event)

    def _applied(self, event: OrderEvent) -> None:
        if isinstance(event, OrderFilled):
            self.portfolio.on_fill(event)
        self.bus.publish_c(f"events.order.{event.account_id}", event)

    async def settle(self) -> None:
        await self.router.idle()
        for _ in range(1000):
            if not any(o.is_open and o.status is not OrderStatus.ACCEPTED for o in self.oms.orders()):
                return
            await asyncio.sleep(0)


async def test_router_when_market_order_then_filled_through_risk_oms_and_venue() -> None:
    rig = Rig()
    ctx = rig.slot.ctx
    coid = ctx.submit_market(BTC, Side.BUY, Quantity("2"))
    assert ctx.position(BTC).open_orders == 1
    # Risk gate and journal ran in the call: the first events reached the strategy already.
    assert rig.slot.strategy.events == ["s-1:OrderInitialized", "s-1:OrderSubmitted"]
    await rig.settle()
    assert rig.oms.get(MAIN, coid).status is OrderStatus.FILLED
    assert ctx.position(BTC).lots == 200_000 and ctx.position(BTC).open_orders == 0
    assert rig.slot.strategy.events == [
        "s-1:OrderInitialized",
        "s-1:OrderSubmitted",
        "s-1:OrderAccepted",
        "s-1:OrderFilled",
    ]


async def test_router_when_risk_denies_then_denied_event_and_book_forgets() -> None:
    rig = Rig(register_strategy=False)  # RISK_UNKNOWN_STRATEGY
    ctx = rig.slot.ctx
    coid = ctx.submit_market(BTC, Side.BUY, Quantity("1"))
    await rig.settle()
    order = rig.oms.get(MAIN, coid)
    assert order.status is OrderStatus.DENIED and order.reason == "RISK_UNKNOWN_STRATEGY"
    assert rig.slot.strategy.events == ["s-1:OrderInitialized", "s-1:OrderDenied"]
    assert ctx.open_orders() == [] and rig.router.refused == 0


async def test_router_when_oms_halted_then_intent_failure_reaches_the_strategy_book() -> None:
    rig = Rig()
    rig.oms.halt("test halt")
    ctx = rig.slot.ctx
    ctx.submit_market(BTC, Side.BUY, Quantity("1"))  # refused in this call (submit_nowait)
    assert rig.oms.orders() == [] and ctx.open_orders() == [] and ctx.position(BTC).open_orders == 0
    await rig.settle()
    assert rig.oms.orders() == []
    assert ctx.submit_market(BTC, Side.BUY, Quantity("1")) == "s-2"  # ids never reused


async def test_router_when_cancel_races_a_fill_then_refused_counted_not_raised() -> None:
    rig = Rig()
    ctx = rig.slot.ctx
    resting = ctx.submit_limit(BTC, Side.BUY, Quantity("1"), Price("99.0"))
    await rig.settle()
    assert rig.oms.get(MAIN, resting).status is OrderStatus.ACCEPTED
    ctx.cancel(resting)
    await rig.settle()
    for _ in range(1000):
        if rig.oms.get(MAIN, resting).status is OrderStatus.CANCELED:
            break
        await asyncio.sleep(0)
    assert rig.oms.get(MAIN, resting).status is OrderStatus.CANCELED and ctx.open_orders() == []
    # A cancel of an order the OMS already finished (the strategy's book lagging) is refused, counted.
    rig.router.cancel(CancelOrder(ts_init=0, account_id=MAIN, client_order_id=resting))
    await rig.router.idle()
    assert rig.router.refused == 1
