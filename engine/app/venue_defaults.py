"""Sensible defaults for trading on a crypto venue, so ``algotrendy serve --venue binance --paper`` works
with no risk or balance settings — without loosening the fail-closed risk gate.

The simulator's defaults (``risk.quote_currency = "USD"``, limits for ``SIM:*`` instruments) say nothing
about a crypto venue's symbols. With ``[venue] name`` other than ``sim``, every value below that the
user did **not** set (pydantic's ``model_fields_set``: keys from a file, the environment or a flag) is
derived; anything set explicitly wins, unchanged:

* ``risk.quote_currency``: the traded symbols' quote currency (``BTC/USDT`` -> ``USDT``). The gate
  measures exposure in one currency, so symbols quoted in different currencies are a config error
  naming them (``quote_of_symbols``).
* per traded instrument without its own ``risk.instruments`` entry: ``max_order_quantity`` and
  ``max_position`` are ``venue.default_order_notional`` and ``venue.default_position_notional`` (in the
  quote currency) divided by the instrument's reference price at start (the mid of its book, or of a
  REST book snapshot) times its contract multiplier, rounded **down** to the lot; the order quantity
  is also capped by the market's own maximum order quantity (``default_instrument_limits``). A
  notional of ``0`` turns this off: such instruments stay without limits and the gate denies their
  orders, as before. The limits are fixed at start (a price move does not change them; restart or
  ``RiskService.SetLimits`` does). Account limits (exposure, loss) keep their configured values,
  read in the derived currency.
* paper mode: the paper account starts with ``venue.paper_quote_balance`` of the quote currency unless
  ``venue.paper_balances`` names that currency (``paper_balances``).

A ``[[feeds.sources]]`` entry that lists the trading venue's own symbols shares the venue's feed for
them (one feed per instrument: no duplicate trades on the bus); it may not point the same instrument
at other data (another endpoint, or testnet vs mainnet) — that is a config error naming the key
(``shared_feeds``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.config import EngineConfig
from engine.config.model import FeedsConfig, InstrumentRiskConfig, RiskConfig, VenueConfig
from engine.core.errors import ConfigError
from engine.core.fixed import EXACT
from engine.core.instruments import Instrument

__all__ = [
    "default_instrument_limits",
    "effective_quote_currency",
    "effective_risk",
    "is_explicit",
    "paper_balances",
    "quote_of_symbols",
    "shared_feeds",
    "symbol_quote",
]


def is_explicit(section: Any, key: str) -> bool:
    """Whether ``key`` of a config section was set by a file, the environment or a flag (not a default)."""
    return key in section.model_fields_set


def symbol_quote(symbol: str) -> str:
    """The quote currency of a ccxt unified symbol: ``BTC/USDT`` and ``BTC/USDT:USDT`` -> ``USDT``."""
    return symbol.partition("/")[2].partition(":")[0]


def quote_of_symbols(symbols: list[str]) -> str:
    """The one quote currency all ``symbols`` share, or a ``ConfigError`` naming the symbols per currency."""
    by_quote: dict[str, list[str]] = {}
    for symbol in symbols:
        by_quote.setdefault(symbol_quote(symbol), []).append(symbol)
    if len(by_quote) == 1 and "" not in by_quote:
        return next(iter(by_quote))
    if "" in by_quote:
        raise ConfigError(
            "venue.symbols", f"{', '.join(by_quote[''])}: not a ccxt symbol BASE/QUOTE (e.g. BTC/USDT)"
        )
    groups = "; ".join(f"{', '.join(symbols)} in {quote}" for quote, symbols in by_quote.items())
    raise ConfigError(
        "venue.symbols",
        f"are quoted in different currencies ({groups}): the risk gate measures exposure in one currency. "
        'Trade symbols of one quote currency, or set risk.quote_currency (e.g. "USDT") and trade only its symbols',
    )


def effective_quote_currency(config: EngineConfig) -> str:
    """``risk.quote_currency`` if set explicitly (every symbol must be quoted in it), else the symbols'
    shared quote currency. Raises ``ConfigError`` before anything touches the network."""
    risk, symbols = config.risk, config.venue.symbols
    if not is_explicit(risk, "quote_currency"):
        return quote_of_symbols(symbols)
    currency = risk.quote_currency
    for symbol in symbols:
        quote = symbol_quote(symbol)
        if quote and quote != currency:
            raise ConfigError(
                "risk.quote_currency",
                f'is {currency} but {symbol} is quoted in {quote}: set risk.quote_currency = "{quote}" '
                "(or leave it unset: it then follows the traded symbols)",
            )
    return currency


def default_instrument_limits(
    instrument: Instrument, reference_price: Decimal, venue: VenueConfig
) -> InstrumentRiskConfig | None:
    """Limits for an instrument the user gave none: the configured notionals at ``reference_price``.

    Quantity = notional / (price x multiplier), rounded down to the instrument's lot; the order
    quantity is also capped by the market's maximum order quantity. None when
    ``venue.default_order_notional`` is ``0`` (no derived limits: the gate keeps denying the
    instrument's orders). A notional too small to buy the instrument's minimum quantity is a
    ``ConfigError`` naming the key to raise."""
    order_notional = Decimal(venue.default_order_notional)
    position_notional = Decimal(venue.default_position_notional)
    if order_notional == 0 or position_notional == 0:
        return None
    if not reference_price.is_finite() or reference_price <= 0:
        raise ValueError(f"{instrument.id}: reference price {reference_price} is not positive")
    lot = instrument.size_increment.as_decimal()
    lot_value = EXACT.multiply(EXACT.multiply(reference_price, instrument.multiplier), lot)
    market_max = instrument.max_quantity
    max_order = (order_notional // lot_value) * lot  # whole lots, rounded down (exact)
    if market_max is not None and market_max.raw > 0:
        max_order = min(max_order, market_max.as_decimal())
    max_position = max((position_notional // lot_value) * lot, max_order)
    smallest = max(instrument.min_quantity.as_decimal(), lot)
    if max_order < smallest:
        raise ConfigError(
            "venue.default_order_notional",
            f"{order_notional} {instrument.quote} buys less than {instrument.id}'s smallest order "
            f"({smallest} at {reference_price}): raise it, or set "
            f'[risk.instruments."{instrument.id}"] max_order_quantity / max_position',
        )
    return InstrumentRiskConfig(max_order_quantity=_plain(max_order), max_position=_plain(max_position))


def effective_risk(
    config: EngineConfig,
    currency: str,
    instruments: list[Instrument],
    reference_prices: dict[str, Decimal],
) -> tuple[RiskConfig, dict[str, InstrumentRiskConfig]]:
    """``config.risk`` with the derived quote currency and each traded instrument's derived limits (only
    those without an explicit ``risk.instruments`` entry, and only with a reference price); also
    returns what was derived, per instrument id."""
    risk = config.risk
    derived: dict[str, InstrumentRiskConfig] = {}
    for instrument in instruments:
        key = str(instrument.id)
        if key in risk.instruments or key not in reference_prices:
            continue
        limits = default_instrument_limits(instrument, reference_prices[key], config.venue)
        if limits is not None:
            derived[key] = limits
    update: dict[str, Any] = {}
    if currency != risk.quote_currency:
        update["quote_currency"] = currency
    if derived:
        update["instruments"] = {**risk.instruments, **derived}
    return (risk.model_copy(update=update) if update else risk), derived


def paper_balances(venue: VenueConfig, currency: str) -> dict[str, str]:
    """The paper account's starting balances: ``venue.paper_balances``, plus ``venue.paper_quote_balance``
    of the quote currency when they name none for it."""
    balances = dict(venue.paper_balances)
    if currency not in balances:
        balances[currency] = venue.paper_quote_balance
    return balances


def shared_feeds(config: EngineConfig) -> FeedsConfig:
    """``[feeds]`` without the trading venue's own symbols: the venue's feed already publishes them
    (trades, quotes, books on the bus; quotes reach the divergence check and reference failover).

    The same symbol of the same venue with another endpoint or sandbox setting would be a second,
    different stream for one instrument id: a ``ConfigError`` naming the ``feeds.sources`` key."""
    venue, feeds = config.venue, config.feeds
    if venue.name == "sim" or not feeds.sources:
        return feeds
    own = set(venue.symbols)
    sources = []
    changed = False
    for index, source in enumerate(feeds.sources):
        shared = [s for s in source.symbols if source.venue == venue.name and s in own]
        if not shared:
            sources.append(source)
            continue
        if source.endpoint != venue.endpoint or source.sandbox != venue.sandbox:
            raise ConfigError(
                f"feeds.sources.{index}.symbols",
                f"{', '.join(shared)} on {venue.name} is the trading venue's own market data (its feed "
                "serves it) but this source has another endpoint or sandbox setting than [venue]: remove "
                "the symbol here, or give the source the venue's endpoint and sandbox",
            )
        changed = True
        rest = [s for s in source.symbols if s not in shared]
        if rest:
            sources.append(source.model_copy(update={"symbols": rest}))
    return feeds.model_copy(update={"sources": sources}) if changed else feeds


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros (``1E+1`` -> ``10``, ``0.50`` -> ``0.5``)."""
    return format(value.normalize(), "f")
