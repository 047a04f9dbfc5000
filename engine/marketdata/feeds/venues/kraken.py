"""Kraken spot market data (``KRAKEN``) over the v1 public WebSocket (``urls['api']['ws']['public']``).

Why v1: its prices and volumes are decimal strings; v2 sends JSON numbers, which a JSON decoder turns
into binary floats before we could read them exactly. (ccxt.pro's own kraken watchers use v2.)

Channels: ``book`` (``as``/``bs`` snapshot, then ``a``/``b`` updates, possibly two dicts in one
message), ``trade``, ``ohlc``. Book rules (Kraken "Book checksum" docs): after every update the CRC-32
of the top 10 asks (ascending) then top 10 bids (descending), each price and volume written as the
wire writes it with the decimal point and leading zeros removed, must equal ``c``; levels beyond the
subscribed depth are dropped by us (Kraken sends no delete for them). A mismatch resubscribes the
book (a new snapshot). Kraken v1 trades carry no id: the trade id is ``<time>-<index in message>``.

Candles: ``ohlc`` pushes the running candle; it is final when the next one starts (``CandleCloser``).
After a reconnect the candles that closed while the socket was down come from ``GET /0/public/OHLC``
(``VenueProtocol.backfill_candles``).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from typing import Any

from engine.core.events import Bar
from engine.core.ids import InstrumentId
from engine.marketdata.feeds.venues.common import (
    SequencedBook,
    UnitStrings,
    VenueProtocol,
    candle_bar,
    format_units,
    register,
)

__all__ = ["KrakenProtocol", "kraken_checksum", "seconds_to_ns"]

_CHECKSUM_LEVELS = 10


def seconds_to_ns(text: str) -> int:
    """``"1618678142.557535"`` -> ns, exactly."""
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def _kraken_digits(units: int, step_raw: int, wire_places: int, precision: int) -> str:
    text = format_units(units, step_raw, precision)
    whole, _, frac = text.partition(".")
    frac = (frac + "0" * wire_places)[:wire_places]
    return (whole + frac).lstrip("0")


def kraken_formatters(
    sync: SequencedBook, price_places: int, size_places: int
) -> tuple[UnitStrings, UnitStrings]:
    """Memoised digit strings of prices / volumes as the wire writes them (``price_places`` decimals)."""
    inst = sync.book.instrument

    def digits(places: int) -> Callable[[int, int, int], str]:
        return lambda units, step, precision: _kraken_digits(units, step, places, precision)

    return (
        UnitStrings(inst.price_increment.raw, inst.price_precision, digits(price_places)),
        UnitStrings(inst.size_increment.raw, inst.size_precision, digits(size_places)),
    )


def kraken_checksum(sync: SequencedBook, formatters: tuple[UnitStrings, UnitStrings]) -> int:
    price, size = formatters
    parts: list[str] = []
    for side in (2, 1):
        ticks, lots = sync.top_arrays(side, _CHECKSUM_LEVELS)
        parts += [p + s for p, s in zip(price.many(ticks), size.many(lots), strict=True)]
    return zlib.crc32("".join(parts).encode())


def _places(levels: list[list[str]]) -> tuple[int, int]:
    for level in levels:
        return len(level[0].partition(".")[2]), len(level[1].partition(".")[2])
    return 0, 0


@register("kraken")
class KrakenProtocol(VenueProtocol):
    venue = "KRAKEN"
    ccxt_id = "kraken"
    default_depth = 100

    def __init__(self, feed: Any) -> None:
        super().__init__(feed)
        #: Decimal places the wire uses for (price, volume) per instrument (for the checksum).
        self.wire_places: dict[InstrumentId, tuple[int, int]] = {}
        self._formatters: dict[tuple[InstrumentId, int, int], tuple[UnitStrings, UnitStrings]] = {}

    def ccxt_options(self) -> dict[str, Any]:
        return {"fetchCurrencies": False}

    def wire_symbol(self, market: dict[str, Any]) -> str:
        return str(market["info"].get("wsname") or market["id"])

    def ws_url(self) -> str:
        return str(self.exchange.urls["api"]["ws"]["public"])

    def _pairs(self) -> list[str]:
        return [self.wire_symbol(m) for m in self.markets()]

    def subscribe_messages(self) -> list[Any]:
        from engine.marketdata.feeds.base import Channel

        channels = self.feed.settings.channels
        pairs = self._pairs()
        out: list[Any] = []
        if Channel.BOOK in channels:
            out.append(
                {"event": "subscribe", "pair": pairs, "subscription": {"name": "book", "depth": self.depth}}
            )
        if Channel.TRADES in channels:
            out.append({"event": "subscribe", "pair": pairs, "subscription": {"name": "trade"}})
        if Channel.OHLCV in channels:
            minutes = int(self.exchange.parse_timeframe(self.feed.settings.ohlcv_interval) // 60)
            out.append(
                {"event": "subscribe", "pair": pairs, "subscription": {"name": "ohlc", "interval": minutes}}
            )
        return out

    async def resubscribe(self, iid: InstrumentId) -> None:
        sub = {"name": "book", "depth": self.depth}
        await self.send({"event": "unsubscribe", "pair": [iid.symbol], "subscription": sub})
        await self.send({"event": "subscribe", "pair": [iid.symbol], "subscription": sub})

    async def fetch_book(self, market: dict[str, Any]) -> tuple[int, list[Any], list[Any], int]:
        raw = await self.exchange.public_get_depth({"pair": market["id"], "count": self.depth})
        book = next(iter(raw["result"].values()))
        return -1, book["bids"], book["asks"], 0

    def handle(self, message: Any, ts_init: int) -> bool:
        if type(message) is not list:
            return type(message) is dict and message.get("event") == "heartbeat"
        channel, pair = message[-2], message[-1]
        iid = self.instrument_by_wire.get(pair)
        if iid is None:
            return True
        if channel.startswith("book"):
            self._on_book(iid, message[1:-2], ts_init)
        elif channel == "trade":
            for i, t in enumerate(message[1]):
                self.trade(iid, t[0], t[1], t[3] == "b", f"{t[2]}-{i}", seconds_to_ns(t[2]), ts_init)
        elif channel.startswith("ohlc"):
            self._on_ohlc(iid, message[1], ts_init)
        return True

    def _on_book(self, iid: InstrumentId, payloads: list[dict[str, Any]], ts_init: int) -> None:
        sync = self.books[iid]
        first = payloads[0]
        if "as" in first or "bs" in first:
            bids, asks = first.get("bs", []), first.get("as", [])
            self.wire_places[iid] = _places(asks or bids)
            if not sync.snapshot(bids, asks, -1):
                self.spawn(self.resubscribe(iid))
                return
            ts_event = max((seconds_to_ns(lv[2]) for lv in (*bids, *asks)), default=ts_init)
            self.feed.emit_book(sync.book, ts_event, ts_init, snapshot=True, sequence=sync.last_seq)
            return
        if not sync.synced:
            return
        bids: list[Any] = []
        asks: list[Any] = []
        checksum = None
        for payload in payloads:
            bids += payload.get("b", [])
            asks += payload.get("a", [])
            checksum = payload.get("c", checksum)
        if not sync.diff(bids, asks, -1):
            self.spawn(self.resubscribe(iid))
            return
        self._truncate(sync)
        if checksum is not None:
            places = self.wire_places.get(iid) or _places(asks or bids)
            key = (iid, *places)
            formatters = self._formatters.get(key)
            if formatters is None:
                formatters = self._formatters[key] = kraken_formatters(sync, *places)
            if kraken_checksum(sync, formatters) != int(checksum):
                sync.lose("CHECKSUM_MISMATCH", f"checksum {checksum} != our book's")
                self.spawn(self.resubscribe(iid))
                return
        ts_event = max((seconds_to_ns(lv[2]) for lv in (*bids, *asks)), default=ts_init)
        self.feed.emit_book(sync.book, ts_event, ts_init, snapshot=False, sequence=sync.last_seq)

    def _truncate(self, sync: SequencedBook) -> None:
        l2 = sync.book.l2
        depth = self.depth
        for side in (1, 2):
            extra = l2.level_count(side) - depth
            if extra > 0:
                levels = sync.top_levels(side, depth + extra)
                for ticks, _ in levels[depth:]:
                    l2.apply_delta(side, ticks, 0)

    def _on_ohlc(self, iid: InstrumentId, row: list[str], ts_init: int) -> None:
        """Kraken pushes the running candle; it is final when a row for the next interval arrives
        (``CandleCloser``: once each; a candle forming across a disconnect is never emitted)."""
        # row: [time, etime, open, high, low, close, vwap, volume, count]
        end = seconds_to_ns(row[1])
        interval = int(self.exchange.parse_timeframe(self.feed.settings.ohlcv_interval)) * 1_000_000_000
        self.candles.push(
            self._candle(iid, end - interval, interval, row[2:6], row[7], row[8], ts_init), False
        )

    def _candle(
        self,
        iid: InstrumentId,
        ts_open: int,
        interval: int,
        ohlc: list[str],
        volume: str,
        count: Any,
        ts_init: int,
    ) -> Bar:
        bar = candle_bar(self.trade_parsers[iid], ts_open, interval, ohlc, volume, ts_init)
        return dataclasses.replace(bar, trade_count=int(count))

    async def fetch_candles(
        self, market: dict[str, Any], interval_ns: int, since_ns: int, limit: int, ts_init: int
    ) -> list[tuple[Bar, bool | None]]:
        """``GET /0/public/OHLC`` (up to 720 candles after ``since``, seconds; the last row is the
        candle still forming): rows ``[time, open, high, low, close, vwap, volume, count]``."""
        request = {
            "pair": market["id"],
            "interval": interval_ns // 60_000_000_000,
            "since": since_ns // 1_000_000_000 - 1,
        }
        raw = await self.exchange.public_get_ohlc(request)
        rows = next(v for k, v in raw["result"].items() if k != "last" and isinstance(v, list))
        iid = self.instrument_by_wire[self.wire_symbol(market)]
        return [
            (self._candle(iid, seconds_to_ns(str(r[0])), interval_ns, r[1:5], r[6], r[7], ts_init), None)
            for r in rows
        ]
