"""The one table of who may call what: every RPC's minimum role and its rate-limit class.

Roles are ordered, each including the ones below it: a viewer reads and subscribes; a trader also
trades and runs backtests; an admin also changes risk limits and the trading state, manages users
and API keys and reads the audit log. An RPC missing from ``METHODS`` is refused to everyone
(PERMISSION_DENIED, fail closed), and tests/integration/test_role_matrix.py fails until it has a
row: whoever adds an RPC adds its row here.

``PUBLIC_SERVICES`` (health, reflection) need no credential and are not rate-limited; the
``ANONYMOUS`` rows (Login, Refresh) need none either but are rate-limited per peer address.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

__all__ = [
    "METHODS",
    "PUBLIC_SERVICES",
    "MethodClass",
    "MethodRule",
    "Role",
    "rule_for",
]


class Role(IntEnum):
    """Values match ``algotrendy.v1.Role``; order matters (``>=`` means "may")."""

    ANONYMOUS = 0  # no credential: only Login and Refresh
    VIEWER = 1
    TRADER = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        return cls[name.upper()]


class MethodClass(StrEnum):
    """Rate-limit classes: one token bucket per principal and class (login: per peer address)."""

    ORDERS = "orders"  # every state-changing command (orders, risk, users, keys)
    QUERIES = "queries"  # reads
    STREAMS = "streams"  # opening a subscription
    LOGIN = "login"  # Login and Refresh, before anyone is known


@dataclass(frozen=True, slots=True)
class MethodRule:
    min_role: Role
    method_class: MethodClass


PUBLIC_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)

_V, _T, _A, _N = Role.VIEWER, Role.TRADER, Role.ADMIN, Role.ANONYMOUS
_O, _Q, _S, _L = MethodClass.ORDERS, MethodClass.QUERIES, MethodClass.STREAMS, MethodClass.LOGIN

_TABLE: dict[str, dict[str, tuple[Role, MethodClass]]] = {
    "EngineService": {
        "GetStatus": (_V, _Q),
    },
    "MarketDataService": {
        "ListInstruments": (_V, _Q),
        "GetOrderBook": (_V, _Q),
        "StreamMarketData": (_V, _S),
    },
    "OrderService": {
        "SubmitOrder": (_T, _O),
        "CancelOrder": (_T, _O),
        "CancelAllOrders": (_T, _O),
        "AmendOrder": (_T, _O),
        "GetOrder": (_V, _Q),
        "ListOrders": (_V, _Q),
        "StreamOrderEvents": (_V, _S),
    },
    "PortfolioService": {
        "ListPositions": (_V, _Q),
        "GetBalances": (_V, _Q),
        "GetPnl": (_V, _Q),
        "StreamPositions": (_V, _S),
    },
    "RiskService": {
        "GetLimits": (_V, _Q),
        "SetLimits": (_A, _O),
        "SetTradingState": (_A, _O),
        "GetRiskState": (_V, _Q),
    },
    "BacktestService": {
        "RunBacktest": (_T, _S),
    },
    "AuthService": {
        "Login": (_N, _L),
        "Refresh": (_N, _L),
        # Self-service: the servicer checks that a non-admin acts only on its own session / keys.
        "Logout": (_V, _O),
        "CreateApiKey": (_V, _O),
        "ListApiKeys": (_V, _Q),
        "RevokeApiKey": (_V, _O),
        "WhoAmI": (_V, _Q),
    },
    "AdminService": {
        "QueryAudit": (_A, _Q),
        "VerifyAudit": (_A, _Q),
        "CreateUser": (_A, _O),
        "ListUsers": (_A, _Q),
        "SetUserRole": (_A, _O),
        "DisableUser": (_A, _O),
        "ResetPassword": (_A, _O),
    },
}

#: Full method name (``/algotrendy.v1.OrderService/SubmitOrder``) -> its rule.
METHODS: dict[str, MethodRule] = {
    f"/algotrendy.v1.{service}/{method}": MethodRule(role, klass)
    for service, methods in _TABLE.items()
    for method, (role, klass) in methods.items()
}


def rule_for(full_method: str) -> MethodRule | None:
    """The rule of an RPC, or None when it has none (refused to everyone)."""
    return METHODS.get(full_method)


def is_public(full_method: str) -> bool:
    """Health and reflection: no credential, no rate limit."""
    if not full_method.startswith("/grpc."):  # every call asks: the common answer in one test
        return False
    return full_method[1:].split("/", 1)[0] in PUBLIC_SERVICES


assert all(service.startswith("grpc.") for service in PUBLIC_SERVICES), "is_public's fast test"
