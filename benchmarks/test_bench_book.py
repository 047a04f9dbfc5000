"""L2 book benchmarks: ``L2Book`` (Cython) vs the ``order-book`` package (C) vs a SortedDict book.

All peers run in the same session on the same 1,000,000-delta stream, starting from the same
1000-levels-a-side snapshot, and must end with the same top of book. The stream comes from a seeded
generator shaped like a Binance USDⓈ-M BTCUSDT diff stream (0.1 tick, mid ~ 64,000): mostly
near-touch size changes, removals of existing levels, the mid drifting a few ticks at a time (a move
removes the levels it crosses, as the venue does, so the book never crosses), some deep levels and
~2% far levels (up to 600,000 ticks away, like the 1000.00 bids in the real capture) that land
outside the dense window.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_book.py --benchmark-only
--benchmark-json=benchmarks/results/book.json``. ``extra_info`` of each benchmark holds the derived
``ns_per_op`` and ``ops_per_sec`` of the median round.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from order_book import OrderBook as COrderBook
from sortedcontainers import SortedDict

from engine.ext.book.l2book import L2Book

N_DELTAS = 1_000_000
SNAPSHOT_LEVELS = 1_000
MID = 640_000
QUERY_CALLS = 100_000
BID, ASK = 1, 2


def _generate(n: int, seed: int = 20240718) -> dict[str, Any]:
    """A consistent diff stream (tuples and arrays of the same deltas) plus the starting snapshot."""
    rng = np.random.default_rng(seed)
    bid_edge = MID  # best possible bid; asks start at bid_edge + 1
    levels: dict[int, dict[int, int]] = {BID: {}, ASK: {}}
    snap_bids = [(bid_edge - k, int(s)) for k, s in enumerate(rng.integers(1, 5_000, SNAPSHOT_LEVELS))]
    snap_asks = [(bid_edge + 1 + k, int(s)) for k, s in enumerate(rng.integers(1, 5_000, SNAPSHOT_LEVELS))]
    levels[BID].update(snap_bids)
    levels[ASK].update(snap_asks)
    kinds = rng.random(n)
    sides = rng.integers(1, 3, n)
    near = rng.geometric(0.25, n) - 1
    deep = rng.integers(20, 2_000, n)
    far = rng.integers(10_000, 600_000, n)
    sizes = rng.integers(1, 20_000, n)
    moves = rng.choice([-3, -2, -1, 1, 2, 3], n)
    out: list[tuple[int, int, int]] = []
    i = 0
    while len(out) < n:
        kind, side = kinds[i], int(sides[i])
        if kind < 0.03:  # the mid moves; the venue removes the levels the move crosses
            move = int(moves[i])
            if move > 0:  # asks in (edge, edge + move] are now at or below the best bid
                crossed, side_hit = range(bid_edge + 1, bid_edge + move + 1), ASK
            else:  # bids in (edge + move, edge] are now above it
                crossed, side_hit = range(bid_edge + move + 1, bid_edge + 1), BID
            for t in crossed:
                if levels[side_hit].pop(t, None) is not None:
                    out.append((side_hit, t, 0))
            bid_edge += move
        elif kind < 0.25:  # remove an existing near level
            distance = int(near[i])
            t = bid_edge - distance if side == BID else bid_edge + 1 + distance
            if t in levels[side]:
                del levels[side][t]
                out.append((side, t, 0))
        else:
            if kind < 0.90:
                distance = int(near[i])
            elif kind < 0.98:
                distance = int(deep[i])
            else:
                distance = int(far[i])
            t = bid_edge - distance if side == BID else bid_edge + 1 + distance
            levels[side][t] = int(sizes[i])
            out.append((side, t, int(sizes[i])))
        i = (i + 1) % n
    out = out[:n]
    return {
        "stream": out,
        "sides": np.array([d[0] for d in out], dtype=np.uint8),
        "ticks": np.array([d[1] for d in out], dtype=np.int64),
        "lots": np.array([d[2] for d in out], dtype=np.int64),
        "snap_bids": snap_bids,
        "snap_asks": snap_asks,
    }


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return _generate(N_DELTAS)


def _l2book(data: dict[str, Any]) -> L2Book:
    book = L2Book()
    b, a = data["snap_bids"], data["snap_asks"]
    book.apply_snapshot(
        np.array([t for t, _ in b], dtype=np.int64),
        np.array([q for _, q in b], dtype=np.int64),
        np.array([t for t, _ in a], dtype=np.int64),
        np.array([q for _, q in a], dtype=np.int64),
    )
    return book


def _c_order_book(data: dict[str, Any]) -> COrderBook:
    book = COrderBook()
    for t, q in data["snap_bids"]:
        book.bids[t] = q
    for t, q in data["snap_asks"]:
        book.asks[t] = q
    return book


def _sorted_book(data: dict[str, Any]) -> tuple[SortedDict, SortedDict]:
    return SortedDict(dict(data["snap_bids"])), SortedDict(dict(data["snap_asks"]))


def _record(benchmark: Any, ops: int) -> None:
    median = benchmark.stats.stats.median
    benchmark.extra_info["ops_per_round"] = ops
    benchmark.extra_info["ns_per_op"] = round(median / ops * 1e9, 2)
    benchmark.extra_info["ops_per_sec"] = round(ops / median, 1)


# -- per-call apply from Python --------------------------------------------------------------------
@pytest.mark.benchmark(group="apply per call (1M deltas)", disable_gc=True)
def test_bench_apply_per_call_l2book(benchmark: Any, data: dict[str, Any]) -> None:
    stream = data["stream"]

    def run(book: L2Book) -> L2Book:
        apply = book.apply_delta
        for side, ticks, lots in stream:
            apply(side, ticks, lots)
        return book

    book = benchmark.pedantic(run, setup=lambda: ((_l2book(data),), {}), rounds=7, iterations=1)
    _record(benchmark, len(stream))
    assert book.crossed_count == 0
    reference = _c_order_book(data)
    for side, ticks, lots in stream:
        d = reference.bids if side == BID else reference.asks
        if lots:
            d[ticks] = lots
        else:
            del d[ticks]
    assert (book.best_bid_ticks(), book.best_bid_lots()) == reference.bids.index(0)
    assert (book.best_ask_ticks(), book.best_ask_lots()) == reference.asks.index(0)
    assert book.level_count(BID) == len(reference.bids) and book.level_count(ASK) == len(reference.asks)


@pytest.mark.benchmark(group="apply per call (1M deltas)", disable_gc=True)
def test_bench_apply_per_call_order_book_c(benchmark: Any, data: dict[str, Any]) -> None:
    stream = data["stream"]

    def run(book: COrderBook) -> COrderBook:
        bids, asks = book.bids, book.asks
        for side, ticks, lots in stream:
            d = bids if side == BID else asks
            if lots:
                d[ticks] = lots
            else:
                del d[ticks]
        return book

    book = benchmark.pedantic(run, setup=lambda: ((_c_order_book(data),), {}), rounds=7, iterations=1)
    _record(benchmark, len(stream))
    ours = _l2book(data)
    ours.apply_deltas(data["sides"], data["ticks"], data["lots"])
    assert book.bids.index(0) == (ours.best_bid_ticks(), ours.best_bid_lots())


@pytest.mark.benchmark(group="apply per call (1M deltas)", disable_gc=True)
def test_bench_apply_per_call_sorteddict(benchmark: Any, data: dict[str, Any]) -> None:
    stream = data["stream"]

    def run(book: tuple[SortedDict, SortedDict]) -> tuple[SortedDict, SortedDict]:
        bids, asks = book
        for side, ticks, lots in stream:
            d = bids if side == BID else asks
            if lots:
                d[ticks] = lots
            else:
                del d[ticks]
        return book

    bids, asks = benchmark.pedantic(run, setup=lambda: ((_sorted_book(data),), {}), rounds=3, iterations=1)
    _record(benchmark, len(stream))
    ours = _l2book(data)
    ours.apply_deltas(data["sides"], data["ticks"], data["lots"])
    assert bids.peekitem(-1) == (ours.best_bid_ticks(), ours.best_bid_lots())
    assert asks.peekitem(0) == (ours.best_ask_ticks(), ours.best_ask_lots())


# -- batched apply --------------------------------------------------------------------------------
@pytest.mark.benchmark(group="apply batched (1M deltas)", disable_gc=True)
def test_bench_apply_batched_l2book(benchmark: Any, data: dict[str, Any]) -> None:
    sides, ticks, lots = data["sides"], data["ticks"], data["lots"]

    def run(book: L2Book) -> L2Book:
        book.apply_deltas(sides, ticks, lots)
        return book

    book = benchmark.pedantic(run, setup=lambda: ((_l2book(data),), {}), rounds=20, iterations=1)
    _record(benchmark, len(sides))
    assert book.crossed_count == 0 and not book.is_crossed()


@pytest.mark.benchmark(group="apply batched (1M deltas)", disable_gc=True)
def test_bench_apply_batched_l2book_per_message(benchmark: Any, data: dict[str, Any]) -> None:
    """Batches of 40 deltas (a typical Binance USDⓈ-M diff), each validated and crossed-checked."""
    sides, ticks, lots = data["sides"], data["ticks"], data["lots"]
    chunks = [(sides[k : k + 40], ticks[k : k + 40], lots[k : k + 40]) for k in range(0, len(sides), 40)]

    def run(book: L2Book) -> L2Book:
        apply = book.apply_deltas
        for s, t, q in chunks:
            apply(s, t, q)
        return book

    book = benchmark.pedantic(run, setup=lambda: ((_l2book(data),), {}), rounds=7, iterations=1)
    _record(benchmark, len(sides))
    assert book.crossed_count == 0


# -- best bid / ask queries -----------------------------------------------------------------------
def _loaded_l2book(data: dict[str, Any]) -> L2Book:
    book = _l2book(data)
    book.apply_deltas(data["sides"], data["ticks"], data["lots"])
    return book


def _loaded_c_order_book(data: dict[str, Any]) -> COrderBook:
    book = _c_order_book(data)
    for side, ticks, lots in data["stream"]:
        d = book.bids if side == BID else book.asks
        if lots:
            d[ticks] = lots
        else:
            del d[ticks]
    return book


@pytest.mark.benchmark(group="best bid query (per call, loop included)", disable_gc=True)
def test_bench_best_bid_l2book(benchmark: Any, data: dict[str, Any]) -> None:
    best_bid = _loaded_l2book(data).best_bid_ticks
    calls = range(QUERY_CALLS)

    def run() -> int:
        x = 0
        for _ in calls:
            x = best_bid()
        return x

    benchmark.pedantic(run, rounds=30, iterations=1)
    _record(benchmark, QUERY_CALLS)


@pytest.mark.benchmark(group="best bid query (per call, loop included)", disable_gc=True)
def test_bench_best_bid_and_ask_top_l2book(benchmark: Any, data: dict[str, Any]) -> None:
    """``top()``: best bid and ask with sizes in one call (a 4-tuple)."""
    top = _loaded_l2book(data).top
    calls = range(QUERY_CALLS)

    def run() -> tuple[int, int, int, int]:
        x = (0, 0, 0, 0)
        for _ in calls:
            x = top()
        return x

    benchmark.pedantic(run, rounds=30, iterations=1)
    _record(benchmark, QUERY_CALLS)


@pytest.mark.benchmark(group="best bid query (per call, loop included)", disable_gc=True)
def test_bench_best_bid_order_book_c(benchmark: Any, data: dict[str, Any]) -> None:
    """``bids.index(0)``: the best bid with its size."""
    index = _loaded_c_order_book(data).bids.index
    calls = range(QUERY_CALLS)

    def run() -> tuple[int, int]:
        x = (0, 0)
        for _ in calls:
            x = index(0)
        return x

    benchmark.pedantic(run, rounds=30, iterations=1)
    _record(benchmark, QUERY_CALLS)


@pytest.mark.benchmark(group="best bid query (per call, loop included)", disable_gc=True)
def test_bench_empty_loop_baseline(benchmark: Any) -> None:
    """The bare ``for`` loop the query benchmarks include: subtract it for the call itself."""
    calls = range(QUERY_CALLS)

    def run() -> None:
        for _ in calls:
            pass

    benchmark.pedantic(run, rounds=30, iterations=1)
    _record(benchmark, QUERY_CALLS)
