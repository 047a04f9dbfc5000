"""File formats in and out of the engine: bar files (CSV, Binance klines, feather, parquet) as columnar
NumPy arrays, and importers for trade/quote/capture files (see each module's docstring)."""

from engine.marketdata.io.bars import (
    BINANCE_KLINE_COLUMNS,
    BarArrays,
    BarFileError,
    OffGridError,
    bars_from_table,
    detect_epoch_unit,
    load_bars,
    to_ticks,
)

__all__ = [
    "BINANCE_KLINE_COLUMNS",
    "BarArrays",
    "BarFileError",
    "OffGridError",
    "bars_from_table",
    "detect_epoch_unit",
    "load_bars",
    "to_ticks",
]
