"""``TickBacktest``: replay trade prints and best bid/offer quotes (tardis.dev ``trades`` / ``quotes``
CSV, via the marketdata importers) through the same strategy host, risk gate, order manager and paper
venue as the bar and L2 backtesters.

The venue's book is the recorded top of book: each quote sets one level a side with its real sizes
(a resting order's queue position starts behind the displayed size, and trades at its price consume
that queue first). Before the first quote, and in files with trades only, the book is the last trade
price moved by the slippage on both sides with unlimited size, as in the bar model. Taking orders
walk that book; resting orders fill from the recorded trades (``PaperVenue``'s model). Strategies get
``on_trade`` and ``on_quote`` over the bus. One instrument per run (files of several instruments are
refused); trades and quotes of it in several files are merged in receive-time order. Cash is in the
instrument's quote currency; the equity curve is sampled once per second at the last trade.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from engine.backtest.engine import ProgressCallback
from engine.backtest.fills import UNLIMITED_LOTS, slipped_ticks
from engine.backtest.l2 import L2Backtest
from engine.core.errors import ValidationError
from engine.core.events import Event, QuoteTick, TradeTick
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.book import OrderBook
from engine.marketdata.io.importers import detect_format, import_file

__all__ = ["TICK_FORMATS", "TickBacktest"]

TICK_FORMATS = frozenset({"tardis-trades", "tardis-quotes"})


def _finer(a: Instrument, b: Instrument) -> Instrument:
    """One grid for both files: the finer price and size increments."""
    price = (
        a.price_increment
        if a.price_increment.as_decimal() <= b.price_increment.as_decimal()
        else b.price_increment
    )
    size = (
        a.size_increment
        if a.size_increment.as_decimal() <= b.size_increment.as_decimal()
        else b.size_increment
    )
    return dataclasses.replace(a, price_increment=price, size_increment=size, min_quantity=size)


class TickBacktest(L2Backtest):
    """One run over trade and/or quote files of one instrument; see the module docstring."""

    def __init__(
        self,
        strategy: Any,
        files: Sequence[str],
        config: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        strategy_id: str = "bt",
    ) -> None:
        super().__init__(strategy, files, config, params=params, strategy_id=strategy_id)

    def _load(self, data: Any) -> None:
        files = [Path(f) for f in data]
        if not files:
            raise ValidationError("data", "give trade and/or quote files")
        grids: dict[InstrumentId, Instrument] = {}
        for path in files:
            fmt = detect_format(path)
            if fmt not in TICK_FORMATS:
                raise ValidationError("data", f"{path}: {fmt} is not a trades/quotes file")
            first = next(import_file(path, fmt=fmt))
            assert isinstance(first, Instrument)
            grids[first.id] = _finer(grids[first.id], first) if first.id in grids else first
        if len(grids) != 1:
            raise ValidationError(
                "data", f"one instrument per run; these files hold {', '.join(sorted(grids))}"
            )
        base = next(iter(grids.values()))
        cfg = self.config
        instrument = dataclasses.replace(base, maker_fee=cfg.maker_fee, taker_fee=cfg.taker_fee)
        events: list[Event] = []
        for path in files:
            events.extend(e for e in import_file(path, instrument=base) if not isinstance(e, Instrument))
        events.sort(key=lambda e: e.ts_init)  # stable: same-time events keep file order
        if not events:
            raise ValidationError("data", "the files hold no trades or quotes")
        self.config = dataclasses.replace(cfg, currency=instrument.quote)
        self.files = files
        self.instruments = [instrument]
        self._events = events
        self._first_ts = events[0].ts_init
        self._marks_ts: list[int] = []
        self._marks_ticks: list[int] = []
        self._volume: list[float] = []

    def _market_books(self) -> dict[InstrumentId, OrderBook]:
        instrument = self.instruments[0]
        self.book = OrderBook(instrument)
        return {instrument.id: self.book}

    def _before_send(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        l2 = self.book.l2
        if l2.best_bid_lots() and l2.best_ask_lots():
            self.risk.set_price(
                self.instruments[0].id,
                (l2.best_bid_ticks() + l2.best_ask_ticks()) // 2,
                self.clock.timestamp_ns(),
            )

    async def _replay(self, progress: ProgressCallback | None) -> None:
        instrument = self.instruments[0]
        iid = instrument.id
        clock, heap, router, venue, bus = self.clock, self.clock._heap, self.router, self.venue, self.bus
        queue = self.instant._queue if self.instant is not None else ()
        l2 = self.book.l2
        slippage = Fraction(self.config.slippage_bps) / 10_000
        one = np.zeros(1, dtype=np.int64)
        bid_t, bid_l, ask_t, ask_l = one.copy(), one.copy(), one.copy(), one.copy()
        to_ticks, to_lots = instrument.price_to_ticks, instrument.quantity_to_lots
        topic_trades, topic_quotes = f"data.trades.{iid}", f"data.quotes.{iid}"
        quoted = False
        marks_ts, marks_ticks, volume = self._marks_ts, self._marks_ticks, self._volume
        total = len(self._events)
        for index, event in enumerate(self._events):
            received = event.ts_init
            if heap and heap[0].next_ns <= received:
                clock.advance_to(received)
            elif received > clock._now:
                clock._now = received
            ts = clock._now
            sent = router.commands
            self._dirty = True
            if type(event) is QuoteTick:
                quoted = True
                bid_t[0], bid_l[0] = to_ticks(event.bid_price), to_lots(event.bid_size)
                ask_t[0], ask_l[0] = to_ticks(event.ask_price), to_lots(event.ask_size)
                l2.apply_snapshot(bid_t, bid_l, ask_t, ask_l)
                venue.apply_book_update(iid, ts)
                bus.publish_c(topic_quotes, event)
            elif type(event) is TradeTick:
                ticks = to_ticks(event.price)
                if not quoted:
                    bid_t[0], ask_t[0] = slipped_ticks(ticks, slippage)
                    bid_l[0] = ask_l[0] = UNLIMITED_LOTS
                    l2.apply_snapshot(bid_t, bid_l, ask_t, ask_l)
                    venue.apply_book_update(iid, ts)
                marks_ts.append(ts)
                marks_ticks.append(ticks)
                volume.append(float(event.size.as_decimal()))
                self._fill_bar = len(marks_ts) - 1
                venue.on_trade(event)
                bus.publish_c(topic_trades, event)
            if router.commands != sent or queue or (heap and heap[0].next_ns <= ts):
                await self._settle(ts)
            if progress is not None and (index & 0xFFFF) == 0:
                progress(index, total)
        if progress is not None:
            progress(total, total)
