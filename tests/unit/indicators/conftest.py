"""Fixtures of the indicator tests: real candles from ../shared/data and a synthetic OHLCV series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _ns(stamps: pd.Series) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds since the epoch (whatever pandas' resolution)."""
    utc = pd.to_datetime(stamps, utc=True)
    return ((utc - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")).to_numpy(np.int64)


def _ohlcv(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        k: np.ascontiguousarray(frame[k].to_numpy(np.float64))
        for k in ("open", "high", "low", "close", "volume")
    }


@pytest.fixture(scope="session")
def candles(shared_data: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every real candle file: the BTC perp 1m CSV, both ADABTC Binance kline days, the freqtrade pairs."""
    root = shared_data / "candles"
    out: dict[str, dict[str, np.ndarray]] = {}
    btc = pd.read_csv(root / "btc-perp-20211231-20220201_1m.csv")
    out["btc-perp-1m"] = _ohlcv(btc) | {"ts_ns": _ns(btc["timestamp"])}
    for path in sorted(root.glob("ADABTC-1m-*.csv")):
        k = pd.read_csv(path, header=None).iloc[:, :6]
        k.columns = ["ts_ms", "open", "high", "low", "close", "volume"]
        out[path.stem] = _ohlcv(k) | {"ts_ns": k["ts_ms"].to_numpy(np.int64) * 1_000_000}
    for path in sorted((root / "freqtrade").glob("*.feather")):
        f = pd.read_feather(path)
        out[path.stem] = _ohlcv(f) | {"ts_ns": _ns(f["date"])}
    assert len(out) >= 14
    return out


@pytest.fixture(scope="session")
def walk() -> dict[str, np.ndarray]:
    """A 5,000-bar geometric random walk with consistent OHLC and positive volume."""
    rng = np.random.default_rng(42)
    n = 5000
    close = 250.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.005, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.005, n))
    volume = rng.uniform(1.0, 1000.0, n)
    ts_ns = 1_640_995_200_000_000_000 + np.arange(n, dtype=np.int64) * 60_000_000_000
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "ts_ns": ts_ns}
