"""``BusFeedSink``: a ``FeedSink`` that publishes feed events on the message bus.

Topics (engine/app/trading.py, contracts): ``data.trades.<instrument_id>`` (TradeTick),
``data.quotes.<instrument_id>`` (QuoteTick), ``data.books.<instrument_id>`` (OrderBookUpdated),
``data.bars.<instrument_id>`` (Bar), ``data.alerts`` (DataQualityAlert).
"""

from __future__ import annotations

from engine.bus import MessageBus
from engine.core.events import Bar, DataQualityAlert, OrderBookUpdated, QuoteTick, TradeTick

__all__ = [
    "TOPIC_ALERTS",
    "TOPIC_BARS",
    "TOPIC_BOOKS",
    "TOPIC_QUOTES",
    "TOPIC_TRADES",
    "BusFeedSink",
]

TOPIC_TRADES = "data.trades"
TOPIC_QUOTES = "data.quotes"
TOPIC_BOOKS = "data.books"
TOPIC_BARS = "data.bars"
TOPIC_ALERTS = "data.alerts"


class BusFeedSink:
    __slots__ = ("_bus",)

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus

    def on_trade(self, tick: TradeTick) -> None:
        self._bus.publish_c(f"{TOPIC_TRADES}.{tick.instrument_id}", tick)

    def on_quote(self, tick: QuoteTick) -> None:
        self._bus.publish_c(f"{TOPIC_QUOTES}.{tick.instrument_id}", tick)

    def on_book(self, event: OrderBookUpdated) -> None:
        self._bus.publish_c(f"{TOPIC_BOOKS}.{event.instrument_id}", event)

    def on_bar(self, bar: Bar) -> None:
        self._bus.publish_c(f"{TOPIC_BARS}.{bar.instrument_id}", bar)

    def on_alert(self, alert: DataQualityAlert) -> None:
        self._bus.publish_c(TOPIC_ALERTS, alert)
