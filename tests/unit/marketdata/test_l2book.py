"""L2Book (engine.ext.book.l2book): behaviour at the edges the property tests do not aim at."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.ext.book.l2book import (
    NO_ASK_TICKS,
    NO_BID_TICKS,
    STATUS_CROSSED,
    STATUS_GAP,
    STATUS_NOT_SYNCED,
    STATUS_OK,
    STATUS_STALE,
    L2Book,
)

BID, ASK = 1, 2


def i64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def batch(*deltas: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([d[0] for d in deltas], dtype=np.uint8),
        np.array([d[1] for d in deltas], dtype=np.int64),
        np.array([d[2] for d in deltas], dtype=np.int64),
    )


def depth(book: L2Book, side: int, n: int = 16) -> list[tuple[int, int]]:
    ticks, lots = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    k = book.depth(side, ticks, lots)
    return list(zip(ticks[:k].tolist(), lots[:k].tolist(), strict=True))


@pytest.fixture
def book() -> L2Book:
    b = L2Book(window_ticks=64)
    b.apply_snapshot(i64(100, 99, 97), i64(5, 3, 2), i64(101, 102, 105), i64(4, 6, 1), sequence=10)
    return b


def test_l2book_when_empty_then_sentinels_and_nan_analytics() -> None:
    b = L2Book()
    assert b.top() == (NO_BID_TICKS, 0, NO_ASK_TICKS, 0)
    assert b.best_bid_lots() == 0 and b.best_ask_lots() == 0
    assert not b.is_crossed()
    assert b.spread_ticks() is None
    assert math.isnan(b.mid_ticks()) and math.isnan(b.microprice_ticks()) and math.isnan(b.imbalance())
    assert b.cost_to_fill(BID, 10) == (0, 0)
    assert math.isnan(b.avg_fill_price_ticks(ASK, 1))
    assert len(b) == 0 and b.last_sequence == -1


def test_l2book_when_snapshot_applied_then_top_depth_and_sequence(book: L2Book) -> None:
    assert book.top() == (100, 5, 101, 4)
    assert depth(book, BID) == [(100, 5), (99, 3), (97, 2)]
    assert depth(book, ASK) == [(101, 4), (102, 6), (105, 1)]
    assert book.last_sequence == 10
    assert book.level_count(BID) == 3 and book.level_count(ASK) == 3
    assert book.spread_ticks() == 1 and book.mid_ticks() == 100.5
    assert book.microprice_ticks() == pytest.approx((100 * 4 + 101 * 5) / 9)
    assert book.imbalance(1) == pytest.approx((5 - 4) / 9)
    assert book.imbalance(3) == pytest.approx((10 - 11) / 21)


def test_l2book_when_best_level_removed_then_next_level_becomes_best(book: L2Book) -> None:
    assert book.apply_delta(BID, 100, 0) == STATUS_OK
    assert book.top()[:2] == (99, 3)
    book.apply_delta(ASK, 101, 0)
    book.apply_delta(ASK, 102, 0)
    assert book.top()[2:] == (105, 1)
    book.apply_delta(ASK, 105, 0)
    assert book.top()[2:] == (NO_ASK_TICKS, 0)
    assert book.level_count(ASK) == 0


def test_l2book_when_absent_level_removed_then_noop(book: L2Book) -> None:
    before = (book.top(), depth(book, BID), depth(book, ASK))
    assert book.apply_delta(BID, 98, 0) == STATUS_OK
    assert book.apply_delta(ASK, 10**12, 0) == STATUS_OK
    assert (book.top(), depth(book, BID), depth(book, ASK)) == before


def test_l2book_when_depth_buffer_shorter_than_book_then_fills_buffer_only(book: L2Book) -> None:
    assert depth(book, BID, n=2) == [(100, 5), (99, 3)]
    ticks, lots = np.full(5, -1, dtype=np.int64), np.full(5, -1, dtype=np.int64)
    assert book.depth(ASK, ticks, lots, 1) == 1
    assert ticks.tolist() == [101, -1, -1, -1, -1]


def test_l2book_when_far_levels_beyond_window_then_kept_and_ordered() -> None:
    b = L2Book(window_ticks=64)
    b.apply_delta(BID, 1_000, 1)
    b.apply_delta(ASK, 1_001, 1)
    for far in (1_000 - 10**9, 1_000 - 500, 1_000 - 70):
        b.apply_delta(BID, far, 2)
    for far in (1_001 + 10**12, 1_001 + 65):
        b.apply_delta(ASK, far, 3)
    assert depth(b, BID) == [(1_000, 1), (930, 2), (500, 2), (1_000 - 10**9, 2)]
    assert depth(b, ASK) == [(1_001, 1), (1_066, 3), (1_001 + 10**12, 3)]
    # the touch disappears: the far levels become the best, in order
    b.apply_delta(BID, 1_000, 0)
    b.apply_delta(BID, 930, 0)
    assert b.top()[:2] == (500, 2)
    assert b.cost_to_fill(ASK, 3) == (3, 500 * 2 + (1_000 - 10**9))


def test_l2book_when_mid_drifts_then_window_recentres_and_state_is_kept() -> None:
    b = L2Book(window_ticks=64)
    b.apply_snapshot(i64(1_000, 999), i64(1, 1), i64(1_001, 1_002), i64(1, 1))
    base, recentres = b.window_base, b.recentre_count
    assert base <= 1_000 < base + 64
    # walk the market up by 200 ticks, one tick at a time, leaving the old levels behind
    for step in range(1, 201):
        b.apply_deltas(*batch((ASK, 1_000 + step, 0), (BID, 1_000 + step, 1), (ASK, 1_001 + step, 1)))
    assert b.recentre_count > recentres
    assert b.window_base <= 1_200 < b.window_base + 64
    assert b.top() == (1_200, 1, 1_201, 1)
    assert b.level_count(BID) == 202  # 999, 1000, and 1001..1200
    assert depth(b, BID, n=3) == [(1_200, 1), (1_199, 1), (1_198, 1)]
    assert b.level_lots(BID, 999) == 1 and b.level_lots(ASK, 1_002) == 0


def test_l2book_when_delta_crosses_book_then_reported_and_flagged(book: L2Book) -> None:
    assert book.apply_delta(BID, 101, 7) == STATUS_CROSSED
    assert book.is_crossed()
    assert book.crossed_count == 1
    # still crossed: the same episode
    assert book.apply_delta(BID, 102, 1) == STATUS_CROSSED
    assert book.crossed_count == 1
    # the feed removes the stale asks: uncrossed
    book.apply_delta(ASK, 101, 0)
    assert book.apply_delta(ASK, 102, 0) == STATUS_OK
    assert not book.is_crossed()
    assert book.apply_delta(ASK, 100, 1) == STATUS_CROSSED
    assert book.crossed_count == 2


def test_l2book_when_batch_crosses_only_transiently_then_not_reported(book: L2Book) -> None:
    # one venue message: a new bid at 101 and the ask at 101 removed
    assert book.apply_deltas(*batch((BID, 101, 2), (ASK, 101, 0))) == STATUS_OK
    assert book.crossed_count == 0
    assert book.top() == (101, 2, 102, 6)


def test_l2book_when_crossed_snapshot_then_reported() -> None:
    b = L2Book()
    assert b.apply_snapshot(i64(10), i64(1), i64(10), i64(1)) == STATUS_CROSSED
    assert b.is_crossed() and b.crossed_count == 1


def test_l2book_when_sequenced_batches_contiguous_or_overlapping_then_applied(book: L2Book) -> None:
    assert book.apply_deltas(*batch((BID, 98, 1)), 11, 15) == STATUS_OK
    assert book.last_sequence == 15
    assert book.apply_deltas(*batch((BID, 98, 2)), 14, 20) == STATUS_OK  # overlap allowed
    assert book.last_sequence == 20 and book.level_lots(BID, 98) == 2


def test_l2book_when_batch_not_newer_then_stale_and_not_applied(book: L2Book) -> None:
    assert book.apply_deltas(*batch((BID, 98, 9)), 5, 10) == STATUS_STALE
    assert book.level_lots(BID, 98) == 0 and book.last_sequence == 10 and book.gap_count == 0


def test_l2book_when_sequence_gap_then_counted_refused_until_snapshot(book: L2Book) -> None:
    assert book.apply_deltas(*batch((BID, 98, 9)), 12, 13) == STATUS_GAP
    assert book.gap_count == 1 and book.needs_snapshot
    assert book.level_lots(BID, 98) == 0
    # later batches are refused (not counted again) until a snapshot arrives
    assert book.apply_deltas(*batch((BID, 98, 9)), 14, 15) == STATUS_NOT_SYNCED
    assert book.gap_count == 1
    book.apply_snapshot(i64(100), i64(1), i64(101), i64(1), sequence=40)
    assert not book.needs_snapshot
    assert book.apply_deltas(*batch((BID, 98, 9)), 41, 41) == STATUS_OK


def test_l2book_when_invalidated_then_sequenced_batches_refused(book: L2Book) -> None:
    book.invalidate()
    assert book.apply_deltas(*batch((BID, 98, 9)), 11, 11) == STATUS_NOT_SYNCED


def test_l2book_when_cost_to_fill_walks_levels_then_exact_notional(book: L2Book) -> None:
    assert book.cost_to_fill(BID, 5) == (5, 101 * 4 + 102 * 1)  # a buy takes the asks
    assert book.cost_to_fill(ASK, 9) == (9, 100 * 5 + 99 * 3 + 97 * 1)  # a sell takes the bids
    assert book.cost_to_fill(BID, 100) == (11, 101 * 4 + 102 * 6 + 105)
    assert book.avg_fill_price_ticks(BID, 5) == pytest.approx((404 + 102) / 5)
    assert book.cost_to_fill(BID, 0) == (0, 0)


def test_l2book_when_notional_exceeds_int64_then_still_exact() -> None:
    b = L2Book()
    b.apply_delta(ASK, 2**60, 2**40)
    assert b.cost_to_fill(BID, 2**40) == (2**40, 2**100)


@pytest.mark.parametrize(
    ("side", "ticks", "lots"),
    [(0, 1, 1), (3, 1, 1), (BID, 1, -1), (ASK, 2**62, 1), (ASK, -(2**62), 1)],
)
def test_l2book_when_delta_invalid_then_value_error_and_book_unchanged(
    book: L2Book, side: int, ticks: int, lots: int
) -> None:
    with pytest.raises(ValueError):
        book.apply_delta(side, ticks, lots)
    assert book.top() == (100, 5, 101, 4)


def test_l2book_when_batch_has_invalid_element_then_nothing_applied(book: L2Book) -> None:
    with pytest.raises(ValueError, match=r"lots\[1\]"):
        book.apply_deltas(*batch((BID, 98, 1), (BID, 96, -1)))
    assert book.level_lots(BID, 98) == 0
    with pytest.raises(ValueError, match="differ in length"):
        book.apply_deltas(np.array([1], dtype=np.uint8), i64(1, 2), i64(1))
    with pytest.raises(ValueError, match="Buffer dtype mismatch"):
        book.apply_deltas(i64(1), i64(1), i64(1))


def test_l2book_when_snapshot_has_duplicate_price_then_rejected_and_book_needs_snapshot() -> None:
    b = L2Book(window_ticks=64)
    with pytest.raises(ValueError, match="duplicate"):
        b.apply_snapshot(i64(10, 10), i64(1, 2), i64(11), i64(1))
    assert len(b) == 0 and b.needs_snapshot
    with pytest.raises(ValueError, match="duplicate"):  # duplicates outside the window too
        b.apply_snapshot(i64(10, 10**9, 10**9), i64(1, 1, 2), i64(11), i64(1))


def test_l2book_when_window_size_invalid_then_value_error() -> None:
    for window in (0, 63, 100, 2**27):
        with pytest.raises(ValueError, match="power of two"):
            L2Book(window_ticks=window)


def test_l2book_when_cleared_then_empty_but_sequence_kept(book: L2Book) -> None:
    book.clear()
    assert len(book) == 0 and book.top() == (NO_BID_TICKS, 0, NO_ASK_TICKS, 0)
    assert book.last_sequence == 10
