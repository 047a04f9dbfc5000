"""Matching engine throughput: ``MatchingEngine`` (Cython) per call and batched, vs a SortedDict matcher.

One seeded stream of 1,000,000 orders, shaped like a busy venue around a mid of 100,000 ticks:
~60 % passive limit adds (GTC, a geometric number of ticks behind the touch), ~25 % cancels of live
orders (picked at random among those still resting), ~15 % aggressive orders (half market, half
IOC limits through the touch), 64 accounts, quantities 1-19 lots for adds and 1-40 for aggressive
orders; ~440,000 trades, and the book grows to ~40,000 resting orders on ~35 levels a side. The stream is
recorded once by running it through the engine (that is how the generator knows which orders are
still live to cancel), then replayed on a fresh engine in every round. Self-trade prevention is off
so the pure-Python peer (a price-time matcher on ``sortedcontainers.SortedDict`` + ``deque``) can
follow the same rules; every implementation must end with the same trade count and top of book.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_matching.py --benchmark-only
--benchmark-json=benchmarks/results/matching.json``. ``extra_info`` of each benchmark holds the
derived ``ns_per_op`` and ``ops_per_sec`` of the median round.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import numpy as np
import pytest
from sortedcontainers import SortedDict

from engine.ext.matching import engine as mx

N_ORDERS = 1_000_000
MID = 100_000
BATCH = 4_096
CAPACITY = 1 << 17


def _engine() -> mx.MatchingEngine:
    return mx.MatchingEngine(stp_mode=mx.STP_MODES["NONE"], capacity=CAPACITY)


def _generate(n: int, seed: int = 20260101) -> list[tuple[int, ...]]:
    """Rows in ``mx.BATCH_COLUMNS`` layout (op, ts, order_id, account, side, type, tif, qty, price, ...)."""
    rng = random.Random(seed)
    engine = _engine()
    live: list[int] = []
    where: dict[int, int] = {}
    rows: list[tuple[int, ...]] = []
    oid = 0
    for ts in range(1, n + 1):
        r = rng.random()
        if r < 0.60 or not live:
            oid += 1
            side = 1 if rng.random() < 0.5 else 2
            bid, ask = engine.best_bid(), engine.best_ask()
            behind = int(rng.expovariate(0.3))
            price = (
                (ask - 1 - behind if ask else MID - 1 - behind)
                if side == 1
                else (bid + 1 + behind if bid else MID + behind)
            )
            row = (
                mx.OP_SUBMIT,
                ts,
                oid,
                rng.randrange(64),
                side,
                mx.LIMIT,
                mx.GTC,
                rng.randint(1, 19),
                price,
                0,
                0,
                0,
            )
        elif r < 0.85:
            j = rng.randrange(len(live))
            victim = live[j]
            row = (mx.OP_CANCEL, ts, victim, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        else:
            oid += 1
            side = 1 if rng.random() < 0.5 else 2
            qty = rng.randint(1, 40)
            if rng.random() < 0.5:
                row = (mx.OP_SUBMIT, ts, oid, rng.randrange(64), side, mx.MARKET, mx.IOC, qty, 0, 0, 0, 0)
            else:
                bid, ask = engine.best_bid(), engine.best_ask()
                price = (ask + 2 if ask else MID) if side == 1 else (bid - 2 if bid else MID)
                row = (mx.OP_SUBMIT, ts, oid, rng.randrange(64), side, mx.LIMIT, mx.IOC, qty, price, 0, 0, 0)
        rows.append(row)
        if row[0] == mx.OP_SUBMIT:
            engine.submit(*row[1:])
        else:
            engine.cancel(row[1], row[2])
        # keep ``live`` = resting order ids (swap-remove on fill or cancel)
        for rep in engine.report_rows():
            kind, order_id, leaves = rep[mx.FIELD_KIND], rep[mx.FIELD_ORDER_ID], rep[mx.FIELD_LEAVES]
            resting = engine.order(order_id) is not None
            if kind == mx.REPORT_ACCEPTED and resting and order_id not in where:
                where[order_id] = len(live)
                live.append(order_id)
            elif (
                kind == mx.REPORT_CANCELED or (kind == mx.REPORT_FILLED and leaves == 0)
            ) and order_id in where:
                k = where.pop(order_id)
                last = live.pop()
                if last != order_id:
                    live[k] = last
                    where[last] = k
    return rows


@pytest.fixture(scope="module")
def stream() -> dict[str, Any]:
    rows = _generate(N_ORDERS)
    reference = _engine()
    for row in rows:
        if row[0] == mx.OP_SUBMIT:
            reference.submit(*row[1:])
        else:
            reference.cancel(row[1], row[2])
    return {
        "calls": [(row[0] == mx.OP_SUBMIT, row[1:] if row[0] == mx.OP_SUBMIT else row[1:3]) for row in rows],
        "array": np.array(rows, dtype=np.int64),
        "rows": rows,
        "expect": (
            reference.next_trade_id - 1,
            reference.best_bid(),
            reference.best_ask(),
            reference.order_count,
        ),
        "mix": {
            "adds": sum(1 for r in rows if r[0] == mx.OP_SUBMIT and r[6] == mx.GTC),
            "cancels": sum(1 for r in rows if r[0] == mx.OP_CANCEL),
            "aggressive": sum(1 for r in rows if r[0] == mx.OP_SUBMIT and r[6] == mx.IOC),
        },
    }


def _record(benchmark: Any, ops: int, stream: dict[str, Any]) -> None:
    median = benchmark.stats.stats.median
    benchmark.extra_info["ops_per_round"] = ops
    benchmark.extra_info["ns_per_op"] = round(median / ops * 1e9, 2)
    benchmark.extra_info["ops_per_sec"] = round(ops / median, 1)
    benchmark.extra_info["mix"] = stream["mix"]
    benchmark.extra_info["trades"] = stream["expect"][0]
    benchmark.extra_info["resting_at_end"] = stream["expect"][3]


def _state(engine: mx.MatchingEngine) -> tuple[int, int, int, int]:
    return (engine.next_trade_id - 1, engine.best_bid(), engine.best_ask(), engine.order_count)


def _bound_calls(
    calls: list[tuple[bool, tuple[int, ...]]], submit: Any, cancel: Any
) -> list[tuple[Any, tuple]]:
    """(method, args) per order, bound to one engine (built in the untimed setup of each round)."""
    return [(submit if is_submit else cancel, args) for is_submit, args in calls]


@pytest.mark.benchmark(group="matching (1M orders: 60% add, 25% cancel, 15% aggressive)")
def test_bench_matching_per_call_cython(benchmark: Any, stream: dict[str, Any]) -> None:
    calls = stream["calls"]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        engine = _engine()
        return (engine, _bound_calls(calls, engine.submit, engine.cancel)), {}

    def run(engine: mx.MatchingEngine, bound: list[tuple[Any, tuple]]) -> mx.MatchingEngine:
        for method, args in bound:
            method(*args)
        return engine

    engine = benchmark.pedantic(run, setup=setup, rounds=7, iterations=1)
    _record(benchmark, len(calls), stream)
    assert _state(engine) == stream["expect"]


@pytest.mark.benchmark(group="matching (1M orders: 60% add, 25% cancel, 15% aggressive)")
def test_bench_matching_batched_cython(benchmark: Any, stream: dict[str, Any]) -> None:
    ops = stream["array"]
    chunks = [ops[i : i + BATCH] for i in range(0, len(ops), BATCH)]

    def run(engine: mx.MatchingEngine) -> mx.MatchingEngine:
        process = engine.process
        for chunk in chunks:
            process(chunk)
        return engine

    engine = benchmark.pedantic(run, setup=lambda: ((_engine(),), {}), rounds=10, iterations=1)
    _record(benchmark, len(ops), stream)
    assert _state(engine) == stream["expect"]


class SortedDictMatcher:
    """The peer: price-time matching on SortedDict (price -> deque of [id, lots]) in pure Python.

    Bids are keyed by ``-price`` so the best level of either side is ``peekitem(0)``.
    """

    def __init__(self) -> None:
        self.sides: dict[int, SortedDict] = {1: SortedDict(), 2: SortedDict()}
        self.orders: dict[int, tuple[int, int, list[int]]] = {}
        self.trades = 0

    def submit(self, oid: int, side: int, order_type: int, tif: int, qty: int, price: int) -> None:
        book = self.sides[3 - side]
        while qty and book:
            key, queue = book.peekitem(0)
            level = key if side == 1 else -key
            if order_type == mx.LIMIT and (level > price if side == 1 else level < price):
                break
            while qty and queue:
                maker = queue[0]
                take = qty if qty < maker[1] else maker[1]
                qty -= take
                maker[1] -= take
                self.trades += 1
                if not maker[1]:
                    queue.popleft()
                    del self.orders[maker[0]]
            if not queue:
                del book[key]
        if qty and order_type == mx.LIMIT and tif == mx.GTC:
            key = price if side == 2 else -price
            own = self.sides[side]
            entry = [oid, qty]
            queue = own.get(key)
            if queue is None:
                queue = own[key] = deque()
            queue.append(entry)
            self.orders[oid] = (side, key, entry)

    def cancel(self, oid: int) -> None:
        found = self.orders.pop(oid, None)
        if found is None:
            return
        side, key, entry = found
        queue = self.sides[side][key]
        queue.remove(entry)
        if not queue:
            del self.sides[side][key]

    def state(self) -> tuple[int, int, int, int]:
        bids, asks = self.sides[1], self.sides[2]
        return (
            self.trades,
            -bids.peekitem(0)[0] if bids else 0,
            asks.peekitem(0)[0] if asks else 0,
            len(self.orders),
        )


@pytest.mark.benchmark(group="matching (1M orders: 60% add, 25% cancel, 15% aggressive)")
def test_bench_matching_per_call_sorteddict(benchmark: Any, stream: dict[str, Any]) -> None:
    calls = [
        (True, (r[2], r[4], r[5], r[6], r[7], r[8])) if r[0] == mx.OP_SUBMIT else (False, (r[2],))
        for r in stream["rows"]
    ]

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        peer = SortedDictMatcher()
        return (peer, _bound_calls(calls, peer.submit, peer.cancel)), {}

    def run(peer: SortedDictMatcher, bound: list[tuple[Any, tuple]]) -> SortedDictMatcher:
        for method, args in bound:
            method(*args)
        return peer

    peer = benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    _record(benchmark, len(calls), stream)
    assert peer.state() == stream["expect"]
