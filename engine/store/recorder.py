"""Recording live market data without slowing the loop: a ``FeedSink`` backed by a writer thread.

``Recorder`` is what the event loop talks to: ``on_trade``/``on_quote``/``on_bar`` append the
(immutable) event to a list; ``on_book`` turns the feed's book change into ``OrderBookDeltas`` (see
below). Every ``block_records`` events, or on ``flush`` (call it from a timer), the list is handed to
the writer thread through a bounded queue; the thread encodes, compresses and commits the block
(``RecordingWriter.write_block``). The loop never encodes, compresses or touches the disk.

If the disk falls behind by more than ``max_pending_blocks`` blocks, the newest block is dropped and
counted (``events_dropped``) rather than blocking the loop or growing memory without bound: a
recording is a copy of market data, the live trading path must not wait for it. The recording then
has a gap, never a wrong book: the next record of each book that had records in the dropped block is
a full snapshot of its view (its deltas would otherwise be relative to a view that never reached the
disk, and a replay would rebuild a book the live feed never had). ``stop`` waits for room instead of
dropping: at shutdown nothing is latency-critical.

**Books.** A live feed announces a book change with ``OrderBookUpdated`` (the levels live in the
feed's ``OrderBook``). The recorder keeps the top ``book_depth`` levels of each side it last recorded
and writes only the levels of that view that changed (0 lots = gone from the view); a full snapshot
of the view when the feed says the change was a snapshot, and every ``snapshot_every`` records so a
replay can start from any recent point. Replaying the records rebuilds exactly the top
``book_depth`` levels the live book had after each change.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import structlog

from engine.core.events import Bar, DataQualityAlert, Event, OrderBookUpdated, QuoteTick, TradeTick
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.book import OrderBook
from engine.marketdata.io.records import OrderBookDeltas
from engine.store.recording import RecordingWriter

__all__ = ["BookViewDiffer", "Recorder", "RecorderStats"]

log = structlog.get_logger("engine.recorder")

_STOP = object()


@dataclass(slots=True)
class RecorderStats:
    events: int = 0
    blocks_written: int = 0
    events_written: int = 0
    events_dropped: int = 0
    book_records: int = 0
    #: Events of an instrument with no definition anywhere: a recording cannot hold their prices.
    events_unknown_instrument: int = 0
    write_errors: int = 0
    last_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BookViewDiffer:
    """The top ``depth`` levels of one book, and what changed in them since the last call."""

    __slots__ = ("_ask", "_bid", "_buf_lots", "_buf_ticks", "_count", "depth", "snapshot_every")

    def __init__(self, depth: int, snapshot_every: int = 1000) -> None:
        self.depth = depth
        self.snapshot_every = snapshot_every
        self._bid: dict[int, int] = {}
        self._ask: dict[int, int] = {}
        self._buf_ticks = np.zeros(depth, dtype=np.int64)
        self._buf_lots = np.zeros(depth, dtype=np.int64)
        self._count = 0

    def resync(self) -> None:
        """Make the next record a full snapshot of the view (the previous records did not all persist)."""
        self._count = 0

    def _side(self, book: OrderBook, side: int) -> dict[int, int]:
        n = book.l2.depth(side, self._buf_ticks, self._buf_lots, self.depth)
        return dict(zip(self._buf_ticks[:n].tolist(), self._buf_lots[:n].tolist(), strict=True))

    def diff(self, book: OrderBook, update: OrderBookUpdated) -> OrderBookDeltas | None:
        """The record for this change, or None when the top ``depth`` levels did not change."""
        bid, ask = self._side(book, 1), self._side(book, 2)
        self._count += 1
        full = update.is_snapshot or (self._count - 1) % self.snapshot_every == 0 or book.l2.needs_snapshot
        if full:
            bid_t, bid_l = tuple(bid), tuple(bid.values())
            ask_t, ask_l = tuple(ask), tuple(ask.values())
        else:
            bid_t, bid_l = _changes(self._bid, bid)
            ask_t, ask_l = _changes(self._ask, ask)
            if not bid_t and not ask_t:
                return None
        self._bid, self._ask = bid, ask
        invalid = book.l2.needs_snapshot
        return OrderBookDeltas(
            ts_event=update.ts_event,
            ts_init=update.ts_init,
            instrument_id=update.instrument_id,
            bid_ticks=() if invalid else bid_t,
            bid_lots=() if invalid else bid_l,
            ask_ticks=() if invalid else ask_t,
            ask_lots=() if invalid else ask_l,
            sequence=-1 if invalid else update.sequence,
            is_snapshot=full,
        )


def _changes(old: dict[int, int], new: dict[int, int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ticks: list[int] = []
    lots: list[int] = []
    for t, q in new.items():
        if old.get(t) != q:
            ticks.append(t)
            lots.append(q)
    for t in old:
        if t not in new:
            ticks.append(t)
            lots.append(0)
    return tuple(ticks), tuple(lots)


class Recorder:
    """A ``FeedSink`` that records to a ``RecordingWriter`` on a background thread."""

    def __init__(
        self,
        writer: RecordingWriter,
        *,
        books: dict[InstrumentId, OrderBook] | None = None,
        instrument_for: Callable[[InstrumentId], Instrument | None] | None = None,
        block_records: int | None = None,
        max_pending_blocks: int = 64,
        book_depth: int = 50,
        snapshot_every: int = 1000,
    ) -> None:
        self._writer = writer
        #: The live feed's books (``FeedHandler.books``): the source of book views to record.
        self.books: dict[InstrumentId, OrderBook] = books if books is not None else {}
        self._instrument_for = instrument_for
        self._block_records = block_records or writer.block_records
        self._book_depth = book_depth
        self._snapshot_every = snapshot_every
        self._pending: list[Event] = []
        self._known: set[InstrumentId] = set()
        self._differs: dict[InstrumentId, BookViewDiffer] = {}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending_blocks)
        self._thread: threading.Thread | None = None
        self.stats = RecorderStats()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Hand over what is buffered, let the thread write everything, then close the writer."""
        thread = self._thread
        if thread is None:
            self.flush()  # nothing drains the queue: a full queue drops (and counts) the rest
            self._writer.close()
            return True
        if self._pending:  # blocking is fine here (shutdown, not the trading path): no drop at the end
            block, self._pending = self._pending, []
            self._queue.put(block)
        self._queue.put(_STOP)
        thread.join(timeout_s)
        if thread.is_alive():
            return False
        self._thread = None
        self._writer.close()
        return True

    # -- the FeedSink side (loop thread) -----------------------------------------------------------
    def on_trade(self, tick: TradeTick) -> None:
        self._append(tick)

    def on_quote(self, tick: QuoteTick) -> None:
        self._append(tick)

    def on_bar(self, bar: Bar) -> None:
        self._append(bar)

    def on_alert(self, alert: DataQualityAlert) -> None:
        """Alerts are not market data; a recording does not keep them."""

    def on_book(self, event: OrderBookUpdated) -> None:
        book = self.books.get(event.instrument_id)
        if book is None:
            return
        differ = self._differs.get(event.instrument_id)
        if differ is None:
            differ = self._differs[event.instrument_id] = BookViewDiffer(
                self._book_depth, self._snapshot_every
            )
        record = differ.diff(book, event)
        if record is not None:
            self.stats.book_records += 1
            self._append(record)

    def flush(self) -> None:
        """Hand the buffered events to the writer thread now (call from a timer)."""
        if not self._pending:
            return
        block, self._pending = self._pending, []
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            self.stats.events_dropped += len(block)
            log.warning("recorder.dropped_block", events=len(block), reason="writer behind")
            self._resync_books(block)

    def _resync_books(self, dropped: list[Event]) -> None:
        """The books with records in a dropped block record a full view next (see the module doc)."""
        differs = self._differs
        for event in dropped:
            if type(event) is OrderBookDeltas:
                differ = differs.get(event.instrument_id)
                if differ is not None:
                    differ.resync()

    def _append(self, event: Event) -> None:
        iid = event.instrument_id  # type: ignore[attr-defined]
        if iid not in self._known and not self._learn(iid):
            self.stats.events_unknown_instrument += 1
            return
        self._pending.append(event)
        self.stats.events += 1
        if len(self._pending) >= self._block_records:
            self.flush()

    def _learn(self, instrument_id: InstrumentId) -> bool:
        """Queue the instrument's definition for the writer; False if it is unknown (event skipped)."""
        instrument = None
        book = self.books.get(instrument_id)
        if book is not None:
            instrument = book.instrument
        elif self._instrument_for is not None:
            instrument = self._instrument_for(instrument_id)
        if instrument is None:
            if self.stats.events_unknown_instrument == 0:
                log.warning("recorder.unknown_instrument", instrument_id=str(instrument_id))
            return False
        self.flush()  # instruments travel in order with the blocks
        try:
            self._queue.put_nowait(instrument)
        except queue.Full:
            self._queue.put(instrument)  # once per instrument, rare: correctness over latency here
        self._known.add(instrument_id)
        return True

    # -- the writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        writer = self._writer
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if isinstance(item, Instrument):
                    writer.add_instrument(item)
                else:
                    writer.write_block(item)
                    self.stats.blocks_written += 1
                    self.stats.events_written += len(item)
            except Exception as exc:  # a disk error must not kill the thread: count and go on
                self.stats.write_errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.error("recorder.write_failed", error=self.stats.last_error)
