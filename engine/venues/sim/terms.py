"""Exact integer terms of an instrument for the matcher: ticks, lots, notional units and fee units.

Inside the matcher a price is ``ticks`` (multiples of ``price_increment``) and a size ``lots``
(multiples of ``size_increment``); ``ticks * lots`` is the notional in *notional units* of
``price_increment * size_increment * multiplier`` quote currency, i.e. quote currency at
``notional_precision`` decimal places. Fees are integers in *fee units* of ``10**-fee_precision``
quote currency, ``fee_precision >= notional_precision``:

    fee_units = ceil(ticks * lots * num / den)   with  num / den = K * rate * 10**(fee_precision - np)

where ``K`` is the notional unit as an integer at ``np = notional_precision`` and ``rate`` the
instrument's maker or taker rate (exact ``Fraction``). The ceiling is the venue's favour: a charge
rounds up to the next fee unit, a rebate (negative rate) rounds towards zero. With the default
``fee_precision`` of 8 a fee is exact to 1e-8 of the quote currency whenever ``rate * notional`` has at
most 8 decimals, and otherwise at most one fee unit above the exact value.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from engine.core.enums import InstrumentKind
from engine.core.errors import ConfigError
from engine.core.fixed import MAX_PRECISION, Money, Price, Quantity
from engine.core.instruments import Instrument

__all__ = ["DEFAULT_FEE_PRECISION", "InstrumentTerms"]

DEFAULT_FEE_PRECISION = 8


def _decimal_parts(value: Decimal) -> tuple[int, int]:
    """``value = mantissa / 10**exponent`` with integer mantissa and exponent >= 0."""
    sign, digits, exp = value.normalize().as_tuple()
    assert isinstance(exp, int)
    mantissa = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    if exp >= 0:
        return mantissa * 10**exp, 0
    return mantissa, -exp


@dataclass(frozen=True, slots=True)
class InstrumentTerms:
    instrument: Instrument
    notional_precision: int
    notional_unit_raw: int  # K: one notional unit = K * 10**-notional_precision quote currency
    fee_precision: int
    maker_fee_num: int
    maker_fee_den: int
    taker_fee_num: int
    taker_fee_den: int
    min_lots: int
    max_lots: int
    min_notional_units: int

    @classmethod
    def of(cls, instrument: Instrument, *, fee_precision: int = DEFAULT_FEE_PRECISION) -> InstrumentTerms:
        key = f"instruments.{instrument.id}"
        if instrument.kind is not InstrumentKind.SPOT and instrument.settlement != instrument.quote:
            raise ConfigError(key, "only instruments settled in their quote currency are supported")
        mult_int, mult_exp = _decimal_parts(instrument.multiplier)
        np_ = instrument.price_precision + instrument.size_precision + mult_exp
        if np_ > MAX_PRECISION:
            raise ConfigError(key, f"notional precision {np_} exceeds {MAX_PRECISION} decimal places")
        fp = max(fee_precision, np_)
        if fp > MAX_PRECISION:
            raise ConfigError(key, f"fee precision {fp} exceeds {MAX_PRECISION} decimal places")
        k = instrument.price_increment.raw * instrument.size_increment.raw * mult_int
        fees = []
        for rate in (instrument.maker_fee, instrument.taker_fee):
            c = Fraction(k) * Fraction(rate) * 10 ** (fp - np_)
            if abs(c.numerator) >= 1 << 31 or c.denominator >= 1 << 62:
                raise ConfigError(key, f"fee rate {rate} cannot be expressed in 32/64-bit integer terms")
            fees.append((c.numerator, c.denominator))
        min_lots = max(1, instrument.quantity_to_lots(instrument.min_quantity))
        max_lots = instrument.quantity_to_lots(instrument.max_quantity) if instrument.max_quantity else 0
        min_units = 0
        if instrument.min_notional is not None:
            raw = instrument.min_notional.with_precision(max(np_, instrument.min_notional.precision)).raw
            scale = 10 ** (max(np_, instrument.min_notional.precision) - np_)
            min_units = -((-raw) // (k * scale))  # ceil: ticks * lots >= this  <=>  notional >= minimum
        return cls(
            instrument=instrument,
            notional_precision=np_,
            notional_unit_raw=k,
            fee_precision=fp,
            maker_fee_num=fees[0][0],
            maker_fee_den=fees[0][1],
            taker_fee_num=fees[1][0],
            taker_fee_den=fees[1][1],
            min_lots=min_lots,
            max_lots=max_lots,
            min_notional_units=min_units,
        )

    # -- conversions ----------------------------------------------------------------------------
    def price(self, ticks: int) -> Price:
        return self.instrument.ticks_to_price(ticks)

    def quantity(self, lots: int) -> Quantity:
        return self.instrument.lots_to_quantity(lots)

    def notional(self, ticks: int, lots: int) -> Money:
        """Exact ``price * quantity * multiplier`` in the quote currency."""
        return Money.from_raw(
            ticks * lots * self.notional_unit_raw, self.notional_precision, self.instrument.quote
        )

    def fee(self, units: int) -> Money:
        return Money.from_raw(units, self.fee_precision, self.instrument.quote)

    def fee_units(self, ticks: int, lots: int, *, maker: bool) -> int:
        """The matcher's fee rule in Python (the paper venue uses it): ceil(ticks*lots*num/den)."""
        num, den = (
            (self.maker_fee_num, self.maker_fee_den) if maker else (self.taker_fee_num, self.taker_fee_den)
        )
        return -((-ticks * lots * num) // den)

    def base_amount(self, lots: int) -> Money:
        """``lots`` of a spot instrument as an amount of its base currency."""
        q = self.quantity(lots)
        return Money.from_raw(q.raw, q.precision, self.instrument.base)
