"""The one LMDB writer: a FIFO from the loop, one write transaction per batch (group commit).

The loop thread enqueues ``(channel, key, value)`` items (``StateStore.put``, ``AuditLog.append``)
and, through the ``appender`` of the one bulk channel (``Journal.append``), bare ``(key, value)``
pairs; enqueueing never blocks. Each batch is written in one write transaction
(``putmulti`` per run of one channel, so a state write queued next to journal appends lands in the
same transaction, in order), then every waiter up to that batch's last ticket is resolved and each
channel is told the last key it committed. Where the commit runs depends on ``store.durability``:

``sync`` -- **a writer thread.** The environment was opened with ``sync=True``: a commit returns only
after the data is fsync'ed (milliseconds), which must never happen on the loop. Enqueueing is a
``deque.append`` plus, only when the writer is idle, one ``Event.set``; the thread takes *everything
queued* as one batch, commits it and posts ONE callback per batch to the loop
(``call_soon_threadsafe``). While an fsync is in flight the loop keeps queueing, so batches grow with
load: that is the group commit that makes sync durability fast.

``async`` -- **group commit on the loop, no thread.** The environment was opened with ``sync=False``
(no fsync, no msync) and ``writemap``: a commit is LMDB updating pages of the shared mapping and the
meta page in the OS page cache -- no disk wait, no lock held by anyone else (this is
the only writer of the environment; other processes open it read-only). Handing such a commit to a
thread costs more than the commit itself (a thread hop is ~70 us on a 2-core VM), so the first
``enqueue`` of a burst schedules ONE ``loop.call_soon(_commit_batch)``, later enqueues only append to
the list, and the callback writes the whole burst in one transaction and resolves its waiters
directly. Measured on that VM (``_write`` timed around 3,000 commits of ~120-byte order events, the
map opened with ``writemap``, see ``lmdb_store``): 2-4 records commit in ~3 us p50 / ~11 us p99
(~7 us p50 without ``writemap``); a 100-record burst in ~35 us, i.e. ~0.3 us per further record --
linear in work the loop already did to encode those records, and bounded by ``max_batch`` records
per callback (a larger burst is split over several loop iterations). That is "nothing blocks the
loop" in the DESIGN sense: no fsync, no wait on another thread or the disk, a bounded
few-microsecond memory update. A process crash (even SIGKILL) after the
commit loses nothing: the pages are in the kernel's page cache; a power loss may lose the last
commits -- the documented trade-off of ``async``.

Every item gets a *ticket* (1, 2, 3 ... in enqueue order); ``committed_ticket`` is the highest ticket
whose transaction committed. ``wait(ticket)`` / ``flush()`` resolve after it, never before.

**Correct or halt.** If a transaction fails (disk full, map full, I/O error) nothing of that batch
is acknowledged: every pending waiter gets the ``StorageError``, the writer stops, every failure
listener is called (on the loop) and every later enqueue raises ``StorageError``: the engine must
halt trading rather than continue without a journal. A full queue (``max_pending`` items: the disk
cannot keep up) raises ``ResourceExhaustedError`` to the caller, which should refuse the request
(gRPC RESOURCE_EXHAUSTED): the loop never waits for the disk.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import threading
from collections.abc import Callable
from itertools import groupby, repeat, starmap
from operator import itemgetter
from typing import Any

import lmdb

from engine.core.errors import ResourceExhaustedError, StorageError
from engine.store.lmdb_store import LmdbStore

__all__ = ["Channel", "StoreWriter"]

#: Channel index of a multi-put item: ``(MULTI, None, ((channel, key, value), ...))`` is applied
#: as a unit (never split across transactions).
MULTI = 0
_channel_of = itemgetter(0)
_key_value = itemgetter(1, 2)
#: Records queued behind this many others are copied to exact-size bytes (``_compact``).
COMPACT_AFTER = 4096


def _compact(value: bytes) -> bytes:
    """An exact-size copy of an encoded record that joins a long queue.

    Tens of thousands of orjson outputs alive at once (a sync writer's queue behind an fsync, a huge
    burst on the loop) fragment glibc's heap: each holds ~4 KB of it (measured: 100k records held,
    410 MB RSS; their copies, 17 MB), and encoding and queueing a record costs ~3.5 us instead of
    ~0.9 us with this copy (200k records queued); a sync journal round of 200k events takes ~20%
    more CPU. The copy (~0.2 us) frees orjson's block at once. Short queues (an order's records on
    the loop, a burst of a thousand committed at the loop's next turn) free their blocks before
    fragmentation builds up and are never copied. The copy is ``b"%b" % value``: bytes formatting
    builds records up to 512 bytes in a stack buffer and allocates the result at its exact size;
    measured ~0.12 us per record less than ``memoryview(value).tobytes()`` (a memoryview object and a
    method call per record), inlined on the appender's path (no call per record)."""
    return b"%b" % value


class Channel:
    """One kind of write: a named database, append-only or keyed, with commit/failure callbacks."""

    def __init__(
        self,
        index: int,
        db: Any,
        *,
        append_only: bool,
        on_committed: Callable[[bytes], None] | None,
        on_failed: Callable[[BaseException], None] | None,
    ) -> None:
        self.index = index
        self.db = db
        self.append_only = append_only
        self.on_committed = on_committed
        self.on_failed = on_failed


class StoreWriter:
    """The one writer of an ``LmdbStore``; construct on the loop, then ``start()``.

    ``on_loop`` (default: ``store.durability == "async"``) commits on the loop, once per loop
    iteration; otherwise a writer thread commits (required when commits fsync).
    """

    def __init__(
        self,
        store: LmdbStore,
        *,
        max_pending: int = 1_000_000,
        max_batch: int = 262_144,
        loop: asyncio.AbstractEventLoop | None = None,
        on_loop: bool | None = None,
    ) -> None:
        self._store = store
        self._env = store.env
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._loop = loop
        if on_loop is None:
            on_loop = store.durability == "async"
        elif on_loop and store.durability == "sync":
            raise StorageError("an fsync'ing store (durability 'sync') must not commit on the loop")
        #: True: group commit on the loop (async durability); False: the writer thread.
        self.on_loop = on_loop
        self._started = False
        #: Loop mode: the items of the current burst, and the loop callback that commits it (None:
        #: none scheduled).
        self._batch: list[tuple[Any, ...]] = []
        self._commit_handle: asyncio.Handle | None = None
        #: ``hold_commit`` depth: while above 0, appends on the loop schedule no commit callback (the holder
        #: commits or releases; ``release_commit`` schedules what is still queued).
        self._held = 0
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._channels: list[Channel | None] = [None]
        #: ``on_committed`` of each channel by index (one list lookup per committed channel).
        self._committed_callbacks: list[Callable[[bytes], None] | None] = [None]
        #: The channel whose records are queued as bare ``(key, value)`` pairs (``appender``), and
        #: its database; 0: none.
        self._pair_channel = 0
        self._pair_db: Any = None
        #: Enqueueing is open (started, not stopping, not failed): one flag to test per record.
        self._accepting = False
        self._wakeup = threading.Event()
        self._idle = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._failure: StorageError | None = None
        #: Tickets: ``enqueued_ticket`` is the last one handed out (loop thread only).
        self.enqueued_ticket = 0
        #: Highest ticket whose transaction committed (updated on the loop, once per batch).
        self.committed_ticket = 0
        self._waiter_tickets: list[int] = []
        self._failure_listeners: list[Callable[[StorageError], None]] = []
        self._waiters: list[asyncio.Future[int]] = []
        #: Counters for tests and metrics (read from any thread; written by the writer thread).
        self.transactions = 0
        self.items_written = 0
        self.largest_batch = 0
        # The mode's own enqueue, bound once: one call per record instead of two (``enqueue`` is
        # on the path of every journal append, state put and audit record).
        self.enqueue = self._enqueue_on_loop if on_loop else self._enqueue_to_thread  # type: ignore[method-assign]

    # -- setup -----------------------------------------------------------------------------------
    def channel(
        self,
        db: Any,
        *,
        append_only: bool,
        on_committed: Callable[[bytes], None] | None = None,
        on_failed: Callable[[BaseException], None] | None = None,
    ) -> int:
        """Register a write channel (before ``start``); returns its index for ``enqueue``."""
        if self._started:
            raise StorageError("channels must be registered before the writer starts")
        index = len(self._channels)
        self._channels.append(
            Channel(index, db, append_only=append_only, on_committed=on_committed, on_failed=on_failed)
        )
        self._committed_callbacks.append(on_committed)
        return index

    def appender(self, channel: int) -> Callable[[bytes, bytes], int]:
        """The fast enqueue of ONE append-only channel (the journal): ``append(key, value) -> ticket``.

        Its records are queued as bare ``(key, value)`` pairs, which is the element ``putmulti``
        takes: a run of them goes to LMDB as the queued list itself, with no ``(key, value)`` tuple
        rebuilt per record on the writer (~0.15 us each, the writer holding the GIL the loop
        needs), and the loop builds a 2-tuple instead of a 3-tuple. ``enqueue(channel, ...)``
        stays valid for the same channel (the two shapes may interleave; order is kept)."""
        target = self._channels[channel] if 0 < channel < len(self._channels) else None
        if target is None or not target.append_only:
            raise StorageError("only a registered append-only channel can have an appender")
        if self._pair_channel not in (0, channel):
            raise StorageError("a store writer has one appender channel")
        self._pair_channel = channel
        self._pair_db = target.db
        return self._append_on_loop if self.on_loop else self._append_to_thread

    def add_failure_listener(self, listener: Callable[[StorageError], None]) -> None:
        """Called on the loop once, with the error, when a commit fails (e.g. to halt trading)."""
        self._failure_listeners.append(listener)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if self._started:
            return
        self._loop = loop or self._loop or asyncio.get_running_loop()
        self._started = True
        if not self.on_loop:
            self._thread = threading.Thread(target=self._run, name="lmdb-writer", daemon=True)
        self._accepting = self._failure is None and not self._stopping
        if self._thread is not None:
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the writer takes new writes: False once ``close`` began (a thread still draining
        what was queued before takes nothing more) or after a failure, in both modes."""
        if self.on_loop:
            return self._started and not self._stopping and self._failure is None
        return (
            self._thread is not None
            and not self._stopping
            and self._failure is None
            and self._thread.is_alive()
        )

    @property
    def failure(self) -> StorageError | None:
        """The error that stopped the writer, or ``None``."""
        return self._failure

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._batch)

    # -- loop side -------------------------------------------------------------------------------
    def enqueue(self, channel: int, key: bytes, value: Any) -> int:
        """Queue one write; returns its ticket. Never blocks; raises if failed, stopped or full.

        (Each writer binds its mode's own in its place: ``_enqueue_on_loop`` or ``_enqueue_to_thread``.)"""
        if self.on_loop:
            return self._enqueue_on_loop(channel, key, value)
        return self._enqueue_to_thread(channel, key, value)

    # The four enqueue paths below (item or bare pair; thread or loop) are written out in full: each
    # is one call per record on the order path. What they refuse with is built here, off that path.
    def _refusal(self) -> StorageError:
        return self._failure if self._failure is not None else StorageError("the store writer is not running")

    def _backlog(self) -> ResourceExhaustedError:
        return ResourceExhaustedError(
            f"store write queue full ({self._max_pending} items): the disk is not keeping up",
            retry_after_ms=10,
            reason="STORE_BACKLOG",
        )

    def _enqueue_to_thread(self, channel: int, key: bytes, value: Any) -> int:
        if not self._accepting:
            raise self._refusal()
        queue = self._queue
        n = len(queue)
        if n >= self._max_pending:
            raise self._backlog()
        if n >= COMPACT_AFTER and type(value) is bytes:  # see _compact
            value = _compact(value)
        queue.append((channel, key, value))
        if self._idle:
            self._idle = False
            self._wakeup.set()
        ticket = self.enqueued_ticket + 1
        self.enqueued_ticket = ticket
        return ticket

    def _append_to_thread(self, key: bytes, value: bytes) -> int:
        """``_enqueue_to_thread`` for the appender channel: the record queued as a bare pair."""
        if not self._accepting:
            raise self._refusal()
        queue = self._queue
        n = len(queue)
        if n >= self._max_pending:
            raise self._backlog()
        if n >= COMPACT_AFTER and type(value) is bytes:  # see _compact
            value = _compact(value)
        queue.append((key, value))
        if self._idle:
            self._idle = False
            self._wakeup.set()
        ticket = self.enqueued_ticket + 1
        self.enqueued_ticket = ticket
        return ticket

    def _append_on_loop(self, key: bytes, value: bytes) -> int:
        """``_enqueue_on_loop`` for the appender channel: the record queued as a bare pair."""
        if not self._accepting:
            raise self._refusal()
        batch = self._batch
        n = len(batch)
        if n >= self._max_pending:
            raise self._backlog()
        if n >= COMPACT_AFTER and type(value) is bytes:  # see _compact
            value = _compact(value)
        batch.append((key, value))
        if self._commit_handle is None and not self._held:
            self._schedule_commit()
        ticket = self.enqueued_ticket + 1
        self.enqueued_ticket = ticket
        return ticket

    def _enqueue_on_loop(self, channel: int, key: bytes, value: Any) -> int:
        if not self._accepting:
            raise self._refusal()
        batch = self._batch
        n = len(batch)
        if n >= self._max_pending:
            raise self._backlog()
        if n >= COMPACT_AFTER and type(value) is bytes:  # see _compact
            value = _compact(value)
        batch.append((channel, key, value))
        if self._commit_handle is None and not self._held:
            self._schedule_commit()
        ticket = self.enqueued_ticket + 1
        self.enqueued_ticket = ticket
        return ticket

    def enqueue_many(self, items: tuple[tuple[int, bytes, Any], ...]) -> int:
        """Queue several writes that must commit in the same transaction; returns the ticket."""
        return self.enqueue(MULTI, b"", items)

    def wait(self, ticket: int) -> asyncio.Future[int]:
        """A future resolved (with ``ticket``) once the transaction holding it committed."""
        loop = self._loop
        assert loop is not None
        future: asyncio.Future[int] = loop.create_future()
        if ticket <= self.committed_ticket:
            future.set_result(ticket)
        elif self._failure is not None:
            future.set_exception(self._failure)
        else:
            tickets = self._waiter_tickets
            if not tickets or ticket >= tickets[-1]:
                tickets.append(ticket)
                self._waiters.append(future)
            else:
                at = bisect.bisect_right(tickets, ticket)
                tickets.insert(at, ticket)
                self._waiters.insert(at, future)
        return future

    def flush(self) -> asyncio.Future[int]:
        """Resolves once everything queued so far is committed (or fails with the store error)."""
        return self.wait(self.enqueued_ticket)

    def hold_commit(self) -> None:
        """Until the matching ``release_commit``, appends on the loop schedule no commit callback: the
        caller is about to commit them itself (``commit_pending``) or is in the middle of work whose
        records may wait until it is done (e.g. the order manager applying a venue report: its commit
        is scheduled after the event reached its subscribers). Nests."""
        self._held += 1

    def release_commit(self) -> None:
        """End a ``hold_commit``: the commit callback is scheduled for whatever is still queued, as the
        appends would have (the outermost release only)."""
        self._held -= 1
        if not self._held and self._batch and self._commit_handle is None and self._started:
            self._schedule_commit()

    def commit_pending(self) -> bool:
        """Commit everything queued, right now, if this writer commits on the loop; True when every
        queued item is committed.

        The order manager calls this before an order leaves the process: with ``async`` durability
        the intent becomes durable in this call (the same bounded page-cache commit the scheduled
        callback would run one loop iteration later), so the order is sent without a round trip
        through the event loop. With ``sync`` durability (an fsync on the writer thread) it never
        waits: it answers False unless everything is already committed, and the caller awaits
        ``wait``/``flush`` instead. A failed commit answers False; the waiters get the error.
        """
        if self._batch and self._started:  # (``_batch`` only ever fills on a loop-side writer)
            while self._batch and self._failure is None:
                self._commit_now()
            handle = self._commit_handle
            if handle is not None and not self._batch:
                # Nothing left for the callback scheduled for this burst: cancelled, it costs the
                # loop nothing (it ran as a no-op call at the next iteration, ahead of whatever
                # this commit let go, e.g. the venue's handling of the order just sent); a later
                # append schedules a new one.
                handle.cancel()
                self._commit_handle = None
        return self._failure is None and self.committed_ticket == self.enqueued_ticket

    async def close(self) -> None:
        """Drain the queue, stop the thread (joined off the loop) and surface a failure if any."""
        if self.on_loop:
            if not self._started:
                return
            self._stopping = True
            self._started = False
            self._accepting = False
            self._drain_on_loop()
            # Let the resolved futures' callbacks run, as after the thread's last callbacks.
            await asyncio.sleep(0)
            if self._failure is not None:
                raise self._failure
            return
        if self._thread is None:
            return
        self._stopping = True
        self._accepting = False
        self._idle = False
        self._wakeup.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
        self._thread = None
        # The thread posted its last callbacks before exiting; let them run.
        await asyncio.sleep(0)
        if self._failure is not None:
            raise self._failure

    def close_blocking(self, timeout_s: float | None = None) -> None:
        """Like ``close`` for a thread without a running loop (tools, tests, signal paths).

        With loop-side commits, call it on the loop thread or once the loop has stopped: it commits
        what is queued on the calling thread (no fsync: it cannot wait long).
        """
        if self.on_loop:
            if not self._started:
                return
            self._stopping = True
            self._started = False
            self._accepting = False
            # A closed loop has nobody left to notify (futures cannot schedule their callbacks).
            with contextlib.suppress(RuntimeError):
                self._drain_on_loop()
            return
        if self._thread is None:
            return
        self._stopping = True
        self._accepting = False
        self._idle = False
        self._wakeup.set()
        self._thread.join(timeout_s)
        self._thread = None

    # -- loop-side group commit (async durability) -----------------------------------------------
    def _schedule_commit(self) -> None:
        """Commit what is queued from a loop callback at the next iteration (one per burst)."""
        loop = self._loop
        assert loop is not None
        self._commit_handle = loop.call_soon(self._commit_batch)

    def _commit_batch(self) -> None:
        """Loop callback: commit everything queued since the last one in one write transaction."""
        self._commit_handle = None
        self._commit_now()

    def _commit_now(self) -> None:
        """Commit the queued items (at most ``max_batch``; the rest from a scheduled callback)."""
        batch = self._batch
        if not batch or self._failure is not None:
            return
        n = len(batch)
        if n <= 3 and len(batch[0]) == 2 and len(batch[-1]) == 2 and (n < 3 or len(batch[1]) == 2):
            # The loop's common commit: an order's one to three journal records (``commit_pending``
            # before it leaves, or the venue's report), written and acknowledged here (``_write``'s
            # short path and ``_on_committed`` for one channel, inlined: ~0.5 us of calls, a dict
            # and its walk less per order).
            self._batch = []
            db = self._pair_db
            try:
                with self._env.begin(write=True) as txn:
                    put = txn.put
                    for key, value in batch:
                        # put(key, value, dupdata, overwrite, append, db): positional, py-lmdb parses
                        # them ~0.13 us faster per record than keywords.
                        if not put(key, value, True, True, True, db):
                            raise StorageError(
                                "append-only write rejected a record (key not strictly increasing)"
                            )
            except Exception as exc:
                self._on_failed(
                    exc if isinstance(exc, StorageError) else StorageError(f"LMDB commit failed: {exc}")
                )
                return
            self.transactions += 1
            self.items_written += n
            self.largest_batch = max(self.largest_batch, n)
            self.committed_ticket = ticket = self.committed_ticket + n
            callback = self._committed_callbacks[self._pair_channel]
            if callback is not None:
                callback(key)
            tickets = self._waiter_tickets
            if tickets and tickets[0] <= ticket:
                self._resolve_waiters(ticket)
            return
        if n > self._max_batch:
            # Bound the time one callback holds the loop; the rest goes in the next iteration(s).
            n = self._max_batch
            self._batch = batch[n:]
            batch = batch[:n]
            if self._commit_handle is None:
                self._schedule_commit()
        else:
            self._batch = []
        try:
            last_keys = self._write(batch)
        except Exception as exc:
            error = exc if isinstance(exc, StorageError) else StorageError(f"LMDB commit failed: {exc}")
            # Nothing queued after a failed batch may commit, or the journal would have a hole.
            self._batch = []
            self._on_failed(error)
            return
        self.transactions += 1
        self.items_written += n
        self.largest_batch = max(self.largest_batch, n)
        self._on_committed(self.committed_ticket + n, last_keys)

    def _drain_on_loop(self) -> None:
        while self._batch and self._failure is None:
            self._commit_now()

    def _on_committed(self, ticket: int, last_keys: dict[int, bytes]) -> None:
        """Loop thread: one call per committed batch (``last_keys``: channel index -> last key)."""
        self.committed_ticket = ticket
        callbacks = self._committed_callbacks
        for index, key in last_keys.items():
            callback = callbacks[index]
            if callback is not None:
                callback(key)
        tickets = self._waiter_tickets
        if tickets and tickets[0] <= ticket:
            self._resolve_waiters(ticket)

    def _resolve_waiters(self, ticket: int) -> None:
        """Resolve the waiters of every ticket up to ``ticket`` (committed)."""
        tickets = self._waiter_tickets
        n = bisect.bisect_right(tickets, ticket)
        done = self._waiters[:n]
        del tickets[:n]
        del self._waiters[:n]
        for future in done:
            if not future.done():
                future.set_result(ticket)

    def _on_failed(self, error: StorageError) -> None:
        """Loop thread: fail every waiter and every channel."""
        self._failure = error
        self._accepting = False
        waiters = self._waiters
        self._waiters = []
        self._waiter_tickets = []
        for future in waiters:
            if not future.done():
                future.set_exception(error)
        for channel in self._channels:
            if channel is not None and channel.on_failed is not None:
                channel.on_failed(error)
        for listener in self._failure_listeners:
            listener(error)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        assert loop is not None
        # A closed loop (process shutting down) has nobody left to notify.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(callback, *args)

    # -- writer thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        queue = self._queue
        popleft = queue.popleft
        wakeup = self._wakeup
        committed = 0
        while True:
            if not queue:
                if self._stopping:
                    return
                wakeup.clear()
                self._idle = True
                if queue or self._stopping:
                    self._idle = False
                    continue
                wakeup.wait()
                continue
            n = min(len(queue), self._max_batch)
            batch = list(starmap(popleft, repeat((), n)))
            try:
                last_keys = self._write(batch)
            except Exception as exc:
                error = exc if isinstance(exc, StorageError) else StorageError(f"LMDB commit failed: {exc}")
                # Stop accepting at once (the loop's flag follows via _on_failed); nothing queued
                # after a failed batch may commit, or the journal would have a hole.
                self._failure = error
                self._accepting = False
                queue.clear()
                self._post(self._on_failed, error)
                return
            committed += n
            self.transactions += 1
            self.items_written += n
            self.largest_batch = max(self.largest_batch, n)
            self._post(self._on_committed, committed, last_keys)

    def _write(self, batch: list[tuple[Any, ...]]) -> dict[int, bytes]:
        """Write ``batch`` in one transaction; returns each channel's last key (channel index -> key).

        Items are ``(key, value)`` pairs of the appender channel or ``(channel, key, value)``.
        A run of pairs goes to one ``putmulti(append=True)`` as the queued list itself; a run of
        one keyed channel is put record by record with ``txn.put`` (a delete for ``None``); a run
        of an append-only channel goes through one ``putmulti(append=True)``, or one ``put`` when
        it is a single record (no cursor object, no pair list: the common case on the loop, where
        a commit holds the one to three records of an order)."""
        n = len(batch)
        if n <= 3:
            first = batch[0]
            if len(first) == 2 and len(batch[-1]) == 2 and (n < 3 or len(batch[1]) == 2):
                # The loop's common commit: an order's journal records, put without a cursor.
                db = self._pair_db
                with self._env.begin(write=True) as txn:
                    put = txn.put
                    for key, value in batch:
                        # put(key, value, dupdata, overwrite, append, db): positional, py-lmdb parses
                        # them ~0.13 us faster per record than keywords.
                        if not put(key, value, True, True, True, db):
                            raise StorageError(
                                "append-only write rejected a record (key not strictly increasing)"
                            )
                return {self._pair_channel: key}
            index = first[0]
            if (
                len(first) == 3
                and index
                and len(batch[-1]) == 3
                and batch[-1][0] == index
                and (n < 3 or (len(batch[1]) == 3 and batch[1][0] == index))
            ):
                # One to three records of one channel (the durable venue's input, a state put).
                channel = self._channels[index]
                assert channel is not None
                db = channel.db
                append = channel.append_only
                with self._env.begin(write=True) as txn:
                    put = txn.put
                    for _, key, value in batch:
                        if value is None:
                            txn.delete(key, db=db)
                        elif not put(key, value, db=db, append=append):
                            raise StorageError(
                                "append-only write rejected a record (key not strictly increasing)"
                            )
                return {index: key}
        last: dict[int, bytes] = {}
        with self._env.begin(write=True) as txn:
            for size, run in groupby(batch, len):
                if size == 2:
                    pairs = list(run)
                    self._append_pairs(txn, self._pair_db, pairs)
                    last[self._pair_channel] = pairs[-1][0]
                else:
                    self._write_items(txn, run, last)
        return last

    @staticmethod
    def _append_pairs(txn: lmdb.Transaction, db: Any, pairs: list[tuple[bytes, bytes]]) -> None:
        if len(pairs) == 1:
            key, value = pairs[0]
            if not txn.put(key, value, db=db, append=True):
                raise StorageError("append-only write rejected a record (key not strictly increasing)")
            return
        added = txn.cursor(db=db).putmulti(pairs, append=True)[1]
        if added != len(pairs):
            raise StorageError(
                f"append-only write rejected {len(pairs) - added} of {len(pairs)} records "
                "(keys not strictly increasing)"
            )

    def _write_items(self, txn: lmdb.Transaction, items: Any, last: dict[int, bytes]) -> None:
        """A run of ``(channel, key, value)`` items, grouped by channel, in queue order."""
        channels = self._channels
        put = txn.put
        for index, group in groupby(items, _channel_of):
            if index == MULTI:
                for item in group:
                    for sub_index, key, value in item[2]:
                        self._put_one(txn, channels[sub_index], key, value)
                        last[sub_index] = key
                continue
            channel = channels[index]
            assert channel is not None
            db = channel.db
            if channel.append_only:
                pairs = list(map(_key_value, group))
                self._append_pairs(txn, db, pairs)
                last[index] = pairs[-1][0]
            else:
                for _, key, value in group:
                    if value is None:
                        txn.delete(key, db=db)
                    else:
                        put(key, value, db=db)
                last[index] = key

    @staticmethod
    def _put_one(txn: lmdb.Transaction, channel: Channel | None, key: bytes, value: bytes | None) -> None:
        assert channel is not None
        if value is None:
            txn.delete(key, db=channel.db)
        elif not txn.put(key, value, db=channel.db, overwrite=True, append=channel.append_only):
            raise StorageError("append-only write rejected a record (key not strictly increasing)")
