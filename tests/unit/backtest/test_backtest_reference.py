"""Acceptance: the event-driven backtester equals an independent vectorised NumPy computation.

SMA(10/30) cross, long/flat, all-in with the available cash, no fees, filled at the close, on the real
BTC perpetual 1-minute candles. The reference below shares nothing with the engine but the CSV: it
reads the file with NumPy, computes both SMAs with integer cumulative sums (exact), finds the
crossings vectorised, and sizes each entry with integer arithmetic (cash in units of one tick x one
lot, rounded down to the lot), as the strategy's ``all_in_quantity`` does.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from engine.backtest import Backtest, BacktestConfig

CANDLES = "candles/btc-perp-20211231-20220201_1m.csv"
CASH = 100_000
TICK_DECIMALS = 3  # the file's prices have up to 3 decimals (46821.75, 46830.125 ...)
LOT_DECIMALS = 8


def _reference(path: Path, fast: int, slow: int) -> tuple[list[tuple[int, int, int]], Decimal]:
    """(entry bar, exit bar or -1, lots) per round trip, and the final equity (exact)."""
    raw = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=(4,), dtype=np.float64)
    close = np.rint(raw * 10**TICK_DECIMALS).astype(np.int64)  # exact ticks of 0.001
    n = close.shape[0]
    csum = np.concatenate(([0], np.cumsum(close)))
    t = np.arange(n)
    valid = t >= slow - 1
    sum_fast = np.where(t >= fast - 1, csum[t + 1] - csum[np.maximum(t + 1 - fast, 0)], 0)
    sum_slow = np.where(valid, csum[t + 1] - csum[np.maximum(t + 1 - slow, 0)], 0)
    long = valid & (sum_fast * slow > sum_slow * fast)  # SMA(fast) > SMA(slow), exact
    change = np.diff(np.concatenate(([False], long)).astype(np.int8))
    entries = np.flatnonzero(change == 1)
    exits = np.flatnonzero(change == -1)
    # Cash in units of 1e-11 USD (one tick x one lot); one lot costs `close` units.
    cash = CASH * 10 ** (TICK_DECIMALS + LOT_DECIMALS)
    trades = []
    lots = 0
    for k, entry in enumerate(entries.tolist()):
        price = int(close[entry])
        lots = cash // price
        cash -= lots * price
        exit_bar = int(exits[k]) if k < exits.shape[0] else -1
        if exit_bar >= 0:
            cash += lots * int(close[exit_bar])
            trades.append((entry, exit_bar, lots))
            lots = 0
        else:
            trades.append((entry, -1, lots))
    equity_units = cash + lots * int(close[-1])
    return trades, Decimal(equity_units).scaleb(-(TICK_DECIMALS + LOT_DECIMALS))


def test_sma_cross_at_close_without_fees_equals_the_numpy_reference(shared_data: Path) -> None:
    path = shared_data / CANDLES
    expected_trades, expected_equity = _reference(path, 10, 30)
    result = Backtest(
        "sma_cross",
        [str(path)],
        BacktestConfig(cash=Decimal(CASH), fill="close", fees_bps=Decimal(0), slippage_bps=Decimal(0)),
        params={"fast": 10, "slow": 30},
    ).run()

    closed = [(e, x, lots) for e, x, lots in expected_trades if x >= 0]
    got = [(t.entry_bar, t.exit_bar, int(t.quantity.scaleb(LOT_DECIMALS))) for t in result.trades]
    assert len(got) == len(closed) > 100
    assert got == closed
    assert result.metrics["trades"] == len(closed)
    # Exact money; the acceptance asks 1e-9, the engine matches to the last unit.
    assert abs(result.final_equity - expected_equity) <= Decimal("1e-9")
    assert result.final_equity == expected_equity
    assert result.metrics["final_equity"] == format(expected_equity.normalize(), "f")
    # The float equity curve (analytics) ends at the same value.
    assert float(result.equity[-1]) == pytest.approx(float(expected_equity), rel=1e-9)
