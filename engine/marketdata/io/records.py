"""Market-data records that only recordings need: L2 book changes, and instruments as plain documents.

``OrderBookDeltas`` is what a recording keeps of an L2 book: one venue message's level changes, on
the instrument's grid (integer ticks and lots, 0 lots = remove the level), already past the venue's
synchronisation rules (sequence continuity, snapshot straddling) — so a replay only has to apply them
in order to rebuild the exact book the engine had. ``is_snapshot`` replaces the whole book; a snapshot
with no levels and ``sequence == -1`` marks the book as invalid (the live book lost sync at that point
and had no valid state until the next snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.core.enums import InstrumentKind
from engine.core.events import Event
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument

__all__ = ["OrderBookDeltas", "instrument_from_dict", "instrument_to_dict"]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderBookDeltas(Event):
    """Level changes of one L2 book message (or a full snapshot), in ticks and lots of the instrument."""

    instrument_id: InstrumentId
    bid_ticks: tuple[int, ...]
    bid_lots: tuple[int, ...]
    ask_ticks: tuple[int, ...]
    ask_lots: tuple[int, ...]
    #: The venue's update id after this message (-1 when the venue does not sequence its book).
    sequence: int = -1
    is_snapshot: bool = False

    @property
    def is_invalidation(self) -> bool:
        return self.is_snapshot and self.sequence == -1 and not self.bid_ticks and not self.ask_ticks

    @property
    def level_count(self) -> int:
        return len(self.bid_ticks) + len(self.ask_ticks)


def instrument_to_dict(instrument: Instrument) -> dict[str, Any]:
    """An instrument as a plain JSON document (decimal strings), for a recording's instrument table."""
    return {
        "id": str(instrument.id),
        "kind": instrument.kind.name,
        "base": instrument.base,
        "quote": instrument.quote,
        "settlement": instrument.settlement,
        "price_increment": str(instrument.price_increment),
        "size_increment": str(instrument.size_increment),
        "min_quantity": str(instrument.min_quantity),
        "max_quantity": None if instrument.max_quantity is None else str(instrument.max_quantity),
        "min_notional": None if instrument.min_notional is None else instrument.min_notional.amount_str(),
        "maker_fee": str(instrument.maker_fee),
        "taker_fee": str(instrument.taker_fee),
        "multiplier": str(instrument.multiplier),
        "tradable": instrument.tradable,
    }


def instrument_from_dict(doc: dict[str, Any]) -> Instrument:
    return Instrument(
        id=InstrumentId(doc["id"]),
        kind=InstrumentKind[doc["kind"]],
        base=doc["base"],
        quote=doc["quote"],
        settlement=doc["settlement"],
        price_increment=Price.parse(doc["price_increment"]),
        size_increment=Quantity.parse(doc["size_increment"]),
        min_quantity=Quantity.parse(doc["min_quantity"]),
        max_quantity=None if doc.get("max_quantity") is None else Quantity.parse(doc["max_quantity"]),
        min_notional=None if doc.get("min_notional") is None else Money(doc["min_notional"], doc["quote"]),
        maker_fee=Decimal(doc.get("maker_fee", "0")),
        taker_fee=Decimal(doc.get("taker_fee", "0")),
        multiplier=Decimal(doc.get("multiplier", "1")),
        tradable=bool(doc.get("tradable", True)),
    )
