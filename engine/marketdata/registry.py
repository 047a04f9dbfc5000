"""The engine's current view of the markets: known instruments and their L2 books.

Owned by the event loop (single writer): venues and feed handlers add instruments and update the
books; the API reads snapshots. Implements what ``MarketDataService`` needs.
"""

from __future__ import annotations

import re

from engine.core.errors import DuplicateError, NotFoundError, ValidationError
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.book import BookSnapshot, OrderBook

MAX_DEPTH = 1000
_VENUE = re.compile(r"[A-Z0-9_\-]{1,32}")


class MarketDataRegistry:
    def __init__(self) -> None:
        self._instruments: dict[InstrumentId, Instrument] = {}
        self._books: dict[InstrumentId, OrderBook] = {}

    def add(self, instrument: Instrument, book: OrderBook | None = None) -> OrderBook:
        """Register an instrument and its book (a new empty one unless given); returns the book."""
        if instrument.id in self._instruments:
            raise DuplicateError(f"instrument {instrument.id} is already registered", original=instrument)
        if book is not None and book.instrument.id != instrument.id:
            raise ValidationError("book", f"belongs to {book.instrument.id}, not {instrument.id}")
        self._instruments[instrument.id] = instrument
        self._books[instrument.id] = book if book is not None else OrderBook(instrument)
        return self._books[instrument.id]

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

    def book(self, instrument_id: str) -> OrderBook:
        return self._books[self.instrument(instrument_id).id]

    def snapshot(self, instrument_id: str, depth: int) -> BookSnapshot:
        if not 1 <= depth <= MAX_DEPTH:
            raise ValidationError("depth", f"must be between 1 and {MAX_DEPTH}, got {depth}")
        return self.book(instrument_id).snapshot(depth)
