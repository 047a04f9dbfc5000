"""``OrderBook``: an ``L2Book`` (int64 ticks and lots, Cython) bound to an ``Instrument``.

Prices and quantities go in and come out as exact ``Price``/``Quantity`` (or decimal strings, parsed
onto the instrument's grid); nothing here passes through ``float`` except the documented analytics
(``imbalance``). Hot paths (feed handlers, the paper venue's book walk) use ``OrderBook.l2``
directly with ticks and lots; this class is the boundary for everything that speaks Price/Quantity:
the gRPC ``GetOrderBook``, the simulated venue, tests and tools.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from engine.core.enums import Side
from engine.core.errors import ValidationError
from engine.core.fixed import EXACT, Money, Price, Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.ext.book.l2book import DEFAULT_WINDOW_TICKS, MAX_TICKS, MIN_TICKS, L2Book

__all__ = ["BookLevel", "BookSnapshot", "FillEstimate", "OrderBook"]

BookLevel = tuple[Price, Quantity]


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """Top-N of a book at one moment: bids best (highest) first, asks best (lowest) first."""

    instrument_id: InstrumentId
    bids: list[BookLevel]
    asks: list[BookLevel]
    #: Venue update id of the last update applied (-1 if the book is not sequenced).
    sequence: int
    is_crossed: bool
    #: True after a sequence gap or a crossed feed until the next snapshot: do not trust the levels.
    needs_snapshot: bool = False

    def as_strings(self) -> dict[str, object]:
        """JSON-ready form with decimal strings (the API convention)."""
        return {
            "instrument_id": str(self.instrument_id),
            "bids": [[str(p), str(q)] for p, q in self.bids],
            "asks": [[str(p), str(q)] for p, q in self.asks],
            "sequence": self.sequence,
            "is_crossed": self.is_crossed,
            "needs_snapshot": self.needs_snapshot,
        }


@dataclass(frozen=True, slots=True)
class FillEstimate:
    """What taking ``requested`` from the book would fill, exactly (no fees, no impact model)."""

    side: Side
    requested: Quantity
    filled: Quantity
    #: Exact sum of price * quantity over the levels taken (times the instrument's multiplier).
    notional: Money

    @property
    def complete(self) -> bool:
        return self.filled == self.requested

    @property
    def average_price(self) -> Decimal | None:
        """notional / filled as a ``Decimal`` rounded to 28 significant digits (analytics, not money)."""
        if not self.filled:
            return None
        return self.notional.as_decimal() / self.filled.as_decimal()


def _side(side: Side | int) -> int:
    if isinstance(side, int) and not isinstance(side, bool) and side in (1, 2):
        return int(side)
    raise ValidationError("side", f"must be Side.BUY/1 (bid) or Side.SELL/2 (ask), got {side!r}")


class OrderBook:
    """Exact Price/Quantity view of an ``L2Book`` for one instrument.

    Side arguments follow ``engine.core.enums.Side``: BUY (1) is the bid side, SELL (2) the ask side;
    for ``cost_to_fill`` the side is the *order's* side (a buy takes the asks).
    """

    __slots__ = ("_depth_lots", "_depth_ticks", "_instrument", "_l2", "_price_precision", "_price_step")

    def __init__(self, instrument: Instrument, *, window_ticks: int = DEFAULT_WINDOW_TICKS) -> None:
        self._instrument = instrument
        self._l2 = L2Book(window_ticks=window_ticks)
        self._price_step = instrument.price_increment.raw
        self._price_precision = instrument.price_precision
        self._depth_ticks = np.zeros(64, dtype=np.int64)
        self._depth_lots = np.zeros(64, dtype=np.int64)

    @property
    def instrument(self) -> Instrument:
        return self._instrument

    @property
    def l2(self) -> L2Book:
        """The compiled book (ticks and lots) for hot paths."""
        return self._l2

    # -- conversions ------------------------------------------------------------------------------
    def to_ticks(self, price: Price | str) -> int:
        price = self._instrument.parse_price(price) if isinstance(price, str) else price
        ticks = self._instrument.price_to_ticks(price)
        if not MIN_TICKS <= ticks <= MAX_TICKS:
            raise ValidationError("price", f"{price} is out of the book's range")
        return ticks

    def to_lots(self, quantity: Quantity | str) -> int:
        if isinstance(quantity, str):
            quantity = self._instrument.parse_quantity(quantity)
        lots = self._instrument.quantity_to_lots(quantity)
        if lots < 0:
            raise ValidationError("quantity", f"must not be negative, got {quantity}")
        return lots

    def price(self, ticks: int) -> Price:
        return Price.from_raw(ticks * self._price_step, self._price_precision)

    def quantity(self, lots: int) -> Quantity:
        return self._instrument.lots_to_quantity(lots)

    # -- updates ----------------------------------------------------------------------------------
    def apply_snapshot(
        self,
        bids: Iterable[tuple[Price | str, Quantity | str]],
        asks: Iterable[tuple[Price | str, Quantity | str]],
        sequence: int = -1,
    ) -> int:
        """Replace the book; returns the L2Book status (STATUS_OK or STATUS_CROSSED)."""
        bid_t, bid_l = self._levels_to_arrays(bids)
        ask_t, ask_l = self._levels_to_arrays(asks)
        return self._l2.apply_snapshot(bid_t, bid_l, ask_t, ask_l, sequence)

    def apply_delta(self, side: Side | int, price: Price | str, quantity: Quantity | str) -> int:
        """Set the quantity at one price (zero removes the level); STATUS_OK or STATUS_CROSSED."""
        return self._l2.apply_delta(_side(side), self.to_ticks(price), self.to_lots(quantity))

    def clear(self) -> None:
        self._l2.clear()

    def _levels_to_arrays(
        self, levels: Iterable[tuple[Price | str, Quantity | str]]
    ) -> tuple[np.ndarray, np.ndarray]:
        ticks, lots = [], []
        for price, quantity in levels:
            ticks.append(self.to_ticks(price))
            lots.append(self.to_lots(quantity))
        return np.array(ticks, dtype=np.int64), np.array(lots, dtype=np.int64)

    # -- reads ------------------------------------------------------------------------------------
    def best_bid(self) -> BookLevel | None:
        lots = self._l2.best_bid_lots()
        return (self.price(self._l2.best_bid_ticks()), self.quantity(lots)) if lots else None

    def best_ask(self) -> BookLevel | None:
        lots = self._l2.best_ask_lots()
        return (self.price(self._l2.best_ask_ticks()), self.quantity(lots)) if lots else None

    def spread(self) -> Price | None:
        """Best ask - best bid, exact (zero or negative when crossed); None if a side is empty."""
        ticks = self._l2.spread_ticks()
        return None if ticks is None else self.price(ticks)

    def mid(self) -> Price | None:
        """(best bid + best ask) / 2, exact: one more decimal place than the tick grid when needed."""
        bid, ask = self._l2.best_bid_lots(), self._l2.best_ask_lots()
        if not bid or not ask:
            return None
        raw2 = (self._l2.best_bid_ticks() + self._l2.best_ask_ticks()) * self._price_step
        if raw2 % 2 == 0:
            return Price.from_raw(raw2 // 2, self._price_precision)
        return Price.from_raw(raw2 * 5, self._price_precision + 1)

    def is_crossed(self) -> bool:
        return self._l2.is_crossed()

    def imbalance(self, levels: int = 1) -> float:
        """(bid size - ask size) / (bid size + ask size) over the top ``levels`` (float, analytics)."""
        return self._l2.imbalance(levels)

    def level_quantity(self, side: Side | int, price: Price | str) -> Quantity:
        return self.quantity(self._l2.level_lots(_side(side), self.to_ticks(price)))

    def levels(self, side: Side | int, depth: int) -> list[BookLevel]:
        """Up to ``depth`` levels of one side, best first."""
        if depth < 0:
            raise ValidationError("depth", f"must be >= 0, got {depth}")
        if depth > self._depth_ticks.shape[0]:
            size = max(depth, 2 * self._depth_ticks.shape[0])
            self._depth_ticks = np.zeros(size, dtype=np.int64)
            self._depth_lots = np.zeros(size, dtype=np.int64)
        n = self._l2.depth(_side(side), self._depth_ticks, self._depth_lots, depth)
        step, precision = self._price_step, self._price_precision
        to_qty = self._instrument.lots_to_quantity
        return [
            (Price.from_raw(t * step, precision), to_qty(q))
            for t, q in zip(self._depth_ticks[:n].tolist(), self._depth_lots[:n].tolist(), strict=True)
        ]

    def snapshot(self, depth: int) -> BookSnapshot:
        """Top ``depth`` levels of both sides (for GetOrderBook and the sim venue)."""
        return BookSnapshot(
            instrument_id=self._instrument.id,
            bids=self.levels(Side.BUY, depth),
            asks=self.levels(Side.SELL, depth),
            sequence=self._l2.last_sequence,
            is_crossed=self._l2.is_crossed(),
            needs_snapshot=self._l2.needs_snapshot,
        )

    def cost_to_fill(self, side: Side | int, quantity: Quantity | str) -> FillEstimate:
        """Walk the book for an order of ``side`` (BUY takes asks upward, SELL bids downward)."""
        side_i = _side(side)
        lots = self.to_lots(quantity)
        filled, notional_tick_lots = self._l2.cost_to_fill(side_i, lots)
        inst = self._instrument
        # notional = sum(ticks * lots) * price_step * size_step at price_precision + size_precision
        raw = notional_tick_lots * self._price_step * inst.size_increment.raw
        notional = Money.from_raw(raw, self._price_precision + inst.size_precision, inst.quote)
        if inst.multiplier != 1:
            notional = Money(EXACT.multiply(notional.as_decimal(), inst.multiplier), inst.quote)
        return FillEstimate(
            side=Side(side_i),
            requested=self.quantity(lots),
            filled=self.quantity(filled),
            notional=notional,
        )

    def __len__(self) -> int:
        return len(self._l2)

    def __repr__(self) -> str:
        bid, ask = self.best_bid(), self.best_ask()
        fmt = lambda lv: f"{lv[1]}@{lv[0]}" if lv else "-"  # noqa: E731
        return f"OrderBook({self._instrument.id}, bid={fmt(bid)}, ask={fmt(ask)}, levels={len(self)})"
