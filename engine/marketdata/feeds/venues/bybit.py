"""Bybit v5 public market data: spot (``BYBIT``) or USDT/USDC linear contracts (``BYBIT_LINEAR``).

One feed serves one category (one websocket endpoint, ``urls['api']['ws']['public'][category]``).
Topics: ``orderbook.<depth>.<symbol>``, ``publicTrade.<symbol>``, ``kline.<interval>.<symbol>``.
Book rules (Bybit v5 "Orderbook" docs): a ``snapshot`` resets the book; each ``delta`` carries update
id ``u`` which must be the previous ``u`` + 1 (checked on the real ``orderbook.500`` capture in
``../shared/data/l2-samples``); ``u == 1`` means the venue restarted the stream and the message is a
snapshot. A gap resubscribes the topic (a new snapshot). Bybit sends no checksum.

Candles: a ``kline`` push with ``confirm`` true is the closed candle (``CandleCloser``: once each).
After a reconnect the candles that closed while the socket was down come from ``GET /v5/market/kline``
(``VenueProtocol.backfill_candles``; rows ``[startTime, open, high, low, close, volume, turnover]``,
newest first, the forming candle included: the feed clock leaves it out).
"""

from __future__ import annotations

import itertools
from typing import Any

from engine.core.events import Bar
from engine.core.ids import InstrumentId
from engine.marketdata.feeds.venues.common import VenueProtocol, candle_bar, ms_to_ns, register

__all__ = ["BybitProtocol"]

_DEPTHS = {"spot": (1, 50, 200, 1000), "linear": (1, 50, 200, 1000)}
#: Most candles ``/v5/market/kline`` returns per request.
_KLINE_PAGE = 1000


@register("bybit")
class BybitProtocol(VenueProtocol):
    venue = "BYBIT"
    ccxt_id = "bybit"
    default_depth = 50

    def __init__(self, feed: Any) -> None:
        super().__init__(feed)
        self._ids = itertools.count(1)

    def ccxt_options(self) -> dict[str, Any]:
        return {"fetchMarkets": {"types": ["spot", "linear"]}}

    @property
    def category(self) -> str:
        kinds = {("spot" if m.get("spot") else "linear") for m in self.markets()}
        if len(kinds) != 1:
            raise ValueError("a Bybit feed serves one category: give only spot or only linear symbols")
        return kinds.pop()

    def on_markets_loaded(self) -> None:
        _ = self.category  # a feed mixing spot and linear symbols is refused at start, not in the loop
        super().on_markets_loaded()

    def venue_of(self, market: dict[str, Any]) -> str:
        return "BYBIT" if market.get("spot") else "BYBIT_LINEAR"

    def ws_url(self) -> str:
        url = str(self.exchange.urls["api"]["ws"]["public"][self.category])
        return str(self.exchange.implode_hostname(url))

    def _topics(self, iid: InstrumentId | None = None) -> list[str]:
        from engine.marketdata.feeds.base import Channel

        channels = self.feed.settings.channels
        interval = self.exchange.timeframes.get(self.feed.settings.ohlcv_interval, "1")
        topics = []
        for market in self.markets():
            wire = str(market["id"])
            if iid is not None:
                if self.instrument_by_wire[wire] == iid:
                    topics.append(f"orderbook.{self.depth}.{wire}")
                continue
            if Channel.BOOK in channels:
                topics.append(f"orderbook.{self.depth}.{wire}")
            if Channel.TRADES in channels:
                topics.append(f"publicTrade.{wire}")
            if Channel.OHLCV in channels:
                topics.append(f"kline.{interval}.{wire}")
        return topics

    def subscribe_messages(self) -> list[Any]:
        return [{"op": "subscribe", "args": self._topics(), "req_id": str(next(self._ids))}]

    async def resubscribe(self, iid: InstrumentId) -> None:
        topics = self._topics(iid)
        await self.send({"op": "unsubscribe", "args": topics, "req_id": str(next(self._ids))})
        await self.send({"op": "subscribe", "args": topics, "req_id": str(next(self._ids))})

    async def fetch_book(self, market: dict[str, Any]) -> tuple[int, list[Any], list[Any], int]:
        request = {"category": self.category, "symbol": market["id"], "limit": self.depth}
        raw = await self.exchange.public_get_v5_market_orderbook(request)
        result = raw["result"]
        return int(result.get("u", -1)), result["b"], result["a"], ms_to_ns(result["ts"])

    def handle(self, message: Any, ts_init: int) -> bool:
        if type(message) is not dict or "topic" not in message:
            return False
        topic: str = message["topic"]
        kind, _, rest = topic.partition(".")
        if kind == "orderbook":
            data = message["data"]
            iid = self.instrument_by_wire.get(data["s"])
            if iid is not None:
                self._on_book(iid, message["type"], data, ms_to_ns(message["ts"]), ts_init)
        elif kind in {"publicTrade", "trade"}:
            for t in message["data"]:
                iid = self.instrument_by_wire.get(t["s"])
                if iid is not None:
                    self.trade(iid, t["p"], t["v"], t["S"] == "Buy", t["i"], ms_to_ns(t["T"]), ts_init)
        elif kind == "kline":
            iid = self.instrument_by_wire.get(rest.rpartition(".")[2])
            if iid is not None:
                for k in message["data"]:
                    if k.get("confirm"):
                        self.candles.push(self._kline_bar(iid, k, ts_init), closed=True)
        return True

    def _on_book(
        self, iid: InstrumentId, kind: str, data: dict[str, Any], ts_event: int, ts_init: int
    ) -> None:
        sync = self.books[iid]
        update_id = int(data["u"])
        if kind == "snapshot" or update_id == 1:
            if not sync.snapshot(data["b"], data["a"], update_id):
                self.spawn(self.resubscribe(iid))
                return
            self.feed.emit_book(sync.book, ts_event, ts_init, snapshot=True, sequence=sync.last_seq)
            return
        if not sync.synced:
            return
        if update_id != sync.last_seq + 1:
            sync.lose("GAP", f"update id {update_id} after {sync.last_seq}")
            self.spawn(self.resubscribe(iid))
            return
        if not sync.diff(data["b"], data["a"], update_id):
            self.spawn(self.resubscribe(iid))
            return
        self.feed.emit_book(sync.book, ts_event, ts_init, snapshot=False, sequence=sync.last_seq)

    async def fetch_candles(
        self, market: dict[str, Any], interval_ns: int, since_ns: int, limit: int, ts_init: int
    ) -> list[tuple[Bar, bool | None]]:
        request = {
            "category": self.category,
            "symbol": market["id"],
            "interval": self.exchange.timeframes.get(self.feed.settings.ohlcv_interval, "1"),
            "start": since_ns // 1_000_000,
            "end": ts_init // 1_000_000,
            "limit": min(limit, _KLINE_PAGE),
        }
        raw = await self.exchange.public_get_v5_market_kline(request)
        iid = self.instrument_by_wire[str(market["id"])]
        parser = self.trade_parsers[iid]
        return [
            (candle_bar(parser, ms_to_ns(row[0]), interval_ns, row[1:5], row[5], ts_init), None)
            for row in raw["result"]["list"]
        ]

    def _kline_bar(self, iid: InstrumentId, k: dict[str, Any], ts_init: int) -> Bar:
        parser = self.trade_parsers[iid]
        inst = parser.instrument
        price = lambda text: inst.ticks_to_price(parser.ticks(text))  # noqa: E731
        start, end = ms_to_ns(k["start"]), ms_to_ns(k["end"]) + 1_000_000
        return Bar(
            ts_event=end,
            ts_init=ts_init,
            instrument_id=iid,
            interval_ns=end - start,
            ts_open=start,
            open=price(k["open"]),
            high=price(k["high"]),
            low=price(k["low"]),
            close=price(k["close"]),
            volume=inst.lots_to_quantity(parser.lots(k["volume"])),
            trade_count=0,  # Bybit's kline carries no trade count
        )
