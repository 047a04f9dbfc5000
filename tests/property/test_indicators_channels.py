"""VWAP, Keltner, Donchian and SuperTrend against plain pandas references (TA-Lib has none of them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import indicators as ind

NS_PER_DAY = 86_400_000_000_000


# ---- plain pandas references --------------------------------------------------------------------


def ref_vwap(high, low, close, volume, ts_ns) -> np.ndarray:
    df = pd.DataFrame({"pv": (high + low + close) / 3.0 * volume, "v": volume, "day": ts_ns // NS_PER_DAY})
    cum = df.groupby("day")[["pv", "v"]].cumsum()
    return (cum["pv"] / cum["v"].where(cum["v"] != 0.0)).to_numpy()


def ref_vwap_rolling(high, low, close, volume, timeperiod) -> np.ndarray:
    pv = pd.Series((high + low + close) / 3.0 * volume).rolling(timeperiod).sum()
    v = pd.Series(volume).rolling(timeperiod).sum()
    return (pv / v.where(v != 0.0)).to_numpy()


def ref_ema(close: pd.Series, n: int) -> pd.Series:
    """TA-Lib's EMA in pandas: SMA of the first n bars as seed, then ewm(alpha=2/(n+1), adjust=False)."""
    if len(close) < n:
        return close * np.nan
    seeded = close.copy()
    seeded.iloc[: n - 1] = np.nan
    seeded.iloc[n - 1] = close.iloc[:n].mean()
    return seeded.ewm(alpha=2.0 / (n + 1), adjust=False).mean()


def ref_atr(high: pd.Series, low: pd.Series, close: pd.Series, n: int) -> pd.Series:
    """Wilder's ATR in pandas: SMA seed of the first n true ranges, then ewm(alpha=1/n, adjust=False)."""
    prev = close.shift(1)
    tr = pd.concat([high - low, (high - prev).abs(), (low - prev).abs()], axis=1).max(axis=1)
    tr.iloc[0] = np.nan
    if len(close) <= n:
        return tr * np.nan
    seeded = tr.copy()
    seeded.iloc[:n] = np.nan
    seeded.iloc[n] = tr.iloc[1 : n + 1].mean()
    return seeded.ewm(alpha=1.0 / n, adjust=False).mean()


def ref_keltner(high, low, close, timeperiod, atrperiod, multiplier):
    h, lo, c = pd.Series(high), pd.Series(low), pd.Series(close)
    mid = ref_ema(c, timeperiod)
    atr = ref_atr(h, lo, c, atrperiod)
    start = max(timeperiod - 1, atrperiod)
    mid.iloc[:start] = np.nan
    return (mid + multiplier * atr).to_numpy(), mid.to_numpy(), (mid - multiplier * atr).to_numpy()


def ref_donchian(high, low, timeperiod):
    up = pd.Series(high).rolling(timeperiod).max()
    lo = pd.Series(low).rolling(timeperiod).min()
    return up.to_numpy(), ((up + lo) / 2.0).to_numpy(), lo.to_numpy()


def ref_supertrend(high, low, close, timeperiod, multiplier):
    atr = ref_atr(pd.Series(high), pd.Series(low), pd.Series(close), timeperiod).to_numpy()
    hl2 = (pd.Series(high) + pd.Series(low)).to_numpy() / 2.0
    line = np.full(len(close), np.nan)
    direction = np.full(len(close), np.nan)
    fu = fl = np.nan
    up = False
    for i in range(timeperiod, len(close)):
        bu, bl = hl2[i] + multiplier * atr[i], hl2[i] - multiplier * atr[i]
        if i == timeperiod:
            fu, fl, up = bu, bl, False
        else:
            fl = bl if (bl > fl or close[i - 1] < fl) else fl
            fu = bu if (bu < fu or close[i - 1] > fu) else fu
            up = close[i] >= fl if up else close[i] > fu
        line[i], direction[i] = (fl, 1.0) if up else (fu, -1.0)
    return line, direction


# ---- helpers ------------------------------------------------------------------------------------


def assert_close(got, ref, where: str, rel: float = 1e-9) -> None:
    got = got if isinstance(got, tuple) else (got,)
    ref = ref if isinstance(ref, tuple) else (ref,)
    for k, (a, b) in enumerate(zip(got, ref, strict=True)):
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{where} output {k}: NaN pattern differs"
        ok = ~np.isnan(b)
        if ok.any():
            scale = float(np.max(np.abs(b[ok])))
            assert float(np.max(np.abs(a[ok] - b[ok]))) <= rel * max(scale, 1e-300), f"{where} output {k}"


def _bars(seed: int, n: int, level: float = 100.0):
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, n))
    volume = rng.uniform(0.0, 100.0, n)
    ts_ns = 1_700_000_000_000_000_000 + np.cumsum(rng.integers(1, 4 * 3_600_000_000_000, n)).astype(np.int64)
    return high, low, close, volume, ts_ns


# ---- tests --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(shared_data: Path):
    frame = pd.read_csv(shared_data / "candles" / "btc-perp-20211231-20220201_1m.csv")
    ts = pd.to_datetime(frame["timestamp"], utc=True)
    ts_ns = ((ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")).to_numpy(np.int64)
    cols = [np.ascontiguousarray(frame[k].to_numpy(np.float64)) for k in ("high", "low", "close", "volume")]
    return (*cols, ts_ns)


def test_vwap_when_real_candles_then_matches_pandas_and_resets_at_utc_midnight(real) -> None:
    high, low, close, volume, ts_ns = real
    got = ind.vwap(high, low, close, volume, ts_ns)
    assert_close(got, ref_vwap(high, low, close, volume, ts_ns), "vwap")
    first_of_day = np.flatnonzero(np.diff(ts_ns // NS_PER_DAY)) + 1
    assert len(first_of_day) >= 30
    i = first_of_day[0]
    assert got[i] == pytest.approx((high[i] + low[i] + close[i]) / 3.0, rel=1e-15)


def test_channels_when_real_candles_then_match_pandas(real) -> None:
    high, low, close, volume, _ = real
    assert_close(
        ind.vwap_rolling(high, low, close, volume, 30),
        ref_vwap_rolling(high, low, close, volume, 30),
        "vwap_rolling",
    )
    assert_close(ind.keltner(high, low, close), ref_keltner(high, low, close, 20, 10, 2.0), "keltner")
    assert_close(ind.donchian(high, low), ref_donchian(high, low, 20), "donchian")
    assert_close(ind.supertrend(high, low, close), ref_supertrend(high, low, close, 10, 3.0), "supertrend")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    level=st.sampled_from([3e-5, 1.0, 46_000.0]),
    period=st.integers(1, 30),
    atrperiod=st.integers(1, 30),
    multiplier=st.floats(0.5, 5.0),
)
def test_channels_when_random_bars_then_match_pandas(seed, n, level, period, atrperiod, multiplier) -> None:
    high, low, close, volume, ts_ns = _bars(seed, n, level)
    assert_close(ind.vwap(high, low, close, volume, ts_ns), ref_vwap(high, low, close, volume, ts_ns), "vwap")
    assert_close(
        ind.vwap_rolling(high, low, close, volume, period),
        ref_vwap_rolling(high, low, close, volume, period),
        "vwap_rolling",
    )
    assert_close(ind.donchian(high, low, period), ref_donchian(high, low, period), "donchian")
    if n > 1:
        p = max(period, 2)
        assert_close(
            ind.keltner(high, low, close, p, atrperiod, multiplier),
            ref_keltner(high, low, close, p, atrperiod, multiplier),
            "keltner",
        )
        assert_close(
            ind.supertrend(high, low, close, period, multiplier),
            ref_supertrend(high, low, close, period, multiplier),
            "supertrend",
        )


def test_keltner_when_computed_then_middle_is_talib_ema_and_width_talib_atr() -> None:
    import talib

    high, low, close, _, _ = _bars(7, 500)
    upper, middle, _ = ind.keltner(high, low, close, 20, 10, 2.0)
    ok = ~np.isnan(middle)
    np.testing.assert_array_equal(middle[ok], talib.EMA(close, 20)[ok])
    np.testing.assert_allclose((upper - middle)[ok], 2.0 * talib.ATR(high, low, close, 10)[ok], rtol=1e-12)


def test_donchian_when_window_holds_nan_then_nan_like_pandas() -> None:
    high, low, _, _, _ = _bars(3, 60)
    high[25] = np.nan
    got = ind.donchian(high, low, 5)
    assert np.isnan(got[0][25:30]).all()
    assert not np.isnan(got[0][30])
    assert_close(got, ref_donchian(high, low, 5), "donchian with NaN")


def test_supertrend_when_trend_flips_then_direction_and_line_switch_bands() -> None:
    n = 80
    close = np.r_[np.linspace(100.0, 150.0, 40), np.linspace(150.0, 90.0, 40)]
    high, low = close + 1.0, close - 1.0
    line, direction = ind.supertrend(high, low, close, 10, 3.0)
    assert direction[10] == -1.0
    assert direction[35] == 1.0 and line[35] < close[35]
    assert direction[n - 1] == -1.0 and line[n - 1] > close[n - 1]
