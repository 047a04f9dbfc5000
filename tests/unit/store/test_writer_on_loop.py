"""Async durability: the writer group-commits on the loop (no thread); sync keeps the writer thread."""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.core.errors import StorageError
from engine.store import LmdbStore, Persistence, recover
from engine.store.audit import verify
from engine.store.journal import last_sequence
from engine.store.writer import StoreWriter

sys.path.insert(0, str(Path(__file__).parent))

from store_samples import open_store, sample_events


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lmdb-writer"]


async def test_writer_when_async_durability_then_commits_on_the_loop_without_a_thread(
    store: LmdbStore,
) -> None:
    p = Persistence(store)
    assert p.writer.on_loop
    p.start()
    assert p.writer.running and not _writer_threads()
    seq = p.journal.append(sample_events(1)[0])
    assert p.journal.durable_sequence == 0  # committed at the loop's next turn, not inline
    assert await asyncio.wait_for(p.journal.durable(seq), 5) == seq
    assert last_sequence(store) == seq
    await p.close()
    assert not p.writer.running


async def test_writer_when_sync_durability_then_a_writer_thread_commits(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lmdb", durability="sync")
    p = Persistence(store)
    assert not p.writer.on_loop
    p.start()
    assert _writer_threads()
    seq = p.journal.append(sample_events(1)[0])
    assert await asyncio.wait_for(p.journal.durable(seq), 5) == seq
    await p.close()
    store.close(time.time_ns())


@pytest.mark.parametrize("durability", ["sync", "async"])
async def test_writer_when_closing_then_not_running_and_new_writes_refused_while_queued_ones_land(
    tmp_path: Path, durability: str
) -> None:
    # A callback that checks ``running`` before writing (the durable venue's log pruning) must not
    # write into a writer that is draining for shutdown: with the thread writer, ``running`` said
    # True while the thread drained, and the write then raised inside a loop callback.
    store = open_store(tmp_path / "lmdb", durability=durability)
    p = Persistence(store)
    p.start()
    seqs = [p.journal.append(e) for e in sample_events(5_000)]  # a drain that takes a while
    closing = asyncio.ensure_future(p.writer.close())
    await asyncio.sleep(0)  # close() has begun: stopping, the queue still draining
    assert not p.writer.running
    with pytest.raises(StorageError, match="not running"):
        p.journal.append(sample_events(1)[0])
    await asyncio.wait_for(closing, 30)
    assert not p.writer.running
    assert last_sequence(store) == seqs[-1]  # everything queued before close() is committed
    store.close(time.time_ns())


def test_writer_when_sync_store_asked_to_commit_on_loop_then_refuses(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lmdb", durability="sync")
    with pytest.raises(StorageError, match="must not commit on the loop"):
        StoreWriter(store, on_loop=True)
    store.close(time.time_ns())


async def test_writer_when_one_burst_then_one_transaction_and_waiters_resolve_after_it(
    persistence: Persistence,
) -> None:
    writer, journal = persistence.writer, persistence.journal
    before = writer.transactions
    seqs = [journal.append(e) for e in sample_events(40)]
    persistence.state.put("snapshot", "oms", {"as_of_seq": seqs[-1]})
    futures = [journal.durable(s) for s in seqs]
    flushed = writer.flush()
    assert not any(f.done() for f in futures) and not flushed.done()
    await asyncio.wait_for(flushed, 5)
    assert writer.transactions - before == 1
    assert all(f.done() and f.result() >= s for f, s in zip(futures, seqs, strict=True))
    assert journal.durable_sequence == 40 and writer.committed_ticket == writer.enqueued_ticket


async def test_writer_when_burst_larger_than_max_batch_then_split_in_order_over_iterations(
    store: LmdbStore,
) -> None:
    p = Persistence(store)
    p.writer._max_batch = 64
    p.start()
    events = sample_events(1000)
    for e in events:
        p.journal.append(e)
    assert await p.journal.flush() == 1000
    assert p.writer.transactions == 16 and p.writer.largest_batch == 64
    assert recover(store).events == events
    await p.close()


async def test_writer_when_appends_interleave_with_loop_turns_then_gap_free_and_ordered(
    persistence: Persistence,
) -> None:
    rng = random.Random(7)
    events = sample_events(3000)
    journal = persistence.journal
    pending: list[asyncio.Future[int]] = []
    i = 0
    while i < len(events):
        for e in events[i : i + rng.randint(1, 50)]:
            pending.append(journal.durable(journal.append(e)))
            i += 1
        persistence.audit.append(actor="t", action="Burst", summary={"i": i})
        await asyncio.sleep(0)
        # Every future resolved so far belongs to a committed prefix.
        done = [f.result() for f in pending if f.done()]
        assert all(r <= journal.durable_sequence for r in done)
    await persistence.flush()
    assert recover(persistence.store).events == events
    assert verify(persistence.store).ok


async def test_writer_when_closed_then_queued_writes_drained_and_enqueue_refused(store: LmdbStore) -> None:
    p = Persistence(store)
    p.start()
    for e in sample_events(500):
        seq = p.journal.append(e)
    waiting = p.journal.durable(seq)
    p.state.put("seq", "last", seq)
    await p.close()
    assert waiting.done() and waiting.result() == 500
    assert last_sequence(store) == 500 and p.state.get("seq", "last") == 500
    with pytest.raises(StorageError):
        p.journal.append(sample_events(1)[0])


async def test_writer_when_loop_commit_fails_then_batch_unacknowledged_later_appends_refused(
    tmp_path: Path,
) -> None:
    store = LmdbStore(tmp_path / "lmdb", map_size_mb=1, durability="async")
    store._map_size = 256 * 1024
    store.open(time.time_ns())
    p = Persistence(store)
    halted: list[StorageError] = []
    p.writer.add_failure_listener(halted.append)
    p.start()
    journal = p.journal
    events = sample_events(20)
    # A first burst commits; the second is too large for the map and fails as a unit.
    for e in events[:10]:
        journal.append(e)
    assert await journal.flush() == 10
    big = sample_events(20_000)
    for e in big:
        journal.append(e)
    state_ticket = p.state.put("seq", "last", journal.last_sequence)
    waiting = journal.durable(journal.last_sequence)
    ticket_future = p.writer.wait(state_ticket)
    with pytest.raises(StorageError, match="MAP_FULL"):
        await asyncio.wait_for(waiting, 5)
    with pytest.raises(StorageError):
        await ticket_future
    assert len(halted) == 1 and journal.failed and not p.writer.running
    assert journal.durable_sequence == 10 == last_sequence(store)
    with pytest.raises(StorageError):
        journal.append(events[10])
    with pytest.raises(StorageError):
        p.state.put("seq", "x", 1)
    with pytest.raises(StorageError):
        await p.close()
    assert recover(store).events == events[:10]
    store.close(time.time_ns())


@pytest.mark.slow
def test_writer_when_async_process_killed_with_sigkill_then_every_acknowledged_sequence_survives(
    tmp_path: Path,
) -> None:
    # The loop-side commit (no fsync) is in the page cache when acknowledged: a SIGKILL loses none.
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "integration" / "test_store_crash.py"
    spec = importlib.util.spec_from_file_location("store_crash_helpers", path)
    assert spec is not None and spec.loader is not None
    crash = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crash)
    data_dir = tmp_path / "data"
    rng = random.Random(9)
    highest_ack = 0
    for cycle in range(4):
        proc = crash.start_writer(data_dir, "async", rng.choice([1, 3, 50]))
        try:
            start, acks = crash.read_acks(proc, min_acks=3, seconds=rng.uniform(0.05, 0.3))
        finally:
            crash.kill(proc)
        acks += crash.drain_acks(proc)
        assert start >= highest_ack, f"cycle {cycle}: restarted at {start} below acknowledged {highest_ack}"
        assert acks == sorted(acks)
        highest_ack = max([highest_ack, *acks])
        store = LmdbStore(data_dir / "lmdb", map_size_mb=256, durability="async")
        store.open(time.time_ns())
        try:
            assert store.previous_run_crashed
            report = recover(store)
            assert report.last_seq >= highest_ack
            assert report.first_seq == 1 and report.count == report.last_seq
            assert report.events == [crash.event_for(seq) for seq in range(1, report.last_seq + 1)]
            assert verify(store).ok
        finally:
            store.close(time.time_ns())
    assert highest_ack > 0


@pytest.mark.parametrize(
    "keys",
    [[b"k3"], [b"k3", b"k9"], [b"k6", b"k7", b"k8", b"k3", b"k9"]],
    ids=["one-record", "short-run", "putmulti"],
)
async def test_writer_when_append_only_key_not_increasing_then_batch_fails_and_writer_halts(
    store: LmdbStore, keys: list[bytes]
) -> None:
    """An append-only channel refuses a key at or below its last one, whether the batch is a short
    run (``put`` per record) or a ``putmulti``: nothing of the batch commits, later writes are
    refused."""
    writer = StoreWriter(store)
    db = store.db(b"test_append_only")
    channel = writer.channel(db, append_only=True)
    failures: list[StorageError] = []
    writer.add_failure_listener(failures.append)
    writer.start()
    assert writer.enqueue(channel, b"k5", b"five") == 1
    assert writer.commit_pending()
    tickets = [writer.enqueue(channel, key, b"again") for key in keys]
    assert not writer.commit_pending()
    assert len(failures) == 1 and "strictly increasing" in str(failures[0])
    assert writer.committed_ticket == 1 < tickets[-1] and not writer.running
    with store.env.begin(db=db) as txn:
        assert list(txn.cursor()) == [(b"k5", b"five")]
    with pytest.raises(StorageError, match="strictly increasing"):
        writer.enqueue(channel, b"k10", b"later")
    with pytest.raises(StorageError):
        await writer.close()


async def test_writer_when_keyed_puts_and_deletes_share_a_batch_then_last_one_wins_in_order(
    store: LmdbStore,
) -> None:
    writer = StoreWriter(store)
    db = store.db(b"test_keyed")
    committed: list[bytes] = []
    channel = writer.channel(db, append_only=False, on_committed=committed.append)
    writer.start()
    writer.enqueue(channel, b"a", b"1")
    writer.enqueue(channel, b"b", b"2")
    writer.enqueue(channel, b"a", None)
    writer.enqueue(channel, b"c", b"3")
    writer.enqueue(channel, b"b", b"4")
    assert writer.commit_pending() and writer.transactions == 1
    with store.env.begin(db=db) as txn:
        assert list(txn.cursor()) == [(b"b", b"4"), (b"c", b"3")]
    assert committed == [b"b"]  # the last key of the batch's run
    writer.enqueue(channel, b"b", None)  # a short batch (the loop's common commit) deletes too
    writer.enqueue(channel, b"d", b"5")
    assert writer.commit_pending() and writer.transactions == 2
    with store.env.begin(db=db) as txn:
        assert list(txn.cursor()) == [(b"c", b"3"), (b"d", b"5")]
    assert committed == [b"b", b"d"]
    await writer.close()


@pytest.mark.parametrize("durability", ["sync", "async"])
async def test_writer_when_queue_longer_than_compact_threshold_then_records_stored_byte_exact(
    tmp_path: Path, durability: str
) -> None:
    """Records that join a long queue are copied to exact-size bytes (``_compact``); what reaches
    LMDB is byte for byte what the codec encoded, in order, whichever side of the threshold."""
    from engine.store.codec import CODEC
    from engine.store.journal import JOURNAL_DB, read_journal_raw
    from engine.store.writer import COMPACT_AFTER

    store = open_store(tmp_path / "lmdb", durability=durability)
    p = Persistence(store)
    p.start()
    events = sample_events(COMPACT_AFTER * 2 + 10)
    for e in events:  # one burst: the loop never turns, the queue grows past the threshold
        p.journal.append(e)
    p.state.put("seq", "last", p.journal.last_sequence)
    assert await asyncio.wait_for(p.journal.flush(), 30) == len(events)
    raw = [value for _, value in read_journal_raw(store.env, store.db(JOURNAL_DB))]
    assert raw == [CODEC.encode(e) for e in events]
    assert recover(store).events == events and p.state.get("seq", "last") == len(events)
    await p.close()
    store.close(time.time_ns())


async def test_writer_when_commit_pending_drains_the_burst_then_its_loop_callback_is_cancelled(
    store: LmdbStore,
) -> None:
    """``commit_pending`` committing everything queued cancels the burst's scheduled commit callback
    (a no-op call the loop would run ahead of what the commit let go); an append after it schedules
    a new one and commits at the loop's next turn."""
    writer = StoreWriter(store)
    db = store.db(b"test_cancel")
    channel = writer.channel(db, append_only=True)
    append = writer.appender(channel)
    writer.start()
    append(b"k1", b"one")
    scheduled = writer._commit_handle
    assert scheduled is not None and not scheduled.cancelled()
    assert writer.commit_pending() and writer.transactions == 1
    assert scheduled.cancelled() and writer._commit_handle is None
    ticket = append(b"k2", b"two")  # later in the same iteration: its own callback
    assert writer._commit_handle is not None and writer.committed_ticket == ticket - 1
    assert await asyncio.wait_for(writer.wait(ticket), 5) == ticket
    assert writer.transactions == 2 and writer._commit_handle is None
    with store.env.begin(db=db) as txn:
        assert list(txn.cursor()) == [(b"k1", b"one"), (b"k2", b"two")]
    await writer.close()


async def test_writer_when_held_then_appends_wait_for_the_release_and_commit_then_in_one_burst(
    persistence: Persistence,
) -> None:
    """``hold_commit``: appends made in between schedule no commit of their own; the outermost
    ``release_commit`` schedules one for what is still queued (a nested hold does not)."""
    writer, journal = persistence.writer, persistence.journal
    journal.hold_commit()
    journal.hold_commit()
    seqs = [journal.append(e) for e in sample_events(3)]
    before = writer.transactions
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert writer.transactions == before and journal.durable_sequence < seqs[-1]  # nothing scheduled
    journal.release_commit()  # (inner)
    await asyncio.sleep(0)
    assert writer.transactions == before and journal.durable_sequence < seqs[-1]
    journal.release_commit()  # (outer): one commit for the three, at the next loop turn
    assert journal.durable_sequence < seqs[-1]
    await asyncio.sleep(0)
    assert writer.transactions == before + 1 and journal.durable_sequence == seqs[-1]


async def test_writer_when_held_and_committed_by_the_holder_then_the_release_schedules_nothing(
    persistence: Persistence,
) -> None:
    writer, journal = persistence.writer, persistence.journal
    journal.hold_commit()
    seq = journal.append(sample_events(1)[0])
    assert journal.commit_pending() and journal.durable_sequence == seq
    journal.release_commit()
    assert writer._commit_handle is None  # (nothing left to commit: no loop callback at all)
    later = journal.append(sample_events(2)[1])  # outside a hold: scheduled as before
    await asyncio.sleep(0)
    assert journal.durable_sequence == later
