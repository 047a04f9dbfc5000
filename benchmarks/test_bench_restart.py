"""Restart recovery: the engine starting on a data directory with a 1M-record journal.

The history is written by the engine itself (``engine_history.py``: ~231,000 orders traded through
the real trading core on the simulated venue -- market orders that fill, limit orders that rest and
are canceled, one in 300 left open -- with the market simulator stepping between them), once per
session, then copied afresh before every round so each restart starts from the same bytes.

One round is ``TradingCore.start()`` on that directory, with the collector handled as the app
handles it: the journal read and decoded (1M records), every order rebuilt by the order manager,
the risk gate's open orders and positions through the same hooks as live, the fills into the
portfolio, risk limits and trading state, the simulated venue restored from its snapshot, the open
orders reconciled with it, the market simulator started -- what stands between ``algotrendy serve``
on an existing directory and trading. The timed call is that start (the stop runs untimed before the
next round); ``restart_s`` in ``extra_info`` is the same figure. Goal: <= 5 s. The journal's read +
decode alone, as a component, is ``test_bench_store.py::test_bench_store_recovery``.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_restart.py --benchmark-only -p no:randomly
--benchmark-json=benchmarks/results/restart.json``
"""

from __future__ import annotations

import gc
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop

sys.path.insert(0, str(Path(__file__).parent))  # engine_history, beside this file

import engine_history

RECORDS = 1_000_000


@pytest.fixture(scope="module")
def history() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="bench-restart-"))
    engine_history.build(root / "pristine", RECORDS)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(900)  # the history takes about a minute to write
@pytest.mark.benchmark(group="restart (1M-record journal written by the engine)")
def test_bench_restart_recovery(benchmark: Any, history: Path) -> None:
    """Timed: the start alone. Each round's stop runs in the next round's setup (untimed), on the
    same event loop the core started on."""
    rounds: list[dict[str, Any]] = []
    work = history / "round"
    loop = uvloop.new_event_loop()
    running: list[engine_history.Restarted] = []

    def stop_running() -> None:
        while running:
            loop.run_until_complete(running.pop().stop())

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        stop_running()
        gc.collect()  # the history's writer, the previous round: as in a fresh ``algotrendy serve``
        shutil.rmtree(work, ignore_errors=True)
        # ``cp -a`` keeps the map file sparse (shutil would write its unused gigabytes as zeros).
        subprocess.run(["cp", "-a", str(history / "pristine"), str(work)], check=True)
        running.append(engine_history.Restarted(work))
        return (), {}

    def run() -> None:
        rounds.append(loop.run_until_complete(running[-1].start()))

    try:
        benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    finally:
        stop_running()
        loop.close()
    assert all(r["records"] >= RECORDS for r in rounds)
    assert len({(r["records"], r["orders"], r["open_orders"]) for r in rounds}) == 1
    benchmark.extra_info.update(
        restart_s=round(statistics.median(r["restart_s"] for r in rounds), 3),
        restart_s_rounds=[round(r["restart_s"], 3) for r in rounds],
        records=rounds[0]["records"],
        orders=rounds[0]["orders"],
        open_orders=rounds[0]["open_orders"],
        goal_s=5.0,
    )
