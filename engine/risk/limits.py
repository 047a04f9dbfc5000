"""Risk limits: typed, validated, immutable; replaced as a whole at run time (``RiskEngine.set_limits``).

Every limit is required: a subject without limits cannot trade (the gate denies with
``RISK_NO_LIMITS``), so a forgotten setting never means "unlimited". Money limits are in the risk
engine's one quote currency (checked when they are set); quantities are converted to the
instrument's lots when set (off the size grid = ``ValidationError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, unique
from typing import Any

from engine.core.enums import TradingState
from engine.core.errors import ValidationError
from engine.core.fixed import Money, Quantity

__all__ = ["AccountLimits", "InstrumentLimits", "PriceReference", "StrategyLimits"]

_frozen = dataclass(frozen=True, slots=True, kw_only=True)

#: Upper bound of a rate or a burst (orders); keeps the integer token buckets far from overflow.
MAX_ORDERS_PER_SECOND = 1_000_000_000


@unique
class PriceReference(IntEnum):
    """Which market price the band and the valuation use (values equal the gate's REF_*)."""

    LAST = 1
    MID = 2


def _money(name: str, value: object) -> None:
    if not isinstance(value, Money):
        raise ValidationError(name, f"must be Money, got {type(value).__name__}")
    if value.raw <= 0:
        raise ValidationError(name, "must be positive")


def _quantity(name: str, value: object) -> None:
    if not isinstance(value, Quantity):
        raise ValidationError(name, f"must be Quantity, got {type(value).__name__}")
    if value.raw <= 0:
        raise ValidationError(name, "must be positive")


def _count(name: str, value: object, upper: int = MAX_ORDERS_PER_SECOND) -> None:
    if type(value) is not int or not 0 < value <= upper:
        raise ValidationError(name, f"must be an int in [1, {upper}], got {value!r}")


def _money_data(m: Money) -> list[str]:
    return [m.amount_str(), m.currency]


def _money_from(data: list[str]) -> Money:
    return Money(data[0], data[1])


@_frozen
class InstrumentLimits:
    """Per-instrument limits (the instrument's own min quantity / notional / max quantity also apply)."""

    max_order_quantity: Quantity
    max_order_notional: Money
    #: Largest |position| (lots), projected with the open orders on the order's side.
    max_position: Quantity
    #: Largest distance of a limit price from the reference, in basis points of the reference.
    price_band_bps: int
    #: Market data older than this (no trade or quote update) denies new orders.
    max_data_age_ms: int
    reference: PriceReference = PriceReference.MID

    def __post_init__(self) -> None:
        _quantity("max_order_quantity", self.max_order_quantity)
        _money("max_order_notional", self.max_order_notional)
        _quantity("max_position", self.max_position)
        _count("price_band_bps", self.price_band_bps, 1_000_000)
        _count("max_data_age_ms", self.max_data_age_ms, 86_400_000)
        if not isinstance(self.reference, PriceReference):
            raise ValidationError("reference", "must be a PriceReference")

    def to_data(self) -> dict[str, Any]:
        return {
            "max_order_quantity": str(self.max_order_quantity),
            "max_order_notional": _money_data(self.max_order_notional),
            "max_position": str(self.max_position),
            "price_band_bps": self.price_band_bps,
            "max_data_age_ms": self.max_data_age_ms,
            "reference": self.reference.name,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> InstrumentLimits:
        return cls(
            max_order_quantity=Quantity(data["max_order_quantity"]),
            max_order_notional=_money_from(data["max_order_notional"]),
            max_position=Quantity(data["max_position"]),
            price_band_bps=data["price_band_bps"],
            max_data_age_ms=data["max_data_age_ms"],
            reference=PriceReference[data["reference"]],
        )


@_frozen
class AccountLimits:
    """Per-account limits: exposure, open orders, order rate, and the post-trade loss limits."""

    #: Sum over instruments of the worst-case |position| (open orders counted as filled) at the mark.
    max_gross_exposure: Money
    #: Worst-case |net position value| over all instruments at the marks.
    max_net_exposure: Money
    max_open_orders: int
    #: Token bucket: sustained new orders + amends per second, and the burst it allows.
    max_orders_per_second: int
    order_burst: int
    #: Loss since the UTC day start (equity at the first update of the day minus equity now).
    max_daily_loss: Money
    #: Fall from the highest equity seen.
    max_drawdown: Money
    #: What a loss breach switches the account to: REDUCING or HALTED.
    breach_state: TradingState = TradingState.HALTED

    def __post_init__(self) -> None:
        _money("max_gross_exposure", self.max_gross_exposure)
        _money("max_net_exposure", self.max_net_exposure)
        _count("max_open_orders", self.max_open_orders)
        _count("max_orders_per_second", self.max_orders_per_second)
        _count("order_burst", self.order_burst)
        _money("max_daily_loss", self.max_daily_loss)
        _money("max_drawdown", self.max_drawdown)
        if self.breach_state not in (TradingState.REDUCING, TradingState.HALTED):
            raise ValidationError("breach_state", "must be TradingState.REDUCING or TradingState.HALTED")

    def currencies(self) -> set[str]:
        return {
            m.currency
            for m in (self.max_gross_exposure, self.max_net_exposure, self.max_daily_loss, self.max_drawdown)
        }

    def to_data(self) -> dict[str, Any]:
        return {
            "max_gross_exposure": _money_data(self.max_gross_exposure),
            "max_net_exposure": _money_data(self.max_net_exposure),
            "max_open_orders": self.max_open_orders,
            "max_orders_per_second": self.max_orders_per_second,
            "order_burst": self.order_burst,
            "max_daily_loss": _money_data(self.max_daily_loss),
            "max_drawdown": _money_data(self.max_drawdown),
            "breach_state": self.breach_state.name,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> AccountLimits:
        return cls(
            max_gross_exposure=_money_from(data["max_gross_exposure"]),
            max_net_exposure=_money_from(data["max_net_exposure"]),
            max_open_orders=data["max_open_orders"],
            max_orders_per_second=data["max_orders_per_second"],
            order_burst=data["order_burst"],
            max_daily_loss=_money_from(data["max_daily_loss"]),
            max_drawdown=_money_from(data["max_drawdown"]),
            breach_state=TradingState[data["breach_state"]],
        )


@_frozen
class StrategyLimits:
    """Per-strategy order rate (token bucket over new orders and amends)."""

    max_orders_per_second: int
    order_burst: int

    def __post_init__(self) -> None:
        _count("max_orders_per_second", self.max_orders_per_second)
        _count("order_burst", self.order_burst)

    def to_data(self) -> dict[str, Any]:
        return {"max_orders_per_second": self.max_orders_per_second, "order_burst": self.order_burst}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> StrategyLimits:
        return cls(max_orders_per_second=data["max_orders_per_second"], order_burst=data["order_burst"])
