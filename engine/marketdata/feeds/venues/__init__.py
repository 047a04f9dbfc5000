"""Venue protocols, looked up by ccxt exchange id (``protocol_for("okx")``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.marketdata.feeds.venues import binance, bybit, coinbase, cryptocom, kraken, okx  # noqa: F401 - registers
from engine.marketdata.feeds.venues.common import PROTOCOLS, VenueProtocol

if TYPE_CHECKING:
    from engine.marketdata.feeds.base import FeedHandler

__all__ = ["PROTOCOLS", "VenueProtocol", "protocol_for"]


def protocol_for(venue: str) -> Callable[[FeedHandler], VenueProtocol]:
    try:
        return PROTOCOLS[venue.lower()]
    except KeyError:
        raise ValueError(
            f"no feed protocol for venue {venue!r}; known: {', '.join(sorted(PROTOCOLS))}"
        ) from None
