"""OKX v5 market data (``OKX``): ``books`` (400 levels) and ``trades`` on the ``/public`` endpoint,
``candle<bar>`` on ``/business``.

Book rules (OKX API v5 "Order book" docs): a ``snapshot`` then ``update`` pushes; when the push
carries ``seqId``/``prevSeqId`` an update must have ``prevSeqId == previous seqId`` (a heartbeat
update may repeat the same ``seqId``); every push carries ``checksum``: CRC-32 (signed) of the top
25 levels interleaved ``bidPx:bidSz:askPx:askSz:...`` with the venue's own number formatting. A gap
or a checksum mismatch invalidates the book and resubscribes the channel, which brings a new
snapshot.

Candles: since June 2023 OKX serves ``candle<bar>`` only on its ``/business`` endpoint (ccxt.pro's
``okx.get_url``), so with ``Channel.OHLCV`` the feed runs that second connection (an
``ExtraStream``: its own reconnects, breaker and stale watchdog; losing it never touches the books).
A push is ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` for the candle opened at ``ts``,
repeated while it forms (``confirm`` "0") and once more when it closes ("1"): the ``Bar`` is emitted
on "1", or, for a candle whose closing push never came (or a push without ``confirm``), when a later
candle starts (``CandleCloser``). After a reconnect of ``/business`` the candles that closed while it
was down come from ``GET /api/v5/market/candles`` (``VenueProtocol.backfill_candles``), exactly. ``vol`` is in the instrument's size unit (base currency on spot,
contracts on swaps and futures, like ``trades``' ``sz``). Pushes of another channel than the one
subscribed (another bar size) or of another instrument are ignored.
"""

from __future__ import annotations

from typing import Any

from engine.core.events import Bar
from engine.core.ids import InstrumentId
from engine.marketdata.feeds.venues.common import (
    ExtraStream,
    SequencedBook,
    UnitStrings,
    VenueProtocol,
    candle_bar,
    crc32_signed,
    format_units,
    ms_to_ns,
    register,
)

__all__ = ["OkxProtocol", "okx_checksum"]

_CHECKSUM_LEVELS = 25
#: Most candles ``/api/v5/market/candles`` returns per request.
_CANDLES_PAGE = 300


def _okx_number(units: int, step_raw: int, precision: int) -> str:
    """OKX's decimal formatting: no trailing zeros, no trailing point ("30316", "5.16")."""
    text = format_units(units, step_raw, precision)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def okx_formatters(sync: SequencedBook) -> tuple[UnitStrings, UnitStrings]:
    inst = sync.book.instrument
    return (
        UnitStrings(inst.price_increment.raw, inst.price_precision, _okx_number),
        UnitStrings(inst.size_increment.raw, inst.size_precision, _okx_number),
    )


def okx_checksum(sync: SequencedBook, formatters: tuple[UnitStrings, UnitStrings] | None = None) -> int:
    price, size = formatters or okx_formatters(sync)
    bid_t, bid_l = sync.top_arrays(1, _CHECKSUM_LEVELS)
    ask_t, ask_l = sync.top_arrays(2, _CHECKSUM_LEVELS)
    bp, bs, ap, as_ = price.many(bid_t), size.many(bid_l), price.many(ask_t), size.many(ask_l)
    nb, na = len(bp), len(ap)
    parts: list[str] = []
    for i in range(max(nb, na)):
        if i < nb:
            parts.append(f"{bp[i]}:{bs[i]}")
        if i < na:
            parts.append(f"{ap[i]}:{as_[i]}")
    return crc32_signed(":".join(parts))


@register("okx")
class OkxProtocol(VenueProtocol):
    venue = "OKX"
    ccxt_id = "okx"
    default_depth = 400
    candle_stream = "business"

    def __init__(self, feed: Any) -> None:
        super().__init__(feed)
        self._formatters: dict[InstrumentId, tuple[UnitStrings, UnitStrings]] = {}
        #: The subscribed candle channel ("candle1D") and its interval (set once markets are loaded).
        self._candle_channel = ""
        self._candle_interval_ns = 0

    def ccxt_options(self) -> dict[str, Any]:
        return {"fetchMarkets": {"types": ["spot", "swap", "future"]}, "fetchCurrencies": False}

    def ws_url(self) -> str:
        # ccxt's own URL rule: in sandbox mode OKX's demo endpoints want ``?brokerId=9999``.
        return str(self.exchange.get_url("books", "public"))

    # -- candles on /business -------------------------------------------------------------------------
    def on_markets_loaded(self) -> None:
        from engine.marketdata.feeds.base import Channel

        super().on_markets_loaded()
        if Channel.OHLCV not in self.feed.settings.channels:
            return
        # an unknown interval is refused at start, not in the loop; fixed-length bars only (a
        # calendar month, "1M", has no single interval_ns)
        interval = self.feed.settings.ohlcv_interval
        timeframes = {t: str(bar) for t, bar in self.exchange.timeframes.items() if not t.endswith("M")}
        if interval not in timeframes:
            known = ", ".join(timeframes)
            raise ValueError(f"OKX feed: no {interval!r} candles; ohlcv_interval is one of {known}")
        self._candle_channel = f"candle{timeframes[interval]}"
        self._candle_interval_ns = int(self.exchange.parse_timeframe(interval)) * 1_000_000_000

    def extra_streams(self) -> list[ExtraStream]:
        from engine.marketdata.feeds.base import Channel

        if Channel.OHLCV not in self.feed.settings.channels:
            return []
        exchange = self.exchange
        stale_ms = self.feed.settings.stale_after_ms + self._candle_interval_ns // 1_000_000
        return [
            ExtraStream(
                name="business",
                url=str(exchange.get_url("candle", "business")),
                subscribe_messages=self._candle_subscriptions,
                handle=self._handle_candles,
                on_disconnected=self.candles.reset,
                # a quiet market may push nothing until its candle closes: one bar plus the usual
                # silence before the connection is judged dead (ccxt's ping/pong catches a dead socket)
                stale_after_ms=stale_ms,
            )
        ]

    def _candle_subscriptions(self) -> list[Any]:
        channel = self._candle_channel
        return [
            {
                "op": "subscribe",
                "args": [{"channel": channel, "instId": str(m["id"])} for m in self.markets()],
            }
        ]

    def _handle_candles(self, message: Any, ts_init: int) -> bool:
        if type(message) is not dict or "data" not in message:
            return False
        arg = message["arg"]
        iid = self.instrument_by_wire.get(arg.get("instId", ""))
        if arg.get("channel") != self._candle_channel or iid is None:
            return True  # not a candle we subscribed (another bar size, another instrument)
        parser, interval_ns = self.trade_parsers[iid], self._candle_interval_ns
        for row in message["data"]:
            bar = candle_bar(parser, ms_to_ns(row[0]), interval_ns, row[1:5], row[5], ts_init)
            # without the confirm field (pushes before it existed) a candle closes when the next starts
            self.candles.push(bar, closed=len(row) > 8 and row[8] == "1")
        return True

    async def fetch_candles(
        self, market: dict[str, Any], interval_ns: int, since_ns: int, limit: int, ts_init: int
    ) -> list[tuple[Bar, bool | None]]:
        """``GET /api/v5/market/candles`` (the last 1440 candles; at most 300 a page, newest first;
        ``before``/``after`` bound the open times exclusively, as ccxt's ``fetch_ohlcv`` uses them):
        rows like the pushes, ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]``."""
        limit = min(limit, _CANDLES_PAGE)
        since_ms, interval_ms = since_ns // 1_000_000, interval_ns // 1_000_000
        # a longer gap than a page gets its most recent page (newest first, as OKX answers)
        request = {
            "instId": market["id"],
            "bar": self._candle_channel.removeprefix("candle"),
            "before": since_ms - 1,
            "after": ts_init // 1_000_000 + interval_ms,  # up to the candle forming now
            "limit": limit,
        }
        raw = await self.exchange.public_get_market_candles(request)
        iid = self.instrument_by_wire[str(market["id"])]
        parser = self.trade_parsers[iid]
        return [
            (
                candle_bar(parser, ms_to_ns(row[0]), interval_ns, row[1:5], row[5], ts_init),
                (row[8] == "1") if len(row) > 8 else None,
            )
            for row in raw["data"]
        ]

    # -- books and trades on /public --------------------------------------------------------------------
    def _args(self, iid: InstrumentId | None = None) -> list[dict[str, str]]:
        from engine.marketdata.feeds.base import Channel

        channels = self.feed.settings.channels
        args = []
        for market in self.markets():
            wire = str(market["id"])
            if iid is not None:
                if self.instrument_by_wire.get(wire) == iid:
                    args.append({"channel": "books", "instId": wire})
                continue
            if Channel.BOOK in channels:
                args.append({"channel": "books", "instId": wire})
            if Channel.TRADES in channels:
                args.append({"channel": "trades", "instId": wire})
        return args

    def subscribe_messages(self) -> list[Any]:
        return [{"op": "subscribe", "args": self._args()}]

    async def resubscribe(self, iid: InstrumentId) -> None:
        args = self._args(iid)
        await self.send({"op": "unsubscribe", "args": args})
        await self.send({"op": "subscribe", "args": args})

    async def fetch_book(self, market: dict[str, Any]) -> tuple[int, list[Any], list[Any], int]:
        raw = await self.exchange.public_get_market_books({"instId": market["id"], "sz": self.depth})
        data = raw["data"][0]
        return int(data.get("seqId", -1)), data["bids"], data["asks"], ms_to_ns(data["ts"])

    def handle(self, message: Any, ts_init: int) -> bool:
        if type(message) is not dict or "data" not in message:
            return False
        arg = message["arg"]
        channel = arg["channel"]
        iid = self.instrument_by_wire.get(arg.get("instId", ""))
        if iid is None:
            return True
        if channel == "books":
            for data in message["data"]:
                self._on_book(iid, message.get("action", "update"), data, ts_init)
        elif channel == "trades":
            for t in message["data"]:
                self.trade(
                    iid, t["px"], t["sz"], t["side"] == "buy", t["tradeId"], ms_to_ns(t["ts"]), ts_init
                )
        return True

    def _on_book(self, iid: InstrumentId, action: str, data: dict[str, Any], ts_init: int) -> None:
        sync = self.books[iid]
        seq = int(data.get("seqId", -1))
        if action == "snapshot":
            if not sync.snapshot(data["bids"], data["asks"], seq):
                self.spawn(self.resubscribe(iid))
                return
        else:
            if not sync.synced:
                return  # waiting for the snapshot our resubscription asked for
            prev = data.get("prevSeqId")
            if prev is not None and sync.last_seq >= 0 and int(prev) != sync.last_seq:
                sync.lose("GAP", f"prevSeqId {prev} != last seqId {sync.last_seq}")
                self.spawn(self.resubscribe(iid))
                return
            if not sync.diff(data["bids"], data["asks"], seq):
                self.spawn(self.resubscribe(iid))
                return
        checksum = data.get("checksum")
        formatters = self._formatters.get(iid)
        if formatters is None:
            formatters = self._formatters[iid] = okx_formatters(sync)
        if checksum is not None and okx_checksum(sync, formatters) != int(checksum):
            sync.lose("CHECKSUM_MISMATCH", f"checksum {checksum} != our book's")
            self.spawn(self.resubscribe(iid))
            return
        self.feed.emit_book(
            sync.book, ms_to_ns(data["ts"]), ts_init, snapshot=action == "snapshot", sequence=sync.last_seq
        )
