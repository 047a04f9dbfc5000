"""``AsyncClient``: the whole AlgoTrendy gRPC API over ``grpc.aio``, with typed results.

    async with AsyncClient("127.0.0.1:50051", ApiKey(key)) as client:
        order = await client.submit_order("SIM:BTC-USD", "buy", Decimal("0.01"), Decimal("65000"))
        async for event in client.stream_order_events(from_sequence=order.last_sequence):
            ...

Every method sends the credential in ``authorization`` metadata, turns a failed call into a typed
exception (``algotrendy_sdk.errors``) and returns dataclasses (``algotrendy_sdk.types``) with
``Decimal`` amounts. A call the engine refuses as UNAUTHENTICATED is retried once after the
credential renewed itself (password sessions refresh their token); nothing else is retried
implicitly — order commands are idempotent by ``client_order_id``, so resubmitting the same id
after a timeout is the safe retry.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import grpc

from algotrendy_sdk import auth as auth_mod
from algotrendy_sdk.auth import Credentials, Password, Session, StoredSession
from algotrendy_sdk.errors import (
    AlgoTrendyError,
    AlreadyExists,
    InvalidArgument,
    OrderDenied,
    Unauthenticated,
    from_rpc_error,
)
from algotrendy_sdk.streams import Backoff, reconnecting, resume_by_sequence
from algotrendy_sdk.types import (
    AccountLimits,
    ApiKeyCreated,
    AuditRecord,
    AuditVerification,
    Balances,
    EngineStatus,
    Instrument,
    InstrumentLimits,
    Limits,
    MarketDataBatch,
    Order,
    OrderBook,
    OrderEvent,
    OrderStatus,
    OrderType,
    Pnl,
    Position,
    PositionUpdate,
    RiskState,
    Role,
    Side,
    StrategyLimits,
    TimeInForce,
    TradingState,
    TradingStateChange,
    User,
    WhoAmI,
    decimal_text,
    market_data_event,
)
from algotrendy_sdk.types import ApiKey as ApiKeyInfo

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_TARGET",
    "AsyncClient",
    "MarketDataChannel",
    "TlsConfig",
    "new_client_order_id",
    "parse_interval_ns",
]

DEFAULT_TARGET = "127.0.0.1:50051"
DEFAULT_ACCOUNT = "main"
PAGE_SIZE = 1000


@dataclass(frozen=True)
class TlsConfig:
    """TLS to the engine: the CA to trust (PEM; None = system roots) and, for mutual TLS, our
    client certificate chain and key."""

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    server_name: str | None = None  # override the name checked against the certificate

    @classmethod
    def from_files(
        cls,
        ca: str | os.PathLike[str] | None = None,
        cert: str | os.PathLike[str] | None = None,
        key: str | os.PathLike[str] | None = None,
        server_name: str | None = None,
    ) -> TlsConfig:
        def read(path: str | os.PathLike[str] | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()

        return cls(read(ca), read(cert), read(key), server_name)


@dataclass(frozen=True)
class MarketDataChannel:
    """One channel of a market-data subscription: ``trades``, ``bbo``, ``book`` (with ``depth``),
    ``bars`` (with ``interval_ns``) or ``indicator`` (name, params, ``interval_ns``)."""

    channel: str
    depth: int = 0
    interval_ns: int = 0
    indicator: str = ""
    params: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, spec: str | MarketDataChannel) -> MarketDataChannel:
        """``"trades"``, ``"bbo"``, ``"book:5"``, ``"bars:60s"``, ``"indicator:rsi:60s:timeperiod=14"``."""
        if isinstance(spec, MarketDataChannel):
            return spec
        parts = spec.strip().split(":")
        name = parts[0].lower()
        if name in ("trades", "bbo"):
            return cls(name)
        if name == "book":
            return cls(name, depth=int(parts[1]) if len(parts) > 1 and parts[1] else 0)
        if name == "bars" and len(parts) == 2:
            return cls(name, interval_ns=parse_interval_ns(parts[1]))
        if name == "indicator" and len(parts) >= 3:
            params = []
            for item in parts[3:]:
                for kv in filter(None, item.split(",")):
                    key, _, value = kv.partition("=")
                    params.append((key, float(value)))
            return cls(
                name, interval_ns=parse_interval_ns(parts[2]), indicator=parts[1], params=tuple(params)
            )
        raise ValueError(
            f"bad channel {spec!r}: trades, bbo, book[:DEPTH], bars:INTERVAL, indicator:NAME:INTERVAL[:k=v,...]"
        )

    def to_proto(self) -> Any:
        from algotrendy.v1 import marketdata_pb2

        return marketdata_pb2.ChannelSubscription(
            channel=marketdata_pb2.MarketDataChannel.Value(f"MARKET_DATA_CHANNEL_{self.channel.upper()}"),
            book_depth=self.depth,
            bar_interval_ns=self.interval_ns,
            indicator=self.indicator,
            indicator_params=dict(self.params),
        )


_UNITS_NS = {
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
}


def parse_interval_ns(text: str) -> int:
    """``"1m"`` -> 60_000_000_000; plain digits are nanoseconds."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    for unit in ("ms", "s", "m", "h", "d"):
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * _UNITS_NS[unit]
    raise ValueError(f"bad interval {text!r}: e.g. 1s, 1m, 5m, 1h")


def _decimal_msg(value: Decimal | str | int | None, name: str) -> Any:
    from algotrendy.v1 import common_pb2

    return None if value is None else common_pb2.Decimal(value=decimal_text(value, name))


def _same_order(original: Order, request: Any) -> bool:
    """Whether ``original`` (the order holding a client order id) is the order ``request`` asks
    for: a retry, not a second order under the same id. Prices and quantities compare as numbers
    (``0.010`` is ``0.01``); an empty strategy id is the engine's default (any)."""
    from algotrendy.v1 import common_pb2

    def number(name: str) -> Decimal | None:
        return Decimal(getattr(request, name).value) if request.HasField(name) else None

    return (
        original.instrument_id == request.instrument_id
        and original.side == Side.from_proto(request.side, common_pb2.Side)
        and original.order_type == OrderType.from_proto(request.order_type, common_pb2.OrderType)
        and original.time_in_force == TimeInForce.from_proto(request.time_in_force, common_pb2.TimeInForce)
        and original.quantity == number("quantity")
        and original.price == number("price")
        and original.trigger_price == number("trigger_price")
        and original.expire_at_ns == request.expire_at_ns
        and original.post_only == request.post_only
        and original.reduce_only == request.reduce_only
        and (not request.strategy_id or original.strategy_id == request.strategy_id)
    )


def new_client_order_id(prefix: str = "sdk") -> str:
    """A fresh client order id (fits the API's 1..36 of ``A-Z a-z 0-9 . _ : / -``)."""
    return f"{prefix}-{uuid.uuid4().hex[: 35 - len(prefix)]}"


class AsyncClient:
    """One channel to an engine; cheap to share across tasks. Use ``async with`` or ``close()``.

    ``credentials``: an ``ApiKey``, ``Password``, ``Session``, or None to call without one (only
    Login and health answer then). ``AsyncClient.local()`` picks them up like the CLI does.
    ``account_id`` is the default account of trading and portfolio calls.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        credentials: Credentials | None = None,
        *,
        account_id: str = DEFAULT_ACCOUNT,
        timeout_s: float = 10.0,
        tls: TlsConfig | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        from algotrendy.v1 import (
            admin_pb2_grpc,
            auth_pb2_grpc,
            engine_pb2_grpc,
            marketdata_pb2_grpc,
            orders_pb2_grpc,
            portfolio_pb2_grpc,
            risk_pb2_grpc,
        )

        self.target = target
        self.credentials = credentials
        self.account_id = account_id
        self.timeout_s = timeout_s
        opts = list(options)
        if tls is not None:
            if tls.server_name:
                opts.append(("grpc.ssl_target_name_override", tls.server_name))
            channel_credentials = grpc.ssl_channel_credentials(
                tls.root_certificates, tls.private_key, tls.certificate_chain
            )
            self._channel = grpc.aio.secure_channel(target, channel_credentials, options=opts)
        else:
            self._channel = grpc.aio.insecure_channel(target, options=opts)
        self._engine = engine_pb2_grpc.EngineServiceStub(self._channel)
        self._marketdata = marketdata_pb2_grpc.MarketDataServiceStub(self._channel)
        self._orders = orders_pb2_grpc.OrderServiceStub(self._channel)
        self._portfolio = portfolio_pb2_grpc.PortfolioServiceStub(self._channel)
        self._risk = risk_pb2_grpc.RiskServiceStub(self._channel)
        self._auth = auth_pb2_grpc.AuthServiceStub(self._channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)

    @classmethod
    def local(
        cls,
        target: str | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        user: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AsyncClient:
        """A client for ``target`` (default ``$ALGOTRENDY_TARGET`` or 127.0.0.1:50051) with credentials
        from the arguments, else the environment, else ``<data_dir>/admin-credentials.json``."""
        credentials = auth_mod.resolve(api_key=api_key, user=user, password=password, data_dir=data_dir)
        return cls(target or os.environ.get("ALGOTRENDY_TARGET") or DEFAULT_TARGET, credentials, **kwargs)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    # -- plumbing ---------------------------------------------------------------------------------
    async def _metadata(self) -> tuple[tuple[str, str], ...]:
        if self.credentials is None:
            return ()
        header = await self.credentials.authorization(self._auth)
        return (("authorization", header),) if header else ()

    async def _renew(self, error: Unauthenticated) -> bool:
        return self.credentials is not None and await self.credentials.renew(self._auth, error)

    async def _unary(self, stub: Any, method: str, request: Any, timeout_s: float | None = None) -> Any:
        call = getattr(stub, method)
        path = f"{type(stub).__name__.removesuffix('Stub')}/{method}"
        for attempt in (1, 2):
            metadata = await self._metadata()
            try:
                return await call(request, metadata=metadata, timeout=timeout_s or self.timeout_s)
            except grpc.RpcError as exc:
                error = from_rpc_error(exc, path)
            if attempt == 1 and isinstance(error, Unauthenticated) and await self._renew(error):
                continue
            raise error
        raise AssertionError("unreachable")

    def _account(self, account_id: str | None) -> str:
        return self.account_id if account_id is None else account_id

    # -- engine -----------------------------------------------------------------------------------
    async def status(self) -> EngineStatus:
        from algotrendy.v1 import engine_pb2

        return EngineStatus.from_proto(
            await self._unary(self._engine, "GetStatus", engine_pb2.GetStatusRequest())
        )

    # -- auth -------------------------------------------------------------------------------------
    async def login(self, user: str, password: str) -> StoredSession:
        """Log in with a password; later calls use (and refresh) the session's access token."""
        credentials = Password(user, password)
        await credentials.authorization(self._auth)  # logs in now: bad credentials fail here
        self.credentials = credentials
        assert credentials.session is not None
        return credentials.session

    async def logout(self) -> None:
        """Revoke the current session on the engine (API keys: nothing to do)."""
        if isinstance(self.credentials, Session):
            await self.credentials.close(self._auth)

    async def whoami(self) -> WhoAmI:
        from algotrendy.v1 import auth_pb2

        return WhoAmI.from_proto(await self._unary(self._auth, "WhoAmI", auth_pb2.WhoAmIRequest()))

    async def create_api_key(
        self, name: str, *, role: Role | str | None = None, user: str = "", expires_in_s: int = 0
    ) -> ApiKeyCreated:
        """A new API key; ``.secret`` is shown only in this answer."""
        from algotrendy.v1 import auth_pb2

        request = auth_pb2.CreateApiKeyRequest(
            name=name,
            role=Role.parse(role).to_proto(auth_pb2.Role) if role else 0,
            user=user,
            expires_in_s=expires_in_s,
        )
        response = await self._unary(self._auth, "CreateApiKey", request)
        return ApiKeyCreated(ApiKeyInfo.from_proto(response.key), response.api_key)

    async def list_api_keys(self, *, user: str = "", include_revoked: bool = False) -> list[ApiKeyInfo]:
        from algotrendy.v1 import auth_pb2

        request = auth_pb2.ListApiKeysRequest(user=user, include_revoked=include_revoked)
        response = await self._unary(self._auth, "ListApiKeys", request)
        return [ApiKeyInfo.from_proto(k) for k in response.keys]

    async def revoke_api_key(self, key_id: str) -> ApiKeyInfo:
        from algotrendy.v1 import auth_pb2

        response = await self._unary(self._auth, "RevokeApiKey", auth_pb2.RevokeApiKeyRequest(key_id=key_id))
        return ApiKeyInfo.from_proto(response.key)

    # -- admin ------------------------------------------------------------------------------------
    async def query_audit(
        self,
        *,
        from_seq: int = 0,
        to_seq: int = 0,
        since_ns: int = 0,
        until_ns: int = 0,
        actor: str = "",
        action: str = "",
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Audit records matching the filters, oldest first (all pages, or the first ``limit``)."""
        from algotrendy.v1 import admin_pb2

        records: list[AuditRecord] = []
        token = ""
        while True:
            request = admin_pb2.QueryAuditRequest(
                from_seq=from_seq,
                to_seq=to_seq,
                since_ns=since_ns,
                until_ns=until_ns,
                actor=actor,
                action=action,
                page_size=min(PAGE_SIZE, limit) if limit else PAGE_SIZE,
                page_token=token,
            )
            response = await self._unary(self._admin, "QueryAudit", request)
            records.extend(AuditRecord.from_proto(r) for r in response.records)
            token = response.next_page_token
            if not token or (limit is not None and len(records) >= limit):
                return records[:limit] if limit is not None else records

    async def audit_tail(self, n: int = 20) -> list[AuditRecord]:
        """The last ``n`` audit records, oldest first (VerifyAudit gives the head, then one page)."""
        head = (await self.verify_audit()).head_seq
        if head == 0:
            return []
        return await self.query_audit(from_seq=max(head - n + 1, 1), to_seq=head, limit=n)

    async def verify_audit(self) -> AuditVerification:
        from algotrendy.v1 import admin_pb2

        return AuditVerification.from_proto(
            await self._unary(self._admin, "VerifyAudit", admin_pb2.VerifyAuditRequest(), timeout_s=120)
        )

    async def create_user(self, user: str, password: str, role: Role | str) -> User:
        from algotrendy.v1 import admin_pb2, auth_pb2

        request = admin_pb2.CreateUserRequest(
            user=user, password=password, role=Role.parse(role).to_proto(auth_pb2.Role)
        )
        return User.from_proto((await self._unary(self._admin, "CreateUser", request)).user)

    async def list_users(self) -> list[User]:
        from algotrendy.v1 import admin_pb2

        response = await self._unary(self._admin, "ListUsers", admin_pb2.ListUsersRequest())
        return [User.from_proto(u) for u in response.users]

    async def set_user_role(self, user: str, role: Role | str) -> User:
        from algotrendy.v1 import admin_pb2, auth_pb2

        request = admin_pb2.SetUserRoleRequest(user=user, role=Role.parse(role).to_proto(auth_pb2.Role))
        return User.from_proto((await self._unary(self._admin, "SetUserRole", request)).user)

    async def disable_user(self, user: str, *, enable: bool = False) -> User:
        from algotrendy.v1 import admin_pb2

        request = admin_pb2.DisableUserRequest(user=user, enable=enable)
        return User.from_proto((await self._unary(self._admin, "DisableUser", request)).user)

    async def reset_password(self, user: str, password: str) -> User:
        from algotrendy.v1 import admin_pb2

        request = admin_pb2.ResetPasswordRequest(user=user, password=password)
        return User.from_proto((await self._unary(self._admin, "ResetPassword", request)).user)

    # -- market data ------------------------------------------------------------------------------
    async def instruments(self, venue: str = "") -> list[Instrument]:
        from algotrendy.v1 import marketdata_pb2

        response = await self._unary(
            self._marketdata, "ListInstruments", marketdata_pb2.ListInstrumentsRequest(venue=venue)
        )
        return [Instrument.from_proto(i) for i in response.instruments]

    async def order_book(self, instrument_id: str, depth: int = 10) -> OrderBook:
        from algotrendy.v1 import marketdata_pb2

        request = marketdata_pb2.GetOrderBookRequest(instrument_id=instrument_id, depth=depth)
        return OrderBook.from_proto(await self._unary(self._marketdata, "GetOrderBook", request))

    async def stream_market_data(
        self,
        instrument_ids: Iterable[str],
        channels: Iterable[str | MarketDataChannel] = ("trades", "bbo"),
        *,
        reconnect: bool = True,
        backoff: Backoff | None = None,
    ) -> AsyncIterator[MarketDataBatch]:
        """Batches of market-data events (and heartbeats) until the caller stops iterating.

        Market data is conflated for slow consumers and carries no sequence, so after a disconnect
        the subscription simply starts again (``reconnect``).
        """
        from algotrendy.v1 import marketdata_pb2

        request = marketdata_pb2.StreamMarketDataRequest(
            instrument_ids=list(instrument_ids),
            channels=[MarketDataChannel.parse(c).to_proto() for c in channels],
        )

        async def open_stream() -> Any:
            return self._marketdata.StreamMarketData(request, metadata=await self._metadata())

        backoff = backoff or Backoff(max_attempts=None if reconnect else 0)
        async for message in reconnecting(open_stream, backoff=backoff, renew=self._renew):
            events = tuple(e for e in map(market_data_event, message.events) if e is not None)
            yield MarketDataBatch(events, message.heartbeat, message.ts_ns, message.conflated)

    # -- orders -----------------------------------------------------------------------------------
    async def submit_order(
        self,
        instrument_id: str,
        side: Side | str,
        quantity: Decimal | str | int,
        price: Decimal | str | int | None = None,
        *,
        order_type: OrderType | str | None = None,
        trigger_price: Decimal | str | int | None = None,
        time_in_force: TimeInForce | str | None = None,
        client_order_id: str | None = None,
        account_id: str | None = None,
        strategy_id: str = "",
        expire_at_ns: int = 0,
        post_only: bool = False,
        reduce_only: bool = False,
        timeout_s: float | None = None,
    ) -> Order:
        """Submit an order; returns it as the engine recorded it (SUBMITTED or later).

        ``order_type`` defaults from the prices given: LIMIT with a price, MARKET without, the STOP
        variants with a ``trigger_price``. ``time_in_force`` defaults to IOC for market orders and
        GTC otherwise. ``client_order_id`` defaults to a fresh id; pass your own to make a retry
        after a timeout safe: the engine never creates a second order under one id, and resending
        the same order (same id and terms) answers what the first attempt got: the order as the
        engine has it now, or ``OrderDenied`` again if the risk gate denied it. The same id with
        other terms is a different order: ``AlreadyExists`` (``.original``: the order holding it).
        Raises ``OrderDenied`` (risk), ``InvalidArgument`` (``.field``), ``NotFound``,
        ``AlreadyExists``, ``RateLimited``, ``Unavailable``.
        """
        from algotrendy.v1 import common_pb2, orders_pb2

        if order_type is None:
            if trigger_price is not None:
                order_type = OrderType.STOP_LIMIT if price is not None else OrderType.STOP_MARKET
            else:
                order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
        kind = OrderType.parse(order_type)
        if time_in_force is None:
            time_in_force = TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.GTC
        request = orders_pb2.SubmitOrderRequest(
            account_id=self._account(account_id),
            strategy_id=strategy_id,
            client_order_id=client_order_id or new_client_order_id(),
            instrument_id=instrument_id,
            side=Side.parse(side).to_proto(common_pb2.Side),
            order_type=kind.to_proto(common_pb2.OrderType),
            quantity=_decimal_msg(quantity, "quantity"),
            price=_decimal_msg(price, "price"),
            trigger_price=_decimal_msg(trigger_price, "trigger_price"),
            time_in_force=TimeInForce.parse(time_in_force).to_proto(common_pb2.TimeInForce),
            expire_at_ns=expire_at_ns,
            post_only=post_only,
            reduce_only=reduce_only,
        )
        try:
            response = await self._unary(self._orders, "SubmitOrder", request, timeout_s)
        except AlreadyExists as exc:
            original = exc.original
            if original is None or not _same_order(original, request):
                raise
            if original.status is OrderStatus.DENIED:
                denied = OrderDenied(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"order {original.client_order_id} was denied: {original.detail or original.reason}",
                    reason=original.reason,
                    method=exc.method,
                    metadata=exc.metadata,
                )
                denied.order = original
                raise denied from exc
            return original
        return Order.from_proto(response.order)

    async def cancel_order(self, client_order_id: str, *, account_id: str | None = None) -> Order:
        from algotrendy.v1 import orders_pb2

        request = orders_pb2.CancelOrderRequest(
            account_id=self._account(account_id), client_order_id=client_order_id
        )
        return Order.from_proto((await self._unary(self._orders, "CancelOrder", request)).order)

    async def cancel_all_orders(
        self,
        *,
        instrument_id: str = "",
        side: Side | str | None = None,
        account_id: str | None = None,
    ) -> list[Order]:
        from algotrendy.v1 import common_pb2, orders_pb2

        request = orders_pb2.CancelAllOrdersRequest(
            account_id=self._account(account_id),
            instrument_id=instrument_id,
            side=Side.parse(side).to_proto(common_pb2.Side) if side else 0,
        )
        response = await self._unary(self._orders, "CancelAllOrders", request)
        return [Order.from_proto(o) for o in response.orders]

    async def amend_order(
        self,
        client_order_id: str,
        *,
        quantity: Decimal | str | int | None = None,
        price: Decimal | str | int | None = None,
        trigger_price: Decimal | str | int | None = None,
        account_id: str | None = None,
    ) -> Order:
        from algotrendy.v1 import orders_pb2

        if quantity is None and price is None and trigger_price is None:
            raise InvalidArgument(
                grpc.StatusCode.INVALID_ARGUMENT,
                "nothing to change",
                reason="NOTHING_TO_AMEND",
                field="quantity",
            )
        request = orders_pb2.AmendOrderRequest(
            account_id=self._account(account_id),
            client_order_id=client_order_id,
            quantity=_decimal_msg(quantity, "quantity"),
            price=_decimal_msg(price, "price"),
            trigger_price=_decimal_msg(trigger_price, "trigger_price"),
        )
        return Order.from_proto((await self._unary(self._orders, "AmendOrder", request)).order)

    async def get_order(self, client_order_id: str, *, account_id: str | None = None) -> Order:
        from algotrendy.v1 import orders_pb2

        request = orders_pb2.GetOrderRequest(
            account_id=self._account(account_id), client_order_id=client_order_id
        )
        return Order.from_proto((await self._unary(self._orders, "GetOrder", request)).order)

    async def list_orders(
        self,
        *,
        account_id: str | None = None,
        instrument_id: str = "",
        strategy_id: str = "",
        statuses: Iterable[OrderStatus | str] = (),
        open_only: bool = False,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Order]:
        """Orders matching the filters, oldest first (``newest_first``: the latest first): every
        page, or the first ``limit`` -- with ``newest_first``, the ``limit`` most recent."""
        from algotrendy.v1 import common_pb2, orders_pb2

        orders: list[Order] = []
        token = ""
        while True:
            request = orders_pb2.ListOrdersRequest(
                account_id=self._account(account_id),
                instrument_id=instrument_id,
                strategy_id=strategy_id,
                statuses=[OrderStatus.parse(s).to_proto(common_pb2.OrderStatus) for s in statuses],
                open_only=open_only,
                page_size=min(PAGE_SIZE, limit) if limit else PAGE_SIZE,
                page_token=token,
                newest_first=newest_first,
            )
            response = await self._unary(self._orders, "ListOrders", request)
            orders.extend(Order.from_proto(o) for o in response.orders)
            token = response.next_page_token
            if not token or (limit is not None and len(orders) >= limit):
                return orders[:limit] if limit is not None else orders

    async def stream_order_events(
        self,
        *,
        account_id: str | None = "",
        instrument_id: str = "",
        from_sequence: int = 0,
        backoff: Backoff | None = None,
        on_reconnect: Callable[[int, AlgoTrendyError], None] | None = None,
    ) -> AsyncIterator[OrderEvent]:
        """Every order event in sequence order, exactly once, across disconnects.

        ``from_sequence``: 0 = live only; n = every event with sequence >= n (from the journal),
        then live. After a break the stream reopens with ``from_sequence = last seen + 1`` after
        a backoff, including when the engine closed it as a slow consumer (it then names the
        first sequence it did not deliver). A live-only stream gets its first resume point from
        its first event or heartbeat; a break before either reopens it live-only.
        ``account_id`` "" (default) = every account; None = the client's default account.
        ``on_reconnect(from_sequence, error)`` is called before every reopening.
        """
        from algotrendy.v1 import orders_pb2

        account = self._account(account_id)

        async def open_stream(start: int) -> Any:
            request = orders_pb2.StreamOrderEventsRequest(
                account_id=account, instrument_id=instrument_id, from_sequence=start
            )
            return self._orders.StreamOrderEvents(request, metadata=await self._metadata())

        def unpack(message: Any) -> Iterable[tuple[int, OrderEvent]]:
            return ((e.sequence, OrderEvent.from_proto(e)) for e in message.events)

        async for event in resume_by_sequence(
            open_stream,
            unpack,
            from_sequence=from_sequence,
            backoff=backoff,
            renew=self._renew,
            on_reconnect=on_reconnect,
            caught_up_to=_heartbeat_head,
        ):
            yield event

    # -- portfolio --------------------------------------------------------------------------------
    async def positions(self, *, account_id: str | None = None, instrument_id: str = "") -> list[Position]:
        from algotrendy.v1 import portfolio_pb2

        request = portfolio_pb2.ListPositionsRequest(
            account_id=self._account(account_id), instrument_id=instrument_id
        )
        response = await self._unary(self._portfolio, "ListPositions", request)
        return [Position.from_proto(p) for p in response.positions]

    async def balances(self, *, account_id: str | None = None) -> Balances:
        from algotrendy.v1 import portfolio_pb2

        request = portfolio_pb2.GetBalancesRequest(account_id=self._account(account_id))
        return Balances.from_proto(await self._unary(self._portfolio, "GetBalances", request))

    async def pnl(self, *, account_id: str | None = None) -> Pnl:
        from algotrendy.v1 import portfolio_pb2

        request = portfolio_pb2.GetPnlRequest(account_id=self._account(account_id))
        return Pnl.from_proto(await self._unary(self._portfolio, "GetPnl", request))

    async def stream_positions(
        self,
        *,
        account_id: str | None = "",
        instrument_id: str = "",
        from_sequence: int = 0,
        backoff: Backoff | None = None,
        on_reconnect: Callable[[int, AlgoTrendyError], None] | None = None,
    ) -> AsyncIterator[PositionUpdate]:
        """Position updates (one per fill) in sequence order, exactly once, across disconnects."""
        from algotrendy.v1 import portfolio_pb2

        account = self._account(account_id)

        async def open_stream(start: int) -> Any:
            request = portfolio_pb2.StreamPositionsRequest(
                account_id=account, instrument_id=instrument_id, from_sequence=start
            )
            return self._portfolio.StreamPositions(request, metadata=await self._metadata())

        def unpack(message: Any) -> Iterable[tuple[int, PositionUpdate]]:
            return ((u.sequence, PositionUpdate.from_proto(u)) for u in message.updates)

        async for update in resume_by_sequence(
            open_stream,
            unpack,
            from_sequence=from_sequence,
            backoff=backoff,
            renew=self._renew,
            on_reconnect=on_reconnect,
            caught_up_to=_heartbeat_head,
        ):
            yield update

    # -- risk -------------------------------------------------------------------------------------
    async def limits(self) -> Limits:
        from algotrendy.v1 import risk_pb2

        return Limits.from_proto(await self._unary(self._risk, "GetLimits", risk_pb2.GetLimitsRequest()))

    async def set_limits(
        self,
        subject: str,
        limits: AccountLimits | InstrumentLimits | StrategyLimits,
        *,
        reason: str = "",
    ) -> tuple[Any, Any]:
        """Replace one subject's limits (an account, instrument or strategy id, by the limits' type).

        Returns ``(previous, current)``; ``previous`` is None when the subject had none.
        """
        from algotrendy.v1 import risk_pb2

        if isinstance(limits, AccountLimits):
            entry = risk_pb2.SubjectLimits(
                account=risk_pb2.AccountLimitsEntry(account_id=subject, limits=limits.to_proto())
            )
        elif isinstance(limits, InstrumentLimits):
            entry = risk_pb2.SubjectLimits(
                instrument=risk_pb2.InstrumentLimitsEntry(instrument_id=subject, limits=limits.to_proto())
            )
        elif isinstance(limits, StrategyLimits):
            entry = risk_pb2.SubjectLimits(
                strategy=risk_pb2.StrategyLimitsEntry(strategy_id=subject, limits=limits.to_proto())
            )
        else:
            raise TypeError(
                f"limits: expected AccountLimits, InstrumentLimits or StrategyLimits, not {limits!r}"
            )
        response = await self._unary(
            self._risk, "SetLimits", risk_pb2.SetLimitsRequest(limits=entry, reason=reason)
        )
        previous = _subject_limits(response.previous) if response.HasField("previous") else None
        return previous, _subject_limits(response.current)

    async def set_trading_state(
        self, state: TradingState | str, reason: str, *, account_id: str = ""
    ) -> TradingStateChange:
        """Set an account's (or, with ``account_id=""``, the global) trading state; ``reason`` is required."""
        from algotrendy.v1 import common_pb2, risk_pb2

        request = risk_pb2.SetTradingStateRequest(
            account_id=account_id,
            state=TradingState.parse(state).to_proto(common_pb2.TradingState),
            reason=reason,
        )
        return TradingStateChange.from_proto(await self._unary(self._risk, "SetTradingState", request))

    async def halt(self, reason: str, *, account_id: str = "") -> TradingStateChange:
        """The kill switch: new orders and amends are denied (TRADING_HALTED); cancels still work."""
        return await self.set_trading_state(TradingState.HALTED, reason, account_id=account_id)

    async def resume(self, reason: str, *, account_id: str = "") -> TradingStateChange:
        return await self.set_trading_state(TradingState.ACTIVE, reason, account_id=account_id)

    async def reduce_only(self, reason: str, *, account_id: str = "") -> TradingStateChange:
        """Only orders that reduce a position without flipping it are accepted."""
        return await self.set_trading_state(TradingState.REDUCING, reason, account_id=account_id)

    async def risk_state(self, *, account_id: str | None = None) -> RiskState:
        from algotrendy.v1 import risk_pb2

        request = risk_pb2.GetRiskStateRequest(account_id=self._account(account_id))
        return RiskState.from_proto(await self._unary(self._risk, "GetRiskState", request))


def _heartbeat_head(message: Any) -> int | None:
    """A heartbeat is sent only with nothing left to send: everything up to its head was delivered."""
    return int(message.head_sequence) if message.heartbeat else None


def _subject_limits(m: Any) -> tuple[str, AccountLimits | InstrumentLimits | StrategyLimits]:
    which = m.WhichOneof("subject")
    if which == "account":
        return m.account.account_id, AccountLimits.from_proto(m.account.limits)
    if which == "instrument":
        return m.instrument.instrument_id, InstrumentLimits.from_proto(m.instrument.limits)
    if which == "strategy":
        return m.strategy.strategy_id, StrategyLimits.from_proto(m.strategy.limits)
    raise AlgoTrendyError(grpc.StatusCode.INTERNAL, f"SetLimits answered without a subject ({which})")
