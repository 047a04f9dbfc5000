"""The persistence facade the composition root builds: one writer thread, journal, state, audit.

Startup (after ``LmdbStore.open``, before anything appends)::

    persistence = Persistence(store, clock=clock.timestamp_ns)   # checks and records codec layouts
    persistence.start()                                           # on the loop: starts the writer
    report = recover(store, snapshot_seq + 1)                     # replay the journal tail

Shutdown (before ``store.close``)::

    await persistence.close()    # drains the queue (everything committed), joins the thread

Classes from layers below ``engine.store`` (risk limits, OMS snapshots) are registered with the
codec *before* the facade is built (``CODEC.register(cls, tag)``), so their layouts are checked too.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable

import orjson

from engine.store.audit import AuditLog
from engine.store.codec import CODEC, FORMAT_VERSION, Codec
from engine.store.journal import Journal
from engine.store.lmdb_store import LmdbStore
from engine.store.state import StateStore
from engine.store.writer import StoreWriter

__all__ = ["CODEC_DB", "Persistence"]

CODEC_DB = b"codec"
_TAG = struct.Struct(">I")


class Persistence:
    def __init__(
        self,
        store: LmdbStore,
        *,
        codec: Codec = CODEC,
        clock: Callable[[], int] = time.time_ns,
        max_pending: int = 1_000_000,
    ) -> None:
        self.store = store
        self.codec = codec
        record_layouts(store, codec)
        self.writer = StoreWriter(store, max_pending=max_pending)
        self.journal = Journal(store, self.writer, codec=codec)
        self.state = StateStore(store, self.writer, codec=codec)
        self.audit = AuditLog(store, self.writer, clock=clock)

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start the writer thread; callbacks go to ``loop`` (default: the running loop)."""
        self.writer.start(loop)

    async def flush(self) -> None:
        await self.writer.flush()

    async def close(self) -> None:
        """Drain everything queued, stop the writer thread. Raises the store error if it failed."""
        await self.writer.close()


def record_layouts(store: LmdbStore, codec: Codec) -> None:
    """Refuse to start if stored records have a layout this build cannot decode; record ours."""
    db = store.db(CODEC_DB)
    with store.env.begin(db=db) as txn:
        stored = {}
        for key, value in txn.cursor():
            doc = orjson.loads(value)
            stored[_TAG.unpack(key)[0]] = (doc["class"], tuple(doc["fields"]))
    codec.check_layouts(stored)
    current = codec.layouts()
    changed = {tag: layout for tag, layout in current.items() if stored.get(tag) != layout}
    if changed:
        with store.env.begin(write=True, db=db) as txn:
            for tag, (name, fields) in changed.items():
                doc = {"class": name, "fields": list(fields), "format_version": FORMAT_VERSION}
                txn.put(_TAG.pack(tag), orjson.dumps(doc))
