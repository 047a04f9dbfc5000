"""``L2Backtest``: replay raw Binance captures (depth snapshot + diffs, trades, bookTicker) through the
same strategy host, risk gate, order manager and paper venue as the bar backtester.

The order book is rebuilt exactly as live (``BinanceDepthSync`` on an ``OrderBook``, Binance's
documented sync rules), and the paper venue fills our orders against it (``PaperVenue``'s model):

* a taking order **walks the book** level by level at each level's displayed price and size (taker
  fee); the walk does not deplete the recorded book;
* a resting limit joins the back of the queue at its price (``queue_ahead`` = the displayed size when
  it arrives); recorded trades at its price consume the queue first and then fill it (maker fee),
  trades through its price fill it outright; a book update that shows less size at its price than
  before shrinks the queue ahead pro rata (cancellations);
* latency as configured (commands reach the venue later and see the book of that moment).

Strategies get ``on_book`` (``OrderBookUpdated`` on ``data.books.<id>``, the book itself through
``ctx``-independent lookups is the venue's), ``on_trade`` (``TradeTick``) and ``on_quote``
(``QuoteTick`` from bookTicker) over the bus, exactly as live. The cash currency is the instrument's
quote currency (USDT for BTCUSDT). The equity curve is sampled once per second of capture time at the
last trade price (for the metrics); the final equity is exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.backtest.data import BarSeries, BarStream
from engine.backtest.engine import Backtest, ProgressCallback
from engine.backtest.result import BacktestResult
from engine.core.enums import Side
from engine.core.errors import ValidationError
from engine.core.events import OrderBookUpdated, QuoteTick, TradeTick
from engine.core.ids import InstrumentId, TradeId
from engine.core.instruments import Instrument
from engine.marketdata.binance import BinanceDepthSync
from engine.marketdata.binance.instruments import BinanceMarket, infer_instrument, known_instrument
from engine.marketdata.binance.replay import iter_capture
from engine.marketdata.book import OrderBook
from engine.venues.sim import PaperVenue

__all__ = ["L2Backtest", "is_capture"]

SAMPLE_NS = 1_000_000_000
_SCAN_LIMIT = 200_000


def _identify(files: list[Path]) -> tuple[BinanceMarket, str, dict[str, Any] | None, int]:
    """Market, symbol, the first snapshot (if any before the first diff) and the first timestamp."""
    market = symbol = None
    snapshot = None
    first_ts = None
    seen = 0
    for path in files:
        for ts, message in iter_capture(path):
            first_ts = ts if first_ts is None else first_ts
            seen += 1
            data = message.get("data")
            if "lastUpdateId" in message and snapshot is None:
                snapshot = message
            elif isinstance(data, dict) and data.get("e") == "depthUpdate" and market is None:
                market = BinanceMarket.USDM if "pu" in data else BinanceMarket.SPOT
                symbol = str(data["s"]).upper()
            if market is not None and (snapshot is not None or known_instrument(market, symbol or "")):
                return market, symbol or "", snapshot, first_ts
            if seen > _SCAN_LIMIT:
                break
    if market is None or first_ts is None:
        raise ValidationError("data", f"{files[0]}: no depth diffs found: not a Binance depth capture")
    return market, symbol or "", snapshot, first_ts


class L2Backtest(Backtest):
    """One run over the capture files of one session (in order); see the module docstring."""

    def __init__(
        self,
        strategy: Any,
        files: Sequence[str],
        config: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        strategy_id: str = "bt",
    ) -> None:
        super().__init__(strategy, list(files), config, params=params, strategy_id=strategy_id)

    def _load(self, data: Any) -> None:
        files = [Path(f) for f in data]
        if not files:
            raise ValidationError("data", "give the capture files of one session")
        for path in files:
            if not path.is_file():
                raise ValidationError("data", f"{path}: no such file")
        self.files = files
        market, symbol, snapshot, first_ts = _identify(files)
        base = known_instrument(market, symbol)
        if base is None:
            if snapshot is None:
                raise ValidationError(
                    "data", f"{symbol}: unknown symbol and no depth snapshot to infer it from"
                )
            base = infer_instrument(market, symbol, snapshot["bids"], snapshot["asks"])
        cfg = self.config
        instrument: Instrument = dataclasses.replace(base, maker_fee=cfg.maker_fee, taker_fee=cfg.taker_fee)
        # Cash is held in the instrument's quote currency.
        self.config = dataclasses.replace(cfg, currency=instrument.quote)
        self.market = market
        self.instruments = [instrument]
        self._first_ts = first_ts
        self._marks_ts: list[int] = []
        self._marks_ticks: list[int] = []
        self._volume: list[float] = []

    def _start_ns(self) -> int:
        return self._first_ts

    def _market_books(self) -> dict[InstrumentId, OrderBook]:
        instrument = self.instruments[0]
        self.sync = BinanceDepthSync(OrderBook(instrument), self.market)
        return {instrument.id: self.sync.book}

    def _bind_market(self, venue: PaperVenue) -> None:
        pass

    def _before_send(self) -> None:
        """The risk gate's reference: the book's mid (the venue walks the real book)."""
        if not self._dirty:
            return
        self._dirty = False
        l2 = self.sync.book.l2
        if l2.best_bid_lots() and l2.best_ask_lots():
            mid = (l2.best_bid_ticks() + l2.best_ask_ticks()) // 2
            self.risk.set_price(self.instruments[0].id, mid, self.clock.timestamp_ns())

    async def _replay(self, progress: ProgressCallback | None) -> None:
        instrument = self.instruments[0]
        iid = instrument.id
        clock = self.clock
        heap = clock._heap
        router = self.router
        queue = self.instant._queue if self.instant is not None else ()
        sync, venue, bus = self.sync, self.venue, self.bus
        l2 = sync.book.l2
        topic_books, topic_trades, topic_quotes = (
            f"data.books.{iid}",
            f"data.trades.{iid}",
            f"data.quotes.{iid}",
        )
        parser = sync.parser
        marks_ts, marks_ticks, volume = self._marks_ts, self._marks_ticks, self._volume
        for index, path in enumerate(self.files):
            for received_ns, message in iter_capture(path):
                # Capture times are local receive times; the clock never goes backwards.
                if heap and heap[0].next_ns <= received_ns:
                    clock.advance_to(received_ns)
                elif received_ns > clock._now:
                    clock._now = received_ns
                ts = clock._now
                self._fill_bar = len(marks_ts)
                sent = router.commands
                data = message.get("data")
                if data is None:
                    if "lastUpdateId" in message:
                        sync.on_snapshot(message["lastUpdateId"], message["bids"], message["asks"])
                    continue
                stream = message.get("stream", "")
                if "@depth" in stream:
                    sync.on_depth_update(data)
                    if sync.synced:
                        self._dirty = True
                        venue.apply_book_update(iid, ts)
                        bus.publish_c(
                            topic_books,
                            OrderBookUpdated(
                                ts_event=ts,
                                ts_init=ts,
                                instrument_id=iid,
                                sequence=l2.last_sequence,
                                is_snapshot=False,
                            ),
                        )
                elif stream.endswith("@trade"):
                    ticks = parser.ticks(data["p"])
                    lots = parser.lots(data["q"])
                    tick = TradeTick(
                        ts_event=ts,
                        ts_init=ts,
                        instrument_id=iid,
                        price=instrument.ticks_to_price(ticks),
                        size=instrument.lots_to_quantity(lots),
                        # Binance: m = the buyer is the maker, so the seller took.
                        aggressor_side=Side.SELL if data.get("m") else Side.BUY,
                        trade_id=TradeId(str(data.get("t", ""))),
                    )
                    marks_ts.append(ts)
                    marks_ticks.append(ticks)
                    volume.append(float(data["q"]))
                    self._fill_bar = len(marks_ts) - 1
                    if sync.synced:
                        venue.on_trade(tick)
                    bus.publish_c(topic_trades, tick)
                elif stream.endswith("@bookTicker"):
                    sync.on_book_ticker(data)
                    bid, ask = parser.ticks(data["b"]), parser.ticks(data["a"])
                    bus.publish_c(
                        topic_quotes,
                        QuoteTick(
                            ts_event=ts,
                            ts_init=ts,
                            instrument_id=iid,
                            bid_price=instrument.ticks_to_price(bid),
                            bid_size=instrument.lots_to_quantity(parser.lots(data["B"])),
                            ask_price=instrument.ticks_to_price(ask),
                            ask_size=instrument.lots_to_quantity(parser.lots(data["A"])),
                        ),
                    )
                if router.commands != sent or queue or (heap and heap[0].next_ns <= ts):
                    await self._settle(ts)
            if progress is not None:
                progress(index + 1, len(self.files))

    def _result(self) -> BacktestResult:
        """Sample the trade prints once per second into a series and let the bar result do the rest."""
        instrument = self.instruments[0]
        ts = np.asarray(self._marks_ts, dtype=np.int64)
        ticks = np.asarray(self._marks_ticks, dtype=np.int64)
        if ts.shape[0] == 0:
            raise ValidationError("data", "the capture holds no trades: nothing to mark positions at")
        bucket = ts // SAMPLE_NS
        last = np.r_[bucket[1:] != bucket[:-1], True]  # the last print of each second
        close_ts = (bucket[last] + 1) * SAMPLE_NS
        close = ticks[last]
        volume = np.asarray(self._volume)
        sums = np.add.reduceat(volume, np.r_[0, np.flatnonzero(last)[:-1] + 1])
        series = BarSeries(
            instrument=instrument,
            paths=tuple(str(p) for p in self.files),
            ts_open=close_ts - SAMPLE_NS,
            ts_close=close_ts,
            open=close,
            high=close,
            low=close,
            close=close,
            volume=sums,
            interval_ns=SAMPLE_NS,
        )
        n = close.shape[0]
        self.stream = BarStream((series,), np.zeros(n, dtype=np.int32), np.arange(n, dtype=np.int64))
        # Each fill counts from the second it happened in.
        self._fill_log = [
            (int(np.searchsorted(close_ts, event.ts_event, side="right")), event)
            for _, event in self._fill_log
        ]
        self._fill_log = [(min(bar, n - 1), event) for bar, event in self._fill_log]
        return super()._result()


def is_capture(path: str | Path) -> bool:
    """A raw capture file (``<ts_ns> <json>`` lines, gzip or text) rather than a bar file."""
    import gzip

    p = Path(path)
    try:
        with p.open("rb") as raw:
            head = (
                gzip.GzipFile(fileobj=raw) if p.suffix == ".gz" and not p.name.endswith(".csv.gz") else raw
            ).read(256)
    except (OSError, EOFError):
        return False
    ts, sep, rest = head.partition(b" ")
    return bool(sep) and ts.isdigit() and rest.lstrip().startswith(b"{")
