"""Live market-data feeds on ccxt.pro: see ``engine.marketdata.feeds.base`` for the API and for what
ccxt.pro does versus what our code does.

The names below are loaded on first use (module ``__getattr__``, PEP 562): ``base`` imports ccxt,
about two seconds of start-up, and an engine on the simulated venue with no ``[feeds]`` never runs a
feed. Importing ``engine.marketdata.feeds.sink`` (the bus sink) or this package therefore stays cheap;
``from engine.marketdata.feeds import FeedHandler`` still works and imports ccxt at that moment.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Public name -> the submodule that defines it.
_EXPORTS: dict[str, str] = {
    "BusFeedSink": "sink",
    "Channel": "base",
    "CircuitBreaker": "breaker",
    "CircuitState": "breaker",
    "FeedHandler": "base",
    "FeedSettings": "base",
    "FeedSink": "base",
    "FeedState": "base",
    "FeedStats": "base",
    "backoff_delay_s": "base",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
