"""Bar-file loader: formats, time detection, and bad input that names the file and the row."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyarrow import feather

from engine.core.errors import ValidationError
from engine.marketdata.io import BarFileError, detect_epoch_unit, load_bars, to_ticks

T0 = 1_640_995_200  # 2022-01-01 00:00:00 UTC
NS = 1_000_000_000


def write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


ROWS = ["100,101,99,100.5,10", "100.5,102,100,101,12", "101,101.5,100.5,101.25,0"]


def csv_with(times: list[str], header: str = "timestamp,open,high,low,close,volume") -> str:
    return "\n".join([header, *(f"{t},{r}" for t, r in zip(times, ROWS, strict=False))]) + "\n"


@pytest.mark.parametrize(
    ("times", "header"),
    [
        ([str(T0 + 60 * i) for i in range(3)], "timestamp,open,high,low,close,volume"),
        ([str((T0 + 60 * i) * 1000) for i in range(3)], "Timestamp,Open,High,Low,Close,Volume"),
        ([str((T0 + 60 * i) * 1_000_000) for i in range(3)], "TIMESTAMP,open,HIGH,low,close,volume"),
        ([f"2022-01-01 00:0{i}:00" for i in range(3)], "date,open,high,low,close,volume"),
        ([f"2022-01-01T00:0{i}:00Z" for i in range(3)], "Date,Open,High,Low,Close,Volume"),
        ([f"2022-01-01T02:0{i}:00+02:00" for i in range(3)], "datetime,open,high,low,close,volume"),
    ],
    ids=["epoch-s", "epoch-ms", "epoch-us", "iso-space", "iso-z", "iso-offset"],
)
def test_load_bars_when_csv_time_variants_then_same_utc_ns(tmp_path: Path, times, header) -> None:
    bars = load_bars(write(tmp_path, csv_with(times, header)))
    assert bars.ts_ns.dtype == np.int64
    assert bars.ts_ns.tolist() == [(T0 + 60 * i) * NS for i in range(3)]
    assert bars.close.tolist() == [100.5, 101.0, 101.25]
    assert bars.volume.tolist() == [10.0, 12.0, 0.0]
    assert bars.interval_ns == 60 * NS
    assert len(bars) == 3


def test_load_bars_when_columns_reordered_and_extra_then_picked_by_name(tmp_path: Path) -> None:
    text = "Volume,Close,Adj Close,Low,High,Open,Date\n5,2.5,2.4,2,3,2.2,2022-01-02\n6,2.6,2.5,2.1,3.1,2.5,2022-01-03\n"
    bars = load_bars(write(tmp_path, text))
    assert bars.open.tolist() == [2.2, 2.5]
    assert bars.close.tolist() == [2.5, 2.6]
    assert bars.ts_ns[1] - bars.ts_ns[0] == 86_400 * NS


def test_load_bars_when_binance_klines_without_header_then_read_with_trade_count(tmp_path: Path) -> None:
    lines = [
        f"{(T0 + 60 * i) * 1000},0.1,0.2,0.05,0.15,100.5,{(T0 + 60 * i + 59) * 1000 + 999},15.0,{7 + i},50,7.5,0"
        for i in range(3)
    ]
    bars = load_bars(write(tmp_path, "\n".join(lines) + "\n"))
    assert bars.ts_ns.tolist() == [(T0 + 60 * i) * NS for i in range(3)]
    assert bars.trade_count is not None and bars.trade_count.tolist() == [7, 8, 9]
    assert bars.high.tolist() == [0.2] * 3


def test_load_bars_when_gzip_csv_then_read(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv.gz"
    path.write_bytes(gzip.compress(csv_with([str(T0 + 60 * i) for i in range(3)]).encode()))
    assert len(load_bars(path)) == 3


def test_load_bars_when_feather_then_read(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime([T0 + 300 * i for i in range(3)], unit="s", utc=True),
            "open": [1.0, 2.0, 3.0],
            "high": [1.5, 2.5, 3.5],
            "low": [0.5, 1.5, 2.5],
            "close": [1.2, 2.2, 3.2],
            "volume": [1.0, 2.0, 3.0],
        }
    )
    path = tmp_path / "bars.feather"
    feather.write_feather(frame, path)
    bars = load_bars(path)
    assert bars.ts_ns.tolist() == [(T0 + 300 * i) * NS for i in range(3)]
    assert bars.interval_ns == 300 * NS


# -- bad input: every error names the file and the row -----------------------------------------
def bad(tmp_path: Path, text: str) -> BarFileError:
    path = write(tmp_path, text)
    with pytest.raises(BarFileError) as info:
        load_bars(path)
    err = info.value
    assert isinstance(err, ValidationError)  # one hierarchy: INVALID_ARGUMENT at the API
    assert str(path) in str(err)
    return err


def test_load_bars_when_column_missing_then_error_lists_missing_and_found(tmp_path: Path) -> None:
    err = bad(tmp_path, "timestamp,open,high,close,volume\n1,1,1,1,1\n")
    assert "low" in str(err) and "missing column" in str(err)
    err = bad(tmp_path, "when,open,high,low,close,volume\n1,1,1,1,1,1\n")
    assert "timestamp" in str(err)


def test_load_bars_when_unsorted_then_error_names_row_and_line(tmp_path: Path) -> None:
    err = bad(tmp_path, csv_with([str(T0), str(T0 + 120), str(T0 + 60)]))
    assert err.row == 3 and err.line == 4
    assert "row 3 (line 4)" in str(err) and "out of order" in str(err)


def test_load_bars_when_duplicate_timestamp_then_error_names_row(tmp_path: Path) -> None:
    err = bad(tmp_path, csv_with([str(T0), str(T0 + 60), str(T0 + 60)]))
    assert err.row == 3 and "duplicate timestamp" in str(err)


@pytest.mark.parametrize(
    ("row", "expect"),
    [
        ("100,NaN,99,100.5,10", "high price missing"),
        ("100,,99,100.5,10", "high price missing"),
        ("100,101,99,0,10", "close price 0.0"),
        ("-1,101,99,100,10", "open price -1.0"),
        ("100,101,99,inf,10", "close price inf"),
        ("100,101,99,100,-5", "volume -5.0"),
        ("100,98,99,100,5", "below low"),
    ],
)
def test_load_bars_when_bad_value_then_error_names_row(tmp_path: Path, row: str, expect: str) -> None:
    text = f"timestamp,open,high,low,close,volume\n{T0},{ROWS[0]}\n{T0 + 60},{row}\n"
    err = bad(tmp_path, text)
    assert err.row == 2 and err.line == 3
    assert expect in str(err)


def test_load_bars_when_text_in_number_column_then_error_names_row_and_value(tmp_path: Path) -> None:
    text = f"timestamp,open,high,low,close,volume\n{T0},{ROWS[0]}\n{T0 + 60},100,abc,99,100,1\n"
    err = bad(tmp_path, text)
    assert err.row == 2 and err.column == "high" and "'abc' is not a number" in str(err)


def test_load_bars_when_bad_time_text_then_error_names_row(tmp_path: Path) -> None:
    err = bad(tmp_path, csv_with(["2022-01-01 00:00:00", "2022-01-01 00:01:00", "not a date"]))
    assert err.row == 3 and "'not a date'" in str(err)


def test_load_bars_when_empty_time_then_error_names_row(tmp_path: Path) -> None:
    err = bad(tmp_path, csv_with([str(T0), "", str(T0 + 120)]))
    assert err.row == 2 and "empty time" in str(err)


def test_load_bars_when_headerless_but_not_klines_then_error(tmp_path: Path) -> None:
    err = bad(tmp_path, f"{T0},1,2,0.5,1.5,10\n")
    assert "not a Binance klines file" in str(err)


def test_load_bars_when_empty_or_absent_then_error_names_file(tmp_path: Path) -> None:
    bad(tmp_path, "")
    bad(tmp_path, "timestamp,open,high,low,close,volume\n")
    with pytest.raises(BarFileError, match="no such file"):
        load_bars(tmp_path / "absent.csv")


def test_load_bars_when_feather_nan_then_error_names_row_without_line(tmp_path: Path) -> None:
    table = pa.table(
        {
            "date": pa.array([T0 * NS, (T0 + 60) * NS], pa.timestamp("ns", tz="UTC")),
            "open": [1.0, 1.0],
            "high": [1.0, 1.0],
            "low": [1.0, 1.0],
            "close": [1.0, float("nan")],
            "volume": [1.0, 1.0],
        }
    )
    path = tmp_path / "x.feather"
    feather.write_feather(table, path)
    with pytest.raises(BarFileError) as info:
        load_bars(path)
    assert info.value.row == 2 and info.value.line is None and str(path) in str(info.value)


def test_detect_epoch_unit_boundaries() -> None:
    assert [detect_epoch_unit(x) for x in (T0, T0 * 1e3, T0 * 1e6, T0 * 1e9)] == ["s", "ms", "us", "ns"]


def test_to_ticks_when_on_grid_then_exact_else_refused() -> None:
    assert to_ticks(np.array([0.00002853, 0.0000286]), "0.00000001").tolist() == [2853, 2860]
    assert to_ticks(np.array([46319.0, 46385.5]), "0.5").tolist() == [92638, 92771]
    with pytest.raises(ValidationError, match="not a multiple"):
        to_ticks(np.array([100.05]), "0.1")


# -- the real files in ../shared/data ---------------------------------------------------------
def test_load_bars_when_shared_candles_then_all_read(shared_data: Path) -> None:
    candles = shared_data / "candles"
    perp = load_bars(candles / "btc-perp-20211231-20220201_1m.csv")
    assert len(perp) == 45_031 and perp.interval_ns == 60 * NS
    assert perp.ts_ns[0] == np.datetime64("2021-12-31T23:01:00", "ns").astype(np.int64)
    klines = load_bars(candles / "ADABTC-1m-2021-11-27.csv")
    assert len(klines) == 1_440 and klines.trade_count is not None and klines.trade_count[0] == 79
    assert klines.ts_ns[0] == 1_637_971_200_000 * 1_000_000
    sp = load_bars(candles / "sp500.csv.gz")
    assert len(sp) == 5_031
    ada = load_bars(candles / "freqtrade" / "ADA_BTC-5m.feather")
    assert ada.interval_ns == 300 * NS and len(ada) > 5_000
    # Funding rates are not bars: negative "prices" are refused with the row.
    with pytest.raises(BarFileError, match="row 50"):
        load_bars(candles / "freqtrade" / "futures" / "XRP_USDT_USDT-8h-funding_rate.feather")
