"""Risk events (frozen, past tense). ``TradingStateChanged`` lives in ``engine.core.events``."""

from __future__ import annotations

from dataclasses import dataclass

from engine.core.commands import CancelAllOrders
from engine.core.enums import TradingState
from engine.core.events import Event, TradingStateChanged
from engine.core.fixed import Money
from engine.core.ids import AccountId
from engine.risk.limits import AccountLimits, InstrumentLimits, StrategyLimits

__all__ = ["RiskBreached", "RiskLimitsChanged"]

_frozen = dataclass(frozen=True, slots=True, kw_only=True)


@_frozen
class RiskLimitsChanged(Event):
    """Limits of one subject were replaced; journal it so a replay sets the same limits."""

    #: ``ACCOUNT``, ``INSTRUMENT`` or ``STRATEGY``.
    subject: str
    subject_id: str
    previous: AccountLimits | InstrumentLimits | StrategyLimits | None
    current: AccountLimits | InstrumentLimits | StrategyLimits


@_frozen
class RiskBreached(Event):
    """A post-trade loss limit was reached: the account's trading state escalated.

    The OMS executes ``cancel`` (cancel every open order of the account); ``state_change`` is the
    ``TradingStateChanged`` to journal and publish.
    """

    account_id: AccountId
    #: ``RISK_DAILY_LOSS`` or ``RISK_MAX_DRAWDOWN``.
    reason: str
    #: The measured loss (day start - equity, or peak - equity) and the limit it reached.
    loss: Money
    limit: Money
    equity: Money
    day_start_equity: Money
    peak_equity: Money
    realised_today: Money
    previous: TradingState
    current: TradingState
    state_change: TradingStateChanged
    cancel: CancelAllOrders
