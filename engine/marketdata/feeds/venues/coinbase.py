"""Coinbase Exchange market data (``COINBASE``; ccxt ``coinbaseexchange``, ``ws-feed.exchange.coinbase.com``).

Channels: ``level2_batch`` (``snapshot`` then ``l2update`` with ``changes`` ``[side, price, size]``;
the same messages as the authenticated ``level2``), ``matches`` (``match``/``last_match``; ``side`` is
the MAKER's side, so a ``sell`` match was bought by the taker). The level2 channels carry no
sequence numbers, so a gap cannot be seen on the wire: the book is rebuilt from a new snapshot after
every reconnect, and a crossed book resubscribes the product (a fresh snapshot). Coinbase has no
candle channel: OHLCV is not subscribed here (bars come from trades, engine/marketdata/bars.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.core.ids import InstrumentId
from engine.marketdata.feeds.venues.common import VenueProtocol, register

__all__ = ["CoinbaseProtocol", "iso_to_ns"]


def iso_to_ns(text: str) -> int:
    """``2021-04-17T16:43:37.075687Z`` -> ns (exact to the microseconds the venue sends)."""
    head, _, frac = text.rstrip("Z").partition(".")
    seconds = int(datetime.fromisoformat(head + "+00:00").timestamp())
    return seconds * 1_000_000_000 + int((frac + "000000000")[:9])


@register("coinbase", "coinbaseexchange")
class CoinbaseProtocol(VenueProtocol):
    venue = "COINBASE"
    ccxt_id = "coinbaseexchange"
    default_depth = 0  # level2 is the full book

    def ws_url(self) -> str:
        return str(self.exchange.urls["api"]["ws"])

    def _channels(self) -> list[str]:
        from engine.marketdata.feeds.base import Channel

        channels = self.feed.settings.channels
        out = []
        if Channel.BOOK in channels:
            out.append("level2_batch")
        if Channel.TRADES in channels:
            out.append("matches")
        return out

    def subscribe_messages(self) -> list[Any]:
        products = [str(m["id"]) for m in self.markets()]
        return [{"type": "subscribe", "product_ids": products, "channels": self._channels()}]

    async def resubscribe(self, iid: InstrumentId) -> None:
        message = {"product_ids": [iid.symbol], "channels": ["level2_batch"]}
        await self.send({"type": "unsubscribe", **message})
        await self.send({"type": "subscribe", **message})

    async def fetch_book(self, market: dict[str, Any]) -> tuple[int, list[Any], list[Any], int]:
        raw = await self.exchange.public_get_products_id_book({"id": market["id"], "level": 2})
        return int(raw.get("sequence", -1)), raw["bids"], raw["asks"], 0

    def handle(self, message: Any, ts_init: int) -> bool:
        if type(message) is not dict:
            return False
        kind = message.get("type")
        if kind == "l2update":
            self._on_update(message, ts_init)
        elif kind == "snapshot":
            iid = self.instrument_by_wire.get(message["product_id"])
            if iid is not None:
                sync = self.books[iid]
                if sync.snapshot(message["bids"], message["asks"], -1):
                    self.feed.emit_book(sync.book, ts_init, ts_init, snapshot=True, sequence=sync.last_seq)
                else:
                    self.spawn(self.resubscribe(iid))
        elif kind in {"match", "last_match"}:
            iid = self.instrument_by_wire.get(message["product_id"])
            if iid is not None:
                self.trade(
                    iid,
                    message["price"],
                    message["size"],
                    message["side"] == "sell",
                    message["trade_id"],
                    iso_to_ns(message["time"]),
                    ts_init,
                )
        else:
            return kind in ("subscriptions", "heartbeat", "ticker")  # acknowledged, nothing to do
        return True

    def _on_update(self, message: dict[str, Any], ts_init: int) -> None:
        iid = self.instrument_by_wire.get(message["product_id"])
        if iid is None:
            return
        sync = self.books[iid]
        if not sync.synced:
            return
        bids = []
        asks = []
        for side, price, size in message["changes"]:
            (bids if side == "buy" else asks).append((price, size))
        if not sync.diff(bids, asks, -1):
            self.spawn(self.resubscribe(iid))
            return
        self.feed.emit_book(
            sync.book, iso_to_ns(message["time"]), ts_init, snapshot=False, sequence=sync.last_seq
        )
