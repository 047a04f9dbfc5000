"""Replay a recording into the engine, paced like the original or as fast as possible.

``ReplayFeed`` has the shape of a live ``FeedHandler`` (``books``, ``start``, ``stop``, a
``FeedSink``): the composition root can plug a recording in wherever a live feed goes, so books,
bars, strategies and the paper venue see the same events they would have seen live.

Pacing (``speed``): events go out in recorded order; event ``i`` is due at
``t0 + (ts_init[i] - ts_init[0]) / speed`` on the given clock, where ``t0`` is the clock's time when
the replay started. ``speed=None`` (``max``) never waits: it only yields to the event loop every
``yield_every`` events so timers, gRPC and the rest of the loop keep running. The clock and the
sleep function are injected, so a test (or a backtest) runs a 1x replay in simulated time.

Books: ``OrderBookDeltas`` are applied to the instrument's ``OrderBook`` (created on the recording's
grid, or given) and announced as ``OrderBookUpdated`` (``data.books.<instrument_id>`` via the sink);
an invalidation record (the live book had lost sync) empties the book and is announced as a snapshot
with sequence -1.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from engine.core.clock import Clock, LiveClock
from engine.core.errors import ValidationError
from engine.core.events import Bar, Event, OrderBookUpdated, QuoteTick, TradeTick
from engine.core.ids import InstrumentId
from engine.core.instruments import Instrument
from engine.marketdata.book import OrderBook
from engine.marketdata.io.records import OrderBookDeltas
from engine.store.recording import RecordingReader

if TYPE_CHECKING:
    from engine.marketdata.feeds.base import FeedSink

__all__ = ["ReplayFeed", "ReplayStats", "apply_deltas", "parse_speed"]

log = structlog.get_logger("engine.replay")

_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*x\s*$", re.IGNORECASE)
Sleep = Callable[[float], Awaitable[None]]


def parse_speed(text: str | float | None) -> float | None:
    """``"1x"`` -> 1.0, ``"10x"`` -> 10.0, ``"max"`` -> None (as fast as possible)."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        if text.strip().lower() == "max":
            return None
        m = _SPEED.match(text)
        if not m:
            raise ValidationError("speed", f"{text!r}: expected 1x, 10x, 0.5x ... or max")
        value = float(m.group(1))
    if not value > 0:
        raise ValidationError("speed", f"must be positive, got {text!r}")
    return value


@dataclass(slots=True)
class ReplayStats:
    events: int = 0
    trades: int = 0
    quotes: int = 0
    book_updates: int = 0
    bars: int = 0
    #: Times the replay waited for an event's due time, and the total asked for (seconds).
    waits: int = 0
    waited_s: float = 0.0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    elapsed_s: float = 0.0
    finished: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply_deltas(book: OrderBook, record: OrderBookDeltas) -> int:
    """Apply a recorded book change to ``book``; returns the L2 book status."""
    l2 = book.l2
    bid_t = np.fromiter(record.bid_ticks, dtype=np.int64, count=len(record.bid_ticks))
    bid_l = np.fromiter(record.bid_lots, dtype=np.int64, count=len(record.bid_lots))
    ask_t = np.fromiter(record.ask_ticks, dtype=np.int64, count=len(record.ask_ticks))
    ask_l = np.fromiter(record.ask_lots, dtype=np.int64, count=len(record.ask_lots))
    if record.is_snapshot:
        status = l2.apply_snapshot(bid_t, bid_l, ask_t, ask_l, record.sequence)
        if record.is_invalidation:
            l2.invalidate()
        return status
    sides = np.empty(len(bid_t) + len(ask_t), dtype=np.uint8)
    sides[: len(bid_t)] = 1
    sides[len(bid_t) :] = 2
    # Unsequenced apply: the recording already holds only what the live book applied, in order.
    return l2.apply_deltas(sides, np.concatenate([bid_t, ask_t]), np.concatenate([bid_l, ask_l]))


class ReplayFeed:
    """A recording (or any ordered event stream) played into a ``FeedSink``."""

    def __init__(
        self,
        source: RecordingReader | Iterable[Event],
        sink: FeedSink,
        *,
        speed: float | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        instruments: Iterable[Instrument] | None = None,
        books: dict[InstrumentId, OrderBook] | None = None,
        yield_every: int = 1024,
        progress: Callable[[ReplayStats], None] | None = None,
        progress_every: int = 10_000,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ValidationError("speed", f"must be positive or None (max), got {speed}")
        self._source = source
        self._sink = sink
        self.speed = speed
        self._clock = clock or LiveClock()
        self._sleep = sleep or asyncio.sleep
        self._yield_every = max(1, yield_every)
        self._progress = progress
        self._progress_every = max(1, progress_every)
        self._start_ns, self._end_ns = start_ns, end_ns
        known = list(instruments or [])
        if isinstance(source, RecordingReader):
            known = list(source.instruments().values()) + known
        self.instruments: dict[InstrumentId, Instrument] = {i.id: i for i in known}
        self.books: dict[InstrumentId, OrderBook] = dict(books or {})
        for inst in self.instruments.values():
            self.books.setdefault(inst.id, OrderBook(inst))
        self.stats = ReplayStats()
        self._task: asyncio.Task[ReplayStats] | None = None

    @property
    def venue(self) -> str:
        return "REPLAY"

    async def start(self) -> None:
        """Start replaying in a task on the running loop (returns at once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="replay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait(self) -> ReplayStats:
        """Wait for a started replay to finish; returns its stats."""
        if self._task is None:
            return self.stats
        return await self._task

    def _events(self) -> Iterable[Event]:
        if isinstance(self._source, RecordingReader):
            return self._source.iter_events(start_ns=self._start_ns, end_ns=self._end_ns)
        return self._source

    async def run(self) -> ReplayStats:
        """Replay everything now (awaits until done); returns the stats."""
        stats = self.stats
        sink = self._sink
        on_trade, on_quote, on_bar, on_book = sink.on_trade, sink.on_quote, sink.on_bar, sink.on_book
        books = self.books
        clock_ns = self._clock.timestamp_ns
        sleep = self._sleep
        speed = self.speed
        inv_speed = None if speed is None else 1.0 / speed
        yield_every = self._yield_every
        progress, progress_every = self._progress, self._progress_every
        started = time.perf_counter()
        t0_wall = clock_ns()
        t0_data: int | None = None
        n = 0
        for event in self._events():
            ts = event.ts_init
            if t0_data is None:
                t0_data = ts
                stats.first_ts_ns = ts
            if inv_speed is not None:
                due = t0_wall + int((ts - t0_data) * inv_speed)
                wait_ns = due - clock_ns()
                if wait_ns > 0:
                    stats.waits += 1
                    stats.waited_s += wait_ns / 1e9
                    await sleep(wait_ns / 1e9)
            cls = type(event)
            if cls is TradeTick:
                on_trade(event)  # type: ignore[arg-type]
                stats.trades += 1
            elif cls is QuoteTick:
                on_quote(event)  # type: ignore[arg-type]
                stats.quotes += 1
            elif cls is OrderBookDeltas:
                assert isinstance(event, OrderBookDeltas)
                book = books.get(event.instrument_id)
                if book is None:
                    raise ValidationError(
                        "instrument_id",
                        f"book record for {event.instrument_id} with no instrument definition",
                    )
                apply_deltas(book, event)
                on_book(
                    OrderBookUpdated(
                        ts_event=event.ts_event,
                        ts_init=ts,
                        instrument_id=event.instrument_id,
                        sequence=event.sequence,
                        is_snapshot=event.is_snapshot,
                    )
                )
                stats.book_updates += 1
            elif cls is Bar:
                on_bar(event)  # type: ignore[arg-type]
                stats.bars += 1
            n += 1
            stats.events = n
            stats.last_ts_ns = ts
            if n % yield_every == 0:
                await asyncio.sleep(0)  # let the loop breathe, whatever the speed
            if progress is not None and n % progress_every == 0:
                stats.elapsed_s = time.perf_counter() - started
                progress(stats)
        stats.elapsed_s = time.perf_counter() - started
        stats.finished = True
        if progress is not None:
            progress(stats)
        log.debug("replay.finished", events=n, elapsed_s=round(stats.elapsed_s, 3))
        return stats
