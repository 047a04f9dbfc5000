"""Bad parameters and inputs fail loudly, naming what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from engine import indicators as ind

X = np.linspace(1.0, 2.0, 50)


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda: ind.sma(X, 0), "timeperiod"),
        (lambda: ind.ema(X, -3), "timeperiod"),
        (lambda: ind.wma(X, 100001), "timeperiod"),
        (lambda: ind.rsi(X, 1), "timeperiod"),
        (lambda: ind.macd(X, fastperiod=1), "fastperiod"),
        (lambda: ind.macd(X, slowperiod=1), "slowperiod"),
        (lambda: ind.macd(X, signalperiod=0), "signalperiod"),
        (lambda: ind.bbands(X, nbdevup=float("nan")), "nbdevup"),
        (lambda: ind.bbands(X, nbdevdn=float("inf")), "nbdevdn"),
        (lambda: ind.bbands(X, matype=5), "matype"),
        (lambda: ind.bbands(X, matype=-1), "matype"),
        (lambda: ind.stoch(X, X, X, fastk_period=0), "fastk_period"),
        (lambda: ind.stoch(X, X, X, slowk_matype=9), "slowk_matype"),
        (lambda: ind.stoch(X, X, X, slowd_period=0), "slowd_period"),
        (lambda: ind.stochrsi(X, fastd_matype=7), "fastd_matype"),
        (lambda: ind.adx(X, X, X, 1), "timeperiod"),
        (lambda: ind.sma(X, 2.5), "timeperiod"),
        (lambda: ind.sma(X, True), "timeperiod"),
        (lambda: ind.keltner(X, X, X, multiplier="wide"), "multiplier"),
        (lambda: ind.supertrend(X, X, X, timeperiod=0), "timeperiod"),
        (lambda: ind.vwap_rolling(X, X, X, X, timeperiod=0), "timeperiod"),
    ],
)
def test_indicator_when_parameter_invalid_then_value_error_names_it(call, param) -> None:
    with pytest.raises(ValueError, match=param):
        call()


def test_indicator_when_lengths_differ_then_value_error_names_argument() -> None:
    with pytest.raises(ValueError, match="low has length 49"):
        ind.atr(X, X[:-1], X)
    with pytest.raises(ValueError, match="volume has length 10"):
        ind.obv(X, X[:10])
    with pytest.raises(ValueError, match="ts_ns has length 3"):
        ind.vwap(X, X, X, X, np.arange(3, dtype=np.int64))


@pytest.mark.parametrize("bad", [np.arange(50), np.arange(50, dtype=np.float32), [1.0, 2.0, 3.0]])
def test_indicator_when_input_not_float64_array_then_type_error_names_argument(bad) -> None:
    with pytest.raises(TypeError, match="real"):
        ind.sma(bad, 3)
    with pytest.raises(TypeError, match="close"):
        ind.cci(X[: len(bad)] if len(bad) <= 50 else X, X[: len(bad)], bad)


def test_indicator_when_input_two_dimensional_then_value_error() -> None:
    with pytest.raises(ValueError, match="1-dimensional"):
        ind.sma(np.ones((5, 5)), 3)


def test_vwap_when_timestamps_not_int64_then_type_error_names_ts_ns() -> None:
    with pytest.raises(TypeError, match="ts_ns"):
        ind.vwap(X, X, X, X, np.linspace(0, 1, 50))


def test_stream_when_parameter_invalid_then_value_error_names_it() -> None:
    with pytest.raises(ValueError, match="timeperiod"):
        ind.registry.create("rsi", timeperiod=1)
    with pytest.raises(ValueError, match="matype"):
        ind.registry.create("bbands", matype=8)
    with pytest.raises(ValueError, match="no parameter 'period'"):
        ind.registry.create("sma", period=3)
    with pytest.raises(ValueError, match="unknown indicator 'kama'"):
        ind.registry.create("kama")
