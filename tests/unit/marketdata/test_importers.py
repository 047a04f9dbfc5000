"""Importers against the real files in ../shared/data (skipped when absent) and small bad inputs."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from engine.core.enums import Side
from engine.core.events import Bar, QuoteTick, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.instruments import Instrument
from engine.marketdata.binance import replay_session
from engine.marketdata.book import OrderBook
from engine.marketdata.io.importers import (
    DataImportError,
    detect_format,
    import_binance_capture,
    import_file,
)
from engine.marketdata.io.records import OrderBookDeltas, instrument_from_dict, instrument_to_dict


def test_detect_format_on_shared_files(shared_data: Path) -> None:
    assert detect_format(shared_data / "trades/tardis_trades.csv.gz") == "tardis-trades"
    assert detect_format(shared_data / "trades/tardis_quotes.csv") == "tardis-quotes"
    assert detect_format(shared_data / "binance-l2/spot/btcusdt_20240808.gz") == "binance-capture"
    assert detect_format(shared_data / "candles/ADABTC-1m-2021-11-27.csv") == "bars"
    assert detect_format(shared_data / "candles/freqtrade/ADA_BTC-5m.feather") == "bars"


def test_import_tardis_trades_when_full_day_then_every_trade_exact(shared_data: Path) -> None:
    items = list(import_file(shared_data / "trades/tardis_trades.csv.gz"))
    inst, trades = items[0], items[1:]
    assert isinstance(inst, Instrument) and str(inst.id) == "BINANCE_USDM:BTCUSDT"
    assert (str(inst.price_increment), str(inst.size_increment)) == ("0.01", "0.001")
    assert len(trades) == 137_988 and all(isinstance(t, TradeTick) for t in trades)
    first = trades[0]
    assert (
        first.price == Price("9682") and first.size == Quantity("0.132") and first.aggressor_side is Side.BUY
    )
    assert (first.ts_event, first.ts_init) == (1582329602111000000, 1582329602418379000)
    ids = [int(t.trade_id) for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous, none lost or duplicated


def test_import_tardis_quotes(shared_data: Path) -> None:
    items = list(import_file(shared_data / "trades/tardis_quotes.csv"))
    quotes = items[1:]
    assert len(quotes) == 9_999 and all(isinstance(q, QuoteTick) for q in quotes)
    assert quotes[0].bid_price == Price("9681.92") and quotes[0].ask_size == Quantity("0.84")
    assert all(q.bid_price < q.ask_price for q in quotes)


def test_import_bar_files_when_shared_candles_then_exact_grid(shared_data: Path) -> None:
    klines = list(import_file(shared_data / "candles/ADABTC-1m-2021-11-27.csv"))
    inst, bars = klines[0], klines[1:]
    assert str(inst.price_increment) == "0.00000001"
    assert len(bars) == 1_440 and all(isinstance(b, Bar) for b in bars)
    assert bars[0].close == Price("0.00002854") and bars[0].trade_count == 79
    assert bars[0].ts_event - bars[0].ts_open == bars[0].interval_ns == 60_000_000_000
    feather = list(
        import_file(shared_data / "candles/freqtrade/ADA_BTC-5m.feather", instrument_id="BINANCE:ADABTC")
    )
    assert str(feather[0].id) == "BINANCE:ADABTC" and len(feather) - 1 > 5_000


def test_import_binance_capture_when_replayed_into_a_book_then_equals_the_depth_replay(
    shared_data: Path,
) -> None:
    """Applying the recorded deltas in order must give exactly the book the synchroniser built."""
    files = [
        shared_data / "binance-l2/usdm/btcusdt_20240718.gz",
        shared_data / "binance-l2/usdm/btcusdt_20240719.gz",
    ]
    items = list(import_binance_capture(files))
    inst = items[0]
    assert isinstance(inst, Instrument)
    kinds = Counter(type(i).__name__ for i in items[1:])
    assert kinds["TradeTick"] == 10_701
    book = OrderBook(inst)
    l2 = book.l2
    for item in items[1:]:
        if isinstance(item, OrderBookDeltas):
            bid_t = np.array(item.bid_ticks, dtype=np.int64)
            bid_l = np.array(item.bid_lots, dtype=np.int64)
            ask_t = np.array(item.ask_ticks, dtype=np.int64)
            ask_l = np.array(item.ask_lots, dtype=np.int64)
            if item.is_snapshot:
                l2.apply_snapshot(bid_t, bid_l, ask_t, ask_l, item.sequence)
            else:
                sides = np.concatenate([np.full(len(bid_t), 1, np.uint8), np.full(len(ask_t), 2, np.uint8)])
                l2.apply_deltas(sides, np.concatenate([bid_t, ask_t]), np.concatenate([bid_l, ask_l]))
            assert not l2.is_crossed()
    report = replay_session(files)
    best_bid, best_ask = book.best_bid(), book.best_ask()
    assert best_bid is not None and best_ask is not None
    assert (str(best_bid[0]), str(best_bid[1])) == (report.best_bid, report.best_bid_size)
    assert (str(best_ask[0]), str(best_ask[1])) == (report.best_ask, report.best_ask_size)
    assert (l2.level_count(1), l2.level_count(2)) == (report.bid_levels, report.ask_levels)
    # One full-book record per snapshot that synced the book (diffs buffered before it are inside it),
    # then one record per diff applied after it.
    deltas = [i for i in items if isinstance(i, OrderBookDeltas)]
    assert sum(d.is_snapshot for d in deltas) == report.snapshots == 1
    assert 0 < report.diffs_applied - (len(deltas) - 1) <= 5


def test_import_tardis_when_bad_row_then_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    rows = [
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount",
        "binance,BTCUSDT,1000,1001,1,buy,100.5,0.1",
        "binance,BTCUSDT,1002,1003,2,unknown,100.5,0.1",
    ]
    path.write_bytes(gzip.compress("\n".join(rows).encode()))
    with pytest.raises(DataImportError) as info:
        list(import_file(path))
    assert info.value.line == 3 and str(path) in str(info.value) and "unknown" in str(info.value)


def test_import_capture_when_malformed_line_then_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "cap.txt"
    path.write_text('1 {"lastUpdateId": 5, "bids": [], "asks": []}\nnot a message\n')
    with pytest.raises(DataImportError) as info:
        list(import_binance_capture([path]))
    assert info.value.line == 2 and str(path) in str(info.value)


def test_instrument_document_round_trip(shared_data: Path) -> None:
    inst = next(iter(import_file(shared_data / "trades/tardis_quotes.csv")))
    assert isinstance(inst, Instrument)
    assert instrument_from_dict(instrument_to_dict(inst)) == inst


def test_import_bars_when_off_the_given_grid_then_error_names_row_and_column(tmp_path: Path) -> None:
    from engine.marketdata.io import BarFileError
    from engine.marketdata.io.importers import import_bars, make_instrument

    path = tmp_path / "bars.csv"
    path.write_text("timestamp,open,high,low,close,volume\n60,1.5,2,1,1.5,3\n120,1.5,2,1,1.25,3\n")
    inst = make_instrument("X", "ABCUSD", price_places=1, size_places=0)
    with pytest.raises(BarFileError) as info:
        list(import_bars(path, instrument=inst))
    assert info.value.row == 2 and info.value.column == "close" and str(path) in str(info.value)
