"""Streaming indicators equal the batch output bar by bar, survive snapshot/restore and pickling."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from engine.indicators import registry

VARIANTS = {
    "sma": [{}, {"timeperiod": 1}],
    "wma": [{}, {"timeperiod": 2}],
    "ema": [{}, {"timeperiod": 1}],
    "dema": [{}, {"timeperiod": 1}],
    "tema": [{}, {"timeperiod": 1}],
    "trix": [{}, {"timeperiod": 1}],
    "macd": [{}, {"fastperiod": 26, "slowperiod": 12, "signalperiod": 1}],
    "bbands": [{}, {"matype": 2, "nbdevup": 1.0, "nbdevdn": 3.0}, {"matype": 4}],
    "stoch": [{}, {"slowk_matype": 1, "slowd_matype": 3}],
    "stochrsi": [{}, {"fastd_matype": 2}],
    "atr": [{}, {"timeperiod": 1}],
    "natr": [{}, {"timeperiod": 1}],
    "plus_di": [{}, {"timeperiod": 1}],
    "minus_di": [{}, {"timeperiod": 1}],
}
ALL = [(name, params) for name in registry.names() for params in VARIANTS.get(name, [{}])]


def _columns(bars: dict[str, np.ndarray], name: str) -> list[np.ndarray]:
    mapping = {"real": "close"}
    return [bars[mapping.get(i, i)] for i in registry.spec(name).inputs]


def _stream(indicator, columns: list[np.ndarray], lo: int, hi: int) -> list[tuple[float, ...]]:
    rows = []
    for k in range(lo, hi):
        out = indicator.update(*[c[k].item() for c in columns])
        rows.append(out if isinstance(out, tuple) else (out,))
    return rows


def _assert_equal_after_warmup(rows, batch, where: str) -> None:
    batch = batch if isinstance(batch, tuple) else (batch,)
    for j, b in enumerate(batch):
        a = np.array([r[j] for r in rows])
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{where}: warm-up differs in output {j}"
        ok = ~np.isnan(b)
        scale = max(1.0, float(np.max(np.abs(b[ok])))) if ok.any() else 1.0
        assert np.max(np.abs(a[ok] - b[ok]), initial=0.0) <= 1e-12 * scale, f"{where}: output {j}"


@pytest.mark.parametrize(("name", "params"), ALL, ids=[f"{n}-{p}" for n, p in ALL])
def test_stream_when_fed_bar_by_bar_then_equals_batch(walk, name, params) -> None:
    bars = {k: v[:2000].copy() for k, v in walk.items()}
    bars["close"][:3] = np.nan  # leading NaNs are skipped by both
    columns = _columns(bars, name)
    batch = registry.spec(name).batch(*columns, **params)
    rows = _stream(registry.create(name, **params), columns, 0, 2000)
    _assert_equal_after_warmup(rows, batch, f"{name}{params}")


@pytest.mark.parametrize("name", registry.names())
def test_stream_when_real_candles_then_equals_batch(candles, name) -> None:
    bars = candles["ADABTC-1m-2021-11-27"]
    columns = _columns(bars, name)
    rows = _stream(registry.create(name), columns, 0, len(columns[0]))
    _assert_equal_after_warmup(rows, registry.spec(name).batch(*columns), name)


@pytest.mark.parametrize(("name", "params"), ALL, ids=[f"{n}-{p}" for n, p in ALL])
def test_stream_when_snapshot_restored_midway_then_continues_identically(walk, name, params) -> None:
    columns = _columns({k: v[:1200] for k, v in walk.items()}, name)
    straight = registry.create(name, **params)
    expected = _stream(straight, columns, 0, 1200)
    first = registry.create(name, **params)
    head = _stream(first, columns, 0, 517)
    snapshot = json.loads(json.dumps(first.snapshot()))  # survives a trip through JSON
    resumed = registry.restore(snapshot)
    tail = _stream(resumed, columns, 517, 1200)
    np.testing.assert_array_equal(np.array(head + tail), np.array(expected))


def test_stream_when_pickled_then_state_is_kept(walk) -> None:
    rsi = registry.create("rsi", timeperiod=9)
    for x in walk["close"][:50]:
        rsi.update(float(x))
    clone = pickle.loads(pickle.dumps(rsi))
    assert clone.params == {"timeperiod": 9}
    for x in walk["close"][50:80]:
        assert clone.update(float(x)) == rsi.update(float(x))


def test_stream_when_snapshot_of_other_indicator_then_value_error() -> None:
    sma = registry.create("sma", timeperiod=5)
    with pytest.raises(ValueError, match="snapshot is of 'ema'"):
        sma.restore(registry.create("ema", timeperiod=5).snapshot())
    with pytest.raises(ValueError, match="params"):
        sma.restore(registry.create("sma", timeperiod=6).snapshot())


def test_registry_when_listed_then_every_indicator_has_defaults_and_outputs() -> None:
    described = registry.describe()
    assert set(described) == set(registry.names())
    assert len(described) == 27
    assert described["bbands"]["params"] == {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}
    assert described["macd"]["outputs"] == ["macd", "macdsignal", "macdhist"]
    assert described["mfi"]["inputs"] == ["high", "low", "close", "volume"]
    assert registry.create("rsi", timeperiod=7).params == {"timeperiod": 7}


def test_stream_when_warming_up_then_returns_nan_until_first_batch_value() -> None:
    sma = registry.create("sma", timeperiod=3)
    assert np.isnan(sma.update(float("nan")))  # skipped: before the first valid bar
    assert np.isnan(sma.update(1.0))
    assert np.isnan(sma.update(2.0))
    assert sma.update(3.0) == 2.0
    assert sma.nbars == 3


# ---- NaNs after the first valid bar: the stream follows the batch (TA-Lib's) semantics ----------

NAN_CASES = {
    "inner-high": {"high": [40]},
    "inner-low": {"low": [41]},
    "inner-close": {"close": [42]},
    "repeated-high": {"high": [60, 61, 62, 63, 64, 65, 66, 67]},
    "repeated-low-and-close": {"low": [80, 81, 82], "close": [81, 90, 91]},
    "block-aligned-high": {"high": list(range(30, 200, 14))},  # WILLR's block starts / ends
    "block-aligned-low": {"low": list(range(43, 200, 14)) + list(range(44, 200, 28))},
    "scattered-all": {"high": [5, 17, 99], "low": [6, 17, 150], "close": [7, 120, 151]},
}
NAN_INDICATORS = [
    ("stoch", {}),
    ("stoch", {"fastk_period": 3, "slowk_matype": 1, "slowd_matype": 2}),
    ("stochrsi", {}),
    ("stochrsi", {"timeperiod": 5, "fastk_period": 3, "fastd_matype": 1}),
    ("willr", {}),
    ("willr", {"timeperiod": 3}),
]


@pytest.mark.parametrize("case", sorted(NAN_CASES))
@pytest.mark.parametrize(("name", "params"), NAN_INDICATORS, ids=[f"{n}-{p}" for n, p in NAN_INDICATORS])
def test_stream_when_nans_mid_stream_then_equals_batch_at_every_bar(walk, name, params, case) -> None:
    bars = {k: v[:240].copy() for k, v in walk.items()}
    bars["close"][:2] = np.nan  # leading NaNs: skipped by both
    bars["close"][3:230:37] = np.round(bars["close"][3:230:37])  # some exact ties in the windows
    for column, positions in NAN_CASES[case].items():
        bars[column][positions] = np.nan
    columns = _columns(bars, name)
    batch = registry.spec(name).batch(*columns, **params)
    rows = _stream(registry.create(name, **params), columns, 0, 240)
    _assert_equal_after_warmup(rows, batch, f"{name}{params} {case}")


def test_stoch_stream_when_nan_seeds_a_rescan_then_extreme_is_nan_for_that_bar_only() -> None:
    # TA-Lib's loop: the lowest low (bar 0) leaves the window at bar 3, the rescan is seeded with
    # the window's oldest low (bar 1, NaN), so that bar's %K is NaN; the next bar rescans again.
    high = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    low = np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0])
    close = np.array([5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    stoch = registry.create("stoch", fastk_period=3, slowk_period=1, slowd_period=1)
    got = np.array([stoch.update(h, lo, c)[0] for h, lo, c in zip(high, low, close, strict=True)])
    ref = registry.spec("stoch").batch(high, low, close, 3, 1, 0, 1, 0)[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert np.isnan(got[3]) and not np.isnan(got[4])
    np.testing.assert_allclose(got[~np.isnan(got)], ref[~np.isnan(ref)], rtol=1e-15)


@pytest.mark.parametrize("name", ["stoch", "stochrsi", "willr"])
def test_stream_when_snapshot_taken_next_to_a_nan_then_resumes_identically(walk, name) -> None:
    bars = {k: v[:300].copy() for k, v in walk.items()}
    bars["high"][[100, 101, 140]] = np.nan
    bars["low"][[120, 160]] = np.nan
    bars["close"][[102, 170]] = np.nan
    columns = _columns(bars, name)
    expected = _stream(registry.create(name), columns, 0, 300)
    for cut in (100, 101, 102, 121, 141):
        first = registry.create(name)
        head = _stream(first, columns, 0, cut)
        resumed = registry.restore(json.loads(json.dumps(first.snapshot())))
        tail = _stream(resumed, columns, cut, 300)
        np.testing.assert_array_equal(np.array(head + tail), np.array(expected))


@pytest.mark.parametrize("offset", [3.0, -4.0, 0.25])
def test_willr_when_close_outside_the_window_range_then_clamped_like_talib(offset: float) -> None:
    import talib

    import engine.indicators as ind
    from engine.indicators import registry

    high = np.arange(1.0, 31.0)
    low = high - 1.0
    close = high + offset
    expected = talib.WILLR(high, low, close, timeperiod=5)
    batch = ind.willr(high, low, close, timeperiod=5)
    np.testing.assert_array_equal(np.isnan(batch), np.isnan(expected))
    np.testing.assert_allclose(batch[~np.isnan(batch)], expected[~np.isnan(expected)], rtol=0, atol=1e-12)
    stream = registry.create("willr", timeperiod=5)
    streamed = np.array([stream.update(h, lo, c) for h, lo, c in zip(high, low, close, strict=True)])
    np.testing.assert_allclose(streamed[~np.isnan(batch)], batch[~np.isnan(batch)], rtol=0, atol=1e-12)


def test_willr_when_nan_at_a_block_start_then_equals_talib() -> None:
    import talib

    import engine.indicators as ind

    high = np.arange(1.0, 11.0)
    low = high - 1.0
    close = (high + low) / 2.0
    high[4] = np.nan
    expected = talib.WILLR(high, low, close, timeperiod=3)
    got = ind.willr(high, low, close, timeperiod=3)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=0, atol=1e-12)
