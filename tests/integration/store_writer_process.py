"""A journal writer for the store's crash and backup tests: run as a real subprocess.

``python store_writer_process.py DATA_DIR DURABILITY BATCH`` locks DATA_DIR like the engine does,
opens its LMDB and appends deterministic order events forever, ``BATCH`` at a time plus one audit
record per batch; after each batch is durable it prints the last sequence on stdout (one line,
flushed): a sequence printed is a sequence acknowledged. The parent kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "store"))

from store_samples import order_events

from engine.store import DataDirLock, LmdbStore, Persistence


def event_for(seq: int) -> object:
    """The event journalled at ``seq`` (deterministic, so the parent can check every record)."""
    return order_events((seq - 1) // 4)[(seq - 1) % 4]


async def run(data_dir: Path, durability: str, batch: int) -> None:
    lock = DataDirLock(data_dir)
    lock.acquire()
    store = LmdbStore(data_dir / "lmdb", map_size_mb=256, durability=durability)
    store.open(time.time_ns())
    persistence = Persistence(store)
    persistence.start()
    journal = persistence.journal
    out = sys.stdout
    out.write(f"READY {journal.last_sequence}\n")
    out.flush()
    while True:
        first = journal.last_sequence + 1
        for seq in range(first, first + batch):
            journal.append(event_for(seq))
        persistence.audit.append(actor="crash-test", action="Append", summary={"first": first, "n": batch})
        last = journal.last_sequence
        await journal.durable(last)
        out.write(f"{last}\n")
        out.flush()


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
