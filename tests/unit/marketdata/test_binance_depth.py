"""Binance depth synchronisation (spot and USDⓈ-M rules), level parsing and instruments."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.errors import ValidationError
from engine.core.fixed import Price, Quantity
from engine.marketdata.binance import (
    BinanceDepthSync,
    BinanceMarket,
    DepthOutcome,
    LevelParser,
    SyncState,
    infer_instrument,
    known_instrument,
)
from engine.marketdata.book import OrderBook

SNAP_BIDS = [["100.00", "1.000"], ["99.90", "2.000"]]
SNAP_ASKS = [["100.10", "1.500"], ["100.20", "3.000"]]


def spot_sync() -> BinanceDepthSync:
    instrument = known_instrument(BinanceMarket.SPOT, "BTCUSDT")
    assert instrument is not None
    return BinanceDepthSync(OrderBook(instrument), BinanceMarket.SPOT)


def usdm_sync() -> BinanceDepthSync:
    instrument = known_instrument(BinanceMarket.USDM, "ETHUSDT")
    assert instrument is not None
    return BinanceDepthSync(OrderBook(instrument), BinanceMarket.USDM)


def diff(first: int, final: int, bids: Any = (), asks: Any = (), prev: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"e": "depthUpdate", "s": "BTCUSDT", "U": first, "u": final}
    if prev is not None:
        data["pu"] = prev
    data["b"] = [list(level) for level in bids]
    data["a"] = [list(level) for level in asks]
    return data


# -- spot -------------------------------------------------------------------------------------------
def test_spot_sync_when_buffered_diffs_straddle_snapshot_then_stale_dropped_and_synced() -> None:
    sync = spot_sync()
    assert sync.on_depth_update(diff(90, 100, bids=[("100.00", "9")])) is DepthOutcome.BUFFERED
    assert sync.on_depth_update(diff(101, 105, bids=[("99.90", "0")])) is DepthOutcome.BUFFERED
    assert sync.on_depth_update(diff(106, 110, asks=[("100.10", "0.5")])) is DepthOutcome.BUFFERED
    assert sync.on_snapshot(103, SNAP_BIDS, SNAP_ASKS) is DepthOutcome.SNAPSHOT_APPLIED
    stats = sync.stats
    assert (stats.diffs_dropped, stats.diffs_applied, stats.seq_gaps) == (1, 2, 0)
    assert sync.synced and sync.last_final_id == 110 and sync.book.l2.last_sequence == 110
    assert sync.book.best_bid() == (Price("100.00"), Quantity("1"))  # the dropped diff's 9 not applied
    assert sync.book.level_quantity(1, "99.90") == Quantity(0)
    assert sync.book.best_ask() == (Price("100.10"), Quantity("0.5"))
    assert sync.on_depth_update(diff(111, 111, bids=[("100.05", "0.001")])) is DepthOutcome.APPLIED
    assert sync.book.best_bid() == (Price("100.05"), Quantity("0.001"))


def test_spot_sync_when_diff_ends_at_snapshot_id_then_dropped() -> None:
    sync = spot_sync()
    sync.on_depth_update(diff(95, 103, bids=[("100.00", "9")]))
    sync.on_snapshot(103, SNAP_BIDS, SNAP_ASKS)
    assert sync.stats.diffs_dropped == 1 and sync.state is SyncState.AWAITING_FIRST_DIFF
    assert sync.on_depth_update(diff(104, 104)) is DepthOutcome.APPLIED


def test_spot_sync_when_first_diff_after_snapshot_leaves_hole_then_gap() -> None:
    sync = spot_sync()
    sync.on_snapshot(103, SNAP_BIDS, SNAP_ASKS)
    assert sync.on_depth_update(diff(105, 110)) is DepthOutcome.GAP
    assert sync.stats.seq_gaps == 1 and not sync.synced and sync.book.l2.needs_snapshot


def test_spot_sync_when_gap_mid_stream_then_resync_from_next_snapshot() -> None:
    sync = spot_sync()
    sync.on_snapshot(103, SNAP_BIDS, SNAP_ASKS)
    assert sync.on_depth_update(diff(104, 106)) is DepthOutcome.APPLIED
    assert sync.on_depth_update(diff(108, 110, bids=[("100.00", "5")])) is DepthOutcome.GAP
    assert sync.on_depth_update(diff(111, 112, bids=[("100.00", "6")])) is DepthOutcome.BUFFERED
    assert sync.state is SyncState.AWAITING_SNAPSHOT and sync.buffered == 2
    assert sync.on_snapshot(109, [["100.00", "4"]], SNAP_ASKS) is DepthOutcome.SNAPSHOT_APPLIED
    assert sync.synced and sync.stats.resyncs == 1 and sync.stats.seq_gaps == 1
    assert sync.book.best_bid() == (Price("100"), Quantity("6"))


def test_spot_sync_when_duplicate_diff_then_dropped() -> None:
    sync = spot_sync()
    sync.on_snapshot(103, SNAP_BIDS, SNAP_ASKS)
    sync.on_depth_update(diff(104, 106))
    assert sync.on_depth_update(diff(104, 106)) is DepthOutcome.DROPPED
    assert sync.stats.seq_gaps == 0 and sync.synced


def test_spot_sync_when_diff_crosses_book_then_counted_and_book_invalidated() -> None:
    sync = spot_sync()
    sync.on_snapshot(103, SNAP_BIDS, SNAP_ASKS)
    assert sync.on_depth_update(diff(104, 104, bids=[("100.15", "1")])) is DepthOutcome.CROSSED
    assert sync.stats.crossed_states == 1 and not sync.synced and sync.book.l2.needs_snapshot
    assert sync.on_depth_update(diff(105, 105)) is DepthOutcome.BUFFERED


def test_spot_sync_when_snapshot_arrives_while_synced_then_ignored() -> None:
    sync = spot_sync()
    sync.on_snapshot(103, SNAP_BIDS, SNAP_ASKS)
    sync.on_depth_update(diff(104, 104))
    assert sync.on_snapshot(104, [["1.00", "1"]], [["2.00", "1"]]) is DepthOutcome.SNAPSHOT_IGNORED
    assert sync.book.best_bid() == (Price("100"), Quantity("1"))


# -- USDⓈ-M -----------------------------------------------------------------------------------------
def test_usdm_sync_when_first_diff_straddles_then_chain_follows_pu() -> None:
    sync = usdm_sync()
    sync.on_depth_update(diff(80, 95, prev=70))
    sync.on_depth_update(diff(97, 120, prev=95, bids=[("100.00", "7")]))
    sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    assert (sync.stats.diffs_dropped, sync.stats.diffs_applied) == (1, 1)
    # update ids are not contiguous on USDⓈ-M: pu links the events
    assert sync.on_depth_update(diff(130, 140, prev=120, asks=[("100.10", "0")])) is DepthOutcome.APPLIED
    assert sync.book.best_ask() == (Price("100.2"), Quantity("3"))
    assert sync.on_depth_update(diff(150, 160, prev=141)) is DepthOutcome.GAP


def test_usdm_sync_when_diff_ends_exactly_at_snapshot_then_applied_per_futures_rule() -> None:
    """Binance futures drop only ``u < lastUpdateId``; the capture ETHUSDT 2024-07-18 has this case."""
    sync = usdm_sync()
    sync.on_depth_update(diff(90, 100, prev=85, bids=[("50.00", "1")]))  # u == L, adds a deep level
    sync.on_depth_update(diff(104, 110, prev=100))
    sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    assert sync.stats.seq_gaps == 0 and sync.stats.diffs_applied == 2 and sync.synced
    assert sync.book.level_quantity(1, "50.00") == Quantity(1)
    assert sync.book.l2.last_sequence == 110


def test_usdm_sync_when_first_diff_after_snapshot_leaves_hole_then_gap() -> None:
    sync = usdm_sync()
    sync.on_snapshot(100, SNAP_BIDS, SNAP_ASKS)
    assert sync.on_depth_update(diff(104, 110, prev=102)) is DepthOutcome.GAP
    assert sync.stats.seq_gaps == 1


# -- bookTicker cross-check ---------------------------------------------------------------------------
def test_book_ticker_when_update_id_matches_last_diff_then_compared() -> None:
    sync = spot_sync()
    sync.on_snapshot(103, SNAP_BIDS, SNAP_ASKS)
    sync.on_depth_update(diff(104, 107))
    ticker = {"u": 107, "s": "BTCUSDT", "b": "100.00000000", "B": "1.00000000", "a": "100.10", "A": "1.5"}
    assert sync.on_book_ticker(ticker) is True
    assert sync.on_book_ticker({**ticker, "B": "1.00000001"}) is False
    assert sync.on_book_ticker({**ticker, "u": 106}) is None
    assert (sync.stats.bookticker_checks, sync.stats.bookticker_matches) == (2, 1)


# -- parsing and instruments --------------------------------------------------------------------------
def test_level_parser_when_values_on_grid_then_ticks_and_lots() -> None:
    instrument = known_instrument(BinanceMarket.USDM, "BTCUSDT")
    assert instrument is not None
    parser = LevelParser(instrument)
    ticks, lots = parser.side_arrays([["63943.90", "46.372"], ["1000.00", "0.000"]])
    assert ticks.tolist() == [639439, 10000] and lots.tolist() == [46372, 0]


def test_level_parser_when_price_off_tick_then_validation_error_names_value() -> None:
    instrument = known_instrument(BinanceMarket.USDM, "BTCUSDT")
    assert instrument is not None
    with pytest.raises(ValidationError, match=r"63943\.95") as err:
        LevelParser(instrument).side_arrays([["63943.95", "1.000"]])
    assert err.value.reason == "PRICE_OFF_TICK"
    with pytest.raises(ValidationError, match="quantity"):
        LevelParser(instrument).side_arrays([["63943.90", "1.0005"]])


def test_infer_instrument_when_unknown_symbol_then_tick_is_gcd_and_size_wire_precision() -> None:
    inst = infer_instrument(
        BinanceMarket.SPOT,
        "SOLUSDT",
        [["150.25000000", "1.50000000"], ["150.00000000", "2.00000000"]],
        [["150.75000000", "0.10000000"]],
    )
    assert str(inst.id) == "BINANCE:SOLUSDT" and inst.quote == "USDT"
    assert inst.price_increment == Price("0.25") and inst.size_increment == Quantity("0.00000001")


def test_known_instrument_when_usdm_then_perpetual_venue_id() -> None:
    inst = known_instrument(BinanceMarket.USDM, "btcusdt")
    assert inst is not None and str(inst.id) == "BINANCE_USDM:BTCUSDT"
    assert inst.price_increment == Price("0.1") and inst.size_increment == Quantity("0.001")
    assert known_instrument(BinanceMarket.SPOT, "DOGEUSDT") is None
