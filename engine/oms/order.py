"""``Order``: one order's state, changed only by applying its events through the state machine."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import fields
from decimal import Decimal
from typing import Any

from engine.core.commands import SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import InvariantViolation
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderRejected,
    OrderTriggered,
    OrderUpdated,
)
from engine.core.fixed import EXACT, MAX_PRECISION, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId, TradeId, VenueOrderId
from engine.core.records import field_slots
from engine.ext.core.records import build as build_record
from engine.oms.fsm import EVENT_TRANSITIONS, FILL_TRANSITIONS, TRIGGER_OF, WORKING, Trigger, illegal

#: Averages are quotients: 28 significant digits, half-even (analytics, not money).
_AVERAGE = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)
#: ``OrderStatus.is_terminal`` as a set (built from the property, so it stays the one definition):
#: a membership test instead of a property call, several times per event on the hot path.
TERMINAL_STATUSES = frozenset(s for s in OrderStatus if s.is_terminal)
_NO_TRADES: frozenset[TradeId] = frozenset()
#: Zero quantity per precision (``Quantity`` is immutable, so every new order can share one).
_ZERO_QUANTITY: dict[int, Quantity] = {}
_new_object = object.__new__
_POW10 = tuple(10**i for i in range(MAX_PRECISION + 1))
_INT64_MAX = (1 << 63) - 1
_ACCEPTED = OrderStatus.ACCEPTED
_PARTIALLY_FILLED = OrderStatus.PARTIALLY_FILLED
_SUBMITTED = OrderStatus.SUBMITTED


def _zero_quantity(precision: int) -> Quantity:
    zero = _ZERO_QUANTITY.get(precision)
    if zero is None:
        zero = _ZERO_QUANTITY[precision] = Quantity.from_raw(0, precision)
    return zero


__all__ = ["TERMINAL_STATUSES", "Order", "OrderKey", "initialized_from"]

#: Orders are identified by account and client order id (client order ids are unique per account).
OrderKey = tuple[AccountId, ClientOrderId]


def _build_initialized_from() -> Callable[[SubmitOrder, int], OrderInitialized]:
    """``initialized_from``, generated once: the event built in one compiled call from the
    command's fields (``engine.ext.core.records.build``).

    Same result as ``OrderInitialized(ts_event=ts, ts_init=ts, account_id=command.account_id, ...)``
    (events have no ``__post_init__``; ``sequence`` gets its default), without the keyword-argument
    call per order (~2x cheaper). Every field of ``OrderInitialized`` is the command's field of the
    same name except the times and the sequence; a new field without one fails here, at import.
    """
    command_fields = {f.name for f in fields(SubmitOrder)}
    event_fields = fields(OrderInitialized)
    scope: dict[str, Any] = {
        "_build": build_record,
        "_cls": OrderInitialized,
        "_setters": field_slots(OrderInitialized),
    }
    values = []
    for f in event_fields:
        if f.name in ("ts_event", "ts_init"):
            values.append("ts_ns")
        elif f.name == "sequence":
            scope["_sequence0"] = f.default
            values.append("_sequence0")
        elif f.name in command_fields:
            values.append(f"command.{f.name}")
        else:
            raise TypeError(f"OrderInitialized.{f.name} has no SubmitOrder field to come from")
    source = (
        f"def initialized_from(command, ts_ns):\n    return _build(_cls, _setters, ({', '.join(values)},))\n"
    )
    exec(source, scope)  # a fixed template over the event's own field names
    function: Callable[[SubmitOrder, int], OrderInitialized] = scope["initialized_from"]
    function.__doc__ = "The ``OrderInitialized`` event of ``command`` at ``ts_ns`` (sequence not set yet)."
    return function


initialized_from = _build_initialized_from()


class Order:
    """Mutable on the loop thread only; readers elsewhere get copies (``engine.api`` converts)."""

    __slots__ = (
        "account_id",
        "client_order_id",
        "closed_by",
        "detail",
        "expire_at_ns",
        "fill_notional_places",
        "fill_notional_raw",
        "filled_quantity",
        "index",
        "instrument_id",
        "last_sequence",
        "list_id",
        "order_type",
        "post_only",
        "price",
        "quantity",
        "reason",
        "reduce_only",
        "side",
        "status",
        "strategy_id",
        "time_in_force",
        "trade_ids",
        "trigger_price",
        "triggered",
        "ts_created",
        "ts_last",
        "venue_order_id",
    )

    account_id: AccountId
    client_order_id: ClientOrderId
    instrument_id: InstrumentId
    strategy_id: StrategyId
    side: Side
    order_type: OrderType
    quantity: Quantity
    price: Price | None
    trigger_price: Price | None
    time_in_force: TimeInForce
    expire_at_ns: int | None
    post_only: bool
    reduce_only: bool
    status: OrderStatus
    filled_quantity: Quantity
    venue_order_id: VenueOrderId | None
    #: Why it was denied, rejected or canceled by the venue/engine (empty otherwise).
    reason: str
    detail: str
    triggered: bool
    #: Trade ids of the fills applied (a shared empty frozenset until the first fill: most orders
    #: rest or end unfilled, and a set per order is one more object for the collector to track).
    trade_ids: AbstractSet[TradeId]
    #: Client order id of the primary order of the order list this order belongs to, if any.
    list_id: ClientOrderId | None
    #: Creation order within this engine (listing order, page tokens).
    index: int
    ts_created: int
    ts_last: int
    last_sequence: int
    #: Name of the event type that ended the order ('' while it is not terminal).
    closed_by: str

    def __init__(self, event: OrderInitialized, index: int) -> None:
        self.account_id = event.account_id
        self.client_order_id = event.client_order_id
        self.instrument_id = event.instrument_id
        self.strategy_id = event.strategy_id
        self.side = event.side
        self.order_type = event.order_type
        self.quantity = event.quantity
        self.price = event.price
        self.trigger_price = event.trigger_price
        self.time_in_force = event.time_in_force
        self.expire_at_ns = event.expire_at_ns
        self.post_only = event.post_only
        self.reduce_only = event.reduce_only
        self.status = OrderStatus.INITIALIZED
        zero = _ZERO_QUANTITY.get(event.quantity._precision)  # (``_zero_quantity``, inlined)
        self.filled_quantity = _zero_quantity(event.quantity._precision) if zero is None else zero
        #: Exact sum of price x quantity over the fills (for the average fill price), as an integer
        #: at ``fill_notional_places`` decimals (``fill_notional`` is the Decimal).
        self.fill_notional_raw = 0
        self.fill_notional_places = 0
        self.venue_order_id = None
        self.reason = ""
        self.detail = ""
        self.triggered = False
        self.trade_ids = _NO_TRADES
        self.list_id = None
        self.index = index
        self.ts_created = event.ts_event
        self.ts_last = event.ts_event
        self.last_sequence = event.sequence
        self.closed_by = ""

    # -- views ----------------------------------------------------------------------------------
    @property
    def key(self) -> OrderKey:
        return (self.account_id, self.client_order_id)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def acknowledged(self) -> bool:
        return self.venue_order_id is not None

    @property
    def leaves_quantity(self) -> Quantity:
        if self.status.is_terminal or self.status is OrderStatus.INITIALIZED:
            return Quantity.from_raw(0, self.quantity.precision)
        return self.quantity - self.filled_quantity

    def __repr__(self) -> str:
        return (
            f"Order({self.account_id}/{self.client_order_id} {self.side.name} {self.quantity} "
            f"{self.instrument_id} {self.order_type.name} {self.status.name} filled={self.filled_quantity})"
        )

    # -- transitions ----------------------------------------------------------------------------
    def is_duplicate(self, event: OrderEvent) -> bool:
        """True for a report this order already reflects (a repeated fill, ack or final report)."""
        if isinstance(event, OrderFilled):
            return event.trade_id in self.trade_ids
        if isinstance(event, OrderAccepted) and self.status is OrderStatus.ACCEPTED:
            return event.venue_order_id == self.venue_order_id
        return self.status in TERMINAL_STATUSES and type(event).__name__ == self.closed_by

    def apply(self, event: OrderEvent) -> OrderStatus:
        """Apply ``event`` (not a duplicate: check ``is_duplicate`` first); returns the new status.

        Raises ``InvariantViolation`` (and changes nothing) for an illegal transition, an event of
        another order, an overfill or an inconsistent fill or acknowledgement.

        Hot path (several events per order): the transition is one index into ``EVENT_TRANSITIONS``
        by (event class, status); event classes are final, so dispatch is by identity.
        """
        if event.client_order_id != self.client_order_id or event.account_id != self.account_id:
            raise InvariantViolation(f"event of {event.client_order_id} applied to {self.client_order_id}")
        cls = type(event)
        if cls is OrderFilled:
            return self._apply_fill(event)  # type: ignore[arg-type]
        before = self.status
        target = EVENT_TRANSITIONS.get((cls, before))
        if target is None and cls not in TRIGGER_OF:
            raise InvariantViolation(f"{cls.__name__} is not an order transition")
        acknowledged = self.venue_order_id is not None  # self.acknowledged, inlined (hot path)
        if cls is OrderAccepted:
            if acknowledged and event.venue_order_id != self.venue_order_id:  # type: ignore[attr-defined]
                raise InvariantViolation(
                    f"{self.client_order_id}: acknowledged as {event.venue_order_id}, "  # type: ignore[attr-defined]
                    f"already known as {self.venue_order_id}"
                )
            acknowledged = True
        elif cls is OrderUpdated and event.quantity < self.filled_quantity:  # type: ignore[attr-defined]
            quantity = event.quantity  # type: ignore[attr-defined]
            raise InvariantViolation(
                f"{self.client_order_id}: updated quantity {quantity} below filled {self.filled_quantity}"
            )
        if target is None:
            raise illegal(before, TRIGGER_OF[cls])
        if target is WORKING:  # back to the working status: fsm.working_status, inlined
            if self.filled_quantity._raw != 0:
                status = _PARTIALLY_FILLED
            else:
                status = _ACCEPTED if acknowledged else _SUBMITTED
        else:
            status = target  # type: ignore[assignment]
        if cls is OrderAccepted:
            self.venue_order_id = event.venue_order_id  # type: ignore[attr-defined]
        elif cls is OrderUpdated:
            self.quantity = event.quantity  # type: ignore[attr-defined]
            self.price = event.price  # type: ignore[attr-defined]
            self.trigger_price = event.trigger_price  # type: ignore[attr-defined]
        elif cls is OrderTriggered:
            self.triggered = True
        elif cls is OrderDenied or cls is OrderRejected:
            self.reason, self.detail = event.reason, event.detail  # type: ignore[attr-defined]
        elif cls is OrderCanceled:
            self.reason = event.reason  # type: ignore[attr-defined]
        elif cls is OrderExpired:
            self.reason = "EXPIRED"
        elif (cls is OrderModifyRejected or cls is OrderCancelRejected) and status not in TERMINAL_STATUSES:
            self.reason, self.detail = event.reason, event.detail  # type: ignore[attr-defined]
        # (``_moved``, inlined)
        if status in TERMINAL_STATUSES and before not in TERMINAL_STATUSES:
            self.closed_by = cls.__name__
        self.status = status
        self.ts_last = event.ts_event
        self.last_sequence = event.sequence
        return status

    @property
    def fill_notional(self) -> Decimal:
        """Exact sum of price x quantity over the fills."""
        return Decimal(self.fill_notional_raw).scaleb(-self.fill_notional_places, EXACT)

    @property
    def average_fill_price(self) -> Decimal | None:
        """Volume-weighted fill price, rounded to 28 significant digits (an average need not be on
        the tick grid or terminate); ``None`` before the first fill."""
        if self.filled_quantity.is_zero():
            return None
        return _AVERAGE.divide(self.fill_notional, self.filled_quantity.as_decimal()).normalize(_AVERAGE)

    def _apply_fill(self, fill: OrderFilled) -> OrderStatus:
        if fill.side is not self.side or fill.instrument_id != self.instrument_id:
            raise InvariantViolation(
                f"{self.client_order_id}: fill {fill.trade_id} is {fill.side.name} {fill.instrument_id}, "
                f"the order {self.side.name} {self.instrument_id}"
            )
        last = fill.last_quantity
        if last._raw == 0:
            raise InvariantViolation(f"{self.client_order_id}: fill {fill.trade_id} has zero quantity")
        ordered = self.quantity
        before = self.filled_quantity
        precision = ordered._precision
        if last._precision == precision and before._precision == precision:
            # The usual case (every quantity on the instrument's grid): integers, one new Quantity.
            raw = before._raw + last._raw
            if raw > ordered._raw:
                filled = Quantity.from_raw(raw, precision)
                raise InvariantViolation(
                    f"{self.client_order_id}: overfill, {filled} filled of {ordered}", reason="OVERFILL"
                )
            filled = _new_object(Quantity)
            filled._raw = raw
            filled._precision = precision
            complete = raw == ordered._raw
        else:
            # Quantities at different precisions (an order sent as "0.001", its fills reported at
            # the instrument's five places): ``before + last``, ``> ordered`` and ``== ordered`` on
            # integers, the sum at the larger of its two precisions, as ``Quantity`` arithmetic has
            # it (one new Quantity; out of the 64-bit range, the arithmetic raises as it does).
            bp, lp = before._precision, last._precision
            fp = bp if bp >= lp else lp
            raw = before._raw * _POW10[fp - bp] + last._raw * _POW10[fp - lp]
            if fp >= precision:
                held, limit = raw, ordered._raw * _POW10[fp - precision]
            else:
                held, limit = raw * _POW10[precision - fp], ordered._raw
            if held > limit or raw > _INT64_MAX:
                filled = before + last
                raise InvariantViolation(
                    f"{self.client_order_id}: overfill, {filled} filled of {ordered}", reason="OVERFILL"
                )
            filled = _new_object(Quantity)
            filled._raw = raw
            filled._precision = fp
            complete = held == limit
        status = FILL_TRANSITIONS.get((self.status, complete))
        if status is None:
            raise illegal(self.status, Trigger.FILL_COMPLETE if complete else Trigger.FILL_PARTIAL)
        self.filled_quantity = filled
        # notional += price x quantity, exact, on integers at the larger number of places
        price = fill.last_price
        raw = price._raw * last._raw
        places = price._precision + last._precision
        held = self.fill_notional_places
        if places == held:
            self.fill_notional_raw += raw
        elif places > held:
            self.fill_notional_raw = self.fill_notional_raw * 10 ** (places - held) + raw
            self.fill_notional_places = places
        else:
            self.fill_notional_raw += raw * 10 ** (held - places)
        if self.trade_ids is _NO_TRADES:
            self.trade_ids = {fill.trade_id}
        else:
            self.trade_ids.add(fill.trade_id)  # type: ignore[attr-defined]
        if self.venue_order_id is None:
            self.venue_order_id = fill.venue_order_id
        # (``_moved``, inlined)
        if status in TERMINAL_STATUSES and self.status not in TERMINAL_STATUSES:
            self.closed_by = "OrderFilled"
        self.status = status
        self.ts_last = fill.ts_event
        self.last_sequence = fill.sequence
        return status
