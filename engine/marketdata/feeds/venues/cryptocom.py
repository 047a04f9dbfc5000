"""Crypto.com Exchange v1 market data (``CRYPTOCOM``; ``urls['api']['ws']['public']``).

Channels: ``book.<instrument>.<depth>`` with ``SNAPSHOT_AND_UPDATE`` (a ``book`` snapshot, then
``book.update`` deltas carrying ``u`` and ``pu``: ``pu`` must equal the previous ``u``), ``trade.<instrument>``
and ``candlestick.<interval>.<instrument>``. A gap resubscribes the book (a new snapshot). The
``public/heartbeat`` the venue sends is answered by ccxt's own handler (we pass it through).

Book integrity rests on the ``pu`` chain, the venue's documented sync rule: every delta names the
``u`` it follows, so a lost, duplicated or reordered frame is a gap and brings a fresh snapshot.
The ``cs`` field that snapshots and deltas carry (a signed 32-bit integer) is deliberately not
checked. Crypto.com does not publish how it is computed, ccxt ignores it, and a public probe of the
live feed that tried several hundred CRC-32 layouts of the price and size strings (1 to 50 levels,
every side order, separator and number format, with and without the order count) matched none of
300 real deltas. A guessed algorithm would reject every correct book and resubscribe forever, which
protects nothing. Should the venue document it, the
check belongs next to OKX's and Kraken's (``okx_checksum``, ``kraken_checksum``).

No recorded Crypto.com session exists in ``../shared/data``: this protocol is tested against a mock
that serves the documented v1 message shapes through a real ccxt.pro client
(``tests/mockex/test_feed_cryptocom.py``).

Candles: ``candlestick`` pushes the running candle; it is final when a later one starts
(``CandleCloser``). After a reconnect the candles that closed while the socket was down come from
``public/get-candlestick`` (``VenueProtocol.backfill_candles``); its shape is the one ccxt's
``fetch_ohlcv`` documents (no recorded answer in ``../shared/data``).
"""

from __future__ import annotations

import itertools
from typing import Any

from engine.core.events import Bar
from engine.core.ids import InstrumentId
from engine.marketdata.feeds.venues.common import VenueProtocol, candle_bar, ms_to_ns, register

__all__ = ["CryptocomProtocol"]

#: Most candles ``public/get-candlestick`` returns per request.
_CANDLES_PAGE = 300


@register("cryptocom", "crypto.com")
class CryptocomProtocol(VenueProtocol):
    venue = "CRYPTOCOM"
    ccxt_id = "cryptocom"
    default_depth = 50

    def __init__(self, feed: Any) -> None:
        super().__init__(feed)
        self._ids = itertools.count(1)

    def ws_url(self) -> str:
        return str(self.exchange.urls["api"]["ws"]["public"])

    def _channels(self, iid: InstrumentId | None = None) -> list[str]:
        from engine.marketdata.feeds.base import Channel

        channels = self.feed.settings.channels
        interval = self.exchange.timeframes.get(self.feed.settings.ohlcv_interval, "1m")
        out = []
        for market in self.markets():
            wire = str(market["id"])
            if iid is not None:
                if self.instrument_by_wire[wire] == iid:
                    out.append(f"book.{wire}.{self.depth}")
                continue
            if Channel.BOOK in channels:
                out.append(f"book.{wire}.{self.depth}")
            if Channel.TRADES in channels:
                out.append(f"trade.{wire}")
            if Channel.OHLCV in channels:
                out.append(f"candlestick.{interval}.{wire}")
        return out

    def _request(self, method: str, channels: list[str]) -> dict[str, Any]:
        return {
            "id": next(self._ids),
            "method": method,
            "params": {"channels": channels, "book_subscription_type": "SNAPSHOT_AND_UPDATE"},
            "nonce": self.feed.clock.timestamp_ns() // 1_000_000,
        }

    def subscribe_messages(self) -> list[Any]:
        return [self._request("subscribe", self._channels())]

    async def resubscribe(self, iid: InstrumentId) -> None:
        channels = self._channels(iid)
        await self.send(self._request("unsubscribe", channels))
        await self.send(self._request("subscribe", channels))

    async def fetch_book(self, market: dict[str, Any]) -> tuple[int, list[Any], list[Any], int]:
        raw = await self.exchange.v1_public_get_public_get_book(
            {"instrument_name": market["id"], "depth": self.depth}
        )
        data = raw["result"]["data"][0]
        return int(data.get("u", -1)), data["bids"], data["asks"], ms_to_ns(data["t"])

    def handle(self, message: Any, ts_init: int) -> bool:
        if type(message) is not dict or message.get("method") != "subscribe" or "result" not in message:
            return False
        result = message["result"]
        channel = result.get("channel", "")
        iid = self.instrument_by_wire.get(result.get("instrument_name", ""))
        if iid is None:
            return True
        if channel in ("book", "book.update"):
            for data in result["data"]:
                self._on_book(iid, channel, data, ts_init)
        elif channel == "trade":
            for t in result["data"]:
                self.trade(iid, t["p"], t["q"], t["s"] == "BUY", t["d"], ms_to_ns(t["t"]), ts_init)
        elif channel == "candlestick":
            self._on_candles(iid, result, ts_init)
        return True

    def _on_book(self, iid: InstrumentId, channel: str, data: dict[str, Any], ts_init: int) -> None:
        sync = self.books[iid]
        update_id = int(data.get("u", -1))
        if channel == "book":
            if not sync.snapshot(data["bids"], data["asks"], update_id):
                self.spawn(self.resubscribe(iid))
                return
            self.feed.emit_book(
                sync.book, ms_to_ns(data["t"]), ts_init, snapshot=True, sequence=sync.last_seq
            )
            return
        if not sync.synced:
            return
        previous = int(data.get("pu", -1))
        if previous != sync.last_seq:
            sync.lose("GAP", f"pu {previous} != last u {sync.last_seq}")
            self.spawn(self.resubscribe(iid))
            return
        update = data.get("update", {})
        if not sync.diff(update.get("bids", []), update.get("asks", []), update_id):
            self.spawn(self.resubscribe(iid))
            return
        self.feed.emit_book(sync.book, ms_to_ns(data["t"]), ts_init, snapshot=False, sequence=sync.last_seq)

    def _on_candles(self, iid: InstrumentId, result: dict[str, Any], ts_init: int) -> None:
        """Crypto.com pushes the running candle; the previous one is final when a later one starts
        (``CandleCloser``: once each; a candle forming across a disconnect is never emitted)."""
        interval = int(self.exchange.parse_timeframe(self.feed.settings.ohlcv_interval)) * 1_000_000_000
        for c in result["data"]:
            self.candles.push(self._candle(iid, c, interval, ts_init), closed=False)

    def _candle(self, iid: InstrumentId, c: dict[str, Any], interval: int, ts_init: int) -> Bar:
        ohlc = (c["o"], c["h"], c["l"], c["c"])
        return candle_bar(self.trade_parsers[iid], ms_to_ns(c["t"]), interval, ohlc, c["v"], ts_init)

    async def fetch_candles(
        self, market: dict[str, Any], interval_ns: int, since_ns: int, limit: int, ts_init: int
    ) -> list[tuple[Bar, bool | None]]:
        """``GET public/get-candlestick`` (at most 300 a request; the shape ccxt's ``fetch_ohlcv``
        documents: ``{"t": open ms, "o", "h", "l", "c", "v"}`` with decimal strings)."""
        request = {
            "instrument_name": market["id"],
            "timeframe": self.exchange.timeframes.get(self.feed.settings.ohlcv_interval, "1m"),
            "count": min(limit, _CANDLES_PAGE),
            "start_ts": (since_ns - interval_ns) // 1_000_000,  # as ccxt asks: one interval earlier
            "end_ts": ts_init // 1_000_000,
        }
        raw = await self.exchange.v1_public_get_public_get_candlestick(request)
        iid = self.instrument_by_wire[str(market["id"])]
        return [(self._candle(iid, c, interval_ns, ts_init), None) for c in raw["result"]["data"]]
