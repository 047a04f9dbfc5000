"""Live market-data feeds on ccxt.pro: see ``engine.marketdata.feeds.base`` for the API and for what
ccxt.pro does versus what our code does."""

from engine.marketdata.feeds.base import (
    Channel,
    FeedHandler,
    FeedSettings,
    FeedSink,
    FeedState,
    FeedStats,
    backoff_delay_s,
)
from engine.marketdata.feeds.breaker import CircuitBreaker, CircuitState
from engine.marketdata.feeds.sink import BusFeedSink

__all__ = [
    "BusFeedSink",
    "Channel",
    "CircuitBreaker",
    "CircuitState",
    "FeedHandler",
    "FeedSettings",
    "FeedSink",
    "FeedState",
    "FeedStats",
    "backoff_delay_s",
]
