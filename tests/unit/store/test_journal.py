"""The journal over a real LMDB and a real writer thread."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from store_samples import open_store, sample_events

from engine.core.errors import StorageError
from engine.store import LmdbStore, Persistence, recover
from engine.store.journal import last_sequence


async def test_journal_when_appending_then_sequences_contiguous_and_read_back_in_order(
    persistence: Persistence,
) -> None:
    events = sample_events(1000)
    seqs = [persistence.journal.append(e) for e in events]
    assert seqs == list(range(1, 1001))
    await persistence.journal.flush()
    read = list(persistence.journal.read())
    assert [s for s, _ in read] == seqs
    assert [o for _, o in read] == events
    assert list(persistence.journal.read(998, 999)) == [(998, events[997]), (999, events[998])]


async def test_journal_when_durable_awaited_then_resolves_only_after_commit(persistence: Persistence) -> None:
    journal = persistence.journal
    seq = journal.append(sample_events(1)[0])
    future = journal.durable(seq)
    assert not future.done()
    assert journal.durable_sequence == 0
    assert await asyncio.wait_for(future, 5) == seq
    assert journal.durable_sequence >= seq
    assert last_sequence(persistence.store) == seq
    already = journal.durable(seq)
    assert already.done()


async def test_journal_when_waiters_out_of_order_then_each_resolves(persistence: Persistence) -> None:
    journal = persistence.journal
    seqs = [journal.append(e) for e in sample_events(50)]
    futures = [journal.durable(s) for s in reversed(seqs)]
    results = await asyncio.wait_for(asyncio.gather(*futures), 5)
    assert all(r >= s for r, s in zip(results, reversed(seqs), strict=True))


async def test_journal_when_many_appends_queued_then_group_committed_in_few_transactions(
    persistence: Persistence,
) -> None:
    journal = persistence.journal
    before = persistence.writer.transactions
    # All appended within one loop callback: the writer sees them as few large batches.
    for e in sample_events(20_000):
        journal.append(e)
    await journal.flush()
    txns = persistence.writer.transactions - before
    assert 1 <= txns < 200
    assert persistence.writer.largest_batch >= 100


async def test_journal_when_flushed_then_everything_appended_is_committed(persistence: Persistence) -> None:
    for e in sample_events(5000):
        persistence.journal.append(e)
    assert await persistence.journal.flush() == 5000
    assert last_sequence(persistence.store) == 5000


async def test_journal_when_closed_then_queue_drained_and_appends_refused(store: LmdbStore) -> None:
    p = Persistence(store)
    p.start()
    for e in sample_events(3000):
        p.journal.append(e)
    await p.close()
    assert last_sequence(store) == 3000
    with pytest.raises(StorageError):
        p.journal.append(sample_events(1)[0])


async def test_journal_when_reopened_then_last_sequence_restored_and_continues(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lmdb")
    p = Persistence(store)
    p.start()
    for e in sample_events(10):
        p.journal.append(e)
    await p.close()
    store.close(time.time_ns())

    store = open_store(tmp_path / "lmdb")
    p = Persistence(store)
    p.start()
    assert p.journal.last_sequence == 10 and p.journal.durable_sequence == 10
    assert p.journal.append(sample_events(11)[10]) == 11
    await p.close()
    report = recover(store)
    assert (report.first_seq, report.last_seq, report.count) == (1, 11, 11)
    assert report.events == sample_events(11)
    store.close(time.time_ns())


async def test_journal_when_commit_fails_then_futures_fail_and_journal_halts(tmp_path: Path) -> None:
    # A tiny map fills up: the commit fails, nothing of it is acknowledged, the journal stops.
    store = LmdbStore(tmp_path / "lmdb", map_size_mb=1, durability="async")
    store._map_size = 256 * 1024  # smaller than the config floor, to fill it quickly
    store.open(time.time_ns())
    p = Persistence(store)
    halted: list[StorageError] = []
    p.writer.add_failure_listener(halted.append)
    p.start()
    journal = p.journal
    seqs: list[int] = []
    with pytest.raises(StorageError):
        for e in sample_events(20_000):
            seqs.append(journal.append(e))  # may already raise: the writer failed meanwhile
        await asyncio.wait_for(journal.durable(seqs[-1]), 10)
    # Closing joins the stopped writer (its failure callback has reached the loop) and re-raises.
    with pytest.raises(StorageError):
        await p.close()
    assert journal.failed
    assert len(halted) == 1 and "MAP_FULL" in str(halted[0])
    assert journal.durable_sequence < journal.last_sequence
    with pytest.raises(StorageError, match="failed"):
        journal.append(sample_events(1)[0])
    with pytest.raises(StorageError):
        await journal.flush()
    with pytest.raises(StorageError):
        await journal.durable(journal.last_sequence)
    # What is on disk is a gap-free prefix and equals what was acknowledged.
    committed = last_sequence(store)
    assert committed == journal.durable_sequence
    assert recover(store).count == committed
    store.close(time.time_ns())


async def test_journal_when_unregistered_object_appended_then_raises_and_sequence_unused(
    persistence: Persistence,
) -> None:
    with pytest.raises(StorageError, match="not registered"):
        persistence.journal.append(object())
    assert persistence.journal.append(sample_events(1)[0]) == 1


async def test_journal_when_appending_then_loop_never_waits_for_the_disk(tmp_path: Path) -> None:
    # Sync durability: each commit fsyncs, yet an append costs microseconds on the loop.
    store = open_store(tmp_path / "lmdb", durability="sync")
    p = Persistence(store)
    p.start()
    events = sample_events(2000)
    worst = 0.0
    for e in events:
        t0 = time.perf_counter()
        p.journal.append(e)
        worst = max(worst, time.perf_counter() - t0)
        if p.journal.last_sequence % 100 == 0:
            await asyncio.sleep(0)
    await p.close()
    store.close(time.time_ns())
    assert worst < 0.05  # an fsync on this path would show up as milliseconds per append, every time


async def test_journal_append_awaitable_when_awaited_then_resolves_once_durable(
    persistence: Persistence,
) -> None:
    journal = persistence.journal
    events = sample_events(4)
    durables = [journal.append_awaitable(e) for e in events[:3]]
    assert journal.last_sequence == 3 and journal.durable_sequence == 0  # queued, not committed
    journal.append_awaitable(events[3])  # never awaited: safe to drop
    assert await asyncio.wait_for(durables[1], 5) >= 2
    assert journal.durable_sequence == 4
    assert [e for _, e in journal.read()] == events
    await persistence.close()
    with pytest.raises(StorageError):
        journal.append_awaitable(events[0])
