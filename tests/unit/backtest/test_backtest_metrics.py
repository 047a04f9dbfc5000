"""Equity statistics: the longest drawdown stretch against a plain loop over the bars."""

from __future__ import annotations

import numpy as np
import pytest

from engine.backtest.metrics import _longest_underwater


def _reference(equity: list[float], ts: list[int]) -> tuple[float, int]:
    """Bar by bar: a stretch runs from the bar that set the peak to the first bar back at or above
    it (or the last bar); the longest in seconds, then in bars."""
    best = (0.0, 0)
    peak, peak_at, start = equity[0], 0, None
    for i, value in enumerate(equity):
        if value >= peak:
            if start is not None:
                best = max(best, ((ts[i] - ts[peak_at]) / 1e9, i - peak_at))
                start = None
            peak, peak_at = value, i
        elif start is None:
            start = i
    if start is not None:
        last = len(equity) - 1
        best = max(best, ((ts[last] - ts[peak_at]) / 1e9, last - peak_at))
    return best


@pytest.mark.parametrize("seed", range(25))
def test_longest_underwater_when_random_curves_then_equals_the_bar_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    # Steps of a few sizes, rounded so that exact returns to a previous peak happen too.
    equity = np.round(100 + np.cumsum(rng.choice([-2.0, -1.0, 0.0, 1.0, 2.0], size=n)), 6)
    ts = np.cumsum(rng.integers(1, 5, size=n) * 60_000_000_000)  # irregular bar spacing
    assert _longest_underwater(equity, ts) == _reference(equity.tolist(), ts.tolist())


def test_longest_underwater_when_hand_made_curves_then_seconds_and_bars() -> None:
    ts = np.arange(6, dtype=np.int64) * 60_000_000_000  # one bar a minute
    assert _longest_underwater(np.array([1.0, 2.0, 3.0]), ts[:3]) == (0.0, 0)  # only new highs
    # peak at bar 1, under for bars 2-3, back to it at bar 4: 3 bars, 180 s
    assert _longest_underwater(np.array([1.0, 5.0, 4.0, 3.0, 5.0, 6.0]), ts) == (180.0, 3)
    # never recovers: from the peak (bar 0) to the last bar
    assert _longest_underwater(np.array([5.0, 4.0, 4.5, 3.0, 2.0, 1.0]), ts) == (300.0, 5)
    assert _longest_underwater(np.zeros(0), ts[:0]) == (0.0, 0)
