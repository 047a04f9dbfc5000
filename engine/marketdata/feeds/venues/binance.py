"""Binance spot (``BINANCE``) and USDⓈ-M (``BINANCE_USDM``) market data.

Streams (``SUBSCRIBE`` on ccxt's ``urls['api']['ws']``): ``<sym>@depth@100ms`` diffs, ``<sym>@trade``
(``aggTrade`` is understood too), ``<sym>@bookTicker`` (cross-check of our top of book) and
``<sym>@kline_<interval>`` (closed candles -> ``Bar``). The book follows Binance's documented sync
rules through ``BinanceDepthSync`` (buffer diffs, REST ``/depth`` snapshot through ccxt's rate-limited
client, straddle check, continuity ``U == prev u + 1`` spot / ``pu == prev u`` USDⓈ-M); a gap, a
crossed book or a bookTicker that disagrees with a book at the same update id fetches a new snapshot.

Candles: a kline with ``x`` true is the closed candle (``CandleCloser``: once each). After a reconnect
the candles that closed while the socket was down come from the klines endpoint
(``VenueProtocol.backfill_candles``; the row shape of nautilus's ``klines_response.json`` fixture).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any, ClassVar

import ccxt

from engine.core.events import Bar
from engine.core.ids import InstrumentId
from engine.marketdata.binance.depth import BinanceDepthSync, DepthOutcome
from engine.marketdata.binance.instruments import BinanceMarket
from engine.marketdata.feeds.venues.common import VenueProtocol, candle_bar, ms_to_ns, register

__all__ = ["BinanceSpotProtocol", "BinanceUsdmProtocol"]

#: Most candles a klines request returns (spot's maximum; USDⓈ-M allows 1500).
_KLINES_PAGE = 1000


class _BinanceProtocol(VenueProtocol):
    market_kind: ClassVar[BinanceMarket]
    ws_key: ClassVar[str]
    default_depth = 1000
    infer_grid = True

    def __init__(self, feed: Any) -> None:
        super().__init__(feed)
        self.syncs: dict[InstrumentId, BinanceDepthSync] = {}
        self._fetching: set[InstrumentId] = set()
        #: Consecutive snapshots that did not sync a book (a gap the snapshot cannot bridge): the next
        #: attempt waits backoff(attempts), so a persistent gap never hammers the REST weight limit.
        self._resync_attempts: dict[InstrumentId, int] = {}
        self._ids = itertools.count(1)

    def on_markets_loaded(self) -> None:
        super().on_markets_loaded()
        for iid, sync in self.books.items():
            self.syncs[iid] = BinanceDepthSync(sync.book, self.market_kind)

    def ws_url(self) -> str:
        return str(self.exchange.urls["api"]["ws"][self.ws_key])

    def subscribe_messages(self) -> list[Any]:
        from engine.marketdata.feeds.base import Channel

        channels = self.feed.settings.channels
        params: list[str] = []
        for market in self.markets():
            s = str(market["id"]).lower()
            if Channel.BOOK in channels:
                params += [f"{s}@depth@100ms", f"{s}@bookTicker"]
            if Channel.TRADES in channels:
                params.append(f"{s}@trade")
            if Channel.OHLCV in channels:
                params.append(f"{s}@kline_{self.feed.settings.ohlcv_interval}")
        return [{"method": "SUBSCRIBE", "params": params, "id": next(self._ids)}]

    def after_subscribe(self) -> None:
        from engine.marketdata.feeds.base import Channel

        if Channel.BOOK in self.feed.settings.channels:
            for iid in self.syncs:
                self.spawn(self.resync(iid))

    def on_disconnected(self) -> None:
        super().on_disconnected()
        for iid, sync in self.syncs.items():
            self.syncs[iid] = BinanceDepthSync(sync.book, self.market_kind)

    # -- snapshots -------------------------------------------------------------------------------------
    async def fetch_book(self, market: dict[str, Any]) -> tuple[int, list[Any], list[Any], int]:
        request = {"symbol": market["id"], "limit": self.depth}
        if self.market_kind is BinanceMarket.SPOT:
            raw = await self.exchange.public_get_depth(request)
        else:
            raw = await self.exchange.fapipublic_get_depth(request)
        ts = raw.get("E") or raw.get("T")
        return int(raw["lastUpdateId"]), raw["bids"], raw["asks"], ms_to_ns(ts) if ts else 0

    async def resync(self, iid: InstrumentId) -> None:
        """Fetch a REST snapshot for ``iid`` (one at a time) with backoff on errors and rate limits."""
        if iid in self._fetching:
            return
        self._fetching.add(iid)
        feed = self.feed
        try:
            attempt = 0
            market = self._market_of(iid)
            while True:
                try:
                    seq, bids, asks, ts_event = await self.fetch_book(market)
                    break
                except ccxt.BaseError as exc:
                    feed._count_rate_limit(exc)
                    feed.breaker.record_failure()
                    await asyncio.sleep(feed._backoff(attempt))
                    attempt += 1
            sync = self.syncs[iid]
            ts_init = feed.clock.timestamp_ns()
            outcome = sync.on_snapshot(seq, bids, asks)
            if outcome is DepthOutcome.SNAPSHOT_APPLIED and not sync.book.l2.needs_snapshot:
                feed.record_success()
                feed.emit_book(sync.book, ts_event or ts_init, ts_init, snapshot=True)
            elif outcome is DepthOutcome.CROSSED:
                feed.book_lost_sync(sync.book, "CROSSED", "snapshot is crossed")
        finally:
            self._fetching.discard(iid)
        if not self.syncs[iid].book.l2.needs_snapshot:
            self._resync_attempts.pop(iid, None)
        elif not feed._stopping:
            attempts = self._resync_attempts[iid] = self._resync_attempts.get(iid, 0) + 1
            await asyncio.sleep(feed._backoff(attempts))
            self.spawn(self.resync(iid))

    async def poll_book(self, instrument_id: InstrumentId) -> None:
        seq, bids, asks, ts_event = await self.fetch_book(self._market_of(instrument_id))
        sync = self.syncs[instrument_id]
        ts_init = self.feed.clock.timestamp_ns()
        # A fresh depth sync per poll: a polled book is a snapshot, never continued by stale diffs.
        sync = self.syncs[instrument_id] = BinanceDepthSync(sync.book, self.market_kind)
        if sync.on_snapshot(seq, bids, asks) is DepthOutcome.SNAPSHOT_APPLIED:
            self.feed.record_success()
            self.feed.emit_book(sync.book, ts_event or ts_init, ts_init, snapshot=True)

    # -- messages --------------------------------------------------------------------------------------
    def handle(self, message: Any, ts_init: int) -> bool:
        if type(message) is not dict:
            return False
        data = message.get("data", message) if "stream" in message else message
        event = data.get("e")
        if event == "depthUpdate":
            self._on_depth(data, ts_init)
        elif event in {"trade", "aggTrade"}:
            iid = self.instrument_by_wire.get(data["s"])
            if iid is not None:
                trade_id = data["t"] if event == "trade" else data["a"]
                self.trade(iid, data["p"], data["q"], not data["m"], trade_id, ms_to_ns(data["T"]), ts_init)
        elif event == "kline":
            self._on_kline(data, ts_init)
        elif "u" in data and "b" in data and "B" in data:  # bookTicker (spot has no "e")
            self._on_book_ticker(data)
        else:
            return False
        return True

    def _on_depth(self, data: dict[str, Any], ts_init: int) -> None:
        iid = self.instrument_by_wire.get(data["s"])
        if iid is None:
            return
        sync = self.syncs[iid]
        outcome = sync.on_depth_update(data)
        if outcome is DepthOutcome.APPLIED:
            self.feed.emit_book(sync.book, ms_to_ns(data["E"]), ts_init, snapshot=False)
        elif outcome is DepthOutcome.GAP or outcome is DepthOutcome.CROSSED:
            kind = "GAP" if outcome is DepthOutcome.GAP else "CROSSED"
            self.feed.book_lost_sync(sync.book, kind, f"update U={data['U']} u={data['u']}")
            self.spawn(self.resync(iid))

    def _on_book_ticker(self, data: dict[str, Any]) -> None:
        iid = self.instrument_by_wire.get(data["s"])
        if iid is None:
            return
        sync = self.syncs[iid]
        if sync.on_book_ticker(data) is False:
            sync._lose_sync()
            self.feed.book_lost_sync(sync.book, "GAP", f"bookTicker u={data['u']} disagrees with the book")
            self.spawn(self.resync(iid))

    def _on_kline(self, data: dict[str, Any], ts_init: int) -> None:
        k = data["k"]
        if not k.get("x"):
            return
        iid = self.instrument_by_wire.get(data["s"])
        if iid is None:
            return
        ts_open, ts_close = ms_to_ns(k["t"]), ms_to_ns(k["T"]) + 1_000_000
        ohlc = (k["o"], k["h"], k["l"], k["c"])
        bar = candle_bar(self.trade_parsers[iid], ts_open, ts_close - ts_open, ohlc, k["v"], ts_init)
        self.candles.push(dataclasses.replace(bar, trade_count=int(k["n"])), closed=True)

    async def fetch_candles(
        self, market: dict[str, Any], interval_ns: int, since_ns: int, limit: int, ts_init: int
    ) -> list[tuple[Bar, bool | None]]:
        """``GET /api/v3/klines`` (spot) or ``/fapi/v1/klines`` (USDⓈ-M), oldest first, the forming
        candle included: rows ``[openTime, open, high, low, close, volume, closeTime, quoteVolume,
        trades, ...]`` with decimal strings."""
        request = {
            "symbol": market["id"],
            "interval": self.feed.settings.ohlcv_interval,
            "startTime": since_ns // 1_000_000,
            "endTime": ts_init // 1_000_000,
            "limit": min(limit, _KLINES_PAGE),
        }
        if self.market_kind is BinanceMarket.SPOT:
            raw = await self.exchange.public_get_klines(request)
        else:
            raw = await self.exchange.fapipublic_get_klines(request)
        iid = self.instrument_by_wire[str(market["id"])]
        parser = self.trade_parsers[iid]
        out: list[tuple[Bar, bool | None]] = []
        for row in raw:
            bar = candle_bar(parser, ms_to_ns(row[0]), interval_ns, row[1:5], row[5], ts_init)
            out.append((dataclasses.replace(bar, trade_count=int(row[8])), None))
        return out


@register("binance", "binance_spot")
class BinanceSpotProtocol(_BinanceProtocol):
    venue = "BINANCE"
    ccxt_id = "binance"
    market_kind = BinanceMarket.SPOT
    ws_key = "spot"

    def ccxt_options(self) -> dict[str, Any]:
        return {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False}


@register("binanceusdm", "binance_usdm")
class BinanceUsdmProtocol(_BinanceProtocol):
    venue = "BINANCE_USDM"
    ccxt_id = "binanceusdm"
    market_kind = BinanceMarket.USDM
    ws_key = "linear"

    def ccxt_options(self) -> dict[str, Any]:
        return {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False}
