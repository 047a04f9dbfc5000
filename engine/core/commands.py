"""Immutable commands: requests to change state, named in the imperative.

Construction validates what can be checked without engine state (shape, signs, which fields an
order type needs) and raises ``ValidationError`` naming the field; everything that needs state
(instrument increments, limits, trading state) is the risk gate's job.
"""

from __future__ import annotations

from engine.core.enums import OrderType, Side, TimeInForce, TradingState
from engine.core.errors import ValidationError
from engine.core.fixed import Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.core.records import frozen_record

#: Every order intent builds a command: see ``frozen_record`` for the cheaper ``__init__``.
_frozen = frozen_record
_PRICED = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_TRIGGERED = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})


def _require_type(name: str, value: object, kind: type | tuple[type, ...]) -> None:
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValidationError(name, f"must be {expected}, got {type(value).__name__}")


@_frozen
class Command:
    ts_init: int


@_frozen
class SubmitOrder(Command):
    account_id: AccountId
    strategy_id: StrategyId
    client_order_id: ClientOrderId
    instrument_id: InstrumentId
    side: Side
    order_type: OrderType
    quantity: Quantity
    price: Price | None = None
    trigger_price: Price | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_at_ns: int | None = None
    post_only: bool = False
    reduce_only: bool = False

    def __post_init__(self) -> None:
        # The four type checks inline first (one ``isinstance`` each on the hot path); the helper
        # only runs to raise the error naming the field. Past them, the fixed-point values' ``_raw``
        # slots and the order type's membership in a set are read directly (the public properties
        # are Python-level calls: once per order intent, they were a third of this check).
        order_type = self.order_type
        if not (
            isinstance(self.side, Side)
            and isinstance(order_type, OrderType)
            and isinstance(self.time_in_force, TimeInForce)
            and isinstance(self.quantity, Quantity)
        ):
            _require_type("side", self.side, Side)
            _require_type("order_type", order_type, OrderType)
            _require_type("time_in_force", self.time_in_force, TimeInForce)
            _require_type("quantity", self.quantity, Quantity)
        if self.quantity._raw == 0:
            raise ValidationError("quantity", "must be positive")
        price = self.price
        if order_type in _PRICED:
            if price is None:
                raise ValidationError("price", f"is required for {order_type.name} orders")
            _require_type("price", price, Price)
            if price._raw <= 0:
                raise ValidationError("price", "must be positive")
        elif price is not None:
            raise ValidationError("price", f"must be empty for {order_type.name} orders")
        trigger = self.trigger_price
        if order_type in _TRIGGERED:
            if trigger is None:
                raise ValidationError("trigger_price", f"is required for {order_type.name} orders")
            _require_type("trigger_price", trigger, Price)
            if trigger._raw <= 0:
                raise ValidationError("trigger_price", "must be positive")
        elif trigger is not None:
            raise ValidationError("trigger_price", f"must be empty for {order_type.name} orders")
        tif = self.time_in_force
        if tif is TimeInForce.GTD:
            if self.expire_at_ns is None or self.expire_at_ns <= 0:
                raise ValidationError("expire_at_ns", "is required for GTD orders")
        elif self.expire_at_ns is not None:
            raise ValidationError("expire_at_ns", "is only allowed with time_in_force GTD")
        if self.post_only:
            if order_type is not OrderType.LIMIT:
                raise ValidationError("post_only", "applies to LIMIT orders only")
            if tif is TimeInForce.IOC or tif is TimeInForce.FOK:
                raise ValidationError("post_only", "cannot be combined with IOC or FOK")
        if order_type is OrderType.MARKET and tif is TimeInForce.GTD:
            raise ValidationError("time_in_force", "GTD does not apply to MARKET orders (they never rest)")


@_frozen
class AmendOrder(Command):
    """Change a working order's quantity and/or prices (``None`` keeps the current value)."""

    account_id: AccountId
    client_order_id: ClientOrderId
    quantity: Quantity | None = None
    price: Price | None = None
    trigger_price: Price | None = None

    def __post_init__(self) -> None:
        if self.quantity is None and self.price is None and self.trigger_price is None:
            raise ValidationError("quantity", "an amend must change quantity, price or trigger_price")
        if self.quantity is not None:
            _require_type("quantity", self.quantity, Quantity)
            if self.quantity.is_zero():
                raise ValidationError("quantity", "must be positive")
        for name in ("price", "trigger_price"):
            value = getattr(self, name)
            if value is not None:
                _require_type(name, value, Price)
                if value.raw <= 0:
                    raise ValidationError(name, "must be positive")


@_frozen
class CancelOrder(Command):
    account_id: AccountId
    client_order_id: ClientOrderId


@_frozen
class CancelAllOrders(Command):
    account_id: AccountId
    instrument_id: InstrumentId | None = None
    side: Side | None = None


@_frozen
class SetTradingState(Command):
    state: TradingState
    reason: str
    account_id: AccountId | None = None

    def __post_init__(self) -> None:
        _require_type("state", self.state, TradingState)
        if not self.reason.strip():
            raise ValidationError("reason", "must say why the trading state changes")
