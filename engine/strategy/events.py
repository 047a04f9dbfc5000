"""Events of the strategy host (published on ``events.strategy``; not journalled)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.events import Event
from engine.core.ids import StrategyId

__all__ = ["StrategyQuarantined"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyQuarantined(Event):
    """A strategy raised ``errors`` times (or failed to start): it gets no more callbacks, its
    timers are canceled and a cancel was sent for each of its ``canceled_orders`` open orders."""

    strategy_id: StrategyId
    errors: int
    callback: str
    last_error: str
    canceled_orders: int
