"""The API harness shared by the order, portfolio and risk API tests and the API fuzz test (no tests
here): a real grpc.aio server on port 0 serving OrderService, PortfolioService and RiskService over
the real OrderManager, RiskEngine (through the app's RiskAdapter), Portfolio and SimVenue, on a
TestClock, with an in-memory journal implementing the OMS JournalPort. A market-maker account
rests a bid and an ask on the venue so the risk gate has a fresh reference price.

Authentication is on, as in the engine: AuthService and AdminService over a real LMDB store (a tmp
directory), the auth interceptor in front of every call. ``Api.channel`` is authenticated as admin;
``Api.channel_as(role)`` gives a channel for a viewer, trader or admin user, or with no credential.
Every audited call is recorded in ``Api.audit`` as ``(method, summary, result)`` with the caller in
``Api.actors``, and appended to the real hash-chained audit log (``Api.persistence.audit``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_auth import aio_channel

from algotrendy.v1 import (
    admin_pb2_grpc,
    auth_pb2_grpc,
    marketdata_pb2_grpc,
    orders_pb2_grpc,
    portfolio_pb2_grpc,
    risk_pb2_grpc,
)
from engine.api.auth import ApiAuth, AuthStore, CredentialKind, Principal, Role, current_principal
from engine.api.convert import AuditHook
from engine.api.marketdata_service import MarketDataServicer
from engine.api.orders_service import OrderServicer
from engine.api.portfolio_service import PortfolioServicer
from engine.api.risk_service import RiskServicer
from engine.api.server import GrpcServer
from engine.app.adapters import RiskAdapter
from engine.config import load_config
from engine.core.clock import TestClock
from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.component import EngineStatus
from engine.core.enums import EngineState, OrderType, Side, TimeInForce, TradingState
from engine.core.events import Event, OrderEvent, OrderFilled, QuoteTick, TradeTick
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.marketdata.registry import MarketDataRegistry
from engine.oms import OrderManager
from engine.oms.portfolio import Portfolio
from engine.risk import AccountLimits, InstrumentLimits, PriceReference, RiskEngine, StrategyLimits
from engine.store import LmdbStore
from engine.store.persistence import Persistence
from engine.telemetry import EngineMetrics
from engine.venues.sim import SimVenue, SimVenueConfig, default_instruments

BTC = InstrumentId("SIM:BTC-USD")
ETH = InstrumentId("SIM:ETH-USD")
MAIN = AccountId("main")
OTHER = AccountId("other")  # known to the engine, never trades here
MM = AccountId("mm")  # the market maker: acts on the venue directly, not through the API
MANUAL = StrategyId("manual")
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
BID, ASK = "64999.0", "65001.0"
#: Cheap argon2 and limits no test reaches unless it asks (``auth_overrides``).
AUTH_TEST_CONFIG: dict[str, Any] = {
    "auth.argon2_time_cost": 1,
    "auth.argon2_memory_kib": 64,
    "auth.argon2_parallelism": 1,
    "auth.login_max_failures_per_peer": 100_000,
    "rate_limits.orders_per_second": 1_000_000,
    "rate_limits.orders_burst": 1_000_000,
    "rate_limits.queries_per_second": 1_000_000,
    "rate_limits.queries_burst": 1_000_000,
    "rate_limits.streams_per_second": 1_000_000,
    "rate_limits.streams_burst": 1_000_000,
    "rate_limits.login_per_second": 1_000_000,
    "rate_limits.login_burst": 1_000_000,
}
#: Password of the role users ``Api.channel_as`` creates (``viewer``, ``trader``, ``admin2``).
ROLE_PASSWORD = "role-user-password"
ROLE_USERS = {Role.VIEWER: "viewer", Role.TRADER: "trader", Role.ADMIN: "admin2"}


class MemoryJournal:
    """``JournalPort``: keeps records in a list; durable at once, or on ``release()`` while ``hold``."""

    def __init__(self) -> None:
        self.records: list[OrderEvent] = []
        self.hold = False
        self._pending: list[asyncio.Future[None]] = []

    def append(self, record: OrderEvent) -> asyncio.Future[None]:
        self.records.append(record)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.hold:
            self._pending.append(future)
        else:
            future.set_result(None)
        return future

    def commit_pending(self) -> bool:
        """Durable at once unless held (then the manager awaits the futures)."""
        return not self.hold

    def release(self) -> None:
        self.hold = False
        for future in self._pending:
            future.set_result(None)  # InvalidStateError if a client had canceled it
        self._pending.clear()


def instrument_limits(**overrides: Any) -> InstrumentLimits:
    values: dict[str, Any] = dict(
        max_order_quantity=Quantity("5"),
        max_order_notional=Money("1000000", "USD"),
        max_position=Quantity("50"),
        price_band_bps=1_000,
        max_data_age_ms=3_600_000,
        reference=PriceReference.MID,
    )
    values.update(overrides)
    return InstrumentLimits(**values)


def account_limits(**overrides: Any) -> AccountLimits:
    values: dict[str, Any] = dict(
        max_gross_exposure=Money("100000000", "USD"),
        max_net_exposure=Money("100000000", "USD"),
        max_open_orders=100_000,
        max_orders_per_second=1_000_000,
        order_burst=1_000_000,
        max_daily_loss=Money("1000000", "USD"),
        max_drawdown=Money("1000000", "USD"),
        breach_state=TradingState.HALTED,
    )
    values.update(overrides)
    return AccountLimits(**values)


@dataclass
class Api:
    clock: TestClock
    venue: SimVenue
    journal: MemoryJournal
    risk: RiskEngine
    oms: OrderManager
    portfolio: Portfolio
    channel: grpc.aio.Channel
    audit: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    published: list[Event] = field(default_factory=list)
    target: str = ""
    auth: ApiAuth | None = None
    persistence: Persistence | None = None
    data_dir: Path | None = None
    #: The principal (audit actor) of each ``audit`` entry, in the same order.
    actors: list[str] = field(default_factory=list)
    role_keys: dict[Role, str] = field(default_factory=dict)
    _channels: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def auth_store(self) -> AuthStore:
        assert self.auth is not None and self.auth.store is not None
        return self.auth.store

    @property
    def auth_api(self) -> auth_pb2_grpc.AuthServiceStub:
        return auth_pb2_grpc.AuthServiceStub(self.channel)

    @property
    def admin_api(self) -> admin_pb2_grpc.AdminServiceStub:
        return admin_pb2_grpc.AdminServiceStub(self.channel)

    async def authorization_for(self, role: Role) -> str:
        """``ApiKey <key>`` of a user with exactly ``role`` (created once, directly in the store)."""
        if role not in self.role_keys:
            store = self.auth_store
            name = ROLE_USERS[role]
            if name not in store.users:
                await store.create_user(name, ROLE_PASSWORD, role)
            owner = Principal(name, role, CredentialKind.API_KEY)
            _, key = await store.create_api_key(owner, name, f"{name}-test", role, 0)
            self.role_keys[role] = f"ApiKey {key}"
        return self.role_keys[role]

    async def channel_as(self, role: Role | None) -> grpc.aio.Channel:
        """A channel authenticated with a key of ``role``'s user; None: a channel without credential."""
        authorization = None if role is None else await self.authorization_for(role)
        channel = aio_channel(self.target, authorization)
        self._channels.append(channel)
        return channel

    def auth_state(self) -> dict[str, Any]:
        """Users, keys and sessions as stored (``last_used_at_ns`` left out: a read may set it)."""
        store = self.auth_store
        return {
            "users": dict(store.users),
            "keys": {
                k: {f: v for f, v in r.items() if f != "last_used_at_ns"} for k, r in store.keys.items()
            },
            "sessions": dict(store.sessions),
        }

    @property
    def orders(self) -> orders_pb2_grpc.OrderServiceStub:
        return orders_pb2_grpc.OrderServiceStub(self.channel)

    @property
    def positions(self) -> portfolio_pb2_grpc.PortfolioServiceStub:
        return portfolio_pb2_grpc.PortfolioServiceStub(self.channel)

    @property
    def risk_api(self) -> risk_pb2_grpc.RiskServiceStub:
        return risk_pb2_grpc.RiskServiceStub(self.channel)

    def route(self, event: Event) -> None:
        """Venue reports, as the app routes them."""
        if isinstance(event, OrderEvent):
            self.oms.on_order_event(event)
        elif isinstance(event, TradeTick):
            self.oms.on_trade(event)
            self.portfolio.on_trade(event)
        elif isinstance(event, QuoteTick):
            self.oms.on_quote(event)
            self.portfolio.on_quote(event)

    def on_order_event(self, event: OrderEvent) -> None:
        if isinstance(event, OrderFilled):
            self.portfolio.on_fill(event)

    def market(self, command: SubmitOrder | CancelOrder) -> None:
        """The market maker acts on the venue now."""
        for event in self.venue.apply(command):
            self.route(event)

    async def settle(self, rounds: int = 4) -> None:
        """Let the venue answer what was sent and the manager finish its work (no sleeps)."""
        for _ in range(rounds):
            self.clock.advance(1_000)
            await self.oms.idle()
            await asyncio.sleep(0)

    def state(self) -> dict[str, Any]:
        """Everything a request could change, for "changed nothing" assertions."""
        return {
            "orders": [
                (o.key, o.status, str(o.quantity), str(o.price), str(o.trigger_price), o.last_sequence)
                for o in self.oms.orders()
            ],
            "sequence": self.oms.sequence,
            "journal": len(self.journal.records),
            "risk": self.risk.snapshot(),
            "portfolio": self.portfolio.snapshot(),
            "venue": self.venue.snapshot(),
            "published": len(self.published),
            "auth": self.auth_state() if self.auth is not None else None,
        }


def mm_order(coid: str, side: Side, price: str, qty: str = "2.0") -> SubmitOrder:
    return SubmitOrder(
        ts_init=START_NS,
        account_id=MM,
        strategy_id=MANUAL,
        client_order_id=ClientOrderId(coid),
        instrument_id=BTC,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=Quantity(qty),
        price=Price(price),
        time_in_force=TimeInForce.GTC,
    )


@asynccontextmanager
async def serve_api(
    *,
    with_audit: bool = True,
    publish: Callable[[Event], Awaitable[None] | None] | None = None,
    audit_hook: AuditHook | None = None,
    on_internal: Callable[[BaseException], None] | None = None,
    auth_overrides: dict[str, Any] | None = None,
) -> AsyncIterator[Api]:
    """``publish`` (default: collect into ``Api.published``) receives the risk servicer's events;
    ``audit_hook`` replaces the recording audit hook; ``on_internal`` goes to every servicer;
    ``auth_overrides`` are config overrides (``auth.*``, ``rate_limits.*``) over ``AUTH_TEST_CONFIG``."""
    with tempfile.TemporaryDirectory(prefix="algotrendy-api-") as tmp:
        async with _serve_api(
            Path(tmp),
            with_audit,
            publish,
            audit_hook,
            on_internal,
            {**AUTH_TEST_CONFIG, **(auth_overrides or {})},
        ) as api:
            yield api


@asynccontextmanager
async def _serve_api(
    data_dir: Path,
    with_audit: bool,
    publish: Callable[[Event], Awaitable[None] | None] | None,
    audit_hook: AuditHook | None,
    on_internal: Callable[[BaseException], None] | None,
    overrides: dict[str, Any],
) -> AsyncIterator[Api]:
    clock = TestClock(START_NS)
    instruments = default_instruments()
    venue = SimVenue(
        instruments,
        clock,
        SimVenueConfig(
            accounts={
                "main": {"USD": "10000000", "BTC": "100", "ETH": "1000"},
                "mm": {"USD": "100000000", "BTC": "1000", "ETH": "10000"},
            }
        ),
    )
    risk = RiskEngine(quote_currency="USD")
    for instrument in instruments:
        risk.register_instrument(instrument, instrument_limits() if instrument.id != ETH else None)
    risk.register_account(MAIN, account_limits())
    risk.register_account(OTHER, account_limits())
    risk.register_strategy(MANUAL, StrategyLimits(max_orders_per_second=1_000_000, order_burst=1_000_000))
    risk.register_strategy(StrategyId("spare"))
    journal = MemoryJournal()
    oms = OrderManager(
        clock=clock, venue=venue, risk=RiskAdapter(risk), journal=journal, instruments=instruments
    )
    portfolio = Portfolio(
        instruments,
        balances={MAIN: {"USD": Money("10000000", "USD"), "BTC": Money("100", "BTC")}},
        on_equity=lambda account, equity, ts: risk.on_equity(
            account, equity, portfolio.pnl(account, "USD").realised, ts
        ),
    )
    registry = MarketDataRegistry()
    for instrument in instruments:
        registry.add_source(instrument, functools.partial(venue.book, instrument.id))
    accounts = {MAIN, OTHER}

    config = load_config(env={}, overrides={"grpc.port": 0, "data_dir": str(data_dir), **overrides})
    lmdb = LmdbStore(data_dir / "lmdb", map_size_mb=64, durability="async")
    lmdb.open(START_NS)
    persistence = Persistence(lmdb)
    persistence.start()
    auth = ApiAuth(config.auth, config.rate_limits)
    await auth.start(persistence, data_dir, time.time_ns)  # tokens expire in real time
    server = GrpcServer(
        config.grpc,
        EngineMetrics("api-test"),
        lambda: harness_status(clock),
        interceptors=[auth.interceptor],
    )
    audit: list[tuple[str, dict[str, Any], str]] = []
    actors: list[str] = []
    published: list[Event] = []

    def record(method: str, summary: dict[str, Any], result: str) -> None:
        actor = current_principal().actor
        audit.append((method, summary, result))
        actors.append(actor)
        persistence.audit.append(actor=actor, action=method, summary=summary, result=result)

    hook = (audit_hook or record) if with_audit else None
    server.register(
        orders_pb2_grpc.add_OrderServiceServicer_to_server,
        OrderServicer(
            oms,
            registry.instrument,
            clock,
            account_exists=accounts.__contains__,
            audit=hook,
            on_internal=on_internal,
        ),
        "algotrendy.v1.OrderService",
    )
    server.register(
        portfolio_pb2_grpc.add_PortfolioServiceServicer_to_server,
        PortfolioServicer(
            portfolio,
            registry.instrument,
            clock,
            currency="USD",
            account_exists=accounts.__contains__,
            equity_marks=risk.equity_marks,
            on_internal=on_internal,
        ),
        "algotrendy.v1.PortfolioService",
    )
    server.register(
        risk_pb2_grpc.add_RiskServiceServicer_to_server,
        RiskServicer(
            risk,
            registry.instrument,
            clock,
            publish=publish or published.append,  # type: ignore[arg-type]
            audit=hook,
            on_internal=on_internal,
        ),
        "algotrendy.v1.RiskService",
    )
    server.register(
        marketdata_pb2_grpc.add_MarketDataServiceServicer_to_server,
        MarketDataServicer(registry, clock),
        "algotrendy.v1.MarketDataService",
    )
    for add_to_server, servicer, name in auth.services(lmdb, hook, on_internal):  # type: ignore[arg-type]
        server.register(add_to_server, servicer, name)
    port = server.bind()
    await server.start()
    target = f"127.0.0.1:{port}"
    assert auth.admin_credentials is not None
    admin = f"ApiKey {_admin_key(auth.admin_credentials)}"
    async with aio_channel(target, admin) as channel:
        api = Api(clock, venue, journal, risk, oms, portfolio, channel, audit, published)
        api.target, api.auth, api.persistence, api.data_dir, api.actors = (
            target,
            auth,
            persistence,
            data_dir,
            actors,
        )
        api.role_keys[Role.ADMIN] = admin
        venue.set_event_handler(api.route)
        oms.subscribe(api.on_order_event)
        venue.start()
        api.market(mm_order("mm-bid", Side.BUY, BID))
        api.market(mm_order("mm-ask", Side.SELL, ASK))
        try:
            yield api
        finally:
            venue.stop()
            for extra in api._channels:
                await extra.close()
    await server.stop(0)
    await persistence.close()
    lmdb.close(clock.timestamp_ns())


def harness_status(clock: TestClock) -> EngineStatus:
    """GetStatus of the harness: running, no components, no loop-lag samples."""
    now = clock.timestamp_ns()
    return EngineStatus(
        "test", "api-test", 0, EngineState.RUNNING, TradingState.ACTIVE, START_NS, now, (), 0, 0, 0, 0, 0
    )


def _admin_key(path: Path) -> str:
    return json.loads(path.read_text())["api_key"]


def trailers(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    return dict(error.trailing_metadata() or ())
