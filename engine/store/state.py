"""Small keyed state tables (named LMDB database ``state``), written through the journal's writer.

``put(table, key, obj)`` queues the write on the same FIFO as journal appends, so a state write and
the events queued around it commit in the same or a later transaction, never before them. Values are
registered dataclasses or plain JSON values (``Codec.encode_value``). ``get`` and ``items`` see the
loop's own queued writes at once (read-your-writes on the loop thread), then the committed data.

**Recovery model (recommended).** The journal is the source of truth; state tables hold snapshots so
a restart does not replay from sequence 1:

1. Every N journal events (e.g. 50,000) or on a clean stop, each owner (OMS, portfolio, risk) puts
   one snapshot document into its table, carrying ``as_of_seq`` = the journal's ``last_sequence``
   at the moment of the snapshot. Because the FIFO orders writes, the snapshot never commits before
   the events it covers. Use ``put_many`` when several keys must change atomically.
2. On start: load the snapshots, take the smallest ``as_of_seq`` among them as S, replay
   ``journal.read(S + 1)`` (each owner skips events at or below its own ``as_of_seq``).
3. Values that are cheap and must never lag (sequences, trading state, risk limits) are written on
   every change: they are small, and they share the journal's transaction.

Readers on other threads may call ``get``/``items`` (short read transactions) but see only committed
data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.errors import ValidationError
from engine.store.codec import CODEC, Codec
from engine.store.lmdb_store import LmdbStore
from engine.store.writer import StoreWriter

__all__ = ["STATE_DB", "StateStore"]

STATE_DB = b"state"
_SEP = b"\x00"
_TABLE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
#: A queued delete in the overlay.
_DELETED = object()


#: Validated table name -> key prefix. Tables are a small fixed set named in code (the venue's input
#: log puts one key per order), so the name's regex runs once per table, not once per write.
_PREFIXES: dict[str, bytes] = {}
_MAX_PREFIXES = 1024


def _table_prefix(table: str) -> bytes:
    prefix = _PREFIXES.get(table) if type(table) is str else None
    if prefix is not None:
        return prefix
    if not isinstance(table, str) or _TABLE.fullmatch(table) is None:
        raise ValidationError("table", f"{table!r}: expected 1-64 of a-z 0-9 _ . starting with a letter")
    prefix = table.encode() + _SEP
    if len(_PREFIXES) < _MAX_PREFIXES:
        _PREFIXES[table] = prefix
    return prefix


def _key_bytes(table: str, key: str) -> bytes:
    if not isinstance(key, str) or not key or len(key) > 400 or "\x00" in key:
        raise ValidationError("key", f"{key!r}: expected a non-empty string of at most 400 characters")
    return _table_prefix(table) + key.encode()


class StateStore:
    """Keyed tables ``table -> key -> value`` in one LMDB database."""

    def __init__(self, store: LmdbStore, writer: StoreWriter, *, codec: Codec = CODEC) -> None:
        self._store = store
        self._writer = writer
        self._codec = codec
        self._db = store.db(STATE_DB)
        self._channel = writer.channel(self._db, append_only=False, on_committed=self._on_committed)
        #: Loop-side overlay of queued writes: key bytes -> (ticket, value or _DELETED).
        self._overlay: dict[bytes, tuple[int, Any]] = {}

    def put(self, table: str, key: str, value: Any) -> int:
        """Queue ``table[key] = value``; returns the writer ticket (``writer.wait(ticket)``)."""
        raw_key = _key_bytes(table, key)
        ticket = self._writer.enqueue(self._channel, raw_key, self._codec.encode_value(value))
        self._overlay[raw_key] = (ticket, value)
        return ticket

    def put_many(self, table: str, values: Mapping[str, Any]) -> int:
        """Queue several keys of one table as one unit (same transaction)."""
        items = tuple(
            (self._channel, _key_bytes(table, key), self._codec.encode_value(value))
            for key, value in values.items()
        )
        if not items:
            return self._writer.enqueued_ticket
        ticket = self._writer.enqueue_many(items)
        for (_, raw_key, _), value in zip(items, values.values(), strict=True):
            self._overlay[raw_key] = (ticket, value)
        return ticket

    def delete(self, table: str, key: str) -> int:
        raw_key = _key_bytes(table, key)
        ticket = self._writer.enqueue(self._channel, raw_key, None)
        self._overlay[raw_key] = (ticket, _DELETED)
        return ticket

    def get(self, table: str, key: str, default: Any = None) -> Any:
        raw_key = _key_bytes(table, key)
        pending = self._overlay.get(raw_key)
        if pending is not None:
            return default if pending[1] is _DELETED else pending[1]
        with self._store.env.begin(db=self._db) as txn:
            data = txn.get(raw_key)
        return default if data is None else self._codec.decode(data)

    def items(self, table: str, *, after: str | None = None) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` of a table in key order (committed data merged with queued writes);
        with ``after``, only the keys that sort after it (the others are neither read nor decoded:
        a log read from a position)."""
        return self._scan(table, after=after, upto=None, values=True)

    def keys(self, table: str, *, upto: str | None = None) -> list[str]:
        """The keys of a table in key order, values neither read nor decoded (committed data merged
        with queued writes); with ``upto``, only the keys that sort at or before it."""
        return [key for key, _ in self._scan(table, after=None, upto=upto, values=False)]

    def _scan(
        self, table: str, *, after: str | None, upto: str | None, values: bool
    ) -> Iterator[tuple[str, Any]]:
        """The keys of ``table`` after ``after`` and up to ``upto`` (either end open when None), in
        key order, committed data merged with queued writes; each with its value when ``values``
        (committed ones decoded), else with None."""
        prefix = _table_prefix(table)
        start = prefix if after is None else _key_bytes(table, after) + _SEP
        stop = None if upto is None else _key_bytes(table, upto)
        merged: dict[bytes, Any] = {}
        with self._store.env.begin(db=self._db) as txn:
            cursor = txn.cursor()
            if cursor.set_range(start):
                rows = (
                    cursor.iternext(keys=True, values=True)
                    if values
                    else ((k, None) for k in cursor.iternext(keys=True, values=False))  # keys only
                )
                for raw_key, data in rows:
                    if not raw_key.startswith(prefix) or (stop is not None and raw_key > stop):
                        break
                    merged[raw_key] = data
        if values:
            merged = {k: self._codec.decode(v) for k, v in merged.items()}
        for raw_key, (_, value) in self._overlay.items():
            if raw_key.startswith(prefix) and raw_key >= start and (stop is None or raw_key <= stop):
                if value is _DELETED:
                    merged.pop(raw_key, None)
                else:
                    merged[raw_key] = value if values else None
        for raw_key in sorted(merged):
            yield raw_key[len(prefix) :].decode(), merged[raw_key]

    def tables(self) -> list[str]:
        """Names of the tables that hold at least one committed key."""
        names: set[str] = set()
        with self._store.env.begin(db=self._db) as txn:
            for raw_key in txn.cursor().iternext(keys=True, values=False):
                names.add(raw_key.split(_SEP, 1)[0].decode())
        return sorted(names)

    def _on_committed(self, _last_key: bytes) -> None:
        """Drop overlay entries whose ticket is now committed (the database has them)."""
        committed = self._writer.committed_ticket
        if committed == self._writer.enqueued_ticket:
            self._overlay.clear()  # everything queued is committed (the usual case on the loop)
        elif self._overlay:
            stale = [k for k, (ticket, _) in self._overlay.items() if ticket <= committed]
            for k in stale:
                del self._overlay[k]
