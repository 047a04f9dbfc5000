"""Performance metrics of a backtest, computed once at the end from NumPy arrays (vectorised).

Inputs are the equity curve (one value per bar, marked at the bar's close, float64: analytics) and
the closed round-trip trades. Definitions (documented because every report defines them a little
differently):

* ``total_return`` = final equity / starting cash - 1.
* ``cagr`` = (final / start) ** (1 / years) - 1, years = span of the bars (first open to last close)
  over 365.25 days (crypto trades every day).
* Per-bar simple returns r_t = e_t / e_{t-1} - 1 (the first against the starting cash);
  ``periods_per_year`` = 365.25 days / the median bar interval.
* ``volatility`` = std(r, ddof=1) * sqrt(periods_per_year).
* ``sharpe`` = mean(r) / std(r, ddof=1) * sqrt(periods_per_year) (risk-free rate 0).
* ``sortino`` = mean(r) / sqrt(mean(min(r, 0)**2)) * sqrt(periods_per_year).
* ``max_drawdown`` = max over t of 1 - e_t / max(e_0..e_t) (a positive fraction);
  ``max_drawdown_duration`` = the longest time under a previous peak, in seconds (from the peak's bar
  close to the bar that regained it, or to the end); ``max_drawdown_duration_bars`` the same in bars.
* ``calmar`` = cagr / max_drawdown.
* Trades are round trips (flat -> position -> flat, or a flip), PnL net of fees:
  ``win_rate`` = winners / trades, ``profit_factor`` = gross profit / gross loss,
  ``expectancy`` = mean PnL per trade (quote currency).
* ``exposure`` = share of bars that end with an open position.
* ``turnover`` = traded notional / mean equity (both legs of every trade count).

A ratio whose denominator is zero (no losing trade, zero volatility) is ``None`` in the result,
never ``inf``/``nan``, so the JSON stays portable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["YEAR_NS", "EquityStats", "drawdown_series", "equity_stats", "periods_per_year", "trade_stats"]

YEAR_NS = int(365.25 * 86_400 * 1_000_000_000)


def _ratio(num: float, den: float) -> float | None:
    if den == 0 or not math.isfinite(num) or not math.isfinite(den):
        return None
    value = num / den
    return value if math.isfinite(value) else None


def periods_per_year(ts_ns: np.ndarray) -> float:
    """Bars per year from the median spacing of the bar timestamps (0 with fewer than two bars)."""
    if ts_ns.shape[0] < 2:
        return 0.0
    step = float(np.median(np.diff(ts_ns)))
    return YEAR_NS / step if step > 0 else 0.0


def drawdown_series(equity: np.ndarray) -> np.ndarray:
    """1 - equity / running peak, per bar (0 at new highs)."""
    if equity.shape[0] == 0:
        return np.zeros(0)
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - equity / peak, 0.0)
    return dd


@dataclass(frozen=True, slots=True)
class EquityStats:
    total_return: float
    cagr: float | None
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_duration: float
    max_drawdown_duration_bars: int
    calmar: float | None
    exposure: float
    periods_per_year: float


def _longest_underwater(equity: np.ndarray, ts_close_ns: np.ndarray) -> tuple[float, int]:
    """Longest stretch below a previous peak: (seconds, bars), from the bar that set the peak to the
    first bar back at or above it (or the last bar, if it never recovered); the longest in seconds,
    then in bars. Vectorised: every stretch's end is found by one ``searchsorted`` over the bars at
    a peak (a scan per stretch was O(bars x stretches))."""
    n = equity.shape[0]
    if n == 0:
        return 0.0, 0
    peak = np.maximum.accumulate(equity)
    under = equity < peak
    if not under.any():
        return 0.0, 0
    at_peak = np.flatnonzero(~under)  # (bar 0 is always at its own peak)
    # Index of the bar that set the running peak, for every bar.
    peak_idx = np.maximum.accumulate(np.where(under, 0, np.arange(n)))
    starts = np.flatnonzero(under & np.r_[True, ~under[:-1]])
    after = np.searchsorted(at_peak, starts)  # the first bar at a peak after each start
    recovered = after < at_peak.shape[0]
    ends = np.where(recovered, at_peak[np.minimum(after, at_peak.shape[0] - 1)], n - 1)
    begins = peak_idx[starts]
    bars = ends - begins
    secs = (ts_close_ns[ends].astype(np.int64) - ts_close_ns[begins].astype(np.int64)) / 1e9
    longest = secs.max()
    return float(longest), int(bars[secs == longest].max())


def equity_stats(
    equity: np.ndarray,
    ts_close_ns: np.ndarray,
    starting_equity: float,
    span_ns: int,
    in_position: np.ndarray,
) -> EquityStats:
    """Return-based statistics of an equity curve (see the module docstring for the definitions)."""
    n = equity.shape[0]
    final = float(equity[-1]) if n else starting_equity
    total_return = final / starting_equity - 1.0 if starting_equity else 0.0
    years = span_ns / YEAR_NS if span_ns > 0 else 0.0
    cagr = None
    if years > 0 and starting_equity > 0 and final > 0:
        cagr = (final / starting_equity) ** (1.0 / years) - 1.0
    ppy = periods_per_year(ts_close_ns)
    vol = sharpe = sortino = None
    if n >= 2 and starting_equity > 0:
        prev = np.empty(n)
        prev[0] = starting_equity
        prev[1:] = equity[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(prev != 0, equity / prev - 1.0, 0.0)
        mean = float(r.mean())
        std = float(r.std(ddof=1))
        scale = math.sqrt(ppy)
        vol = std * scale
        s = _ratio(mean, std)
        sharpe = None if s is None else s * scale
        downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
        so = _ratio(mean, downside)
        sortino = None if so is None else so * scale
    dd = drawdown_series(equity)
    max_dd = float(dd.max()) if n else 0.0
    dd_secs, dd_bars = _longest_underwater(equity, ts_close_ns)
    calmar = _ratio(cagr, max_dd) if cagr is not None else None
    exposure = float(np.count_nonzero(in_position)) / n if n else 0.0
    return EquityStats(
        total_return=total_return,
        cagr=cagr,
        volatility=vol,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=max_dd,
        max_drawdown_duration=dd_secs,
        max_drawdown_duration_bars=dd_bars,
        calmar=calmar,
        exposure=exposure,
        periods_per_year=ppy,
    )


def trade_stats(pnl: np.ndarray) -> dict[str, float | None]:
    """win_rate, profit_factor, expectancy (float) of round-trip PnLs."""
    n = pnl.shape[0]
    if n == 0:
        return {"win_rate": None, "profit_factor": None, "expectancy": None}
    gross_profit = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    return {
        "win_rate": float(np.count_nonzero(pnl > 0)) / n,
        "profit_factor": _ratio(gross_profit, gross_loss),
        "expectancy": float(pnl.mean()),
    }
