"""Property tests: ``L2Book`` (Cython) against a small pure-Python reference book.

Both books receive the same random sequences of snapshots, single deltas and batches; after every
step the observable state must be identical (best bid/ask, full depth, level lookups, cost to fill,
analytics, crossed flag and crossed-episode count). A small dense window (64-256 ticks) and a
mix of near-touch, deep and very far prices exercise the re-centring and the sparse levels.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.ext.book.l2book import (
    NO_ASK_TICKS,
    NO_BID_TICKS,
    STATUS_CROSSED,
    STATUS_OK,
    L2Book,
)

BID, ASK = 1, 2


class ReferenceBook:
    """Plain dict-per-side book: the specification ``L2Book`` must match."""

    def __init__(self) -> None:
        self.levels: dict[int, dict[int, int]] = {BID: {}, ASK: {}}
        self.crossed = False
        self.crossed_count = 0

    def _note_crossed(self) -> int:
        if self.best(BID)[0] >= self.best(ASK)[0]:
            if not self.crossed:
                self.crossed = True
                self.crossed_count += 1
            return STATUS_CROSSED
        self.crossed = False
        return STATUS_OK

    def _set(self, side: int, ticks: int, lots: int) -> None:
        if lots:
            self.levels[side][ticks] = lots
        else:
            self.levels[side].pop(ticks, None)

    def apply_delta(self, side: int, ticks: int, lots: int) -> int:
        self._set(side, ticks, lots)
        return self._note_crossed()

    def apply_deltas(self, deltas: list[tuple[int, int, int]]) -> int:
        for side, ticks, lots in deltas:
            self._set(side, ticks, lots)
        return self._note_crossed()

    def apply_snapshot(self, bids: dict[int, int], asks: dict[int, int]) -> int:
        self.levels = {BID: {t: q for t, q in bids.items() if q}, ASK: {t: q for t, q in asks.items() if q}}
        self.crossed = False  # a snapshot starts a new book: a crossed one is a new episode
        return self._note_crossed()

    def ordered(self, side: int) -> list[tuple[int, int]]:
        return sorted(self.levels[side].items(), reverse=side == BID)

    def best(self, side: int) -> tuple[int, int]:
        levels = self.ordered(side)
        if not levels:
            return (NO_BID_TICKS, 0) if side == BID else (NO_ASK_TICKS, 0)
        return levels[0]

    def cost_to_fill(self, side: int, lots: int) -> tuple[int, int]:
        remaining, notional = lots, 0
        for ticks, size in self.ordered(ASK if side == BID else BID):
            if remaining == 0:
                break
            take = min(size, remaining)
            notional += ticks * take
            remaining -= take
        return lots - remaining, notional

    def imbalance(self, n: int) -> float:
        b = sum(q for _, q in self.ordered(BID)[:n])
        a = sum(q for _, q in self.ordered(ASK)[:n])
        return math.nan if a + b == 0 else (b - a) / (b + a)


def _arrays(deltas: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([d[0] for d in deltas], dtype=np.uint8),
        np.array([d[1] for d in deltas], dtype=np.int64),
        np.array([d[2] for d in deltas], dtype=np.int64),
    )


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def assert_same(book: L2Book, ref: ReferenceBook, probes: list[int]) -> None:
    bb, bq = ref.best(BID)
    ba, aq = ref.best(ASK)
    assert book.top() == (bb, bq, ba, aq)
    assert book.best_bid_ticks() == bb and book.best_ask_ticks() == ba
    assert book.best_bid_lots() == bq and book.best_ask_lots() == aq
    assert book.is_crossed() == (bb >= ba)
    assert book.crossed_count == ref.crossed_count
    for side in (BID, ASK):
        expected = ref.ordered(side)
        assert book.level_count(side) == len(expected)
        out_t = np.zeros(len(expected) + 2, dtype=np.int64)
        out_l = np.zeros(len(expected) + 2, dtype=np.int64)
        written = book.depth(side, out_t, out_l)
        assert list(zip(out_t[:written].tolist(), out_l[:written].tolist(), strict=True)) == expected
        for ticks in probes:
            assert book.level_lots(side, ticks) == ref.levels[side].get(ticks, 0)
    total = sum(ref.levels[ASK].values())
    for lots in (1, 7, total, total + 3):
        assert book.cost_to_fill(BID, lots) == ref.cost_to_fill(BID, lots)
    total = sum(ref.levels[BID].values())
    for lots in (1, 7, total, total + 3):
        assert book.cost_to_fill(ASK, lots) == ref.cost_to_fill(ASK, lots)
    for n in (1, 3, 50):
        assert _same_float(book.imbalance(n), ref.imbalance(n))
    if bq and aq:
        assert book.spread_ticks() == ba - bb
        assert _same_float(book.mid_ticks(), (bb + ba) / 2)
        assert _same_float(book.microprice_ticks(), (bb * aq + ba * bq) / (aq + bq))
    else:
        assert book.spread_ticks() is None
        assert math.isnan(book.mid_ticks()) and math.isnan(book.microprice_ticks())


# -- strategies -------------------------------------------------------------------------------------
CENTRE = 1_000_000

near = st.integers(CENTRE - 40, CENTRE + 40)
deep = st.integers(CENTRE - 2_000, CENTRE + 2_000)
far = st.integers(-(10**12), 10**12)
any_ticks = st.one_of(near, near, near, deep, far)
lots_st = st.one_of(st.just(0), st.integers(1, 50), st.integers(1, 10**9))
delta_st = st.tuples(st.sampled_from([BID, ASK]), any_ticks, lots_st)
levels_st = st.dictionaries(any_ticks, st.integers(1, 10**6), max_size=30)

op_st = st.one_of(
    st.tuples(st.just("delta"), delta_st),
    st.tuples(st.just("delta"), delta_st),
    st.tuples(st.just("delta"), delta_st),
    st.tuples(st.just("batch"), st.lists(delta_st, max_size=12)),
    st.tuples(st.just("snapshot"), st.tuples(levels_st, levels_st)),
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(window=st.sampled_from([64, 128, 256]), ops=st.lists(op_st, min_size=1, max_size=60))
def test_l2book_when_driven_like_reference_then_state_identical(window: int, ops: list) -> None:
    book, ref = L2Book(window_ticks=window), ReferenceBook()
    touched: list[int] = []
    for kind, payload in ops:
        if kind == "delta":
            side, ticks, lots = payload
            assert book.apply_delta(side, ticks, lots) == ref.apply_delta(side, ticks, lots)
            touched.append(ticks)
        elif kind == "batch":
            assert book.apply_deltas(*_arrays(payload)) == ref.apply_deltas(payload)
            touched.extend(d[1] for d in payload)
        else:
            bids, asks = payload
            status = book.apply_snapshot(
                np.array(list(bids), dtype=np.int64),
                np.array(list(bids.values()), dtype=np.int64),
                np.array(list(asks), dtype=np.int64),
                np.array(list(asks.values()), dtype=np.int64),
            )
            assert status == ref.apply_snapshot(bids, asks)
            touched.extend([*bids, *asks])
        assert_same(book, ref, touched[-8:])
    event(f"recentred: {min(book.recentre_count, 3)}")
    lo, hi = book.window_base, book.window_base + book.window_ticks
    event(
        f"levels outside the window: {any(not lo <= t < hi for side in (BID, ASK) for t in ref.levels[side])}"
    )


@SETTINGS
@given(
    window=st.sampled_from([64, 256]),
    steps=st.lists(
        st.tuples(st.integers(-300, 300), st.sampled_from([BID, ASK]), st.integers(1, 60), lots_st),
        min_size=1,
        max_size=120,
    ),
)
def test_l2book_when_updates_are_consistent_then_never_crossed(window: int, steps: list) -> None:
    """A venue that keeps its book consistent removes the opposite levels a new price crosses
    (in the same message); applied that way the book is never crossed, whatever the drift."""
    book, ref = L2Book(window_ticks=window), ReferenceBook()
    mid = CENTRE
    for drift, side, distance, lots in steps:
        mid += drift
        ticks = mid - distance if side == BID else mid + distance
        opposite = ASK if side == BID else BID
        message = [
            (opposite, t, 0)
            for t in list(ref.levels[opposite])
            if (side == BID and t <= ticks) or (side == ASK and t >= ticks)
        ]
        message.append((side, ticks, lots))
        assert book.apply_deltas(*_arrays(message)) == STATUS_OK
        ref.apply_deltas(message)
        assert not book.is_crossed()
        assert book.best_bid_ticks() < book.best_ask_ticks()
    assert book.crossed_count == 0
    assert_same(book, ref, [])


@SETTINGS
@given(
    levels=st.lists(st.tuples(st.sampled_from([BID, ASK]), any_ticks, st.integers(1, 100)), max_size=80),
    data=st.data(),
)
def test_l2book_when_levels_removed_in_any_order_then_book_empties(levels: list, data: st.DataObject) -> None:
    book, ref = L2Book(window_ticks=64), ReferenceBook()
    for side, ticks, lots in levels:
        book.apply_delta(side, ticks, lots)
        ref.apply_delta(side, ticks, lots)
    keys = [(side, t) for side in (BID, ASK) for t in ref.levels[side]]
    for side, ticks in data.draw(st.permutations(keys)):
        book.apply_delta(side, ticks, 0)
        ref.apply_delta(side, ticks, 0)
        assert_same(book, ref, [ticks])
    assert len(book) == 0
    assert book.top() == (NO_BID_TICKS, 0, NO_ASK_TICKS, 0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed_levels=st.lists(
        st.tuples(st.sampled_from([BID, ASK]), far, st.integers(1, 99)), min_size=50, max_size=400
    ),
    data=st.data(),
)
def test_l2book_when_hundreds_of_sparse_levels_churn_then_matches_reference(
    seed_levels: list, data: st.DataObject
) -> None:
    """Enough levels outside a 64-tick window to split, empty and rebuild sparse blocks."""
    book, ref = L2Book(window_ticks=64), ReferenceBook()
    for side, ticks, lots in seed_levels:
        assert book.apply_delta(side, ticks, lots) == ref.apply_delta(side, ticks, lots)
    existing = [(side, t) for side in (BID, ASK) for t in ref.levels[side]]
    removals = data.draw(st.lists(st.sampled_from(existing), max_size=len(existing)))
    for side, ticks in removals:
        assert book.apply_delta(side, ticks, 0) == ref.apply_delta(side, ticks, 0)
    assert_same(book, ref, [t for _, t in removals[-5:]])
    # a snapshot that puts many of them back at once, then move the touch across the range
    status = book.apply_snapshot(
        np.array(list(ref.levels[BID]), dtype=np.int64),
        np.array(list(ref.levels[BID].values()), dtype=np.int64),
        np.array(list(ref.levels[ASK]), dtype=np.int64),
        np.array(list(ref.levels[ASK].values()), dtype=np.int64),
    )
    assert status == ref.apply_snapshot(dict(ref.levels[BID]), dict(ref.levels[ASK]))
    for ticks in data.draw(st.lists(far, max_size=20)):
        side = data.draw(st.sampled_from([BID, ASK]))
        assert book.apply_delta(side, ticks, 5) == ref.apply_delta(side, ticks, 5)
    assert_same(book, ref, [])
