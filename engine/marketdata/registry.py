"""The engine's current view of the markets: known instruments and where their L2 books come from.

Owned by the event loop (single writer). A feed handler registers an ``OrderBook`` it keeps
updated (``add_book``); a venue that holds its own book (the simulated venue's L3 matcher) registers
a snapshot function instead (``add_source``). The API reads snapshots through ``snapshot``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from engine.core.errors import DuplicateError, NotFoundError, ValidationError
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.book import BookSnapshot, OrderBook

MAX_DEPTH = 1000
_VENUE = re.compile(r"[A-Z0-9_\-]{1,32}")

#: Top-``depth`` snapshot of one instrument's book.
BookSource = Callable[[int], BookSnapshot]


class MarketDataRegistry:
    def __init__(self) -> None:
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._sources: dict[InstrumentId, BookSource] = {}

    def add_book(self, instrument: Instrument, book: OrderBook | None = None) -> OrderBook:
        """Register an instrument with an ``OrderBook`` (new and empty unless given); returns the book."""
        if book is None:
            book = OrderBook(instrument)
        elif book.instrument.id != instrument.id:
            raise ValidationError("book", f"belongs to {book.instrument.id}, not {instrument.id}")
        self.add_source(instrument, book.snapshot)
        return book

    def add_source(self, instrument: Instrument, source: BookSource) -> None:
        """Register an instrument whose book snapshots come from ``source(depth)``."""
        if instrument.id in self._instruments:
            raise DuplicateError(f"instrument {instrument.id} is already registered", original=instrument)
        self._instruments[instrument.id] = instrument
        self._sources[instrument.id] = source

    def instruments(self, venue: str = "") -> list[Instrument]:
        """Instruments sorted by id, optionally only one venue's."""
        if venue and _VENUE.fullmatch(venue) is None:
            raise ValidationError("venue", f"{venue!r} is not a venue name (upper-case, e.g. SIM or BINANCE)")
        return [i for key, i in sorted(self._instruments.items()) if not venue or key.venue == venue]

    def instrument(self, instrument_id: str) -> Instrument:
        key = InstrumentId(instrument_id)  # ValidationError(field="instrument_id") if malformed
        try:
            return self._instruments[key]
        except KeyError:
            raise NotFoundError(f"unknown instrument {key}") from None

    def snapshot(self, instrument_id: str, depth: int) -> BookSnapshot:
        if not 1 <= depth <= MAX_DEPTH:
            raise ValidationError("depth", f"must be between 1 and {MAX_DEPTH}, got {depth}")
        return self._sources[self.instrument(instrument_id).id](depth)
