"""The defaults a crypto venue trades with when the user set none (engine/app/venue_defaults.py): the
risk quote currency from the symbols, per-instrument limits from a notional at the reference price,
paper balances in the quote currency, the trading venue's symbols shared with [feeds]. Explicit
config always wins. Configs come from the real loader (defaults -> env -> flags)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from engine.app.venue_defaults import (
    default_instrument_limits,
    effective_quote_currency,
    effective_risk,
    is_explicit,
    paper_balances,
    shared_feeds,
)
from engine.config import EngineConfig, load_config
from engine.core.enums import InstrumentKind
from engine.core.errors import ConfigError
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument


def venue_config(symbols: list[str], **overrides: Any) -> EngineConfig:
    return load_config(
        env={},
        overrides={"venue.name": "binance", "venue.paper": True, "venue.symbols": symbols, **overrides},
    )


def spot(symbol: str, tick: str = "0.01", lot: str = "0.00001", **extra: Any) -> Instrument:
    base, quote = symbol.split("/")
    return Instrument(
        id=InstrumentId(f"BINANCE:{base}{quote}"),
        kind=InstrumentKind.SPOT,
        base=base,
        quote=quote,
        settlement=quote,
        price_increment=Price(tick),
        size_increment=Quantity(lot),
        min_quantity=extra.pop("min_quantity", Quantity(lot)),
        **extra,
    )


# -- quote currency -------------------------------------------------------------------------------
def test_quote_currency_when_unset_then_it_is_the_symbols_shared_quote() -> None:
    config = venue_config(["BTC/USDT", "ETH/USDT", "SOL/USDT:USDT"])
    assert not is_explicit(config.risk, "quote_currency")
    assert effective_quote_currency(config) == "USDT"


def test_quote_currency_when_symbols_have_different_quotes_then_config_error_names_them() -> None:
    config = venue_config(["BTC/USDT", "ETH/BTC", "SOL/USDT"])
    with pytest.raises(ConfigError) as raised:
        effective_quote_currency(config)
    assert raised.value.key == "venue.symbols"
    assert "BTC/USDT, SOL/USDT in USDT" in str(raised.value)
    assert "ETH/BTC in BTC" in str(raised.value)


def test_quote_currency_when_set_explicitly_then_it_wins_and_a_mismatch_is_an_error() -> None:
    from_env = load_config(
        env={"ALGOTRENDY_RISK__QUOTE_CURRENCY": "USDT"},
        overrides={"venue.name": "binance", "venue.paper": True, "venue.symbols": ["BTC/USDT"]},
    )
    assert is_explicit(from_env.risk, "quote_currency")
    assert effective_quote_currency(from_env) == "USDT"
    mismatched = venue_config(["BTC/USDC"], **{"risk.quote_currency": "USDT"})
    with pytest.raises(ConfigError, match=re.escape('set risk.quote_currency = "USDC"')) as raised:
        effective_quote_currency(mismatched)
    assert raised.value.key == "risk.quote_currency"


# -- instrument limits ----------------------------------------------------------------------------
def test_limits_when_derived_then_notional_at_reference_price_rounded_down_to_the_lot() -> None:
    venue = venue_config(["BTC/USDT"]).venue  # 10,000 per order, 50,000 position (quote currency)
    limits = default_instrument_limits(spot("BTC/USDT"), Decimal("30000.5"), venue)
    assert limits is not None
    # 10000 / 30000.5 = 0.333327777... -> 0.33332 (never above the notional)
    assert limits.max_order_quantity == "0.33332"
    assert limits.max_position == "1.66663"  # 50000 / 30000.5 = 1.666638...
    assert Decimal(limits.max_order_quantity) * Decimal("30000.5") <= 10_000


def test_limits_when_the_market_caps_the_order_quantity_then_the_cap_applies_to_orders_only() -> None:
    venue = venue_config(["NKN/USDT"]).venue
    capped = spot("NKN/USDT", tick="0.0001", lot="1", max_quantity=Quantity("5000"))
    limits = default_instrument_limits(capped, Decimal("0.35"), venue)
    assert limits is not None
    assert limits.max_order_quantity == "5000"  # not 28571: the market's maximum order
    assert limits.max_position == "142857"


def test_limits_when_the_contract_has_a_multiplier_then_it_counts_in_the_notional() -> None:
    venue = venue_config(["BTC/USD:BTC"]).venue
    inverse_like = spot("BTC/USD", tick="0.1", lot="1", multiplier=Decimal("0.001"))
    limits = default_instrument_limits(inverse_like, Decimal("50000"), venue)
    assert limits is not None
    assert limits.max_order_quantity == "200"  # 10000 / (50000 x 0.001)


def test_limits_when_the_notional_buys_less_than_the_minimum_then_config_error_names_the_key() -> None:
    venue = venue_config(["BTC/USDT"], **{"venue.default_order_notional": "5"}).venue
    with pytest.raises(ConfigError, match="BINANCE:BTCUSDT") as raised:
        default_instrument_limits(spot("BTC/USDT", min_quantity=Quantity("0.001")), Decimal("30000"), venue)
    assert raised.value.key == "venue.default_order_notional"


def test_limits_when_the_notional_is_zero_then_none_are_derived_and_the_gate_stays_closed() -> None:
    config = venue_config(["BTC/USDT"], **{"venue.default_order_notional": "0"})
    assert default_instrument_limits(spot("BTC/USDT"), Decimal("30000"), config.venue) is None
    risk, derived = effective_risk(config, "USDT", [spot("BTC/USDT")], {"BINANCE:BTCUSDT": Decimal("30000")})
    assert derived == {}
    assert "BINANCE:BTCUSDT" not in risk.instruments


def test_effective_risk_when_an_instrument_has_explicit_limits_then_they_win_and_others_are_derived() -> None:
    config = venue_config(
        ["BTC/USDT", "ETH/USDT"],
        **{"risk.instruments": {"BINANCE:BTCUSDT": {"max_order_quantity": "2", "max_position": "3"}}},
    )
    instruments = [spot("BTC/USDT"), spot("ETH/USDT")]
    prices = {"BINANCE:BTCUSDT": Decimal("30000"), "BINANCE:ETHUSDT": Decimal("2000")}
    risk, derived = effective_risk(config, "USDT", instruments, prices)
    assert risk.quote_currency == "USDT"
    assert risk.instruments["BINANCE:BTCUSDT"].max_order_quantity == "2"  # explicit: unchanged
    assert risk.instruments["BINANCE:BTCUSDT"].max_position == "3"
    assert list(derived) == ["BINANCE:ETHUSDT"]
    assert risk.instruments["BINANCE:ETHUSDT"].max_order_quantity == "5"
    assert risk.instruments["BINANCE:ETHUSDT"].max_position == "25"
    # Account limits are the user's (here the defaults), only the currency follows the symbols.
    assert risk.max_gross_exposure == config.risk.max_gross_exposure


def test_notionals_when_position_is_below_order_then_config_error() -> None:
    with pytest.raises(ConfigError, match="default_position_notional must be >= default_order_notional"):
        venue_config(["BTC/USDT"], **{"venue.default_position_notional": "100"})


# -- paper balances -------------------------------------------------------------------------------
def test_paper_balances_when_none_set_then_the_quote_currency_gets_the_default() -> None:
    assert paper_balances(venue_config(["BTC/USDC"]).venue, "USDC") == {"USDC": "100000"}
    venue = venue_config(["BTC/USDC"], **{"venue.paper_quote_balance": "2500"}).venue
    assert paper_balances(venue, "USDC") == {"USDC": "2500"}


def test_paper_balances_when_set_explicitly_then_they_win_and_a_missing_quote_is_added() -> None:
    venue = venue_config(["BTC/USDT"], **{"venue.paper_balances": {"USDT": "42", "BTC": "1"}}).venue
    assert paper_balances(venue, "USDT") == {"USDT": "42", "BTC": "1"}
    venue = venue_config(["BTC/USDT"], **{"venue.paper_balances": {"BTC": "1"}}).venue
    assert paper_balances(venue, "USDT") == {"BTC": "1", "USDT": "100000"}


# -- [feeds] sharing the venue's feed -------------------------------------------------------------
def test_feeds_when_a_source_lists_the_venues_own_symbol_then_it_shares_the_venue_feed() -> None:
    config = venue_config(
        ["NKN/USDT"],
        **{
            "venue.endpoint": "127.0.0.1:9000",
            "feeds.sources": [
                {"venue": "binance", "symbols": ["NKN/USDT", "BLZ/ETH"], "endpoint": "127.0.0.1:9000"},
                {"venue": "binance", "symbols": ["NKN/USDT"], "endpoint": "127.0.0.1:9000"},
                {"venue": "okx", "symbols": ["NKN/USDT"]},
            ],
        },
    )
    feeds = shared_feeds(config)
    assert [(s.venue, s.symbols) for s in feeds.sources] == [("binance", ["BLZ/ETH"]), ("okx", ["NKN/USDT"])]
    assert feeds.backoff_ms == config.feeds.backoff_ms


def test_feeds_when_the_venues_symbol_comes_from_another_endpoint_then_config_error_names_the_key() -> None:
    config = venue_config(
        ["NKN/USDT"],
        **{"venue.sandbox": True, "feeds.sources": [{"venue": "binance", "symbols": ["NKN/USDT"]}]},
    )
    with pytest.raises(ConfigError, match="trading venue's own market data") as raised:
        shared_feeds(config)
    assert raised.value.key == "feeds.sources.0.symbols"
