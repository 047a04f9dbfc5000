"""The append-only event journal: named LMDB database ``journal``, key = big-endian u64 sequence.

Sequences are 1, 2, 3 ... without gaps. ``append`` runs on the loop thread: it encodes the object
(so an unregistered class fails at the call site), assigns the next sequence and queues the record
for the writer thread; it never touches the disk and never blocks. Durability is asked for
separately, and only where it matters (before an order leaves the process, before a client is told):

    seq = journal.append(event)          # loop thread, ~1 µs
    await journal.durable(seq)           # resolves after the transaction holding seq committed

``durable`` returns an ``asyncio.Future`` (resolved with the durable sequence); several appends
then one ``await journal.durable(last)`` cost one wait. With ``store.durability = "sync"`` a commit
is fsync'ed; with ``"async"`` it is in the OS page cache (survives a process crash, not a power
loss).

A failed commit is never acknowledged: the futures get the ``StorageError`` and the journal is
failed: every later ``append`` raises ``StorageError`` (correct or halt). ``read`` walks committed
records in short read transactions (``chunk`` records each), for recovery and for stream resume.
"""

from __future__ import annotations

import asyncio
import bisect
import struct
from collections.abc import Generator, Iterator
from typing import Any

from engine.core.errors import StorageError
from engine.store.codec import CODEC, Codec
from engine.store.lmdb_store import LmdbStore
from engine.store.writer import StoreWriter

__all__ = ["JOURNAL_DB", "DurableSequence", "Journal", "seq_key"]

JOURNAL_DB = b"journal"
_U64 = struct.Struct(">Q")
seq_key = _U64.pack
_unpack = _U64.unpack


class DurableSequence:
    """Awaitable durability of one journal sequence, made into a future only when awaited.

    Most order events are never awaited (venue reports; intents sent on the fast path after
    ``commit_pending``), so a future per record (created, queued among the journal's waiters and
    resolved at commit) would be work for nobody. Safe to drop without awaiting."""

    __slots__ = ("_journal", "_seq")

    def __init__(self, journal: Journal, seq: int) -> None:
        self._journal = journal
        self._seq = seq

    def __await__(self) -> Generator[Any, None, int]:
        return self._journal.durable(self._seq).__await__()


class Journal:
    """The event journal of one store, written through ``writer``."""

    def __init__(self, store: LmdbStore, writer: StoreWriter, *, codec: Codec = CODEC) -> None:
        self._store = store
        self._writer = writer
        self._codec = codec
        self._encode = codec.encode
        self._db = store.db(JOURNAL_DB)
        self._channel = writer.channel(
            self._db, append_only=True, on_committed=self._on_committed, on_failed=self._on_failed
        )
        #: The writer's appender: records queued as bare (key, value) pairs, which its commit hands
        #: to LMDB's ``putmulti`` as they are (see ``StoreWriter.appender``).
        self._append_record = writer.appender(self._channel)
        #: ``StoreWriter.hold_commit`` / ``release_commit``: appends made in between schedule no commit of their
        #: own (the order manager commits an intent before it leaves, and a venue report's records
        #: after the report reached its subscribers).
        self.hold_commit = writer.hold_commit
        self.release_commit = writer.release_commit
        last = last_sequence(store)
        #: The last sequence handed out by ``append`` (restored from the database on open).
        self.last_sequence = last
        #: The last sequence known to be committed.
        self.durable_sequence = last
        self._failure: BaseException | None = None
        self._waiter_seqs: list[int] = []
        self._waiters: list[asyncio.Future[int]] = []

    @property
    def failed(self) -> bool:
        return self._failure is not None

    # -- loop side -------------------------------------------------------------------------------
    def append(self, obj: Any) -> int:
        """Encode and queue ``obj``; returns its sequence. Raises ``StorageError`` once failed."""
        if self._failure is not None:
            raise StorageError(f"the journal has failed and accepts no more events: {self._failure}")
        value = self._encode(obj)
        seq = self.last_sequence + 1
        self._append_record(seq_key(seq), value)
        self.last_sequence = seq
        return seq

    def append_awaitable(self, obj: Any) -> DurableSequence:
        """``append`` that answers an awaitable of the record's durability instead of its sequence
        (the order manager's journal port: every order event; ``append`` written out, one call
        less per event)."""
        if self._failure is not None:
            raise StorageError(f"the journal has failed and accepts no more events: {self._failure}")
        value = self._encode(obj)
        seq = self.last_sequence + 1
        self._append_record(seq_key(seq), value)
        self.last_sequence = seq
        return DurableSequence(self, seq)

    def append_encoded(self, value: bytes) -> int:
        """Queue an already encoded record (``codec.encode``); returns its sequence."""
        if self._failure is not None:
            raise StorageError(f"the journal has failed and accepts no more events: {self._failure}")
        seq = self.last_sequence + 1
        self._append_record(seq_key(seq), value)
        self.last_sequence = seq
        return seq

    def durable(self, seq: int) -> asyncio.Future[int]:
        """A future resolved once ``seq`` (and everything before it) is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if seq <= self.durable_sequence:
            future.set_result(seq)
        elif self._failure is not None:
            future.set_exception(self._failure)
        elif seq > self.last_sequence:
            future.set_exception(
                StorageError(f"sequence {seq} was never appended (last {self.last_sequence})")
            )
        else:
            seqs = self._waiter_seqs
            if not seqs or seq >= seqs[-1]:
                seqs.append(seq)
                self._waiters.append(future)
            else:
                at = bisect.bisect_right(seqs, seq)
                seqs.insert(at, seq)
                self._waiters.insert(at, future)
        return future

    def commit_pending(self) -> bool:
        """Commit what is queued now when the writer can do it on this thread without waiting
        (``async`` durability); True when every appended record is durable. See
        ``StoreWriter.commit_pending``."""
        return self._writer.commit_pending() and self.durable_sequence == self.last_sequence

    async def flush(self) -> int:
        """Wait until everything appended so far is committed; returns the durable sequence."""
        if self.last_sequence > self.durable_sequence:
            await self.durable(self.last_sequence)
        if self._failure is not None:
            raise self._failure
        return self.durable_sequence

    def _on_committed(self, last_key: bytes) -> None:
        seq = _unpack(last_key)[0]
        self.durable_sequence = seq
        seqs = self._waiter_seqs
        if seqs and seqs[0] <= seq:
            n = bisect.bisect_right(seqs, seq)
            done = self._waiters[:n]
            del seqs[:n]
            del self._waiters[:n]
            for future in done:
                if not future.done():
                    future.set_result(seq)

    def _on_failed(self, error: BaseException) -> None:
        self._failure = error
        waiters = self._waiters
        self._waiters = []
        self._waiter_seqs = []
        for future in waiters:
            if not future.done():
                future.set_exception(error)

    # -- readers (any thread) --------------------------------------------------------------------
    def read(
        self, from_seq: int = 1, to_seq: int | None = None, *, chunk: int = 4096
    ) -> Iterator[tuple[int, Any]]:
        """Committed ``(seq, obj)`` from ``from_seq`` to ``to_seq`` (inclusive), in order."""
        return read_journal(self._store, from_seq, to_seq, chunk=chunk, codec=self._codec)

    def read_raw(
        self, from_seq: int = 1, to_seq: int | None = None, *, chunk: int = 4096
    ) -> Iterator[tuple[int, bytes]]:
        return read_journal_raw(self._store.env, self._db, from_seq, to_seq, chunk=chunk)


def last_sequence(store: LmdbStore) -> int:
    """The last committed journal sequence (0 when empty)."""
    env = store.env
    with env.begin(db=store.db(JOURNAL_DB)) as txn:
        cursor = txn.cursor()
        return _unpack(cursor.key())[0] if cursor.last() else 0


def read_journal(
    store: LmdbStore, from_seq: int = 1, to_seq: int | None = None, *, chunk: int = 4096, codec: Codec = CODEC
) -> Iterator[tuple[int, Any]]:
    """Committed ``(seq, obj)`` pairs; each chunk is read in its own short transaction, then decoded."""
    db = store.db(JOURNAL_DB)
    decode_many = codec.decode_many
    pending: list[tuple[int, bytes]] = []
    for item in read_journal_raw(store.env, db, from_seq, to_seq, chunk=chunk):
        pending.append(item)
        if len(pending) >= chunk:
            yield from zip([s for s, _ in pending], decode_many([v for _, v in pending]), strict=True)
            pending.clear()
    if pending:
        yield from zip([s for s, _ in pending], decode_many([v for _, v in pending]), strict=True)


def read_journal_raw(
    env: Any, db: Any, from_seq: int = 1, to_seq: int | None = None, *, chunk: int = 4096
) -> Iterator[tuple[int, bytes]]:
    """Committed ``(seq, record bytes)``; checks there is no gap. Short read transactions."""
    next_seq = max(from_seq, 1)
    while to_seq is None or next_seq <= to_seq:
        with env.begin(db=db, buffers=False) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(seq_key(next_seq)):
                return
            rows: list[tuple[int, bytes]] = []
            for key, value in cursor:
                seq = _unpack(key)[0]
                if to_seq is not None and seq > to_seq:
                    break
                rows.append((seq, value))
                if len(rows) >= chunk:
                    break
        if not rows:
            return
        if rows[0][0] != next_seq:
            raise StorageError(f"journal gap: expected sequence {next_seq}, found {rows[0][0]}")
        if rows[-1][0] - rows[0][0] != len(rows) - 1:
            raise StorageError(f"journal gap between sequences {rows[0][0]} and {rows[-1][0]}")
        yield from rows
        next_seq = rows[-1][0] + 1
