"""Fuzz: random and malformed requests to every unary RPC the API harness serves — EngineService,
MarketDataService, OrderService, PortfolioService, RiskService, AuthService, AdminService — over a
real grpc.aio channel authenticated as admin (the API harness of tests/integration: real
OrderManager, RiskEngine, Portfolio and SimVenue on a TestClock, the real auth store on LMDB).

Every answer is OK or a mapped error, never INTERNAL or UNKNOWN, and the server keeps serving. A
rejected request changes nothing, with two documented exceptions: a risk-denied SubmitOrder leaves
exactly one new order, DENIED (DESIGN.md: a denial is an OrderDenied event), and a spent refresh
token presented again revokes its session (the OAuth reuse rule) and nothing else. Reads never
change anything and are never audited; every state-changing call is audited exactly once, with the
admin as its actor. Undecodable bytes never reach a servicer (grpc answers them before decoding).
The streams are fuzzed with the streaming tests (tests/integration, STREAMS); ``NOT_FUZZED_HERE``
names every RPC this file leaves out, and a test checks that nothing else is missing.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import string
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import grpc
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_orders_api_harness import START_NS, Api, serve_api

import algotrendy.v1
from algotrendy.v1 import (
    admin_pb2,
    auth_pb2,
    common_pb2,
    engine_pb2,
    engine_pb2_grpc,
    marketdata_pb2,
    marketdata_pb2_grpc,
    orders_pb2,
    portfolio_pb2,
    risk_pb2,
)
from engine.api.auth import Role
from engine.core.enums import OrderStatus

ID_CHARS = string.ascii_letters + string.digits + "._:/-"
STATE_CHANGING = {
    "SubmitOrder",
    "CancelOrder",
    "CancelAllOrders",
    "AmendOrder",
    "SetLimits",
    "SetTradingState",
    "Login",
    "Refresh",
    "Logout",
    "CreateApiKey",
    "RevokeApiKey",
    "CreateUser",
    "SetUserRole",
    "DisableUser",
    "ResetPassword",
}
AUTH_METHODS = {*auth_pb2.DESCRIPTOR.services_by_name["AuthService"].methods_by_name}
#: Auth rejections: a bad login is UNAUTHENTICATED, a locked-out one RESOURCE_EXHAUSTED, an
#: action on another user's key PERMISSION_DENIED.
AUTH_REJECTIONS = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
PASSWORD = "fuzz-password-1"
#: Codes a rejection may carry (never INTERNAL, never UNKNOWN).
REJECTIONS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
}


def ids(*valid: str, max_size: int = 70) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from((*valid, "")),
        st.text(alphabet=ID_CHARS, max_size=max_size),
        st.text(max_size=40),
    )


DECIMAL_TEXT = st.one_of(
    st.sampled_from(
        [
            "0.01",
            "0.5",
            "1",
            "6",
            "64000.0",
            "64000.05",
            "65001.0",
            "0",
            "-1",
            "-0.0",
            "1e3",
            "",
            " 1",
            "abc",
            "9" * 30,
            "0.000001",
            "1." + "1" * 40,
            "1,5",
            "+1",
            "NaN",
            "١",
        ]
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-(10**7), max_value=10**7).map(
        str
    ),
    st.text(max_size=24),
)
DECIMAL = st.one_of(st.none(), DECIMAL_TEXT.map(lambda v: common_pb2.Decimal(value=v)))
ENUM = st.one_of(st.integers(0, 5), st.integers(-(2**31), 2**31 - 1))
UINT32 = st.one_of(
    st.sampled_from([0, 1, 5, 10, 250, 1000, 1001, 1_000_000, 1_000_001, 86_400_000, 86_400_001]),
    st.integers(0, 2**32 - 1),
)
INT64 = st.one_of(st.sampled_from([0, -1, START_NS - 1, START_NS + 10**12]), st.integers(-(2**63), 2**63 - 1))
ACCOUNT = ids("main", "other", "ghost", "mm")
COID = ids("c-0", "c-1", "c-2", "c-3")
INSTRUMENT = ids("SIM:BTC-USD", "SIM:ETH-USD", "SIM:DOGE-USD", "BTC-USD")
STRATEGY = ids("manual", "spare", "ghost")
TEXT = st.one_of(
    st.sampled_from(["why", "", " ", "a\nb"]), st.text(max_size=30), st.text(min_size=490, max_size=510)
)


@st.composite
def message(draw: Any, cls: type, fields: dict[str, st.SearchStrategy[Any]]) -> Any:
    values = {name: draw(strategy) for name, strategy in fields.items()}
    return cls(**{k: v for k, v in values.items() if v is not None})


def mutations(wild: dict[str, Any]) -> st.SearchStrategy[list[str]]:
    """No mutation half of the time, else one or two fields."""
    some = st.lists(st.sampled_from(sorted(wild)), min_size=1, max_size=2, unique=True)
    return st.one_of(st.just([]), some)


@st.composite
def mutated(
    draw: Any, cls: type, valid: dict[str, st.SearchStrategy[Any]], wild: dict[str, st.SearchStrategy[Any]]
) -> Any:
    """A plausible request (fields from ``valid``) with up to two fields replaced by ``wild`` values,
    so the fuzz reaches the deep paths (acceptance, duplicates, denials, amends) as well as the
    shallow rejections."""
    values = {name: draw(strategy, label=name) for name, strategy in valid.items()}
    for name in draw(mutations(wild), label="mutate"):
        values[name] = draw(wild[name], label=f"wild {name}")
    return cls(**{k: v for k, v in values.items() if v is not None})


def dec(*values: str | None) -> st.SearchStrategy[Any]:
    return st.sampled_from(values).map(lambda v: None if v is None else common_pb2.Decimal(value=v))


OK_ACCOUNT = st.sampled_from(["main", "main", "other"])
OK_COID = st.sampled_from(["c-0", "c-1", "c-2", "c-3", "c-4"])
OK_INSTRUMENT = st.sampled_from(["SIM:BTC-USD", "SIM:BTC-USD", "SIM:ETH-USD", "SIM:SOL-USD"])
OK_PRICE = dec("64000.0", "63000.0", "66000.0", "64500.5", None)


def account_limits(valid: bool) -> st.SearchStrategy[Any]:
    fields = {
        "max_gross_exposure": dec("2000000", "50000"),
        "max_net_exposure": dec("2000000", "50000"),
        "max_open_orders": st.sampled_from([3, 100]),
        "max_orders_per_second": st.sampled_from([2, 1000]),
        "order_burst": st.sampled_from([2, 1000]),
        "max_daily_loss": dec("100000"),
        "max_drawdown": dec("100000"),
        "breach_state": st.sampled_from([2, 3]),
    }
    wild = {
        name: (
            DECIMAL
            if name.startswith("max_") and "orders" not in name and "open" not in name
            else ENUM
            if name == "breach_state"
            else UINT32
        )
        for name in fields
    }
    return mutated(risk_pb2.AccountLimits, fields, wild) if valid else message(risk_pb2.AccountLimits, wild)


def instrument_limits(valid: bool) -> st.SearchStrategy[Any]:
    fields = {
        "max_order_quantity": dec("0.5", "5", "0.00002"),
        "max_order_notional": dec("1000000", "1000"),
        "max_position": dec("1", "50"),
        "price_band_bps": st.sampled_from([10, 1000]),
        "max_data_age_ms": st.sampled_from([1, 3_600_000]),
        "reference": st.sampled_from([1, 2]),
    }
    wild = {
        "max_order_quantity": DECIMAL,
        "max_order_notional": DECIMAL,
        "max_position": DECIMAL,
        "price_band_bps": UINT32,
        "max_data_age_ms": UINT32,
        "reference": ENUM,
    }
    return (
        mutated(risk_pb2.InstrumentLimits, fields, wild)
        if valid
        else message(risk_pb2.InstrumentLimits, wild)
    )


def subject_limits() -> st.SearchStrategy[Any]:
    account = message(
        risk_pb2.AccountLimitsEntry,
        {
            "account_id": st.one_of(OK_ACCOUNT, OK_ACCOUNT, ACCOUNT),
            "limits": st.one_of(account_limits(True), account_limits(True), st.none(), account_limits(False)),
        },
    )
    instrument = message(
        risk_pb2.InstrumentLimitsEntry,
        {
            "instrument_id": st.one_of(OK_INSTRUMENT, OK_INSTRUMENT, INSTRUMENT),
            "limits": st.one_of(
                instrument_limits(True), instrument_limits(True), st.none(), instrument_limits(False)
            ),
        },
    )
    strategy = message(
        risk_pb2.StrategyLimitsEntry,
        {
            "strategy_id": STRATEGY,
            "limits": st.one_of(
                st.none(),
                message(risk_pb2.StrategyLimits, {"max_orders_per_second": UINT32, "order_burst": UINT32}),
            ),
        },
    )
    return st.one_of(
        st.just(risk_pb2.SubjectLimits()),
        account.map(lambda e: risk_pb2.SubjectLimits(account=e)),
        instrument.map(lambda e: risk_pb2.SubjectLimits(instrument=e)),
        strategy.map(lambda e: risk_pb2.SubjectLimits(strategy=e)),
    )


SUBMIT_WILD: dict[str, st.SearchStrategy[Any]] = {
    "account_id": ACCOUNT,
    "strategy_id": STRATEGY,
    "client_order_id": COID,
    "instrument_id": INSTRUMENT,
    "side": ENUM,
    "order_type": ENUM,
    "quantity": DECIMAL,
    "price": DECIMAL,
    "trigger_price": DECIMAL,
    "time_in_force": ENUM,
    "expire_at_ns": INT64,
    "post_only": st.booleans(),
    "reduce_only": st.booleans(),
}


@st.composite
def coherent_submit(draw: Any) -> dict[str, Any]:
    """Field values that agree with each other (price iff LIMIT/STOP_LIMIT, trigger iff a stop,
    expiry iff GTD, post_only only on resting limits)."""
    order_type = draw(st.sampled_from([1, 2, 2, 2, 3, 4]))
    tif = draw(st.sampled_from([2, 3] if order_type == 1 else [1, 1, 2, 4]))
    return {
        "account_id": draw(OK_ACCOUNT),
        "strategy_id": draw(st.sampled_from(["", "manual", "spare"])),
        "client_order_id": draw(st.one_of(OK_COID, st.integers(0, 10**9).map(lambda i: f"n-{i}"))),
        "instrument_id": draw(OK_INSTRUMENT),
        "side": draw(st.sampled_from([1, 2])),
        "order_type": order_type,
        "quantity": draw(dec("0.01", "0.5", "6", "0.00001", "0.0001")),
        "price": draw(OK_PRICE.filter(lambda v: v is not None)) if order_type in (2, 4) else None,
        "trigger_price": draw(dec("63500.0", "64500.0")) if order_type in (3, 4) else None,
        "time_in_force": tif,
        "expire_at_ns": START_NS + 10**12 if tif == 4 else 0,
        "post_only": order_type == 2 and tif == 1 and draw(st.booleans()),
        "reduce_only": draw(st.sampled_from([False, False, True])),
    }


@st.composite
def submit_request(draw: Any) -> orders_pb2.SubmitOrderRequest:
    values = draw(coherent_submit())
    for name in draw(mutations(SUBMIT_WILD), label="mutate"):
        values[name] = draw(SUBMIT_WILD[name], label=f"wild {name}")
    return orders_pb2.SubmitOrderRequest(**{k: v for k, v in values.items() if v is not None})


AMEND_WILD: dict[str, st.SearchStrategy[Any]] = {
    "account_id": ACCOUNT,
    "client_order_id": COID,
    "quantity": DECIMAL,
    "price": DECIMAL,
    "trigger_price": DECIMAL,
}
AMEND_VALID: dict[str, st.SearchStrategy[Any]] = {
    "account_id": OK_ACCOUNT,
    "client_order_id": OK_COID,
    "quantity": dec(None, None, "0.02", "7"),
    "price": OK_PRICE,
    "trigger_price": dec(None, None, None, "63400.0"),
}
REF_WILD = {"account_id": ACCOUNT, "client_order_id": COID}
REF_VALID = {"account_id": OK_ACCOUNT, "client_order_id": OK_COID}

#: (service stub attribute, method, request strategy)
CALLS: list[tuple[str, str, st.SearchStrategy[Any]]] = [
    ("orders", "SubmitOrder", submit_request()),
    ("orders", "SubmitOrder", submit_request()),
    ("orders", "SubmitOrder", submit_request()),
    ("orders", "SubmitOrder", message(orders_pb2.SubmitOrderRequest, SUBMIT_WILD)),
    ("orders", "CancelOrder", mutated(orders_pb2.CancelOrderRequest, REF_VALID, REF_WILD)),
    (
        "orders",
        "CancelAllOrders",
        mutated(
            orders_pb2.CancelAllOrdersRequest,
            {
                "account_id": OK_ACCOUNT,
                "instrument_id": st.sampled_from(["", "SIM:BTC-USD"]),
                "side": st.sampled_from([0, 1, 2]),
            },
            {"account_id": ACCOUNT, "instrument_id": INSTRUMENT, "side": ENUM},
        ),
    ),
    ("orders", "AmendOrder", mutated(orders_pb2.AmendOrderRequest, AMEND_VALID, AMEND_WILD)),
    ("orders", "GetOrder", mutated(orders_pb2.GetOrderRequest, REF_VALID, REF_WILD)),
    (
        "orders",
        "ListOrders",
        mutated(
            orders_pb2.ListOrdersRequest,
            {
                "account_id": st.sampled_from(["", "main"]),
                "instrument_id": st.sampled_from(["", "SIM:BTC-USD"]),
                "strategy_id": st.sampled_from(["", "manual"]),
                "statuses": st.lists(st.integers(1, 11), max_size=3),
                "open_only": st.booleans(),
                "page_size": st.sampled_from([0, 1, 2, 1000]),
                "page_token": st.sampled_from(["", "b21zMTox"]),
            },
            {
                "account_id": ACCOUNT,
                "instrument_id": INSTRUMENT,
                "strategy_id": STRATEGY,
                "statuses": st.lists(ENUM, max_size=40),
                "open_only": st.booleans(),
                "page_size": UINT32,
                "page_token": st.one_of(
                    st.sampled_from(["b21zMTotMQ", "b21zMTo5OTk5OTk5OTk5OTk5", "x"]), st.text(max_size=300)
                ),
            },
        ),
    ),
    (
        "positions",
        "ListPositions",
        message(portfolio_pb2.ListPositionsRequest, {"account_id": ACCOUNT, "instrument_id": INSTRUMENT}),
    ),
    (
        "positions",
        "GetBalances",
        message(portfolio_pb2.GetBalancesRequest, {"account_id": st.one_of(OK_ACCOUNT, ACCOUNT)}),
    ),
    (
        "positions",
        "GetPnl",
        message(portfolio_pb2.GetPnlRequest, {"account_id": st.one_of(OK_ACCOUNT, ACCOUNT)}),
    ),
    ("risk_api", "GetLimits", st.just(risk_pb2.GetLimitsRequest())),
    (
        "risk_api",
        "SetLimits",
        message(
            risk_pb2.SetLimitsRequest, {"limits": st.one_of(st.none(), subject_limits()), "reason": TEXT}
        ),
    ),
    (
        "risk_api",
        "SetTradingState",
        mutated(
            risk_pb2.SetTradingStateRequest,
            {
                "account_id": st.sampled_from(["", "main"]),
                "state": st.sampled_from([1, 1, 1, 1, 2, 3]),
                "reason": st.just("fuzz"),
            },
            {"account_id": ACCOUNT, "state": ENUM, "reason": TEXT},
        ),
    ),
    (
        "risk_api",
        "GetRiskState",
        message(risk_pb2.GetRiskStateRequest, {"account_id": st.one_of(OK_ACCOUNT, ACCOUNT)}),
    ),
]

USER = st.one_of(
    st.sampled_from(["alice", "bob", "carol", "viewer", "", "a b", "x" * 65]),
    st.text(alphabet=ID_CHARS, max_size=70),
    st.text(max_size=20),
).filter(lambda u: u != "admin")  # the harness calls as admin: never demote or disable it
PASSWORDS = st.one_of(
    st.sampled_from([PASSWORD, "", "short", "p" * 1025, "another-password-9"]), st.text(max_size=40)
)
ROLE = st.one_of(st.sampled_from([0, 1, 2, 3]), ENUM)
UINT64 = st.one_of(st.sampled_from([0, 1, 2, 5, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1))
KEY_ID = st.one_of(st.sampled_from(["", "0123456789ab", "atk_0123456789ab", "XYZ"]), st.text(max_size=70))
TOKEN = st.one_of(
    st.sampled_from(["", "art_0123456789ab_" + "A" * 43, "art_zz_yy", "Bearer x"]), st.text(max_size=250)
)

CALLS += [
    ("engine_api", "GetStatus", st.just(engine_pb2.GetStatusRequest())),
    (
        "marketdata_api",
        "ListInstruments",
        message(
            marketdata_pb2.ListInstrumentsRequest, {"venue": st.one_of(st.sampled_from(["", "SIM"]), TEXT)}
        ),
    ),
    (
        "marketdata_api",
        "GetOrderBook",
        message(
            marketdata_pb2.GetOrderBookRequest,
            {"instrument_id": st.one_of(OK_INSTRUMENT, INSTRUMENT), "depth": UINT32},
        ),
    ),
    (
        "auth_api",
        "Login",
        mutated(
            auth_pb2.LoginRequest,
            {
                "user": st.sampled_from(["alice", "alice", "bob"]),
                "password": st.sampled_from([PASSWORD, "wrong-password-1"]),
            },
            {"user": USER, "password": PASSWORDS},
        ),
    ),
    ("auth_api", "Refresh", message(auth_pb2.RefreshRequest, {"refresh_token": TOKEN})),
    ("auth_api", "Logout", message(auth_pb2.LogoutRequest, {"refresh_token": TOKEN})),
    (
        "auth_api",
        "CreateApiKey",
        mutated(
            auth_pb2.CreateApiKeyRequest,
            {
                "name": st.sampled_from(["ci", "fuzz"]),
                "role": st.sampled_from([0, 1, 2, 3]),
                "user": st.sampled_from(["", "alice"]),
                "expires_in_s": st.sampled_from([0, 60]),
            },
            {"name": TEXT, "role": ROLE, "user": USER, "expires_in_s": UINT32},
        ),
    ),
    (
        "auth_api",
        "ListApiKeys",
        message(
            auth_pb2.ListApiKeysRequest,
            {"user": st.one_of(st.just(""), USER), "include_revoked": st.booleans()},
        ),
    ),
    ("auth_api", "RevokeApiKey", message(auth_pb2.RevokeApiKeyRequest, {"key_id": KEY_ID})),
    ("auth_api", "WhoAmI", st.just(auth_pb2.WhoAmIRequest())),
    (
        "admin_api",
        "QueryAudit",
        message(
            admin_pb2.QueryAuditRequest,
            {
                "from_seq": UINT64,
                "to_seq": UINT64,
                "since_ns": INT64,
                "until_ns": INT64,
                "actor": st.one_of(st.just(""), TEXT),
                "action": st.one_of(st.sampled_from(["", "Login", "CreateUser"]), TEXT),
                "page_size": UINT32,
                "page_token": st.one_of(
                    st.sampled_from(["", "YXVkaXQ6Mw", "YXVkaXQ6MA", "x"]), st.text(max_size=60)
                ),
            },
        ),
    ),
    ("admin_api", "VerifyAudit", st.just(admin_pb2.VerifyAuditRequest())),
    (
        "admin_api",
        "CreateUser",
        mutated(
            admin_pb2.CreateUserRequest,
            {
                "user": st.sampled_from(["bob", "carol", "dave"]),
                "password": st.just(PASSWORD),
                "role": st.sampled_from([1, 2, 3]),
            },
            {"user": USER, "password": PASSWORDS, "role": ROLE},
        ),
    ),
    ("admin_api", "ListUsers", st.just(admin_pb2.ListUsersRequest())),
    ("admin_api", "SetUserRole", message(admin_pb2.SetUserRoleRequest, {"user": USER, "role": ROLE})),
    (
        "admin_api",
        "DisableUser",
        message(admin_pb2.DisableUserRequest, {"user": USER, "enable": st.booleans()}),
    ),
    (
        "admin_api",
        "ResetPassword",
        message(admin_pb2.ResetPasswordRequest, {"user": USER, "password": PASSWORDS}),
    ),
]
SERVICES = {
    "orders": "OrderService",
    "positions": "PortfolioService",
    "risk_api": "RiskService",
    "engine_api": "EngineService",
    "marketdata_api": "MarketDataService",
    "auth_api": "AuthService",
    "admin_api": "AdminService",
}
#: Stubs the harness's ``Api`` does not carry as properties.
EXTRA_STUBS = {
    "engine_api": engine_pb2_grpc.EngineServiceStub,
    "marketdata_api": marketdata_pb2_grpc.MarketDataServiceStub,
}
#: RPCs fuzzed elsewhere, with why.
NOT_FUZZED_HERE = {
    "/algotrendy.v1.MarketDataService/StreamMarketData": "server stream: the streaming tests (STREAMS)",
    "/algotrendy.v1.OrderService/StreamOrderEvents": "server stream: the streaming tests (STREAMS)",
    "/algotrendy.v1.PortfolioService/StreamPositions": "server stream: the streaming tests (STREAMS)",
    "/algotrendy.v1.BacktestService/RunBacktest": "not served by this harness: the backtest tests (BACKTEST)",
}


def stub(api: Api, name: str) -> Any:
    extra = EXTRA_STUBS.get(name)
    return extra(api.channel) if extra is not None else getattr(api, name)


class Live:
    """Credentials the fuzz obtained (refresh tokens, key ids of its own keys), so later examples
    reach the paths behind a valid id: rotation, reuse detection, revocation."""

    refresh: ClassVar[list[str]] = []
    key_ids: ClassVar[list[str]] = []

    @classmethod
    def reset(cls) -> None:
        cls.refresh, cls.key_ids = [], []

    @classmethod
    def learn(cls, response: Any) -> None:
        if isinstance(response, (auth_pb2.LoginResponse, auth_pb2.RefreshResponse)):
            cls.refresh.append(response.refresh_token)
        elif isinstance(response, auth_pb2.CreateApiKeyResponse):
            cls.key_ids.append(response.key.key_id)

    @classmethod
    def aim(cls, data: st.DataObject, method: str, request: Any) -> Any:
        """Half of the time, point a Refresh / Logout / RevokeApiKey at something that exists.
        (The same draws every time, whatever exists: hypothesis replays choices, not state.)"""
        live = data.draw(st.booleans(), label="live")
        index = data.draw(st.integers(0, 2**16), label="live index")
        if live and method in ("Refresh", "Logout") and cls.refresh:
            request.refresh_token = cls.refresh[index % len(cls.refresh)]
        elif live and method == "RevokeApiKey" and cls.key_ids:
            request.key_id = cls.key_ids[index % len(cls.key_ids)]
        return request


def run_with_api(body: Callable[[Api, asyncio.AbstractEventLoop], None]) -> None:
    """Serve the API on a loop of our own, so hypothesis (synchronous) can drive one call per example.
    A trader ``alice`` exists (password ``PASSWORD``), so logins can succeed."""
    loop = asyncio.new_event_loop()
    Live.reset()
    try:
        context = serve_api(auth_overrides={"auth.login_max_failures": 50, "auth.login_lockout_s": 5})
        api = loop.run_until_complete(context.__aenter__())
        loop.run_until_complete(api.auth_store.create_user("alice", PASSWORD, Role.TRADER))
        try:
            body(api, loop)
        finally:
            loop.run_until_complete(context.__aexit__(None, None, None))
    finally:
        loop.close()


async def call_once(api: Api, stub_name: str, method: str, request: Any) -> grpc.StatusCode:
    try:
        response = await getattr(stub(api, stub_name), method)(request, timeout=10)
    except grpc.aio.AioRpcError as error:
        return error.code()
    Live.learn(response)
    return grpc.StatusCode.OK


def assert_unchanged_or_denied(
    before: dict[str, Any], after: dict[str, Any], method: str, code: grpc.StatusCode
) -> None:
    if after == before:
        return
    if method == "Refresh" and code is grpc.StatusCode.UNAUTHENTICATED:
        # A spent refresh token presented again: its session (only) is revoked.
        changed = {k for k in before if before[k] != after[k]}
        assert changed == {"auth"}, changed
        was, now = before["auth"]["sessions"], after["auth"]["sessions"]
        assert (
            before["auth"]["users"] == after["auth"]["users"]
            and before["auth"]["keys"] == after["auth"]["keys"]
        )
        (revoked,) = [sid for sid in was if was[sid] != now[sid]]
        assert set(was) == set(now) and not was[revoked]["revoked_at_ns"] and now[revoked]["revoked_at_ns"]
        assert {**now[revoked], "revoked_at_ns": 0} == was[revoked]
        return
    # The other recorded rejection: a risk-denied SubmitOrder adds exactly one DENIED order.
    assert method == "SubmitOrder" and code is grpc.StatusCode.FAILED_PRECONDITION, (method, code)
    assert after["orders"][: len(before["orders"])] == before["orders"]
    (added,) = after["orders"][len(before["orders"]) :]
    assert added[1] is OrderStatus.DENIED
    assert after["journal"] == before["journal"] + 2 and after["sequence"] == before["sequence"] + 2
    for key in ("risk", "portfolio", "venue", "published", "auth"):
        assert after[key] == before[key], key


def test_api_fuzz_when_random_requests_to_every_rpc_then_never_internal_and_rejections_change_nothing() -> (
    None
):
    def body(api: Api, loop: asyncio.AbstractEventLoop) -> None:
        @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(data=st.data())
        def one_call(data: st.DataObject) -> None:
            stub_name, method, requests = data.draw(st.sampled_from(CALLS), label="rpc")
            request = Live.aim(data, method, data.draw(requests, label=method))
            before = api.state()
            audited = len(api.audit)
            code = loop.run_until_complete(call_once(api, stub_name, method, request))
            event(f"{method} -> {code.name}")  # --hypothesis-show-statistics: which paths were reached
            allowed = REJECTIONS | (AUTH_REJECTIONS if method in AUTH_METHODS else set())
            assert code is grpc.StatusCode.OK or code in allowed, (method, code, request)
            after = api.state()
            if code is not grpc.StatusCode.OK:
                assert_unchanged_or_denied(before, after, method, code)
            elif method not in STATE_CHANGING:
                assert after == before, method
            assert len(api.audit) == audited + (method in STATE_CHANGING)
            if method in STATE_CHANGING:
                assert api.audit[-1][0] == method
                assert api.actors[-1] == ("anonymous" if method in ("Login", "Refresh") else admin_actor(api))
                assert api.audit[-1][2] == ("OK" if code is grpc.StatusCode.OK else api.audit[-1][2])
                assert api.audit[-1][2].split(":")[0] == code.name
            if code is grpc.StatusCode.OK and method in STATE_CHANGING:
                loop.run_until_complete(api.settle())

        one_call()

    run_with_api(body)


def admin_actor(api: Api) -> str:
    key_id = api.role_keys[Role.ADMIN].split("_")[1]
    return f"admin/key:{key_id}"


def test_api_fuzz_when_rpcs_listed_then_every_rpc_of_every_service_is_fuzzed_or_named_elsewhere() -> None:
    rpcs = set()
    for module_info in pkgutil.iter_modules(algotrendy.v1.__path__):
        if module_info.name.endswith("_pb2"):
            module = importlib.import_module(f"algotrendy.v1.{module_info.name}")
            for service in module.DESCRIPTOR.services_by_name.values():
                rpcs |= {f"/{service.full_name}/{m.name}" for m in service.methods}
    fuzzed = {f"/algotrendy.v1.{SERVICES[stub]}/{method}" for stub, method, _ in CALLS}
    assert rpcs - fuzzed - set(NOT_FUZZED_HERE) == set()
    assert fuzzed | set(NOT_FUZZED_HERE) >= rpcs and not (fuzzed & set(NOT_FUZZED_HERE))


def test_api_fuzz_when_undecodable_bytes_to_every_rpc_then_never_internal_and_nothing_changes() -> None:
    def body(api: Api, loop: asyncio.AbstractEventLoop) -> None:
        methods = sorted({(SERVICES[stub], method) for stub, method, _ in CALLS})

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(target=st.sampled_from(methods), payload=st.binary(max_size=200))
        def one_call(target: tuple[str, str], payload: bytes) -> None:
            service, method = target
            before = api.state()
            audited = len(api.audit)
            call = api.channel.unary_unary(
                f"/algotrendy.v1.{service}/{method}",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )

            async def send() -> grpc.StatusCode:
                try:
                    await call(payload, timeout=10)
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

            code = loop.run_until_complete(send())
            assert code is not grpc.StatusCode.INTERNAL, (method, payload)
            if code is not grpc.StatusCode.OK:
                assert_unchanged_or_denied(before, api.state(), method, code)
                if code is grpc.StatusCode.UNKNOWN:  # grpc could not decode it: no servicer ran
                    assert len(api.audit) == audited
            else:
                loop.run_until_complete(api.settle())

        one_call()
        # still serving typed requests afterwards
        code = loop.run_until_complete(call_once(api, "risk_api", "GetLimits", risk_pb2.GetLimitsRequest()))
        assert code is grpc.StatusCode.OK

    run_with_api(body)
