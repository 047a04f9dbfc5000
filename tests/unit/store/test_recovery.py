"""recover() and JournalReader: the whole journal back, in order, gaps refused."""

from __future__ import annotations

import time
from pathlib import Path

import lmdb
import pytest
from store_samples import open_store, sample_events

from engine.core.errors import StorageError
from engine.store import Persistence, recover
from engine.store.journal import JOURNAL_DB, seq_key
from engine.store.recovery import JournalReader


async def _journal(path: Path, n: int) -> list[object]:
    store = open_store(path)
    p = Persistence(store)
    p.start()
    events = sample_events(n)
    for e in events:
        p.journal.append(e)
    await p.close()
    store.close(time.time_ns())
    return events


async def test_recover_when_journal_read_then_all_events_in_order(tmp_path: Path) -> None:
    events = await _journal(tmp_path / "lmdb", 2500)
    store = open_store(tmp_path / "lmdb")
    report = recover(store, chunk=1000)
    assert (report.first_seq, report.last_seq, report.count) == (1, 2500, 2500)
    assert report.events == events
    tail = recover(store, 2401)
    assert tail.first_seq == 2401 and tail.events == events[2400:]
    seen: list[tuple[int, object]] = []
    streamed = recover(store, 2499, apply=lambda s, o: seen.append((s, o)))
    assert streamed.events == [] and seen == [(2499, events[2498]), (2500, events[2499])]
    assert recover(store, 2501).count == 0
    store.close(time.time_ns())


async def test_journal_reader_when_iterated_then_records_stream_in_order_and_are_counted(
    tmp_path: Path,
) -> None:
    events = await _journal(tmp_path / "lmdb", 2500)
    store = open_store(tmp_path / "lmdb")
    reader = JournalReader(store, 1001, chunk=700)
    assert (reader.count, reader.first_seq, reader.last_seq) == (0, 0, 0)
    stream = iter(reader)
    assert next(stream) == events[1000]
    assert reader.count == 700  # one chunk read and decoded so far, not the journal
    assert [events[1000], *stream] == events[1000:]
    assert (reader.count, reader.first_seq, reader.last_seq) == (1500, 1001, 2500)
    assert reader.read_s > 0 and reader.decode_s > 0
    report = reader.report()
    assert (report.first_seq, report.last_seq, report.count, report.events) == (1001, 2500, 1500, [])
    empty = JournalReader(store, 2501)
    assert list(empty) == [] and (empty.count, empty.first_seq, empty.last_seq) == (0, 0, 0)
    counts: list[int] = []
    watched = JournalReader(store, 1001, chunk=700, progress=counts.append)
    assert sum(1 for _ in watched) == 1500
    assert counts == [700, 1400, 1500]  # after each chunk is decoded, before its records are used
    store.close(time.time_ns())


async def test_recover_when_journal_has_a_gap_then_storage_error(tmp_path: Path) -> None:
    await _journal(tmp_path / "lmdb", 300)
    env = lmdb.open(str(tmp_path / "lmdb"), max_dbs=32)
    with env.begin(write=True, db=env.open_db(JOURNAL_DB)) as txn:
        txn.delete(seq_key(150))
    env.close()
    store = open_store(tmp_path / "lmdb")
    with pytest.raises(StorageError, match="gap"):
        recover(store, chunk=64)
    with pytest.raises(StorageError, match="gap"):
        recover(store, 150)
    with pytest.raises(StorageError, match="gap"):
        list(JournalReader(store, 100, chunk=64))
    p = Persistence(store)
    with pytest.raises(StorageError, match="gap"):
        list(p.journal.read(chunk=64))
    store.close(time.time_ns())
