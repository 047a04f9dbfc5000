"""Exact fixed-point values: ``Price``, ``Quantity`` and ``Money``.

A value is an integer ``raw`` and a ``precision`` (decimal places): ``value = raw / 10**precision``.
Nothing here ever holds or returns a binary floating-point number; a ``float`` argument is refused
with ``TypeError`` because it cannot say which decimal it meant. At the API the values travel as
decimal strings (``str(price)``) and come back with ``Price.parse``.

``Price`` and ``Quantity`` keep ``raw`` within the signed 64-bit range so compiled kernels can hold
them as ``int64`` ticks and lots; ``Money`` is an aggregate (balances, PnL, notional) and is exact
at any magnitude.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import ClassVar, Self

from engine.ext.core.fixedpoint import format_fixed, parse_fixed

MAX_PRECISION = 18
INT64_MAX = (1 << 63) - 1
#: Decimal arithmetic that never rounds: any inexact result raises ``decimal.Inexact``.
#: (The default context keeps 28 digits and would round large money amounts silently.)
EXACT = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[
        decimal.Inexact,
        decimal.Rounded,
        decimal.InvalidOperation,
        decimal.Overflow,
        decimal.DivisionByZero,
    ],
)
_POW10 = tuple(10**i for i in range(2 * MAX_PRECISION + 1))
#: Allocates an instance without running ``__init__`` (results of arithmetic on valid values).
_new_object = object.__new__

__all__ = ["EXACT", "MAX_MONEY_PRECISION", "MAX_PRECISION", "Money", "Price", "Quantity"]


#: Money holds products (price x quantity x multiplier), which need the sum of their precisions.
MAX_MONEY_PRECISION = 2 * MAX_PRECISION


def _check_precision(precision: object, limit: int = MAX_PRECISION) -> int:
    if type(precision) is not int or not 0 <= precision <= limit:
        raise ValueError(f"precision must be an int between 0 and {limit}, got {precision!r}")
    return precision


def _reject_float(cls: type, value: object) -> None:
    if isinstance(value, float):
        raise TypeError(
            f"{cls.__name__} does not accept float ({value!r}): pass a decimal string, int or Decimal"
        )
    if isinstance(value, bool):
        raise TypeError(f"{cls.__name__} does not accept bool")


def _decimal_places(text: str) -> int:
    """Decimal places a literal carries, e.g. '1.50' -> 2, '1e-5' -> 5, '100' -> 0."""
    if "e" not in text and "E" not in text:  # the usual plain literal: count after the point
        dot = text.find(".")
        return 0 if dot < 0 else len(text) - dot - 1
    mantissa, _, exponent = text.lower().partition("e")
    _, _, fraction = mantissa.partition(".")
    places = len(fraction) - (int(exponent) if exponent else 0)
    return max(places, 0)


def _raw_from_decimal(cls: type, value: Decimal, precision: int) -> int:
    if not value.is_finite():
        raise ValueError(f"{cls.__name__} must be finite, got {value}")
    scaled = value.scaleb(precision, EXACT)
    if scaled != scaled.to_integral_value(context=EXACT):
        raise ValueError(f"{value} has more decimal places than the precision allows ({precision})")
    return int(scaled)


class _FixedPoint:
    """Shared arithmetic for exact fixed-point values of one kind (no mixing of kinds)."""

    __slots__ = ("_precision", "_raw")
    _bounded: ClassVar[bool] = True
    _signed: ClassVar[bool] = True
    _max_precision: ClassVar[int] = MAX_PRECISION

    _raw: int
    _precision: int

    def __init__(self, value: str | int | Decimal, precision: int | None = None) -> None:
        if type(value) is str:  # the common case (feeds, the API, config) first, stripped once
            # ``_decimal_places``, ``_check_precision``, ``_parse_stripped`` and ``_init`` inlined
            # for the usual plain literal (every feed message carries several): one call, to the
            # compiled parser, instead of five.
            text = value.strip()
            if precision is None:
                if "e" in text or "E" in text:
                    precision = _decimal_places(text)
                else:
                    dot = text.find(".")
                    precision = 0 if dot < 0 else len(text) - dot - 1
            if type(precision) is not int or not 0 <= precision <= self._max_precision:
                _check_precision(precision, self._max_precision)  # raises the usual error
            if self._bounded:
                raw = parse_fixed(text, precision)
                if not -INT64_MAX <= raw <= INT64_MAX:
                    raise OverflowError(
                        f"{type(self).__name__} out of the 64-bit fixed-point range: raw {raw}"
                    )
            else:
                raw = _raw_from_decimal(type(self), Decimal(text), precision)
            if raw < 0 and not self._signed:
                raise ValueError(
                    f"{type(self).__name__} must not be negative, got {format_raw(raw, precision)}"
                )
            self._raw = raw
            self._precision = precision
            return
        _reject_float(type(self), value)
        if isinstance(value, str):
            if precision is None:
                precision = _decimal_places(value.strip())
            _check_precision(precision, self._max_precision)
            raw = self._parse(value, precision)
        elif isinstance(value, int):
            precision = _check_precision(0 if precision is None else precision, self._max_precision)
            raw = value * _POW10[precision]
        elif isinstance(value, Decimal):
            if precision is None:
                exponent = value.as_tuple().exponent
                precision = max(-exponent, 0) if isinstance(exponent, int) else 0
            _check_precision(precision, self._max_precision)
            raw = _raw_from_decimal(type(self), value, precision)
        else:
            raise TypeError(
                f"{type(self).__name__} takes a decimal string, int or Decimal, not {type(value).__name__}"
            )
        self._init(raw, precision)

    def _parse(self, text: str, precision: int) -> int:
        return self._parse_stripped(text.strip(), precision)

    def _parse_stripped(self, text: str, precision: int) -> int:
        if self._bounded:
            return parse_fixed(text, precision)
        return _raw_from_decimal(type(self), Decimal(text), precision)

    def _init(self, raw: int, precision: int) -> None:
        if self._bounded and not -INT64_MAX <= raw <= INT64_MAX:
            raise OverflowError(f"{type(self).__name__} out of the 64-bit fixed-point range: raw {raw}")
        if not self._signed and raw < 0:
            raise ValueError(f"{type(self).__name__} must not be negative, got {format_raw(raw, precision)}")
        self._raw = raw
        self._precision = precision

    @classmethod
    def from_raw(cls, raw: int, precision: int) -> Self:
        """Build from an integer ``raw`` at ``precision`` (``value = raw / 10**precision``)."""
        if type(raw) is not int:
            raise TypeError(f"raw must be int, got {type(raw).__name__}")
        obj = cls.__new__(cls)
        obj._init(raw, _check_precision(precision, cls._max_precision))
        return obj

    @classmethod
    def parse(cls, text: str, precision: int | None = None) -> Self:
        """Parse a decimal string; with ``precision`` the text must fit it exactly."""
        if not isinstance(text, str):
            raise TypeError(f"{cls.__name__}.parse takes a str, not {type(text).__name__}")
        return cls(text, precision)

    @property
    def raw(self) -> int:
        return self._raw

    @property
    def precision(self) -> int:
        return self._precision

    def as_decimal(self) -> Decimal:
        """The exact value as a ``Decimal`` (no rounding at any magnitude)."""
        return Decimal(self._raw).scaleb(-self._precision, EXACT)

    def with_precision(self, precision: int) -> Self:
        """The same value at another precision; raises ``ValueError`` if digits would be lost."""
        _check_precision(precision, self._max_precision)
        if precision >= self._precision:
            return self.from_raw(self._raw * _POW10[precision - self._precision], precision)
        quotient, remainder = divmod(self._raw, _POW10[self._precision - precision])
        if remainder:
            raise ValueError(f"{self} cannot be represented with {precision} decimal places")
        return self.from_raw(quotient, precision)

    def is_zero(self) -> bool:
        return self._raw == 0

    def __bool__(self) -> bool:
        return self._raw != 0

    # -- comparison: by value, across precisions, only within one kind ------------------------
    def _aligned(self, other: object) -> tuple[int, int] | None:
        if type(other) is not type(self) or not self._same_unit(other):
            return None
        assert isinstance(other, _FixedPoint)
        p, q = self._precision, other._precision
        if p == q:
            return self._raw, other._raw
        if p > q:
            return self._raw, other._raw * _POW10[p - q]
        return self._raw * _POW10[q - p], other._raw

    def _same_unit(self, other: object) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        pair = self._aligned(other)
        return NotImplemented if pair is None else pair[0] == pair[1]

    def __lt__(self, other: object) -> bool:
        pair = self._aligned(other)
        return NotImplemented if pair is None else pair[0] < pair[1]

    def __le__(self, other: object) -> bool:
        pair = self._aligned(other)
        return NotImplemented if pair is None else pair[0] <= pair[1]

    def __gt__(self, other: object) -> bool:
        pair = self._aligned(other)
        return NotImplemented if pair is None else pair[0] > pair[1]

    def __ge__(self, other: object) -> bool:
        pair = self._aligned(other)
        return NotImplemented if pair is None else pair[0] >= pair[1]

    def __hash__(self) -> int:
        return hash(self.as_decimal())

    # -- arithmetic: exact; the result carries the larger precision ---------------------------
    def _combine(self, other: object, sign: int) -> Self:
        pair = self._aligned(other)
        if pair is None:
            return NotImplemented
        assert isinstance(other, _FixedPoint)
        return self._derive(pair[0] + sign * pair[1], max(self._precision, other._precision))

    def _derive(self, raw: int, precision: int) -> Self:
        """A result of arithmetic on valid values: ``precision`` is one of theirs, so only the
        range and sign checks of ``_init`` can fail (no re-validation of type or precision)."""
        obj = _new_object(type(self))
        obj._init(raw, precision)
        return obj

    # Same kind at the same precision (a price and a price offset of one instrument): no alignment.
    # Money overrides both (its unit is also the currency), so this path is Price and Quantity only.
    # The result is built inline when it is in range and, for an unsigned kind, not negative (a
    # strategy's ``bid - offset`` per order: two calls fewer); anything else goes through
    # ``_derive``, which raises the usual error.
    def __add__(self, other: object) -> Self:
        cls = type(self)
        if type(other) is cls and other._precision == self._precision:  # type: ignore[attr-defined]
            raw = self._raw + other._raw  # type: ignore[attr-defined]
            if 0 <= raw <= INT64_MAX:
                obj = _new_object(cls)
                obj._raw = raw
                obj._precision = self._precision
                return obj
            return self._derive(raw, self._precision)
        return self._combine(other, 1)

    def __sub__(self, other: object) -> Self:
        cls = type(self)
        if type(other) is cls and other._precision == self._precision:  # type: ignore[attr-defined]
            raw = self._raw - other._raw  # type: ignore[attr-defined]
            if 0 <= raw <= INT64_MAX:
                obj = _new_object(cls)
                obj._raw = raw
                obj._precision = self._precision
                return obj
            return self._derive(raw, self._precision)
        return self._combine(other, -1)

    def __mul__(self, factor: object) -> Self:
        if type(factor) is not int:
            return NotImplemented
        return self._derive(self._raw * factor, self._precision)

    __rmul__ = __mul__

    def __neg__(self) -> Self:
        return self._derive(-self._raw, self._precision)

    def __abs__(self) -> Self:
        return self._derive(abs(self._raw), self._precision)

    def __str__(self) -> str:
        return format_raw(self._raw, self._precision)

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}')"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self).from_raw, (self._raw, self._precision))


def format_raw(raw: int, precision: int) -> str:
    """Decimal string of ``raw / 10**precision`` with exactly ``precision`` places (any magnitude)."""
    if -INT64_MAX <= raw <= INT64_MAX:
        return format_fixed(raw, precision)
    sign = "-" if raw < 0 else ""
    whole, frac = divmod(abs(raw), _POW10[precision])
    return f"{sign}{whole}.{frac:0{precision}d}" if precision else f"{sign}{whole}"


class Price(_FixedPoint):
    """An exact price; may be negative (spreads, some derivatives)."""

    __slots__ = ()


class Quantity(_FixedPoint):
    """An exact, non-negative quantity. ``a - b`` below zero raises ``ValueError``."""

    __slots__ = ()
    _signed = False


class Money(_FixedPoint):
    """An exact amount of one currency (balances, PnL, fees, notional); unbounded magnitude.

    Arithmetic and comparison require the same currency.
    """

    __slots__ = ("_currency",)
    _bounded = False
    _max_precision = MAX_MONEY_PRECISION

    _currency: str

    def __init__(self, value: str | int | Decimal, currency: str, precision: int | None = None) -> None:
        self._currency = _check_currency(currency)
        super().__init__(value, precision)

    @classmethod
    def from_raw(cls, raw: int, precision: int, currency: str = "") -> Money:  # type: ignore[override]
        # The same checks as ``_FixedPoint.from_raw`` + ``_init``, inlined: Money is unbounded and
        # signed, so after the type and precision checks there is nothing left to check on ``raw``.
        if type(raw) is not int:
            raise TypeError(f"raw must be int, got {type(raw).__name__}")
        if type(precision) is not int or not 0 <= precision <= MAX_MONEY_PRECISION:
            _check_precision(precision, MAX_MONEY_PRECISION)  # raises the usual error
        obj = _new_object(cls)
        obj._raw = raw
        obj._precision = precision
        obj._currency = _check_currency(currency)
        return obj

    @classmethod
    def parse(cls, text: str, currency: str = "", precision: int | None = None) -> Money:  # type: ignore[override]
        if not isinstance(text, str):
            raise TypeError(f"Money.parse takes a str, not {type(text).__name__}")
        return cls(text, currency, precision)

    @property
    def currency(self) -> str:
        return self._currency

    def _same_unit(self, other: object) -> bool:
        if other._currency != self._currency:  # type: ignore[attr-defined]  # _aligned: same type
            raise ValueError(f"cannot combine {self._currency} with {other._currency}")  # type: ignore[attr-defined]
        return True

    def __add__(self, other: object) -> Money:
        # Fast path for the common case (same currency, same precision: balances, PnL and fees
        # of one instrument); anything else takes the general path with its checks and errors.
        if type(other) is Money and other._precision == self._precision and other._currency == self._currency:
            return self._derive(self._raw + other._raw, self._precision)
        return self._combine(other, 1)

    def __sub__(self, other: object) -> Money:
        if type(other) is Money and other._precision == self._precision and other._currency == self._currency:
            return self._derive(self._raw - other._raw, self._precision)
        return self._combine(other, -1)

    def _derive(self, raw: int, precision: int) -> Money:
        # Unbounded and signed: nothing to check; the currency is this one's (already valid).
        obj = _new_object(Money)
        obj._raw = raw
        obj._precision = precision
        obj._currency = self._currency
        return obj

    def with_precision(self, precision: int) -> Money:
        _check_precision(precision, MAX_MONEY_PRECISION)
        if precision >= self._precision:
            return self._derive(self._raw * _POW10[precision - self._precision], precision)
        quotient, remainder = divmod(self._raw, _POW10[self._precision - precision])
        if remainder:
            raise ValueError(f"{self} cannot be represented with {precision} decimal places")
        return self._derive(quotient, precision)

    def __hash__(self) -> int:
        return hash((self.as_decimal(), self._currency))

    def __str__(self) -> str:
        return f"{format_raw(self._raw, self._precision)} {self._currency}"

    def __repr__(self) -> str:
        return f"Money('{format_raw(self._raw, self._precision)}', '{self._currency}')"

    def amount_str(self) -> str:
        """The amount alone as a decimal string (what the API carries)."""
        return format_raw(self._raw, self._precision)

    def __reduce__(self) -> tuple[object, ...]:
        return (Money.from_raw, (self._raw, self._precision, self._currency))


def _check_currency(currency: object) -> str:
    if type(currency) is str:
        known = _CURRENCIES.get(currency)
        if known is not None:
            return known
    if not isinstance(currency, str) or not currency or not currency.isalnum() or len(currency) > 16:
        raise ValueError(f"currency must be a short alphanumeric code like 'USDT', got {currency!r}")
    code = currency.upper()
    if len(_CURRENCIES) < 4096:  # a handful in practice; bounded against hostile input
        _CURRENCIES[currency] = code
    return code


#: Currency spellings already checked -> their code (checking costs more than the arithmetic).
_CURRENCIES: dict[str, str] = {}
