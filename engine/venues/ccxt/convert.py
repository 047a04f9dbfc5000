"""Numbers and instruments from ccxt, exactly.

ccxt's unified structures carry numbers as Python floats (it parses the venue's decimal strings with
``float``). A float parsed from a decimal string of up to 15 significant digits prints back as that
same string with ``repr`` (shortest round trip), so ``decimal_of`` goes float -> ``repr`` ->
``Decimal`` and never through binary arithmetic. The result is then put on the instrument's grid
with ``Instrument.parse_price`` / ``parse_quantity``, which raise instead of rounding: a value off
the grid is a venue/model disagreement, never silently adjusted. Outgoing amounts and prices leave
as decimal strings (``str(Quantity)``), which ccxt formats with its own string arithmetic.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from engine.core.enums import InstrumentKind
from engine.core.errors import ValidationError
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument

__all__ = ["decimal_of", "instrument_from_market", "instrument_id", "money_of"]

# ccxt precision modes (ccxt.base.decimal_to_precision): how ``market['precision']`` is expressed.
_DECIMAL_PLACES = 2
_SIGNIFICANT_DIGITS = 3
_TICK_SIZE = 4


def decimal_of(value: Any, name: str = "value") -> Decimal:
    """An exact ``Decimal`` for a number ccxt handed us (str, int, Decimal or a float it parsed)."""
    if isinstance(value, bool) or value is None:
        raise ValidationError(name, f"expected a number, got {value!r}")
    try:
        if isinstance(value, float):
            result = Decimal(repr(value))
        elif isinstance(value, int | str | Decimal):
            result = Decimal(value)
        else:
            raise ValidationError(name, f"expected a number, got {type(value).__name__}")
    except InvalidOperation:
        raise ValidationError(name, f"{value!r} is not a number") from None
    if not result.is_finite():
        raise ValidationError(name, f"{value!r} is not finite")
    return result


def _text(value: Decimal) -> str:
    """Plain decimal text (no exponent), the form ``Price.parse`` / ``Quantity.parse`` read."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def money_of(value: Any, currency: str) -> Money:
    return Money(_text(decimal_of(value, "amount")), currency)


def instrument_id(venue: str, market: dict[str, Any]) -> InstrumentId:
    """``BINANCE:BTCUSDT``: the engine's venue name and the market's name on the wire — the same ids
    the market-data feeds (``engine.marketdata.feeds``) give the instrument, so orders and prices meet."""
    return InstrumentId.of(venue, str(market["id"]))


def _increment(precision: Any, mode: int, name: str) -> Decimal:
    if precision is None:
        raise ValidationError(name, "the venue publishes no precision for this market")
    value = decimal_of(precision, name)
    if mode == _TICK_SIZE:
        return value
    if mode == _DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    raise ValidationError(name, f"ccxt precision mode {mode} (significant digits) has no fixed grid")


def instrument_from_market(venue: str, market: dict[str, Any], precision_mode: int) -> Instrument:
    """Our ``Instrument`` for a ccxt market (``exchange.markets[symbol]``) on venue ``venue``
    (the engine's name: ``BINANCE``, ``BINANCE_USDM``, ``OKX``...).

    Tick and lot sizes are the market's ``precision`` (tick sizes or decimal places, per the
    exchange's ``precisionMode``); the minimum quantity is ``limits.amount.min`` rounded up onto the
    lot grid, the minimum notional ``limits.cost.min``; fees and the contract size come along.
    """
    symbol = market["symbol"]
    precision = market.get("precision") or {}
    price_step = _increment(precision.get("price"), precision_mode, "price_increment")
    size_step = _increment(precision.get("amount"), precision_mode, "size_increment")
    limits = market.get("limits") or {}
    amount_min = (limits.get("amount") or {}).get("min")
    cost_min = (limits.get("cost") or {}).get("min")
    min_quantity = size_step
    if amount_min is not None:
        wanted = decimal_of(amount_min, "min_quantity")
        if wanted > 0:
            min_quantity = (wanted / size_step).to_integral_value(rounding=ROUND_CEILING) * size_step
    quote = market["quote"]
    if market.get("spot"):
        kind = InstrumentKind.SPOT
    elif market.get("swap"):
        kind = InstrumentKind.PERPETUAL
    elif market.get("future"):
        kind = InstrumentKind.FUTURE
    else:
        raise ValidationError("market", f"{symbol}: market type {market.get('type')!r} is not supported")
    contract = market.get("contractSize")
    return Instrument(
        id=instrument_id(venue, market),
        kind=kind,
        base=market["base"],
        quote=quote,
        settlement=market.get("settle") or quote,
        price_increment=Price.parse(_text(price_step)),
        size_increment=Quantity.parse(_text(size_step)),
        min_quantity=Quantity.parse(_text(min_quantity)),
        min_notional=money_of(cost_min, quote) if cost_min else None,
        maker_fee=decimal_of(market["maker"], "maker_fee") if market.get("maker") is not None else Decimal(0),
        taker_fee=decimal_of(market["taker"], "taker_fee") if market.get("taker") is not None else Decimal(0),
        multiplier=decimal_of(contract, "multiplier") if contract else Decimal(1),
        tradable=bool(market.get("active", True) is not False),
    )
