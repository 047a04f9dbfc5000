"""The event-driven backtester: bars replayed through the engine's own strategy host, risk gate, order
manager and paper venue in simulated time (see ``engine.backtest.engine``)."""

from engine.backtest.data import BarSeries, BarStream, load_bar_stream
from engine.backtest.engine import METRIC_KEYS, Backtest, BacktestConfig, run_backtest
from engine.backtest.fills import FillAt
from engine.backtest.result import BacktestResult, FillRecord, TradeRecord

__all__ = [
    "METRIC_KEYS",
    "Backtest",
    "BacktestConfig",
    "BacktestResult",
    "BarSeries",
    "BarStream",
    "FillAt",
    "FillRecord",
    "TradeRecord",
    "load_bar_stream",
    "run_backtest",
]
