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
from engine.store.replay import ReplayFeed, apply_deltas
from tests.unit.store.market_samples import IID, instrument, market_events


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


async def test_recorder_when_a_book_block_is_dropped_then_the_next_record_is_a_full_view(
    tmp_path: Path,
) -> None:
    """A dropped block leaves a gap in the recording, not a replayed book the live feed never had."""
    book = OrderBook(instrument())
    recorder = Recorder(
        RecordingWriter(tmp_path / "rec"), books={IID: book}, book_depth=5, max_pending_blocks=2
    )  # thread not started yet: the queue holds the instrument and one block, the next block drops
    changes = [  # (bid ticks, bid lots, ask ticks, ask lots, is_snapshot)
        ((10_000,), (1_000,), (10_005,), (1_000,), True),
        ((9_999,), (5_000,), (), (), False),  # its block is dropped: a bid level the recording lacks
        ((), (), (10_005,), (3_000,), False),  # a delta against the dropped view would miss 9_999
    ]
    live: list[tuple[list[int], ...]] = []
    for ts, (bt, bl, at, al, snap) in enumerate(changes, start=1):
        apply_deltas(
            book,
            OrderBookDeltas(
                ts_event=ts,
                ts_init=ts,
                instrument_id=IID,
                bid_ticks=bt,
                bid_lots=bl,
                ask_ticks=at,
                ask_lots=al,
                is_snapshot=snap,
            ),
        )
        recorder.on_book(
            OrderBookUpdated(ts_event=ts, ts_init=ts, instrument_id=IID, sequence=-1, is_snapshot=snap)
        )
        live.append(top(book, 5))
        if ts < len(changes):
            recorder.flush()
    assert recorder.stats.events_dropped == 1
    recorder.start()
    assert recorder.stop()  # the last block waits for room instead of being dropped at shutdown
    assert recorder.stats.events_written == 2

    again_books = {IID: OrderBook(instrument())}
    replayed: list[tuple[list[int], ...]] = []

    class Check:
        def on_trade(self, e: Event) -> None: ...
        def on_quote(self, e: Event) -> None: ...
        def on_bar(self, e: Event) -> None: ...
        def on_alert(self, e: Event) -> None: ...
        def on_book(self, e: OrderBookUpdated) -> None:
            replayed.append(top(again_books[e.instrument_id], 5))

    reader = RecordingReader(tmp_path / "rec")
    assert [e.is_snapshot for e in reader.iter_events()] == [True, True]  # type: ignore[attr-defined]
    await ReplayFeed(reader, Check(), clock=TestClock(0), books=again_books).run()
    assert replayed == [live[0], live[2]]
    assert live[2] == ([10_000, 9_999], [1_000, 5_000], [10_005], [3_000])


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
    # The hand-off holds the whole run (~160 blocks): this test checks what is recorded, not back-pressure
    # (the tests above). A max-speed replay hands over blocks faster than the writer thread, which shares
    # the GIL with the loop, can encode them (~0.35 s of writer CPU for a ~0.35 s replay); with the
    # default bound of 64 blocks a loaded machine drops some, and the views in them are then missing.
    recorder = Recorder(
        RecordingWriter(tmp_path / "live", block_records=512),
        books=live_books,
        book_depth=depth,
        max_pending_blocks=1024,
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
    assert recorder.stats.events_dropped == 0 and recorder.stats.write_errors == 0

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
