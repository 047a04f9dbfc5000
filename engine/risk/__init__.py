"""Risk: the pre-trade gate (compiled, ``engine.ext.risk.gate``) behind ``RiskEngine``, the
post-trade loss monitor, limits and risk events. See ``engine.risk.engine`` for how the OMS calls it."""

from engine.ext.risk.gate import RiskReason
from engine.risk.engine import RiskDecision, RiskEngine, RiskLimits
from engine.risk.events import RiskBreached, RiskLimitsChanged
from engine.risk.limits import AccountLimits, InstrumentLimits, PriceReference, StrategyLimits

__all__ = [
    "AccountLimits",
    "InstrumentLimits",
    "PriceReference",
    "RiskBreached",
    "RiskDecision",
    "RiskEngine",
    "RiskLimits",
    "RiskLimitsChanged",
    "RiskReason",
    "StrategyLimits",
]
