"""Binance instruments for order-book work: spot and USDⓈ-M, with the grids their books live on.

An ``Instrument``'s increments define the book's ticks and lots, so they must be grids every price
and size the venue *sends* lies on:

* price_increment = the venue's tick size (``PRICE_FILTER.tickSize``); every resting order is on it.
  Checked on the captures in ``../shared/data/binance-l2``: spot BTCUSDT/ETHUSDT 0.01, USDⓈ-M
  BTCUSDT 0.1 (it was 0.01 in 2021), USDⓈ-M ETHUSDT 0.01.
* size_increment = the resolution sizes arrive at. For USDⓈ-M that is the ``stepSize`` 0.001 (the
  wire has 3 decimals). For spot it is 0.00000001: resting sizes in the spot book are *not*
  multiples of ``LOT_SIZE.stepSize`` (quote-quantity market orders leave finer remainders; in the
  captures the sizes' greatest common divisor is 0.000001 BTC and 0.00002 ETH), so the book uses
  the 8 decimals the wire carries. ``min_quantity`` is the order-entry minimum (``LOT_SIZE.minQty``
  in the exchangeInfo sessions under ``exchange-payloads/``); minimum notionals change over time and
  are left unset here: order entry must take them from the venue's exchangeInfo.

Symbols outside this table get increments inferred from a depth snapshot (``infer_instrument``):
the price tick is the greatest common divisor of the snapshot's prices (exact integer arithmetic)
and the size increment the wire's decimal places. A later price off that grid is an error, never
rounded.

Ids: ``BINANCE:<SYMBOL>`` for spot, ``BINANCE_USDM:<SYMBOL>`` for USDⓈ-M perpetuals (Binance's own
symbols; the venue part names the market because the same symbol trades on both).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum

from engine.core.enums import InstrumentKind
from engine.core.errors import ValidationError
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument

__all__ = ["BinanceMarket", "binance_instrument", "infer_instrument", "known_instrument"]


class BinanceMarket(StrEnum):
    SPOT = "spot"
    USDM = "usdm"

    @property
    def venue(self) -> str:
        return "BINANCE" if self is BinanceMarket.SPOT else "BINANCE_USDM"


def _base_quote(symbol: str) -> tuple[str, str]:
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH", "BNB", "TRY", "EUR"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValidationError("symbol", f"cannot split {symbol!r} into base and quote assets")


def binance_instrument(
    market: BinanceMarket,
    symbol: str,
    *,
    price_increment: str,
    size_increment: str,
    min_quantity: str | None = None,
    min_notional: str | None = None,
) -> Instrument:
    """An ``Instrument`` for ``symbol`` on ``market`` with the given increments (decimal strings)."""
    base, quote = _base_quote(symbol)
    size = Quantity.parse(size_increment)
    return Instrument(
        id=InstrumentId.of(market.venue, symbol),
        kind=InstrumentKind.SPOT if market is BinanceMarket.SPOT else InstrumentKind.PERPETUAL,
        base=base,
        quote=quote,
        settlement=quote,
        price_increment=Price.parse(price_increment),
        size_increment=size,
        min_quantity=Quantity.parse(min_quantity) if min_quantity is not None else size,
        min_notional=Money(min_notional, quote) if min_notional is not None else None,
    )


_KNOWN: dict[tuple[BinanceMarket, str], dict[str, str]] = {
    (BinanceMarket.SPOT, "BTCUSDT"): {
        "price_increment": "0.01",
        "size_increment": "0.00000001",
        "min_quantity": "0.00001",
    },
    (BinanceMarket.SPOT, "ETHUSDT"): {
        "price_increment": "0.01",
        "size_increment": "0.00000001",
        "min_quantity": "0.0001",
    },
    (BinanceMarket.USDM, "BTCUSDT"): {
        "price_increment": "0.1",
        "size_increment": "0.001",
        "min_quantity": "0.001",
    },
    (BinanceMarket.USDM, "ETHUSDT"): {
        "price_increment": "0.01",
        "size_increment": "0.001",
        "min_quantity": "0.001",
    },
}


def known_instrument(market: BinanceMarket, symbol: str) -> Instrument | None:
    """The table's instrument for (market, symbol), or None if the symbol is not in the table."""
    spec = _KNOWN.get((market, symbol.upper()))
    return None if spec is None else binance_instrument(market, symbol.upper(), **spec)


def _decimal_places(text: str) -> int:
    return len(text.partition(".")[2])


def infer_instrument(
    market: BinanceMarket, symbol: str, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]
) -> Instrument:
    """Increments from a depth snapshot: price tick = gcd of the prices, size = the wire's decimals."""
    levels: list[Sequence[str]] = [*bids, *asks]
    price_places = max((_decimal_places(p) for p, _ in levels), default=0)
    size_places = max((_decimal_places(q) for _, q in levels), default=0)
    gcd = 0
    for price, _ in levels:
        gcd = math.gcd(gcd, Price.parse(price, price_places).raw)
    if gcd == 0:
        raise ValidationError("snapshot", "has no non-zero prices to infer a tick size from")
    tick = Decimal(gcd).scaleb(-price_places).normalize()
    return binance_instrument(
        market,
        symbol.upper(),
        price_increment=format(tick, "f"),
        size_increment=format(Decimal(1).scaleb(-size_places), "f"),
    )
