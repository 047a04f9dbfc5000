"""Recording a live feed: a real ``FeedHandler`` (ccxt.pro) on a local mock exchange, recorded through
``Recorder`` (what ``algotrendy data record`` runs), then replayed: the same trades and quotes in the
same order, and the replayed books equal the live books' top levels at the end."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from engine.core.clock import TestClock
from engine.core.events import QuoteTick, TradeTick
from engine.marketdata.book import OrderBook
from engine.store.recorder import Recorder
from engine.store.recording import RecordingReader, RecordingWriter
from engine.store.replay import ReplayFeed
from tests.mockex import venues
from tests.mockex.harness import RecordingSink, book_ids, drained, running_feed, synced, until

DEPTH = 25


def levels(book: OrderBook) -> tuple[object, object]:
    snapshot = book.snapshot(DEPTH)
    return snapshot.bids, snapshot.asks


class Tee:
    """The live side: the test's sink (for the expected values) and the recorder."""

    def __init__(self, recorder: Recorder, sink: RecordingSink) -> None:
        self.recorder, self.sink = recorder, sink

    def on_trade(self, tick: TradeTick) -> None:
        self.sink.on_trade(tick)
        self.recorder.on_trade(tick)

    def on_quote(self, tick: QuoteTick) -> None:
        self.sink.on_quote(tick)
        self.recorder.on_quote(tick)

    def on_book(self, event) -> None:
        self.sink.on_book(event)
        self.recorder.on_book(event)

    def on_bar(self, bar) -> None:
        self.recorder.on_bar(bar)

    def on_alert(self, alert) -> None:
        self.sink.on_alert(alert)


@pytest.mark.parametrize("venue", ["binance", "okx", "kraken"])
async def test_record_live_feed_then_replay_gives_the_same_events_and_books(
    shared_data: Path, tmp_path: Path, venue: str
) -> None:
    vm = venues.ALL[venue](shared_data)
    recorder = Recorder(RecordingWriter(tmp_path / "rec", block_records=256), book_depth=DEPTH)
    recorder.start()
    async with running_feed(vm) as (feed, sink):
        recorder.books = feed.books
        feed.sink = Tee(recorder, sink)  # record from the first message on
        await until(
            lambda: drained(feed, vm) and synced(feed, vm) and sink.trades, timeout_s=60, what="replay"
        )
        live_tops = {str(i): levels(feed.books[i]) for i in book_ids(feed, vm)}
        trades, quotes = list(sink.trades), list(sink.quotes)
    assert await asyncio.get_running_loop().run_in_executor(None, recorder.stop)
    assert recorder.stats.events_dropped == 0 and recorder.stats.write_errors == 0

    reader = RecordingReader(tmp_path / "rec")
    recorded = list(reader.iter_events())
    assert [e for e in recorded if isinstance(e, TradeTick)] == trades
    assert [e for e in recorded if isinstance(e, QuoteTick)] == quotes
    books = {i.id: OrderBook(i) for i in reader.instruments().values()}
    replayed = RecordingSink()
    await ReplayFeed(reader, replayed, speed=None, clock=TestClock(0), books=books).run()
    assert replayed.trades == trades
    # The recorded view is the top DEPTH levels (a change deeper than that is not recorded, so the
    # book's last update id can be older than the live one's: levels are what must match).
    for iid, top in live_tops.items():
        assert levels(books[next(k for k in books if str(k) == iid)]) == top


async def test_data_record_cli_when_mock_exchange_then_recording_written(
    shared_data: Path, tmp_path: Path
) -> None:
    """``algotrendy data record`` as a subprocess against a mock exchange served by this test."""
    vm = venues.ALL["binance"](shared_data)
    base = await vm.mock.start()
    try:
        cli = str(Path(sys.executable).with_name("algotrendy"))
        args = ["data", "record", "--venue", "binance", "--out", str(tmp_path / "rec"), "--endpoint", base]
        for symbol in vm.symbols:
            args += ["--symbol", symbol]
        proc = await asyncio.create_subprocess_exec(
            cli, *args, "--duration-s", "8", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
        assert proc.returncode == 0, err.decode()
        report = orjson.loads(out)
        assert report["events_written"] > 0 and report["events_dropped"] == 0
    finally:
        await vm.mock.stop()
    info = RecordingReader(tmp_path / "rec").info()
    assert info.events == report["events_written"]
    assert info.kinds.get("trades", 0) > 0 and info.kinds.get("books", 0) > 0
