"""Live recording: a FeedSink on the loop, a writer thread behind it; book views recorded as deltas."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.core.clock import TestClock
from engine.core.events import Event, OrderBookUpdated
from engine.marketdata.book import OrderBook
from engine.marketdata.io.importers import import_binance_capture
from engine.marketdata.io.records import OrderBookDeltas
from engine.store.recorder import Recorder
from engine.store.recording import RecordingReader, RecordingWriter, record_items
from engine.store.replay import ReplayFeed
from tests.unit.store.market_samples import instrument, market_events


def top(book: OrderBook, depth: int) -> tuple[list[int], ...]:
    out = []
    for side in (1, 2):
        ticks, lots = np.zeros(depth, np.int64), np.zeros(depth, np.int64)
        n = book.l2.depth(side, ticks, lots, depth)
        out += [ticks[:n].tolist(), lots[:n].tolist()]
    return tuple(out)


def test_recorder_when_events_then_written_by_the_thread_in_order(tmp_path: Path) -> None:
    events = [e for e in market_events(5000) if not isinstance(e, OrderBookDeltas)]
    recorder = Recorder(
        RecordingWriter(tmp_path / "rec", block_records=256), instrument_for=lambda _: instrument()
    )
    recorder.start()
    for e in events:
        getattr(
            recorder, {"TradeTick": "on_trade", "QuoteTick": "on_quote", "Bar": "on_bar"}[type(e).__name__]
        )(e)
    assert recorder.stop()
    assert recorder.stats.events_written == len(events) and recorder.stats.events_dropped == 0
    assert list(RecordingReader(tmp_path / "rec").iter_events()) == events


def test_recorder_when_writer_far_behind_then_blocks_dropped_and_counted(tmp_path: Path) -> None:
    recorder = Recorder(
        RecordingWriter(tmp_path / "rec"),
        instrument_for=lambda _: instrument(),
        block_records=10,
        max_pending_blocks=2,
    )  # thread not started: nothing drains the queue
    events = [e for e in market_events(200) if not isinstance(e, OrderBookDeltas)]
    for e in events:
        recorder.on_trade(e)  # type: ignore[arg-type]
    assert recorder.stats.events_dropped > 0
    assert recorder.stats.events == len(events)


async def test_recorder_when_live_books_then_replay_rebuilds_the_top_levels(
    shared_data: Path, tmp_path: Path
) -> None:
    """Binance capture -> (replay as if live) -> Recorder (top-20 view deltas) -> replay -> same top 20."""
    files = [
        shared_data / "binance-l2/spot/ethusdt_20240808.gz",
        shared_data / "binance-l2/spot/ethusdt_20240809.gz",
    ]
    source = RecordingWriter(tmp_path / "source")
    record_items(import_binance_capture(files), source)
    source.close()
    reader = RecordingReader(tmp_path / "source")

    depth = 20
    snapshots: list[tuple[list[int], ...]] = []
    live_books = {i.id: OrderBook(i) for i in reader.instruments().values()}
    recorder = Recorder(
        RecordingWriter(tmp_path / "live", block_records=512), books=live_books, book_depth=depth
    )

    class Tee:
        """The live side: the recorder, plus the top levels after each book change for the check."""

        def on_trade(self, e: Event) -> None:
            recorder.on_trade(e)  # type: ignore[arg-type]

        def on_quote(self, e: Event) -> None:
            recorder.on_quote(e)  # type: ignore[arg-type]

        def on_bar(self, e: Event) -> None:
            recorder.on_bar(e)  # type: ignore[arg-type]

        def on_alert(self, e: Event) -> None:
            pass

        def on_book(self, e: OrderBookUpdated) -> None:
            recorder.on_book(e)
            snapshots.append(top(live_books[e.instrument_id], depth))

    recorder.start()
    await ReplayFeed(reader, Tee(), speed=None, books=live_books).run()
    assert recorder.stop()

    replayed: list[tuple[list[int], ...]] = []
    again_reader = RecordingReader(tmp_path / "live")
    again_books = {i.id: OrderBook(i) for i in again_reader.instruments().values()}

    class Check:
        def on_trade(self, e: Event) -> None: ...
        def on_quote(self, e: Event) -> None: ...
        def on_bar(self, e: Event) -> None: ...
        def on_alert(self, e: Event) -> None: ...
        def on_book(self, e: OrderBookUpdated) -> None:
            replayed.append(top(again_books[e.instrument_id], depth))

    await ReplayFeed(again_reader, Check(), speed=None, clock=TestClock(0), books=again_books).run()
    # Every recorded change reproduces the live top 20 at that moment (unchanged views are not recorded).
    live_distinct = [s for i, s in enumerate(snapshots) if i == 0 or s != snapshots[i - 1]]
    replay_distinct = [s for i, s in enumerate(replayed) if i == 0 or s != replayed[i - 1]]
    assert replay_distinct == live_distinct
    assert replayed[-1] == snapshots[-1]
    assert recorder.stats.book_records == len(replayed) < len(snapshots) + 1
