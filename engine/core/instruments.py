"""Instruments: what can be traded, with the increments that make prices and sizes valid.

Inside the engine prices are integer *ticks* (multiples of ``price_increment``) and sizes integer
*lots* (multiples of ``size_increment``); these conversions are exact or they raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from engine.core.enums import InstrumentKind
from engine.core.errors import ValidationError
from engine.core.fixed import EXACT, INT64_MAX, Money, Price, Quantity
from engine.core.ids import InstrumentId

__all__ = ["Instrument"]

_new_object = object.__new__
#: Powers of ten for rescaling a value to a grid's precision (precisions are at most 18).
_POW10 = tuple(10**i for i in range(19))


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    id: InstrumentId
    kind: InstrumentKind
    base: str
    quote: str
    settlement: str
    price_increment: Price
    size_increment: Quantity
    min_quantity: Quantity
    max_quantity: Quantity | None = None
    min_notional: Money | None = None
    #: Fee rates as exact fractions of notional (``Decimal('0.0002')`` = 2 bps); negative = rebate.
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    #: Contract size for derivatives (units of base per 1.0 of quantity); 1 for spot.
    multiplier: Decimal = Decimal(1)
    tradable: bool = True
    _price_step: int = field(init=False, repr=False, compare=False)
    _size_step: int = field(init=False, repr=False, compare=False)
    _price_precision: int = field(init=False, repr=False, compare=False)
    _size_precision: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, InstrumentId):
            object.__setattr__(self, "id", InstrumentId(self.id))
        object.__setattr__(self, "_price_precision", self.price_increment.precision)
        object.__setattr__(self, "_size_precision", self.size_increment.precision)
        if self.price_increment.raw <= 0:
            raise ValidationError("price_increment", "must be positive")
        if self.size_increment.raw <= 0:
            raise ValidationError("size_increment", "must be positive")
        for name in ("maker_fee", "taker_fee", "multiplier"):
            if not isinstance(getattr(self, name), Decimal):
                raise ValidationError(name, "must be a Decimal")
        if self.multiplier <= 0:
            raise ValidationError("multiplier", "must be positive")
        if self.min_quantity.precision > self.size_precision:
            raise ValidationError("min_quantity", "has more decimal places than size_increment")
        if self.min_notional is not None and self.min_notional.currency != self.quote:
            raise ValidationError("min_notional", f"must be in the quote currency {self.quote}")
        object.__setattr__(self, "_price_step", self.price_increment.raw)
        object.__setattr__(self, "_size_step", self.size_increment.raw)
        if (
            self.min_quantity.raw
            and self.min_quantity.with_precision(self.size_precision).raw % self._size_step
        ):
            raise ValidationError("min_quantity", "is not a multiple of size_increment")

    @property
    def price_precision(self) -> int:
        return self._price_precision

    @property
    def size_precision(self) -> int:
        return self._size_precision

    # -- ticks and lots ---------------------------------------------------------------------
    def price_to_ticks(self, price: Price) -> int:
        """Exact number of ticks; ``ValidationError(field='price')`` if off the tick grid."""
        # Several calls per order on the hot path: the values' slots are read directly (the public
        # properties cost a call each); a price at the grid's precision needs no rescaling and one
        # with fewer places (a feed's "65000.1" on a 0.01 grid) one multiplication.
        own = price._precision
        precision = self._price_precision
        if own == precision:
            raw = price._raw
        elif own < precision:
            raw = price._raw * _POW10[precision - own]
        else:
            raw = self._at_precision(price, precision, "price")
        step = self._price_step
        if raw % step:
            raise ValidationError(
                "price",
                f"{price} is not a multiple of the tick size {self.price_increment}",
                reason="PRICE_OFF_TICK",
            )
        return raw // step

    def ticks_to_price(self, ticks: int) -> Price:
        raw = ticks * self._price_step
        if type(raw) is int and -INT64_MAX <= raw <= INT64_MAX:
            # ``Price.from_raw`` without its checks, which this value passes (an int in range at the
            # grid's valid precision): called per order by venues and strategies.
            price = _new_object(Price)
            price._raw = raw
            price._precision = self._price_precision
            return price
        return Price.from_raw(raw, self._price_precision)  # raises the usual error

    def quantity_to_lots(self, quantity: Quantity) -> int:
        own = quantity._precision  # as in price_to_ticks
        precision = self._size_precision
        if own == precision:
            raw = quantity._raw
        elif own < precision:
            raw = quantity._raw * _POW10[precision - own]
        else:
            raw = self._at_precision(quantity, precision, "quantity")
        step = self._size_step
        if raw % step:
            raise ValidationError(
                "quantity",
                f"{quantity} is not a multiple of the size increment {self.size_increment}",
                reason="SIZE_OFF_INCREMENT",
            )
        return raw // step

    def lots_to_quantity(self, lots: int) -> Quantity:
        raw = lots * self._size_step
        if type(raw) is int and 0 <= raw <= INT64_MAX:  # as in ticks_to_price (a Quantity is >= 0)
            quantity = _new_object(Quantity)
            quantity._raw = raw
            quantity._precision = self._size_precision
            return quantity
        return Quantity.from_raw(raw, self._size_precision)  # raises the usual error

    def parse_price(self, text: str) -> Price:
        """A decimal string as a price on this instrument's grid (``ValidationError`` otherwise)."""
        try:
            price = Price.parse(text)
        except (ValueError, OverflowError) as exc:
            raise ValidationError("price", str(exc)) from None
        return self.ticks_to_price(self.price_to_ticks(price))

    def parse_quantity(self, text: str) -> Quantity:
        try:
            quantity = Quantity.parse(text)
        except (ValueError, OverflowError) as exc:
            raise ValidationError("quantity", str(exc)) from None
        return self.lots_to_quantity(self.quantity_to_lots(quantity))

    def notional(self, price: Price, quantity: Quantity) -> Money:
        """Exact ``price * quantity * multiplier`` in the quote currency."""
        value = EXACT.multiply(EXACT.multiply(price.as_decimal(), quantity.as_decimal()), self.multiplier)
        return Money(value, self.quote)

    @staticmethod
    def _at_precision(value: Price | Quantity, precision: int, field_name: str) -> int:
        own = value._precision
        if own <= precision:
            return value._raw * 10 ** (precision - own)
        quotient, remainder = divmod(value._raw, 10 ** (own - precision))
        if remainder:
            raise ValidationError(
                field_name,
                f"{value} has more decimal places than the instrument allows ({precision})",
                reason="PRICE_OFF_TICK" if field_name == "price" else "SIZE_OFF_INCREMENT",
            )
        return quotient
