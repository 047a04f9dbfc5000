"""Every built-in strategy over a crafted bar series: the exact orders (bar index, side, quantity).

Cash 10000 USD, no fees, BTC lot 0.00001: an entry buys floor(cash / close / lot) lots at market and
the test router fills it at that close. Indicator values quoted in the comments are TA-Lib's (the
batch functions of ``engine.indicators``), so each expected order can be checked by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from engine import indicators as ta
from engine.core.errors import ValidationError
from engine.strategy import builtin_names, load_strategy

from .conftest import BTC, Harness


def run(
    name: str,
    params: dict[str, object],
    closes: Sequence[float],
    highs: Sequence[float] | None = None,
    lows: Sequence[float] | None = None,
    volumes: Sequence[float] | None = None,
) -> list[tuple[int, str, str]]:
    h = Harness()
    h.host.add(name, instruments=[BTC], params=params)
    h.host.start()
    for i, close in enumerate(closes):
        h.bar(
            repr(float(close)),
            high=None if highs is None else float(highs[i]),
            low=None if lows is None else float(lows[i]),
            volume=1.0 if volumes is None else float(volumes[i]),
        )
    return h.orders()


CROSS = [100, 100, 100, 101, 102, 103, 101, 99, 98, 100, 103]
TREND = [10, 11, 12, 13, 14, 15, 14, 13, 12, 11, 10, 11, 12, 13, 14, 15]


def test_builtins_when_listed_then_all_ten_documented_with_ranges() -> None:
    assert builtin_names() == (
        "bollinger_reversion",
        "bollinger_squeeze",
        "donchian_breakout",
        "ema_cross",
        "macd_cross",
        "mfi_reversion",
        "momentum",
        "rsi_reversion",
        "sma_cross",
        "vwap_reversion",
    )
    for name in builtin_names():
        described = load_strategy(name).describe()
        assert described["name"] == name and described["doc"], name
        for pname, p in described["params"].items():
            assert "low" in p and "high" in p and p["doc"], (name, pname)


def test_sma_cross_when_fast_crosses_slow_then_long_all_in_and_flat() -> None:
    # SMA2 vs SMA3: bar 3 100.5 > 100.33 buy 10000/101; bar 6 102 = 102 (not above) sell;
    # bar 10 101.5 > 100.33 buy with the cash the sale returned (10000.0001 / 103).
    assert run("sma_cross", {"fast": 2, "slow": 3}, CROSS) == [
        (3, "BUY", "99.00990"),
        (6, "SELL", "99.00990"),
        (10, "BUY", "97.08737"),
    ]


def test_sma_cross_when_signals_match_vectorised_sma_then_orders_on_every_change() -> None:
    rng = np.random.default_rng(5)
    closes = np.round(100 + np.cumsum(rng.normal(0, 1, 400)), 1)
    long = ta.sma(closes, 5) > ta.sma(closes, 20)  # NaN compares False: flat during warm-up
    changes = [i for i in range(len(closes)) if long[i] != (long[i - 1] if i else False)]
    orders = run("sma_cross", {"fast": 5, "slow": 20}, closes.tolist())
    assert [i for i, _, _ in orders] == changes
    assert [side for _, side, _ in orders] == ["BUY" if long[i] else "SELL" for i in changes]


def test_ema_cross_when_fast_ema_crosses_then_long_and_flat() -> None:
    # EMA2 / EMA4: bar 3 100.667 > 100.25; bar 7 99.835 < 100.477; bar 10 101.846 > 101.015.
    assert run("ema_cross", {"fast": 2, "slow": 4}, CROSS) == [
        (3, "BUY", "99.00990"),
        (7, "SELL", "99.00990"),
        (10, "BUY", "95.16485"),
    ]


def test_macd_cross_when_macd_rises_above_signal_then_long() -> None:
    # MACD(3,5,2): equal at bar 5 (1.0 = 1.0, not above), below until bar 11: -0.3468 > -0.3711.
    assert run("macd_cross", {"fast": 3, "slow": 5, "signal_period": 2}, TREND) == [(11, "BUY", "909.09090")]


def test_momentum_when_roc_above_threshold_then_long_else_flat() -> None:
    # ROC(3) %: 30 (bar 3) > 5 buy at 13; -7.14 (bar 7) sell at 13; 9.09 (bar 12) buy at 12.
    assert run("momentum", {"period": 3, "threshold": 5.0}, TREND) == [
        (3, "BUY", "769.23076"),
        (7, "SELL", "769.23076"),
        (12, "BUY", "833.33333"),
    ]


def test_rsi_reversion_when_oversold_then_enter_and_exit_when_overbought() -> None:
    closes = [100, 99, 98, 97, 96, 95, 96, 97, 98, 99, 100, 101, 102, 101, 100]
    # RSI(3): 0 at bar 3 (< 20) buy at 97; 80.25 at bar 9 (> 80) sell at 99; 86.8.. later: flat already.
    assert run("rsi_reversion", {"period": 3, "oversold": 20, "overbought": 80}, closes) == [
        (3, "BUY", "103.09278"),
        (9, "SELL", "103.09278"),
    ]


BANDS = [100, 101, 100, 101, 100, 96, 99, 100.5, 101, 100, 97, 100]


def test_bollinger_reversion_when_below_lower_band_then_enter_exit_at_middle() -> None:
    # BB(5, 1.5): bar 5 96 < 96.818 buy; bar 6 99 < middle 99.2 holds; bar 7 100.5 >= 99.3 sell;
    # bar 10 97 < 97.379 buy; bar 11 100 >= 99.7 sell.
    assert run("bollinger_reversion", {"period": 5, "nbdev": 1.5}, BANDS) == [
        (5, "BUY", "104.16666"),
        (7, "SELL", "104.16666"),
        (10, "BUY", "107.92525"),
        (11, "SELL", "107.92525"),
    ]


def test_bollinger_squeeze_when_armed_and_breaks_upper_then_enter_exit_below_middle() -> None:
    closes = [100] * 6 + [100.2, 99.8, 100, 100.1, 103, 104, 102, 101, 99.5]
    closes += [100, 100, 100, 100, 100, 96, 100, 100, 100, 100, 100, 104]
    # Width <= 1 % on bars 4-9 arms; bar 10 103 > upper 102.416 buys; bar 13 101 < middle 102.02
    # sells. Bars 18-19 re-arm; bar 20 96 < lower 96.8 disarms without trading; bar 25 re-arms;
    # bar 26 104 > upper 103.2 buys.
    assert run("bollinger_squeeze", {"period": 5, "nbdev": 1.5, "max_bandwidth": 0.01}, closes) == [
        (10, "BUY", "97.08737"),
        (13, "SELL", "97.08737"),
        (26, "BUY", "94.28678"),
    ]


FLOW = [100, 100, 100, 100, 100, 95, 97, 99, 100, 101, 100, 100, 100, 100, 100, 100, 100, 106, 104, 101, 99]
FLOW_VOLUME = [1, 1, 1, 1, 1, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 5, 1, 1, 1]


def test_mfi_reversion_when_money_flow_oversold_then_enter_exit_overbought() -> None:
    highs = [c + 1 for c in FLOW]
    lows = [c - 1 for c in FLOW]
    # MFI(3): 0 at bar 3 (flat typical price: no positive flow) buys; 100 at bar 8 sells;
    # 0 at bar 12 buys; 100 at bar 17 sells; 0 at bar 20 buys.
    assert run(
        "mfi_reversion", {"period": 3, "oversold": 20, "overbought": 80}, FLOW, highs, lows, FLOW_VOLUME
    ) == [
        (3, "BUY", "100.00000"),
        (8, "SELL", "100.00000"),
        (12, "BUY", "100.00000"),
        (17, "SELL", "100.00000"),
        (20, "BUY", "107.07070"),
    ]


def test_vwap_reversion_when_far_below_vwap_then_enter_exit_at_vwap() -> None:
    highs = [c + 1 for c in FLOW]
    lows = [c - 1 for c in FLOW]
    # rolling VWAP(3): bar 5 95 < 96.429 * 0.99 buys; bar 6 97 >= 96.0 sells;
    # bar 19 101 < 104.857 * 0.99 buys.
    assert run("vwap_reversion", {"period": 3, "band_bps": 100}, FLOW, highs, lows, FLOW_VOLUME) == [
        (5, "BUY", "105.26315"),
        (6, "SELL", "105.26315"),
        (19, "BUY", "101.09431"),
    ]


def test_vwap_reversion_when_session_vwap_then_same_rule_on_the_day_vwap() -> None:
    highs = [c + 1 for c in FLOW]
    lows = [c - 1 for c in FLOW]
    closes = np.array(FLOW, dtype=float)
    ts = np.arange(len(FLOW), dtype=np.int64) * 60_000_000_000 + 1_700_000_000_000_000_000
    vwap = ta.vwap(np.array(highs, float), np.array(lows, float), closes, np.array(FLOW_VOLUME, float), ts)
    expected, long = [], False
    for i, c in enumerate(closes):
        if not long and c < vwap[i] * 0.99:
            long = True
            expected.append((i, "BUY"))
        elif long and c >= vwap[i]:
            long = False
            expected.append((i, "SELL"))
    orders = run("vwap_reversion", {"period": 0, "band_bps": 100}, FLOW, highs, lows, FLOW_VOLUME)
    assert [(i, side) for i, side, _ in orders] == expected
    assert expected  # the series does trade


def test_donchian_breakout_when_close_above_previous_high_then_enter_exit_below_previous_low() -> None:
    closes = [100, 101, 102, 101, 100, 103, 104, 103, 102, 100, 98, 99]
    highs = [c + 0.5 for c in closes]
    lows = [c - 0.5 for c in closes]
    # upper(3) of the previous bar 102.5 < 103 at bar 5 buys; lower(2) of the previous bar 102.5 > 102
    # at bar 8 sells.
    assert run("donchian_breakout", {"entry_period": 3, "exit_period": 2}, closes, highs, lows) == [
        (5, "BUY", "97.08737"),
        (8, "SELL", "97.08737"),
    ]


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("sma_cross", {"fast": 30, "slow": 10}, "fast"),
        ("ema_cross", {"fast": 5, "slow": 5}, "fast"),
        ("rsi_reversion", {"oversold": 45, "overbought": 55.0, "period": 1}, "period"),
        ("mfi_reversion", {"oversold": 50, "overbought": 50}, "oversold"),
    ],
)
def test_builtin_when_params_inconsistent_then_error_names_the_field(
    name: str, params: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as err:
        load_strategy(name).resolve(params)
    assert str(err.value).startswith(f"{field}:")
