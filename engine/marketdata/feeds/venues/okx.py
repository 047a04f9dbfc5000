"""OKX v5 market data (``OKX``): ``books`` (400 levels), ``trades``, ``candle<interval>``.

Book rules (OKX API v5 "Order book" docs): a ``snapshot`` then ``update`` pushes; when the push
carries ``seqId``/``prevSeqId`` an update must have ``prevSeqId == previous seqId`` (a heartbeat
update may repeat the same ``seqId``); every push carries ``checksum``: CRC-32 (signed) of the top
25 levels interleaved ``bidPx:bidSz:askPx:askSz:...`` with the venue's own number formatting. A gap
or a checksum mismatch invalidates the book and resubscribes the channel, which brings a new
snapshot. Candles live on the ``/business`` endpoint since 2023 and are not subscribed here.
"""

from __future__ import annotations

from typing import Any

from engine.core.ids import InstrumentId
from engine.marketdata.feeds.venues.common import (
    SequencedBook,
    UnitStrings,
    VenueProtocol,
    crc32_signed,
    format_units,
    ms_to_ns,
    register,
)

__all__ = ["OkxProtocol", "okx_checksum"]

_CHECKSUM_LEVELS = 25


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

    def __init__(self, feed: Any) -> None:
        super().__init__(feed)
        self._formatters: dict[InstrumentId, tuple[UnitStrings, UnitStrings]] = {}

    def ccxt_options(self) -> dict[str, Any]:
        return {"fetchMarkets": {"types": ["spot", "swap", "future"]}, "fetchCurrencies": False}

    def ws_url(self) -> str:
        return f"{self.exchange.urls['api']['ws']}/public"

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
