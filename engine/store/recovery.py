"""Recovery primitives: read the whole journal (or its tail) back, fast.

``recover(store)`` reads the committed journal in large short read transactions and decodes it with
the codec's batch decoder; the garbage collector is paused while the decoded objects pile up (they
are all live, so collection passes would only rescan them). Pass ``apply`` to stream each
``(seq, obj)`` into the restoring component instead of keeping the list.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from engine.core.errors import StorageError
from engine.store.codec import CODEC, Codec
from engine.store.journal import JOURNAL_DB, seq_key
from engine.store.lmdb_store import LmdbStore

__all__ = ["RecoveryReport", "recover"]

_CHUNK = 65_536


@dataclass(slots=True)
class RecoveryReport:
    first_seq: int
    last_seq: int
    count: int
    read_s: float
    decode_s: float
    #: Decoded objects in sequence order (``events[i]`` has sequence ``first_seq + i``); empty when
    #: ``apply`` consumed them.
    events: list[Any] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.read_s + self.decode_s


def recover(
    store: LmdbStore,
    from_seq: int = 1,
    *,
    codec: Codec = CODEC,
    apply: Callable[[int, Any], None] | None = None,
    chunk: int = _CHUNK,
) -> RecoveryReport:
    """Read and decode the journal from ``from_seq`` to its end; raises ``StorageError`` on a gap."""
    env = store.env
    db = store.db(JOURNAL_DB)
    from_seq = max(from_seq, 1)
    next_seq = from_seq
    events: list[Any] = []
    read_s = decode_s = 0.0
    decode_many = codec.decode_many
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            t0 = time.perf_counter()
            with env.begin(db=db) as txn:
                cursor = txn.cursor()
                if not cursor.set_key(seq_key(next_seq)):
                    if cursor.set_range(seq_key(next_seq)):
                        raise StorageError(f"journal gap: sequence {next_seq} is missing")
                    break
                values = list(islice(cursor.iternext(keys=False, values=True), chunk))
                # The cursor rests on the last record read: n records from next_seq must end at
                # next_seq + n - 1, or there is a hole among them.
                if len(values) < chunk:
                    cursor.last()  # iteration ran off the end and unpositioned the cursor
                if cursor.key() != seq_key(next_seq + len(values) - 1):
                    raise StorageError(
                        f"journal gap between sequences {next_seq} and {next_seq + len(values) - 1}"
                    )
            t1 = time.perf_counter()
            decoded = decode_many(values)
            t2 = time.perf_counter()
            read_s += t1 - t0
            decode_s += t2 - t1
            if apply is None:
                events.extend(decoded)
            else:
                for offset, obj in enumerate(decoded):
                    apply(next_seq + offset, obj)
            next_seq += len(values)
            if len(values) < chunk:
                break
    finally:
        if was_enabled:
            gc.enable()
    count = next_seq - from_seq
    return RecoveryReport(
        from_seq if count else 0, next_seq - 1 if count else 0, count, read_s, decode_s, events
    )
