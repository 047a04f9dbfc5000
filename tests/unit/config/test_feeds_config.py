"""The [feeds] section: TOML tables of sources, validation that names the problem, the FeedSettings it
maps to."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.core.errors import ConfigError
from engine.marketdata.feeds import Channel
from engine.marketdata.feeds.service import feed_settings


def test_feeds_config_when_sources_in_toml_then_settings_for_each(tmp_path: Path) -> None:
    path = tmp_path / "engine.toml"
    path.write_text(
        """
[feeds]
backoff_ms = 100
max_backoff_ms = 1000
candle_backfill_max = 50
max_divergence_bps = 25
reference_fallbacks = { "BINANCE:BTCUSDT" = ["OKX:BTC-USDT"] }

[[feeds.sources]]
venue = "okx"
symbols = ["BTC/USDT"]

[[feeds.sources]]
venue = "kraken"
symbols = ["BTC/USD", "ETH/USD"]
channels = ["book"]
book_depth = 25
endpoint = "127.0.0.1:8080"
"""
    )
    config = load_config(path, env={})
    okx, kraken = config.feeds.sources
    assert (okx.venue, okx.symbols, okx.channels) == ("okx", ["BTC/USDT"], ["trades", "book"])
    settings = feed_settings(config.feeds, kraken)
    assert settings.venue == "kraken" and settings.symbols == ("BTC/USD", "ETH/USD")
    assert settings.channels == frozenset({Channel.BOOK}) and settings.book_depth == 25
    assert settings.base_url_override == "http://127.0.0.1:8080"
    assert (settings.backoff_base_ms, settings.backoff_max_ms) == (100, 1000)
    assert settings.candle_backfill_max == 50
    assert config.feeds.reference_fallbacks == {"BINANCE:BTCUSDT": ["OKX:BTC-USDT"]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"feeds.sources": [{"venue": "nasdaq", "symbols": ["X"]}]}, "venue"),
        ({"feeds.sources": [{"venue": "okx", "symbols": []}]}, "symbols"),
        ({"feeds.sources": [{"venue": "okx", "symbols": ["BTC/USDT"], "channels": ["candles"]}]}, "channels"),
        ({"feeds.backoff_ms": 500, "feeds.max_backoff_ms": 100}, "max_backoff_ms"),
        ({"feeds.reference_fallbacks": {"BTCUSDT": ["OKX:BTC-USDT"]}}, "reference_fallbacks"),
        ({"feeds.divergence_min_venues": 1}, "divergence_min_venues"),
        ({"feeds.candle_backfill_max": -1}, "candle_backfill_max"),
    ],
)
def test_feeds_config_when_invalid_then_config_error_names_it(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env={}, overrides=overrides)
