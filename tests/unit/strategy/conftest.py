"""Fixtures for strategy tests: the real host, context, portfolio and built-ins over a small
in-process ``OrderRouter`` (a real implementation of the port, not a mock) that fills every market
order in full at the price the test sets, after the callback that sent it returned."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pytest

from engine.core.clock import TestClock
from engine.core.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.core.enums import LiquiditySide, OrderType
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
)
from engine.core.fixed import Money, Price
from engine.core.ids import AccountId, InstrumentId, TradeId, VenueOrderId
from engine.core.instruments import Instrument
from engine.oms.portfolio import Portfolio
from engine.strategy import StrategyHost
from engine.venues.sim import default_instruments

BTC = InstrumentId("SIM:BTC-USD")
ETH = InstrumentId("SIM:ETH-USD")
MAIN = AccountId("main")
START_NS = 1_700_000_000_000_000_000
MINUTE_NS = 60_000_000_000


def no_fee_instruments() -> list[Instrument]:
    """The sim instruments with zero fees (exact all-in sizing is easy to state)."""
    out = []
    for i in default_instruments():
        fields = {k: getattr(i, k) for k in i.__dataclass_fields__ if not k.startswith("_")}
        fields.update(maker_fee=Decimal(0), taker_fee=Decimal(0), min_notional=None)
        out.append(Instrument(**fields))
    return out


class FillingRouter:
    """``OrderRouter`` that records commands and, on ``flush()``, fills market orders in full at
    ``price[instrument]`` (events: initialized, submitted, accepted, filled), cancels on cancel."""

    def __init__(self, instruments: Iterable[Instrument], portfolio: Portfolio, clock: TestClock) -> None:
        self.instruments = {i.id: i for i in instruments}
        self.portfolio = portfolio
        self.clock = clock
        self.commands: list[Any] = []
        self.pending: list[Any] = []
        self.price: dict[InstrumentId, Price] = {}
        self.host: StrategyHost | None = None
        self.on_intent_failed: Any = None
        self.fill_market = True
        self._trade = 0

    def submit(self, command: SubmitOrder) -> None:
        self.commands.append(command)
        self.pending.append(command)

    def submit_bracket(self, entry: SubmitOrder, take_profit: SubmitOrder, stop_loss: SubmitOrder) -> None:
        self.commands.append((entry, take_profit, stop_loss))
        self.pending.append(entry)

    def amend(self, command: AmendOrder) -> None:
        self.commands.append(command)

    def cancel(self, command: CancelOrder) -> None:
        self.commands.append(command)
        self.pending.append(command)

    def _events(self, command: Any) -> list[OrderEvent]:
        ts = self.clock.timestamp_ns()
        if isinstance(command, CancelOrder):
            ids = self._ids[command.client_order_id]
            return [OrderCanceled(ts_event=ts, ts_init=ts, **ids)]
        ids = {
            "account_id": command.account_id,
            "client_order_id": command.client_order_id,
            "instrument_id": command.instrument_id,
        }
        self._ids[command.client_order_id] = ids
        out: list[OrderEvent] = [
            OrderInitialized(
                ts_event=ts,
                ts_init=ts,
                **ids,
                strategy_id=command.strategy_id,
                side=command.side,
                order_type=command.order_type,
                quantity=command.quantity,
                price=command.price,
                trigger_price=command.trigger_price,
                time_in_force=command.time_in_force,
                expire_at_ns=command.expire_at_ns,
                post_only=command.post_only,
                reduce_only=command.reduce_only,
            ),
            OrderSubmitted(ts_event=ts, ts_init=ts, **ids),
            OrderAccepted(
                ts_event=ts, ts_init=ts, **ids, venue_order_id=VenueOrderId(f"v{command.client_order_id}")
            ),
        ]
        if command.order_type is OrderType.MARKET and self.fill_market:
            self._trade += 1
            instrument = self.instruments[command.instrument_id]
            out.append(
                OrderFilled(
                    ts_event=ts,
                    ts_init=ts,
                    **ids,
                    venue_order_id=VenueOrderId(f"v{command.client_order_id}"),
                    trade_id=TradeId(f"t{self._trade}"),
                    side=command.side,
                    last_price=self.price[command.instrument_id],
                    last_quantity=command.quantity,
                    liquidity_side=LiquiditySide.TAKER,
                    commission=Money.from_raw(0, 0, instrument.quote),
                )
            )
        return out

    _ids: dict[Any, dict[str, Any]]

    def flush(self) -> None:
        assert self.host is not None
        while self.pending:
            command = self.pending.pop(0)
            for event in self._events(command):
                if isinstance(event, OrderFilled):
                    self.portfolio.on_fill(event)
                self.host.on_order_event(event)


class Harness:
    """A host with one portfolio and a ``FillingRouter``; ``bars(...)`` pushes closes."""

    def __init__(self, cash: str = "10000", instruments: Sequence[Instrument] | None = None) -> None:
        self.instruments = list(instruments or no_fee_instruments())
        self.clock = TestClock(START_NS)
        self.portfolio = Portfolio(self.instruments, balances={MAIN: {"USD": Money(cash, "USD")}})
        self.router = FillingRouter(self.instruments, self.portfolio, self.clock)
        self.router._ids = {}
        self.host = StrategyHost(
            clock=self.clock,
            router=self.router,
            portfolio=self.portfolio,
            instruments=self.instruments,
            account_id=MAIN,
            max_errors=3,
            publish=lambda topic, event: self.published.append((topic, event)),
        )
        self.router.host = self.host
        self.published: list[tuple[str, Any]] = []
        self._push: dict[InstrumentId, Any] = {}
        self.n = 0

    def bar(
        self,
        close: float | str,
        *,
        instrument: InstrumentId = BTC,
        high: float | None = None,
        low: float | None = None,
        open_: float | None = None,
        volume: float = 1.0,
    ) -> None:
        close_f = float(close)
        push = self._push.get(instrument)
        if push is None:
            push = self._push[instrument] = self.host.bar_pusher(instrument, MINUTE_NS)
        ts_open = START_NS + self.n * MINUTE_NS
        self.n += 1
        self.clock.set_time(ts_open + MINUTE_NS)
        self.router.price[instrument] = Price(str(close))
        push(
            ts_open,
            ts_open + MINUTE_NS,
            close_f if open_ is None else open_,
            close_f if high is None else high,
            close_f if low is None else low,
            close_f,
            volume,
            1,
        )
        self.router.flush()

    def orders(self) -> list[tuple[int, str, str]]:
        """(bar index of the command, side, quantity) of every submit so far."""
        return [
            ((c.ts_init - START_NS) // MINUTE_NS - 1, c.side.name, str(c.quantity))
            for c in self.router.commands
            if isinstance(c, SubmitOrder)
        ]


@pytest.fixture
def harness() -> Harness:
    return Harness()
