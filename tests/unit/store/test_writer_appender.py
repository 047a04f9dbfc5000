"""The writer's appender: one append-only channel (the journal) queued as bare ``(key, value)`` pairs.

Its runs reach LMDB through ``putmulti`` as queued; they may interleave with ``enqueue`` items of
any channel (the same one included) and with multi-puts, and must land in queue order, byte-exact,
under the same append-only guard, with each channel told its last committed key."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from engine.core.errors import StorageError
from engine.store import LmdbStore
from engine.store.journal import seq_key
from engine.store.writer import StoreWriter

sys.path.insert(0, str(Path(__file__).parent))

from store_samples import open_store, sample_events


def _rows(store: LmdbStore, db: object) -> list[tuple[bytes, bytes]]:
    with store.env.begin(db=db) as txn:
        return list(txn.cursor())


def test_appender_when_channel_keyed_unknown_or_second_then_refused(store: LmdbStore) -> None:
    writer = StoreWriter(store)
    keyed = writer.channel(store.db(b"t_keyed"), append_only=False)
    first = writer.channel(store.db(b"t_first"), append_only=True)
    second = writer.channel(store.db(b"t_second"), append_only=True)
    with pytest.raises(StorageError, match="append-only channel"):
        writer.appender(keyed)
    with pytest.raises(StorageError, match="append-only channel"):
        writer.appender(99)
    with pytest.raises(StorageError, match="append-only channel"):
        writer.appender(0)  # the multi-put marker is no channel
    writer.appender(first)
    writer.appender(first)  # asking again for the same channel is fine
    with pytest.raises(StorageError, match="one appender"):
        writer.appender(second)


@pytest.mark.parametrize("durability", ["sync", "async"])
async def test_appender_when_pairs_interleave_with_items_then_one_transaction_in_queue_order(
    tmp_path: Path, durability: str
) -> None:
    store = open_store(tmp_path / "lmdb", durability=durability)
    writer = StoreWriter(store)
    log_db, keyed_db = store.db(b"t_log"), store.db(b"t_keyed")
    log_last: list[bytes] = []
    keyed_last: list[bytes] = []
    log = writer.channel(log_db, append_only=True, on_committed=log_last.append)
    keyed = writer.channel(keyed_db, append_only=False, on_committed=keyed_last.append)
    append = writer.appender(log)
    writer.start()
    values = {seq_key(s): bytes([s % 256]) * (s % 7 + 1) for s in range(1, 41)}
    keys = list(values)
    tickets = []
    for i, key in enumerate(keys):
        if i % 10 == 3:
            tickets.append(writer.enqueue(keyed, b"k%d" % (i // 10 % 2), b"v%d" % i))
        if i % 10 == 7:  # the appender's channel through the general enqueue: order kept
            tickets.append(writer.enqueue(log, key, values[key]))
        elif i % 10 == 9:
            tickets.append(writer.enqueue_many(((log, key, values[key]), (keyed, b"m", b"multi"))))
        else:
            tickets.append(append(key, values[key]))
    assert tickets == list(range(1, len(tickets) + 1))
    assert await asyncio.wait_for(writer.flush(), 5) == tickets[-1]
    if durability == "async":  # one burst, one loop-side commit (the thread may split it)
        assert writer.transactions == 1
    assert _rows(store, log_db) == list(values.items())  # byte-exact, in order
    assert _rows(store, keyed_db) == [(b"k0", b"v23"), (b"k1", b"v33"), (b"m", b"multi")]
    assert log_last[-1] == keys[-1] and log_last == sorted(log_last)
    assert keyed_last[-1] == b"m"
    await writer.close()
    store.close(time.time_ns())


@pytest.mark.parametrize(
    "keys",
    [[b"k3"], [b"k6", b"k3"], [b"k6", b"k7", b"k8", b"k3", b"k9"]],
    ids=["one-record", "short-run", "putmulti"],
)
async def test_appender_when_key_not_increasing_then_batch_fails_and_writer_halts(
    store: LmdbStore, keys: list[bytes]
) -> None:
    writer = StoreWriter(store)
    db = store.db(b"t_guard")
    channel = writer.channel(db, append_only=True)
    append = writer.appender(channel)
    failures: list[StorageError] = []
    writer.add_failure_listener(failures.append)
    writer.start()
    assert append(b"k5", b"five") == 1
    assert writer.commit_pending()
    for key in keys:
        append(key, b"again")
    assert not writer.commit_pending()
    assert len(failures) == 1 and "strictly increasing" in str(failures[0])
    assert writer.committed_ticket == 1 and not writer.running
    assert _rows(store, db) == [(b"k5", b"five")]
    with pytest.raises(StorageError, match="strictly increasing"):
        append(b"k10", b"later")
    with pytest.raises(StorageError):
        await writer.close()


async def test_appender_when_writer_thread_stopped_then_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lmdb", durability="sync")
    writer = StoreWriter(store)
    append = writer.appender(writer.channel(store.db(b"t_log"), append_only=True))
    with pytest.raises(StorageError, match="not running"):
        append(b"k1", b"before start")
    writer.start()
    append(b"k1", b"one")
    await writer.close()
    with pytest.raises(StorageError, match="not running"):
        append(b"k2", b"after close")
    assert _rows(store, store.db(b"t_log")) == [(b"k1", b"one")]
    store.close(time.time_ns())


async def test_journal_when_event_field_cannot_be_encoded_then_codec_error_and_sequence_unused(
    store: LmdbStore,
) -> None:
    """The journal encodes inline (no codec frame per append); a field JSON cannot carry still fails
    with the codec's own ``StorageError`` and consumes no sequence."""
    import dataclasses

    from engine.store import Persistence
    from engine.store.codec import CODEC
    from engine.store.journal import read_journal_raw

    p = Persistence(store)
    p.start()
    good = sample_events(2)
    bad = dataclasses.replace(good[1], account_id=object())
    with pytest.raises(StorageError, match="cannot encode"):
        p.journal.append(bad)
    with pytest.raises(StorageError, match="not registered"):
        p.journal.append(object())
    assert [p.journal.append(e) for e in good] == [1, 2]
    await p.journal.flush()
    assert list(read_journal_raw(store.env, store.db(b"journal"))) == [
        (1, CODEC.encode(good[0])),
        (2, CODEC.encode(good[1])),
    ]
    await p.close()


def test_compact_when_record_of_any_size_then_equal_fresh_copy() -> None:
    """The long-queue copy (``b"%b" % value``) is byte for byte the record, at every size (records
    past the 512-byte stack buffer included) and never the record object itself."""
    from engine.store.writer import _compact

    for size in (0, 1, 137, 511, 512, 513, 4096, 70_000):
        value = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
        value = b"%" + value[1:] if value else value  # a format character in the data changes nothing
        copy = _compact(value)
        assert copy == value and type(copy) is bytes and len(copy) == size
        assert copy is not value or size <= 1  # (the empty and one-byte bytes are shared singletons)


async def test_appender_when_writer_thread_fails_then_later_appends_get_the_error(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lmdb", durability="sync")
    writer = StoreWriter(store)
    db = store.db(b"t_log")
    append = writer.appender(writer.channel(db, append_only=True))
    writer.start()
    append(b"k5", b"five")
    assert await asyncio.wait_for(writer.flush(), 5) == 1
    append(b"k3", b"lower")
    with pytest.raises(StorageError, match="strictly increasing"):
        await asyncio.wait_for(writer.flush(), 5)
    assert not writer.running
    with pytest.raises(StorageError, match="strictly increasing"):
        append(b"k9", b"later")
    with pytest.raises(StorageError, match="strictly increasing"):
        writer.enqueue(1, b"k9", b"later")
    assert _rows(store, db) == [(b"k5", b"five")]
    with pytest.raises(StorageError):
        await writer.close()
    store.close(time.time_ns())
