"""Binance market data: instruments, the depth normaliser/synchroniser and capture replay."""

from engine.marketdata.binance.depth import (
    BinanceDepthSync,
    DepthOutcome,
    DepthSyncStats,
    LevelParser,
    SyncState,
)
from engine.marketdata.binance.instruments import (
    BinanceMarket,
    binance_instrument,
    infer_instrument,
    known_instrument,
)
from engine.marketdata.binance.replay import ReplayError, ReplayReport, iter_capture, replay_session

__all__ = [
    "BinanceDepthSync",
    "BinanceMarket",
    "DepthOutcome",
    "DepthSyncStats",
    "LevelParser",
    "ReplayError",
    "ReplayReport",
    "SyncState",
    "binance_instrument",
    "infer_instrument",
    "iter_capture",
    "known_instrument",
    "replay_session",
]
