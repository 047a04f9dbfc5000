"""Bar fill model: what the simulated venue's book shows while bars are replayed.

Bars carry no order book, so the backtester gives the paper venue (``engine.venues.sim.PaperVenue``,
the same venue that paper-trades live or replayed data) a synthetic one-level book per instrument and
synthetic trade prints, and lets the venue do the matching, fees and latency exactly as it would on
real data. The model, documented because every bar backtest is one:

* **Market orders** (and marketable limits) take the book: the ask for a BUY, the bid for a SELL.
  Both sit at the *reference price* moved by the slippage: ``ask = ceil(ref * (1 + bps/1e4))`` and
  ``bid = floor(ref * (1 - bps/1e4))`` in ticks, so slippage always costs (rounded against us).
  The reference price is the bar's **close** (``FillAt.CLOSE``: the order fills at the close of the
  bar the strategy just saw) or the **next bar's open** (``FillAt.NEXT_OPEN``: the realistic default;
  an order placed on the last bar does not fill). Depth is unlimited (no volume cap, no impact).
* **Taker fees** apply to those fills, **maker fees** to resting limit orders (the instrument's rates).
* **Resting orders** (limits, stops) are worked through each following bar along an intrabar path:
  open, then the extreme nearer to the open direction (low first when the bar closes up, high first
  when it closes down), then the other extreme, then the close. At each point the book is moved there
  and a trade prints there, so a resting BUY limit fills at its price when the path reaches or crosses
  it (maker), a stop triggers when the path touches its trigger and then takes the book at that point.
  The path is walked only while we have working orders: bars with none cost nothing here.
* **Latency**: commands reach the venue ``order_latency_ns`` after they are sent and see the book of
  that moment; reports come back ``report_latency_ns`` later (the venue's own delay line, on the
  backtest's ``TestClock``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from engine.core.enums import Side
from engine.core.errors import ValidationError
from engine.core.events import TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import InstrumentId, TradeId
from engine.core.instruments import Instrument
from engine.ext.book.l2book import ASK, BID
from engine.marketdata.book import OrderBook
from engine.venues.sim import PaperVenue

__all__ = ["UNLIMITED_LOTS", "BarBooks", "FillAt", "slipped_ticks"]

#: Displayed size of the synthetic book and of the synthetic prints (no volume cap).
UNLIMITED_LOTS = 1 << 50
_WINDOW_TICKS = 64


class FillAt(StrEnum):
    NEXT_OPEN = "next_open"
    CLOSE = "close"


def slipped_ticks(ref_ticks: int, slippage: Fraction) -> tuple[int, int]:
    """(bid, ask) ticks around ``ref_ticks`` for a slippage fraction: ask rounds up, bid down."""
    if slippage == 0:
        return ref_ticks, ref_ticks
    num, den = slippage.numerator, slippage.denominator
    ask = -((-ref_ticks * (den + num)) // den)
    bid = (ref_ticks * (den - num)) // den
    return max(bid, 1), ask


class BarBooks:
    """The synthetic books of every instrument and the prints that work resting orders."""

    __slots__ = (
        "_books",
        "_l2",
        "_slippage",
        "_slipped",
        "_trade_no",
        "_venue",
        "_venue_live",
        "books",
    )

    def __init__(self, instruments: list[Instrument], slippage_bps: Decimal) -> None:
        if slippage_bps < 0:
            raise ValidationError("slippage_bps", f"must be >= 0, got {slippage_bps}")
        self._slippage = Fraction(slippage_bps) / 10_000
        if self._slippage >= 1:
            raise ValidationError("slippage_bps", "must be below 10000")
        #: Whether there is slippage at all (a ``Fraction`` compare per order costs ~1 us).
        self._slipped = self._slippage != 0
        # The smallest price window: these books hold one level a side, and moving a book clears its
        # window (a 64-tick window clears in a fraction of the default's time; levels outside the
        # window are kept exactly all the same).
        self.books: dict[InstrumentId, OrderBook] = {
            i.id: OrderBook(i, window_ticks=_WINDOW_TICKS) for i in instruments
        }
        self._l2 = {iid: book.l2 for iid, book in self.books.items()}
        self._venue: PaperVenue | None = None
        self._venue_live: Mapping[int, Any] = {}
        self._trade_no = 0

    def bind(self, venue: PaperVenue) -> None:
        self._venue = venue
        self._venue_live = venue.live_orders

    def set_reference(self, instrument_id: InstrumentId, ref_ticks: int, ts_ns: int) -> None:
        """Show one level each side around ``ref_ticks`` (slippage applied); queues re-estimated."""
        if self._slipped:
            bid, ask = slipped_ticks(ref_ticks, self._slippage)
        else:
            bid = ask = ref_ticks
        # Emptied and set level by level: two plain-int calls instead of a snapshot from arrays (four
        # typed buffers acquired per call). With no slippage both sides show the one reference
        # price (a locked book, bid = ask): a market order takes it from either side.
        l2 = self._l2[instrument_id]
        l2.clear()
        l2.apply_delta(BID, bid, UNLIMITED_LOTS)
        l2.apply_delta(ASK, ask, UNLIMITED_LOTS)
        if self._venue_live:  # (the venue re-estimates the queues of working orders: none, no call)
            self._venue.apply_book_update(instrument_id, ts_ns)  # type: ignore[union-attr]

    def clear(self, instrument_id: InstrumentId, ts_ns: int) -> None:
        """No liquidity (after the last bar with ``FillAt.NEXT_OPEN``): market orders are rejected."""
        self.books[instrument_id].l2.clear()
        if self._venue is not None:
            self._venue.apply_book_update(instrument_id, ts_ns)

    def print_at(self, instrument_id: InstrumentId, ticks: int, ts_ns: int) -> None:
        """A synthetic trade at ``ticks`` (book moved there first): fills resting orders, triggers stops."""
        assert self._venue is not None
        self.set_reference(instrument_id, ticks, ts_ns)
        book = self.books[instrument_id]
        instrument = book.instrument
        self._trade_no += 1
        tick = TradeTick(
            ts_event=ts_ns,
            ts_init=ts_ns,
            instrument_id=instrument_id,
            price=instrument.ticks_to_price(ticks),
            size=Quantity.from_raw(UNLIMITED_LOTS * instrument.size_increment.raw, instrument.size_precision),
            aggressor_side=Side.BUY,
            trade_id=TradeId(f"BAR-{self._trade_no}"),
        )
        self._venue.on_trade(tick)

    def reference_price(self, instrument_id: InstrumentId, ticks: int) -> Price:
        return self.books[instrument_id].instrument.ticks_to_price(ticks)
