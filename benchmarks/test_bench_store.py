"""Store benchmarks: journal throughput (append -> durable, group commit) and restart recovery.

Journal: 200,000 realistic order events (initialized / submitted / accepted / filled, ~120-byte
records through the codec) are appended on a uvloop loop in bursts of ``BURST`` events per loop
iteration (a busy engine: each iteration handles a burst, then the loop turns); the clock stops when
``await journal.durable(last)`` resolves, i.e. when the last transaction committed (fsync'ed with
``sync``). With ``sync`` the writer thread batches whatever queued while the previous commit ran
(group commit); with ``async`` the writer commits each burst on the loop (one transaction per loop
iteration, so ``transactions_per_round`` = 200 and the GIL switch interval does not matter).
Measured with the interpreter's default GIL switch interval (5 ms) and with 0.5 ms: py-lmdb releases
the GIL around every ``mdb_cursor_put``, so with a busy loop thread the writer waits up to one switch
interval per record it writes; a shorter interval is what keeps the writer fed.

Journal read + decode: a 1,000,000-record journal read back and decoded with ``recover``, the first
part of a restart; the whole restart (orders, positions, risk state, the venue rebuilt) is
``test_bench_restart.py``, on a history the engine itself wrote.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_store.py --benchmark-only
--benchmark-json=benchmarks/results/store.json``. ``extra_info`` holds ``events_per_sec`` (median
round), transactions per round and the largest batch.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit" / "store"))

from store_samples import sample_events

from engine.store import LmdbStore, Persistence, recover
from engine.store.codec import CODEC
from engine.store.journal import JOURNAL_DB, seq_key

N_EVENTS = 200_000
N_RECOVERY = 1_000_000
BURST = 1_000


@pytest.fixture(scope="module")
def events() -> list[object]:
    return sample_events(N_EVENTS)


def _journal_round(events: list[object], durability: str, switch_interval_s: float) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-store-"))
    store = LmdbStore(root / "lmdb", map_size_mb=4096, durability=durability)
    store.open(time.time_ns())
    previous = sys.getswitchinterval()
    sys.setswitchinterval(switch_interval_s)

    async def run() -> dict[str, Any]:
        persistence = Persistence(store)
        persistence.start()
        journal = persistence.journal
        t0 = time.perf_counter()
        last = 0
        for start in range(0, len(events), BURST):
            for event in events[start : start + BURST]:
                last = journal.append(event)
            await asyncio.sleep(0)
        await journal.durable(last)
        elapsed = time.perf_counter() - t0
        stats = {
            "elapsed_s": elapsed,
            "transactions": persistence.writer.transactions,
            "largest_batch": persistence.writer.largest_batch,
        }
        await persistence.close()
        return stats

    try:
        return uvloop.run(run())
    finally:
        sys.setswitchinterval(previous)
        store.close(time.time_ns())
        shutil.rmtree(root, ignore_errors=True)


def _record(benchmark: Any, n: int, rounds: list[dict[str, Any]], **extra: Any) -> None:
    median = benchmark.stats.stats.median
    benchmark.extra_info["events_per_round"] = n
    benchmark.extra_info["events_per_sec"] = round(n / median)
    benchmark.extra_info["ns_per_event"] = round(median / n * 1e9, 1)
    if rounds:
        benchmark.extra_info["transactions_per_round"] = sorted(r["transactions"] for r in rounds)[
            len(rounds) // 2
        ]
        benchmark.extra_info["largest_batch"] = max(r["largest_batch"] for r in rounds)
    benchmark.extra_info.update(extra)


@pytest.mark.parametrize("switch_interval_ms", [5.0, 0.5])
@pytest.mark.parametrize("durability", ["sync", "async"])
@pytest.mark.benchmark(group="journal append -> durable (200k order events, group commit)")
def test_bench_store_journal_throughput(
    benchmark: Any, events: list[object], durability: str, switch_interval_ms: float
) -> None:
    rounds: list[dict[str, Any]] = []

    def run() -> None:
        rounds.append(_journal_round(events, durability, switch_interval_ms / 1000))

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, len(events), rounds[1:], durability=durability, switch_interval_ms=switch_interval_ms)


@pytest.fixture(scope="module")
def recovery_store() -> Any:
    """A 1M-event journal, written straight through LMDB (the codec's records, contiguous keys)."""
    root = Path(tempfile.mkdtemp(prefix="bench-recover-"))
    store = LmdbStore(root / "lmdb", map_size_mb=4096, durability="async")
    store.open(time.time_ns())
    pool = [CODEC.encode(e) for e in sample_events(4_000)]
    db = store.db(JOURNAL_DB)
    chunk = 100_000
    for first in range(1, N_RECOVERY + 1, chunk):
        with store.env.begin(write=True) as txn:
            txn.cursor(db=db).putmulti(
                ((seq_key(s), pool[(s - 1) % len(pool)]) for s in range(first, first + chunk)), append=True
            )
    yield store
    store.close(time.time_ns())
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.benchmark(group="journal read + decode (1M records; a part of restart)")
def test_bench_store_recovery(benchmark: Any, recovery_store: LmdbStore) -> None:
    reports: list[Any] = []
    held: list[Any] = []

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        held.clear()  # free the previous round's million objects outside the timed region
        return (), {}

    def run() -> None:
        report = recover(recovery_store)
        assert report.count == N_RECOVERY
        reports.append((report.read_s, report.decode_s))
        held.append(report)

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    held.clear()
    median_read = sorted(r for r, _ in reports)[1]
    median_decode = sorted(d for _, d in reports)[1]
    _record(benchmark, N_RECOVERY, [], read_s=round(median_read, 3), decode_s=round(median_decode, 3))
