"""The embedded LMDB environment: opened once, named databases opened once (py-lmdb idiom).

This module owns the environment's lifecycle and the ``meta`` database (schema version, creation
time, start and clean-shutdown markers). The journal, state tables and audit log live in their own
named databases in the same environment.

Durability (``store.durability``): ``sync`` fsyncs every commit; ``async`` leaves flushing to the OS
(``sync=False``): a process crash (even SIGKILL) loses nothing committed, a power loss may lose the
last commits. On close the environment is always flushed.

``store.writemap`` (on by default; only with ``async``, ignored with ``sync``) opens the map writable:
a commit then updates the pages in place in the shared mapping instead of ``malloc``-ing dirty copies
and ``pwrite``-ing them (a ``pwritev`` of the data pages plus a ``pwrite`` of the meta page per
commit). That cuts a small commit from ~7 us to ~2 us (py-lmdb, two ~120-byte journal records) and
is the largest single item on the tick-to-order path, which commits the order intent on the loop.
Safe on a process crash, ``kill -9`` included: the kernel owns the dirty pages exactly as it owns
those a ``pwrite`` left in the page cache, and a commit is still only visible once its meta page is
written. What it costs, per the LMDB docs and the kernel:

* **stray writes**: a read-only map turns a wild write into the map by buggy native code in this
  process into a segfault (halt); a writable map takes it silently (the journal could then be
  corrupted without anyone noticing until a decode fails). Our own Cython/Numba kernels run in this
  process and write only their own arrays; the engine never takes ``buffers=True`` views into the
  map. Deployments that prefer the crash set ``writemap = false`` (then ~7 us per commit);
* **disk full**: the data file is sized to ``map_size`` up front (sparse: only written pages use
  disk). When the filesystem fills, the page fault that first touches an unallocated page ends the
  process with SIGBUS instead of a ``StorageError`` and a clean halt. Nothing committed is lost (the
  interrupted transaction never wrote its meta page) and a restart recovers as after ``kill -9``;
* processes that open the environment read-only (backup, ``audit verify``, offline readers) are
  unaffected; a second *writer* must not mix ``writemap`` settings (there is none: one writer).

``sync`` always keeps the read-only map: its commits run on the writer thread, where an fsync
dominates anyway.
"""

from __future__ import annotations

import struct
from pathlib import Path

import lmdb

from engine.core.errors import StorageError

SCHEMA_VERSION = 1
_U64 = struct.Struct(">Q")

_META = b"meta"
_KEY_SCHEMA = b"schema_version"
_KEY_CREATED = b"created_at_ns"
_KEY_STARTS = b"start_count"
_KEY_LAST_START = b"last_start_ns"
_KEY_LAST_CLEAN_STOP = b"last_clean_stop_ns"


class LmdbStore:
    def __init__(
        self, path: Path, *, map_size_mb: int, durability: str, max_dbs: int = 32, writemap: bool = True
    ) -> None:
        self.path = Path(path)
        self._writemap = writemap and durability == "async"
        self._map_size = map_size_mb * 1024 * 1024
        self._durability = durability
        self._max_dbs = max_dbs
        self._env: lmdb.Environment | None = None
        self._dbs: dict[bytes, lmdb._Database] = {}
        #: True when the previous run did not reach a clean shutdown (crash or kill -9).
        self.previous_run_crashed = False
        self.start_count = 0

    @property
    def env(self) -> lmdb.Environment:
        if self._env is None:
            raise StorageError("the store is not open")
        return self._env

    @property
    def durability(self) -> str:
        """``"sync"`` (every commit fsync'ed) or ``"async"`` (flushing left to the OS)."""
        return self._durability

    @property
    def is_open(self) -> bool:
        return self._env is not None

    def open(self, now_ns: int) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._env = lmdb.open(
                str(self.path),
                map_size=self._map_size,
                max_dbs=self._max_dbs,
                subdir=True,
                sync=self._durability == "sync",
                metasync=self._durability == "sync",
                writemap=self._writemap,
                readahead=False,
                lock=True,
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open LMDB at {self.path}: {exc}") from None
        meta = self.db(_META)
        with self.env.begin(write=True, db=meta) as txn:
            version = _get_u64(txn, _KEY_SCHEMA)
            if version is None:
                txn.put(_KEY_SCHEMA, _U64.pack(SCHEMA_VERSION))
                txn.put(_KEY_CREATED, _U64.pack(now_ns))
            elif version > SCHEMA_VERSION:
                self._env.close()
                self._env = None
                raise StorageError(
                    f"{self.path} was written by a newer AlgoTrendy (schema {version} > {SCHEMA_VERSION})"
                )
            last_start = _get_u64(txn, _KEY_LAST_START) or 0
            last_clean = _get_u64(txn, _KEY_LAST_CLEAN_STOP) or 0
            self.previous_run_crashed = last_start > last_clean
            self.start_count = (_get_u64(txn, _KEY_STARTS) or 0) + 1
            txn.put(_KEY_STARTS, _U64.pack(self.start_count))
            txn.put(_KEY_LAST_START, _U64.pack(now_ns))
        self._env.sync(True)

    def db(self, name: bytes) -> lmdb._Database:
        """A named database, created on first use and cached (open named DBs once)."""
        handle = self._dbs.get(name)
        if handle is None:
            handle = self.env.open_db(name, create=True)
            self._dbs[name] = handle
        return handle

    def meta(self) -> dict[str, int]:
        with self.env.begin(db=self.db(_META)) as txn:
            return {key.decode(): _U64.unpack(value)[0] for key, value in txn.cursor() if len(value) == 8}

    def close(self, now_ns: int) -> None:
        """Mark a clean shutdown, flush to disk and close."""
        if self._env is None:
            return
        with self._env.begin(write=True, db=self.db(_META)) as txn:
            txn.put(_KEY_LAST_CLEAN_STOP, _U64.pack(now_ns))
        self._env.sync(True)
        self._env.close()
        self._env = None
        self._dbs.clear()


def _get_u64(txn: lmdb.Transaction, key: bytes) -> int | None:
    value = txn.get(key)
    return None if value is None else _U64.unpack(value)[0]
