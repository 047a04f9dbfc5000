"""``Context``: one strategy's window on the engine (the implementation of ``StrategyContext``).

It turns intents into commands with deterministic client order ids (``<strategy_id>-<n>``, n from 1,
so a backtest run twice gives the same ids and a restart resumes after the last journalled one),
hands them to the ``OrderRouter`` (risk gate -> OMS -> venue) and keeps the strategy's own book:
its open orders and its net position per instrument, from the events of its own orders only (the
account portfolio nets every strategy of the account together).

Money stays exact: ``price()`` puts a float on the instrument's tick grid, ``all_in_quantity()``
sizes with integer arithmetic and rounds down to the lot size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Protocol

import structlog

from engine.core.clock import Clock, TimeEvent
from engine.core.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import NotFoundError, ValidationError
from engine.core.events import (
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderRejected,
    OrderUpdated,
)
from engine.core.fixed import INT64_MAX, Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.core.instruments import Instrument
from engine.indicators import registry as indicator_registry
from engine.strategy.api import OrderRouter

__all__ = ["BOOK_EVENT_TYPES", "MAX_STRATEGY_ID_LENGTH", "BalanceSource", "Context", "StrategyPosition"]

#: ``<strategy_id>-<n>`` must fit a ClientOrderId (36 characters) up to n = 10**11.
MAX_STRATEGY_ID_LENGTH = 24
_INITIALIZED, _FILLED, _CLOSED, _UPDATED, _CANCEL_REJECTED = range(5)
#: What an order event means for the strategy's book; events not listed change nothing.
_APPLY: dict[type, int] = {
    OrderInitialized: _INITIALIZED,
    OrderFilled: _FILLED,
    OrderDenied: _CLOSED,
    OrderRejected: _CLOSED,
    OrderCanceled: _CLOSED,
    OrderExpired: _CLOSED,
    OrderUpdated: _UPDATED,
    OrderCancelRejected: _CANCEL_REJECTED,
}
#: The order events that change a strategy's book (``Context.apply`` ignores every other one).
BOOK_EVENT_TYPES: frozenset[type] = frozenset(_APPLY)
_new_id = str.__new__
_ROUNDING = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING}


class BalanceSource(Protocol):
    """What the context reads cash from (``engine.oms.portfolio.Portfolio``)."""

    def balances(self, account_id: AccountId) -> dict[str, Money]: ...


class StrategyPosition:
    """The strategy's own net position and open orders on one instrument, kept live by the context.

    Hold on to it (``self.pos = ctx.position(iid)`` in ``on_start``): reading ``lots`` costs one
    attribute access per bar.
    """

    __slots__ = ("instrument", "instrument_id", "lots", "open_orders")

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.instrument_id = instrument.id
        #: Signed net position in lots (multiples of the size increment): > 0 long, < 0 short.
        self.lots = 0
        #: Number of this strategy's orders on the instrument that are not finished yet.
        self.open_orders = 0

    @property
    def quantity(self) -> Decimal:
        """Signed exact quantity."""
        step = self.instrument.size_increment
        return Decimal(self.lots * step.raw).scaleb(-step.precision)

    @property
    def abs_quantity(self) -> Quantity:
        return self.instrument.lots_to_quantity(abs(self.lots))

    @property
    def is_flat(self) -> bool:
        return self.lots == 0

    def __repr__(self) -> str:
        return f"StrategyPosition({self.instrument_id} {self.quantity} open_orders={self.open_orders})"


class _Tracked:
    """One open order of the strategy: its position object, side, size and filled lots (lots)."""

    __slots__ = ("filled", "pending_cancel", "position", "quantity", "side")

    def __init__(self, position: StrategyPosition, side: Side, quantity_lots: int) -> None:
        self.position = position
        self.side = side
        self.quantity = quantity_lots
        self.filled = 0
        self.pending_cancel = False


_new_tracked = object.__new__
_MARKET = OrderType.MARKET


class Context:
    """The ``StrategyContext`` the host gives one strategy."""

    def __init__(
        self,
        *,
        strategy_id: StrategyId,
        account_id: AccountId,
        instruments: tuple[InstrumentId, ...],
        known_instruments: dict[InstrumentId, Instrument],
        clock: Clock,
        router: OrderRouter,
        portfolio: BalanceSource,
        on_new_order: Callable[[ClientOrderId, Context], None],
        on_timer: Callable[[Context, TimeEvent], None],
        first_order_number: int = 1,
    ) -> None:
        if len(strategy_id) > MAX_STRATEGY_ID_LENGTH:
            raise ValidationError(
                "strategy_id",
                f"{strategy_id!r} is longer than {MAX_STRATEGY_ID_LENGTH} characters "
                "(client order ids are <strategy_id>-<n>, at most 36 characters)",
            )
        for iid in instruments:
            if iid not in known_instruments:
                raise ValidationError(
                    "instruments",
                    f"{iid} is not a known instrument; known: {', '.join(sorted(known_instruments))}",
                    reason="UNKNOWN_INSTRUMENT",
                )
        self.strategy_id = strategy_id
        self.account_id = account_id
        self.instruments = instruments
        self.log = structlog.get_logger("engine.strategy").bind(strategy_id=str(strategy_id))
        self._known = known_instruments
        self._clock = clock
        self._router = router
        self._portfolio = portfolio
        self._on_new_order = on_new_order
        self._on_timer = on_timer
        self._next_number = first_order_number
        self._positions: dict[InstrumentId, StrategyPosition] = {}
        self._open: dict[ClientOrderId, _Tracked] = {}
        self._timers: set[str] = set()
        self._default_currency = known_instruments[instruments[0]].quote if instruments else None
        self._sizing_cache: dict[InstrumentId, tuple[int, int, int, int]] = {}
        #: Orders this context sent (submits, bracket entries), for reports.
        self.orders_sent = 0

    # == time, reference data, indicators ==========================================================
    def now_ns(self) -> int:
        return self._clock.timestamp_ns()

    @property
    def clock(self) -> Clock:
        return self._clock

    def instrument(self, instrument_id: InstrumentId) -> Instrument:
        try:
            return self._known[instrument_id]
        except KeyError:
            raise ValidationError(
                "instrument_id", f"{instrument_id} is not a known instrument", reason="UNKNOWN_INSTRUMENT"
            ) from None

    def indicator(self, name: str, **params: Any) -> Any:
        """A new streaming indicator from the registry (``engine.indicators.registry``); the strategy
        feeds it (``update(...)``) from its callbacks. ValueError names a bad name or parameter."""
        return indicator_registry.create(name, **params)

    def set_timer(self, name: str, interval_ns: int, *, start_ns: int | None = None) -> None:
        """Call ``on_timer`` every ``interval_ns`` (first at ``start_ns + interval_ns``)."""
        self._clock.set_timer(
            self._timer_key(name), interval_ns, self._timer_callback(name), start_ns=start_ns
        )
        self._timers.add(name)

    def set_alert(self, name: str, at_ns: int) -> None:
        """Call ``on_timer`` once at ``at_ns``."""
        self._clock.set_alert(self._timer_key(name), at_ns, self._timer_callback(name))
        self._timers.add(name)

    def cancel_timer(self, name: str) -> None:
        self._clock.cancel_timer(self._timer_key(name))
        self._timers.discard(name)

    def cancel_timers(self) -> None:
        for name in list(self._timers):
            self.cancel_timer(name)

    def _timer_key(self, name: str) -> str:
        if not name:
            raise ValidationError("name", "timer name must not be empty")
        return f"strategy:{self.strategy_id}:{name}"

    def _timer_callback(self, name: str) -> Callable[[TimeEvent], None]:
        def fire(event: TimeEvent) -> None:
            self._on_timer(self, TimeEvent(name, event.ts_event))

        return fire

    # == portfolio =================================================================================
    def position(self, instrument_id: InstrumentId) -> StrategyPosition:
        """This strategy's live position object on ``instrument_id`` (same object every call)."""
        pos = self._positions.get(instrument_id)
        if pos is None:
            pos = self._positions[instrument_id] = StrategyPosition(self.instrument(instrument_id))
        return pos

    def positions(self) -> list[StrategyPosition]:
        return [p for p in self._positions.values() if p.lots]

    def balances(self) -> dict[str, Money]:
        """The account's balances (shared by every strategy trading the account)."""
        return self._portfolio.balances(self.account_id)

    def cash(self, currency: str | None = None) -> Money:
        """The account's balance of ``currency`` (default: the quote currency of the first
        instrument); strategies sharing an account share this cash."""
        currency = currency or self._default_currency
        if currency is None:
            raise ValidationError("currency", "give a currency (the strategy has no instruments)")
        return self._portfolio.balances(self.account_id).get(currency) or Money.from_raw(0, 0, currency)

    @property
    def portfolio(self) -> Any:
        return self._portfolio

    # == exact prices and quantities ===============================================================
    def price(
        self, instrument_id: InstrumentId, value: float | str | Decimal, rounding: str = "nearest"
    ) -> Price:
        """``value`` as a ``Price`` on the instrument's tick grid. A float that is on the grid up to
        binary noise (any bar price read from a decimal file or feed) maps to that exact tick; other
        values round ``nearest`` (half even), ``down`` or ``up``."""
        instrument = self._known.get(instrument_id) or self.instrument(instrument_id)
        mode = _ROUNDING.get(rounding)
        if mode is None:
            raise ValidationError("rounding", f"must be one of {', '.join(_ROUNDING)}, got {rounding!r}")
        step = instrument.price_increment
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ValidationError("price", f"must be finite, got {value!r}")
            x = value * 10**step.precision / step.raw
            n = round(x)
            if abs(x - n) <= 1e-9 * max(1.0, abs(x)):
                ticks = n
            elif rounding == "down":
                ticks = math.floor(x)
            elif rounding == "up":
                ticks = math.ceil(x)
            else:
                ticks = n
        else:
            try:
                d = Decimal(value) if not isinstance(value, Decimal) else value
                ticks = int((d.scaleb(step.precision) / step.raw).to_integral_value(mode))
            except (InvalidOperation, ValueError, TypeError):
                raise ValidationError("price", f"not a number: {value!r}") from None
        return instrument.ticks_to_price(ticks)

    def quantity(self, instrument_id: InstrumentId, value: str | Decimal | int | Quantity) -> Quantity:
        """An exact quantity on the instrument's size grid (``ValidationError`` if off the grid or a
        float: quantities are never floats)."""
        instrument = self.instrument(instrument_id)
        if isinstance(value, float):
            raise ValidationError("quantity", "must be exact (str, Decimal, int or Quantity), not a float")
        q = value if isinstance(value, Quantity) else Quantity(value)
        return instrument.lots_to_quantity(instrument.quantity_to_lots(q))

    def all_in_quantity(
        self, instrument_id: InstrumentId, price: Price, cash: Money | None = None
    ) -> Quantity:
        """The largest quantity that ``cash`` (default: ``cash()`` in the instrument's quote
        currency) buys at ``price`` including the taker fee, rounded down to the lot size, capped at
        the instrument's maximum order quantity; zero when it is below the instrument's minimum.
        Exact integer arithmetic."""
        instrument = self._known.get(instrument_id) or self.instrument(instrument_id)
        if cash is None:
            cash = self._portfolio.balances(self.account_id).get(instrument.quote) or Money.from_raw(
                0, 0, instrument.quote
            )
        if price._raw <= 0 or cash._raw <= 0:
            return instrument.lots_to_quantity(0)
        num, den, min_lots, max_lots = self._sizing_cache.get(instrument_id) or self._sizing(instrument)
        # lots * step * price * multiplier * (1 + fee) <= cash, all as integers:
        # lots <= cash.raw * 10**price.precision * den / (10**cash.precision * price.raw * num)
        lots = (cash._raw * 10**price._precision * den) // (10**cash._precision * price._raw * num)
        if lots < min_lots:
            lots = 0
        elif lots > max_lots:
            lots = max_lots
        return instrument.lots_to_quantity(lots)

    def _sizing(self, instrument: Instrument) -> tuple[int, int, int, int]:
        """Per instrument, once: the cost of one lot per unit of price as an integer fraction
        ``num / den`` (lot size * multiplier * (1 + taker fee), fee floored at zero), and the
        minimum and maximum order quantity in lots (the maximum: the instrument's, else what a
        64-bit ``Quantity`` holds)."""
        sizing = self._sizing_cache.get(instrument.id)
        if sizing is None:
            step = instrument.size_increment
            per_lot = (
                Fraction(step.raw, 10**step.precision)
                * Fraction(instrument.multiplier)
                * (1 + max(Fraction(instrument.taker_fee), Fraction(0)))
            )
            min_lots = -(-instrument.min_quantity.with_precision(step.precision).raw // step.raw)
            if instrument.max_quantity is not None:
                max_lots = instrument.max_quantity.with_precision(step.precision).raw // step.raw
            else:
                max_lots = INT64_MAX // step.raw
            sizing = (per_lot.numerator, per_lot.denominator, min_lots, max_lots)
            self._sizing_cache[instrument.id] = sizing
        return sizing

    # == order intents =============================================================================
    def submit_market(self, instrument_id: InstrumentId, side: Side, quantity: Quantity) -> ClientOrderId:
        """A market order; returns its client order id (outcomes arrive as order events)."""
        return self._submit(instrument_id, side, _MARKET, quantity)

    def submit_limit(
        self,
        instrument_id: InstrumentId,
        side: Side,
        quantity: Quantity,
        price: Price,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        expire_at_ns: int | None = None,
    ) -> ClientOrderId:
        return self._submit(
            instrument_id,
            side,
            OrderType.LIMIT,
            quantity,
            price,
            time_in_force=time_in_force,
            post_only=post_only,
            expire_at_ns=expire_at_ns,
        )

    def submit_stop(
        self,
        instrument_id: InstrumentId,
        side: Side,
        quantity: Quantity,
        trigger_price: Price,
        price: Price | None = None,
    ) -> ClientOrderId:
        """A stop-market order, or a stop-limit when ``price`` is given."""
        kind = OrderType.STOP_MARKET if price is None else OrderType.STOP_LIMIT
        return self._submit(instrument_id, side, kind, quantity, price, trigger_price)

    def buy(
        self, instrument_id: InstrumentId, quantity: Quantity, price: Price | None = None
    ) -> ClientOrderId:
        """Market buy, or limit buy at ``price``."""
        if price is None:
            return self.submit_market(instrument_id, Side.BUY, quantity)
        return self.submit_limit(instrument_id, Side.BUY, quantity, price)

    def sell(
        self, instrument_id: InstrumentId, quantity: Quantity, price: Price | None = None
    ) -> ClientOrderId:
        """Market sell, or limit sell at ``price``."""
        if price is None:
            return self.submit_market(instrument_id, Side.SELL, quantity)
        return self.submit_limit(instrument_id, Side.SELL, quantity, price)

    def submit_bracket(
        self,
        instrument_id: InstrumentId,
        side: Side,
        quantity: Quantity,
        *,
        take_profit: Price,
        stop_loss: Price,
        entry_price: Price | None = None,
    ) -> ClientOrderId:
        """Entry (market, or limit at ``entry_price``) with a take-profit LIMIT and a STOP_MARKET
        stop-loss on the other side that the OMS releases as the entry fills. Returns the entry's
        id; the exits get the next two ids."""
        entry_type = OrderType.MARKET if entry_price is None else OrderType.LIMIT
        entry, lots = self._command_and_lots(instrument_id, side, entry_type, quantity, entry_price)
        tp = self._command_and_lots(instrument_id, side.opposite, OrderType.LIMIT, quantity, take_profit)[0]
        sl = self._command_and_lots(
            instrument_id, side.opposite, OrderType.STOP_MARKET, quantity, None, stop_loss
        )[0]
        self._track(entry, lots)
        for exit_cmd in (tp, sl):
            self._on_new_order(exit_cmd.client_order_id, self)
        try:
            self._router.submit_bracket(entry, tp, sl)
        except Exception:
            self._forget(entry.client_order_id)
            raise
        self.orders_sent += 1
        return entry.client_order_id

    def amend(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Quantity | None = None,
        price: Price | None = None,
        trigger_price: Price | None = None,
    ) -> None:
        """Change a working order of this strategy (the venue answers with OrderUpdated or
        OrderModifyRejected)."""
        self._own(client_order_id)
        self._router.amend(
            AmendOrder(
                ts_init=self._clock.timestamp_ns(),
                account_id=self.account_id,
                client_order_id=client_order_id,
                quantity=quantity,
                price=price,
                trigger_price=trigger_price,
            )
        )

    def cancel(self, client_order_id: ClientOrderId) -> None:
        """Cancel a working order of this strategy (a second cancel while one is pending is a no-op)."""
        tracked = self._own(client_order_id)
        if tracked.pending_cancel:
            return
        tracked.pending_cancel = True
        self._router.cancel(
            CancelOrder(
                ts_init=self._clock.timestamp_ns(),
                account_id=self.account_id,
                client_order_id=client_order_id,
            )
        )

    def cancel_all(self, instrument_id: InstrumentId | None = None) -> int:
        """Cancel every open order of this strategy (on one instrument); returns how many."""
        n = 0
        for coid, tracked in list(self._open.items()):
            if tracked.pending_cancel or (
                instrument_id is not None and tracked.position.instrument_id != instrument_id
            ):
                continue
            self.cancel(coid)
            n += 1
        return n

    def open_orders(self, instrument_id: InstrumentId | None = None) -> list[ClientOrderId]:
        """This strategy's orders that are not finished, in submission order."""
        return [
            coid
            for coid, t in self._open.items()
            if instrument_id is None or t.position.instrument_id == instrument_id
        ]

    # == internals =================================================================================
    def _submit(
        self,
        instrument_id: InstrumentId,
        side: Side,
        order_type: OrderType,
        quantity: Quantity,
        price: Price | None = None,
        trigger_price: Price | None = None,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        expire_at_ns: int | None = None,
    ) -> ClientOrderId:
        """Build, track and route one order: the path of every order intent but a bracket (the
        tracking is inline here: once per order)."""
        command, lots = self._command_and_lots(
            instrument_id,
            side,
            order_type,
            quantity,
            price,
            trigger_price,
            time_in_force,
            post_only,
            expire_at_ns,
        )
        coid = command.client_order_id
        position = self._positions.get(instrument_id) or self.position(instrument_id)
        tracked = _new_tracked(_Tracked)
        tracked.position, tracked.side, tracked.quantity = position, side, lots
        tracked.filled, tracked.pending_cancel = 0, False
        self._open[coid] = tracked
        position.open_orders += 1
        self._on_new_order(coid, self)
        try:
            self._router.submit(command)
        except Exception:
            self._forget(coid)
            raise
        self.orders_sent += 1
        return coid

    def _command_and_lots(
        self,
        instrument_id: InstrumentId,
        side: Side,
        order_type: OrderType,
        quantity: Quantity,
        price: Price | None = None,
        trigger_price: Price | None = None,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        expire_at_ns: int | None = None,
    ) -> tuple[SubmitOrder, int]:
        """A validated ``SubmitOrder`` with a new client order id, and its size in lots."""
        instrument = self._known.get(instrument_id) or self.instrument(instrument_id)
        if not isinstance(quantity, Quantity):
            raise ValidationError("quantity", f"must be a Quantity, got {type(quantity).__name__}")
        lots = instrument.quantity_to_lots(quantity)  # (raises for an off-grid quantity)
        command = SubmitOrder(
            ts_init=self._clock.timestamp_ns(),
            account_id=self.account_id,
            strategy_id=self.strategy_id,
            # <validated strategy id>-<digits> is a valid id by construction (length checked at
            # start): skip the regex of ClientOrderId's constructor on the hot path.
            client_order_id=_new_id(ClientOrderId, f"{self.strategy_id}-{self._next_number}"),
            instrument_id=instrument_id,
            side=side,
            order_type=order_type,
            quantity=quantity,
            price=price,
            trigger_price=trigger_price,
            time_in_force=time_in_force,
            expire_at_ns=expire_at_ns,
            post_only=post_only,
        )
        self._next_number += 1
        return command, lots

    def _track(self, command: SubmitOrder, lots: int) -> None:
        """Book a new order of this strategy of ``lots`` lots."""
        position = self.position(command.instrument_id)
        self._open[command.client_order_id] = _Tracked(position, command.side, lots)
        position.open_orders += 1
        self._on_new_order(command.client_order_id, self)

    def _forget(self, client_order_id: ClientOrderId) -> None:
        tracked = self._open.pop(client_order_id, None)
        if tracked is not None:
            tracked.position.open_orders -= 1

    def _own(self, client_order_id: ClientOrderId) -> _Tracked:
        tracked = self._open.get(client_order_id)
        if tracked is None:
            raise NotFoundError(
                f"{client_order_id} is not an open order of strategy {self.strategy_id}",
                reason="ORDER_NOT_FOUND",
            )
        return tracked

    def intent_failed(self, client_order_id: ClientOrderId, error: BaseException) -> None:
        """The router could not create the order (e.g. the OMS is halted): forget it."""
        self.log.warning("order_intent_failed", client_order_id=str(client_order_id), error=str(error))
        self._forget(client_order_id)

    def apply(self, event: OrderEvent) -> None:
        """Update the strategy's book from an event of one of its orders (before its callbacks).

        Most events (submitted, accepted, pending ...) change nothing here: one dict lookup by the
        event's type decides, no ``isinstance`` chain."""
        kind = _APPLY.get(type(event))
        if kind is None:
            return
        coid = event.client_order_id
        tracked = self._open.get(coid)
        if tracked is None:
            if kind == _INITIALIZED:  # a bracket exit released by the OMS
                position = self.position(event.instrument_id)
                lots = position.instrument.quantity_to_lots(event.quantity)  # type: ignore[attr-defined]
                self._open[coid] = _Tracked(position, event.side, lots)  # type: ignore[attr-defined]
                position.open_orders += 1
            return
        if kind == _FILLED:
            position = tracked.position
            # ``_lots`` inline (once per fill): one divmod at the grid's precision and on it.
            quantity = event.last_quantity  # type: ignore[attr-defined]
            step = position.instrument.size_increment
            lots, off = divmod(quantity._raw, step._raw)
            if off or quantity._precision != step._precision:
                lots = position.instrument.quantity_to_lots(quantity)
            position.lots += lots if event.side is Side.BUY else -lots  # type: ignore[attr-defined]
            tracked.filled += lots
            if tracked.filled >= tracked.quantity:
                self._forget(coid)
        elif kind == _CLOSED:
            self._forget(coid)
        elif kind == _UPDATED:
            tracked.quantity = tracked.position.instrument.quantity_to_lots(event.quantity)  # type: ignore[attr-defined]
        elif kind == _CANCEL_REJECTED:
            tracked.pending_cancel = False

    def track_restored(self, order: Any) -> None:
        """Track an order still open after a restart (an OMS ``Order``)."""
        position = self.position(order.instrument_id)
        instrument = position.instrument
        tracked = _Tracked(position, order.side, instrument.quantity_to_lots(order.quantity))
        tracked.filled = instrument.quantity_to_lots(order.filled_quantity)
        tracked.pending_cancel = order.status is OrderStatus.PENDING_CANCEL
        self._open[order.client_order_id] = tracked
        position.open_orders += 1
