"""Small typed result objects (frozen dataclasses) instead of raw protobuf messages.

Prices, quantities and money are ``decimal.Decimal`` (the API carries them as exact decimal strings;
never ``float``); an unset decimal is ``None``. Times are integer nanoseconds since the Unix epoch,
with the unit in the name. Enums are ``StrEnum``s whose values are the proto names without their
prefix (``Side.BUY == "BUY"``), so they print and serialise readably.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "AccountLimits",
    "ApiKey",
    "ApiKeyCreated",
    "AuditRecord",
    "AuditVerification",
    "Balance",
    "Balances",
    "Bar",
    "BestBidOffer",
    "BookLevel",
    "BookUpdate",
    "Component",
    "EngineStatus",
    "IndicatorValue",
    "Instrument",
    "InstrumentLimits",
    "Limits",
    "LoopLag",
    "MarketDataBatch",
    "MarketDataEvent",
    "Order",
    "OrderBook",
    "OrderEvent",
    "OrderStatus",
    "OrderType",
    "Pnl",
    "Position",
    "PositionUpdate",
    "PriceReference",
    "RiskState",
    "Role",
    "Side",
    "StrategyLimits",
    "TimeInForce",
    "Trade",
    "TradesSkipped",
    "TradingState",
    "TradingStateChange",
    "User",
    "WhoAmI",
    "decimal_or_none",
    "market_data_event",
    "to_decimal",
    "to_jsonable",
]


# -- enums -------------------------------------------------------------------------------------------
class _ProtoEnum(enum.StrEnum):
    """A ``StrEnum`` that maps to and from a proto enum whose names carry ``_PREFIX``."""

    @classmethod
    def _prefix(cls) -> str:
        raise NotImplementedError

    @classmethod
    def from_proto(cls, value: int, enum_type: Any) -> Any:
        name = enum_type.Name(value).removeprefix(cls._prefix())
        try:
            return cls(name)
        except ValueError:
            return name  # a value added to the API after this SDK: keep its name visible

    def to_proto(self, enum_type: Any) -> int:
        return int(enum_type.Value(self._prefix() + self.value))

    @classmethod
    def parse(cls, value: str | _ProtoEnum) -> Any:
        """``"buy"``, ``"BUY"`` or ``Side.BUY`` -> ``Side.BUY`` (ValueError names the choices)."""
        if isinstance(value, cls):
            return value
        text = str(value).strip().upper().replace("-", "_")
        text = text.removeprefix(cls._prefix())
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(m.value.lower() for m in cls)
            raise ValueError(f"{value!r} is not one of: {choices}") from None


class Side(_ProtoEnum):
    BUY = "BUY"
    SELL = "SELL"

    @classmethod
    def _prefix(cls) -> str:
        return "SIDE_"


class OrderType(_ProtoEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    STOP_LIMIT = "STOP_LIMIT"

    @classmethod
    def _prefix(cls) -> str:
        return "ORDER_TYPE_"


class TimeInForce(_ProtoEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"

    @classmethod
    def _prefix(cls) -> str:
        return "TIME_IN_FORCE_"


class OrderStatus(_ProtoEnum):
    INITIALIZED = "INITIALIZED"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    PENDING_UPDATE = "PENDING_UPDATE"

    @classmethod
    def _prefix(cls) -> str:
        return "ORDER_STATUS_"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED}
)


class TradingState(_ProtoEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @classmethod
    def _prefix(cls) -> str:
        return "TRADING_STATE_"


class PriceReference(_ProtoEnum):
    LAST = "LAST"
    MID = "MID"

    @classmethod
    def _prefix(cls) -> str:
        return "PRICE_REFERENCE_"


class Role(_ProtoEnum):
    VIEWER = "VIEWER"
    TRADER = "TRADER"
    ADMIN = "ADMIN"

    @classmethod
    def _prefix(cls) -> str:
        return "ROLE_"


# -- decimals ----------------------------------------------------------------------------------------
def to_decimal(value: Decimal | str | int, name: str = "value") -> Decimal:
    """An exact ``Decimal`` from a Decimal, an int or a decimal string; floats are refused.

    A float such as ``0.1`` is already inexact (0.1000000000000000055...), so accepting one would
    silently trade a different price or quantity than the caller wrote.
    """
    if isinstance(value, bool | float):
        raise TypeError(f"{name}: pass a Decimal, an int or a decimal string, not {type(value).__name__}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int | str):
        try:
            result = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation:
            raise ValueError(f"{name}: {value!r} is not a decimal number") from None
    else:
        raise TypeError(f"{name}: pass a Decimal, an int or a decimal string, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{name}: {value!r} is not a finite number")
    return result


def decimal_text(value: Decimal | str | int, name: str = "value") -> str:
    """The API's plain decimal string (no exponent) for a value ``to_decimal`` accepts."""
    return format(to_decimal(value, name), "f")


def decimal_or_none(message: Any) -> Decimal | None:
    """``algotrendy.v1.Decimal`` -> ``Decimal``; absent or empty -> ``None``."""
    text = message.value if message is not None else ""
    return Decimal(text) if text else None


def _dec(parent: Any, name: str) -> Decimal | None:
    return decimal_or_none(getattr(parent, name)) if parent.HasField(name) else None


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, Decimals and enums -> plain JSON types (Decimals as strings, exact)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    return obj


def _pb(module: str) -> Any:
    import importlib

    return importlib.import_module(f"algotrendy.v1.{module}")


# -- engine ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Component:
    name: str
    state: str
    detail: str
    since_ns: int


@dataclass(frozen=True, slots=True)
class LoopLag:
    p50_ns: int
    p99_ns: int
    max_ns: int
    samples: int
    window_ns: int


@dataclass(frozen=True, slots=True)
class EngineStatus:
    version: str
    instance: str
    pid: int
    engine_state: str
    trading_state: TradingState | str
    started_at_ns: int
    uptime_ns: int
    server_time_ns: int
    components: tuple[Component, ...]
    loop_lag: LoopLag

    @classmethod
    def from_proto(cls, m: Any) -> EngineStatus:
        common, engine = _pb("common_pb2"), _pb("engine_pb2")
        return cls(
            version=m.version,
            instance=m.instance,
            pid=m.pid,
            engine_state=engine.EngineState.Name(m.engine_state).removeprefix("ENGINE_STATE_"),
            trading_state=TradingState.from_proto(m.trading_state, common.TradingState),
            started_at_ns=m.started_at_ns,
            uptime_ns=m.uptime_ns,
            server_time_ns=m.server_time_ns,
            components=tuple(
                Component(
                    c.name,
                    common.ComponentState.Name(c.state).removeprefix("COMPONENT_STATE_"),
                    c.detail,
                    c.since_ns,
                )
                for c in m.components
            ),
            loop_lag=LoopLag(
                m.loop_lag.p50_ns,
                m.loop_lag.p99_ns,
                m.loop_lag.max_ns,
                m.loop_lag.samples,
                m.loop_lag.window_ns,
            ),
        )


# -- market data -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Instrument:
    instrument_id: str
    kind: str
    base: str
    quote: str
    settlement: str
    price_increment: Decimal | None
    size_increment: Decimal | None
    min_quantity: Decimal | None
    max_quantity: Decimal | None
    min_notional: Decimal | None
    maker_fee: Decimal | None
    taker_fee: Decimal | None
    multiplier: Decimal | None
    tradable: bool

    @classmethod
    def from_proto(cls, m: Any) -> Instrument:
        md = _pb("marketdata_pb2")
        return cls(
            instrument_id=m.instrument_id,
            kind=md.InstrumentKind.Name(m.kind).removeprefix("INSTRUMENT_KIND_"),
            base=m.base,
            quote=m.quote,
            settlement=m.settlement,
            price_increment=_dec(m, "price_increment"),
            size_increment=_dec(m, "size_increment"),
            min_quantity=_dec(m, "min_quantity"),
            max_quantity=_dec(m, "max_quantity"),
            min_notional=_dec(m, "min_notional"),
            maker_fee=_dec(m, "maker_fee"),
            taker_fee=_dec(m, "taker_fee"),
            multiplier=_dec(m, "multiplier"),
            tradable=m.tradable,
        )


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    instrument_id: str
    bids: tuple[BookLevel, ...]  # best (highest) first
    asks: tuple[BookLevel, ...]  # best (lowest) first
    sequence: int
    crossed: bool
    ts_ns: int

    @property
    def best_bid(self) -> BookLevel | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> BookLevel | None:
        return self.asks[0] if self.asks else None

    @classmethod
    def from_proto(cls, m: Any) -> OrderBook:
        def levels(items: Any) -> tuple[BookLevel, ...]:
            return tuple(BookLevel(Decimal(x.price.value), Decimal(x.size.value)) for x in items)

        return cls(m.instrument_id, levels(m.bids), levels(m.asks), m.sequence, m.crossed, m.ts_ns)


# -- orders ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Order:
    account_id: str
    strategy_id: str
    client_order_id: str
    venue_order_id: str
    instrument_id: str
    side: Side | str
    order_type: OrderType | str
    time_in_force: TimeInForce | str
    quantity: Decimal | None
    price: Decimal | None
    trigger_price: Decimal | None
    expire_at_ns: int
    post_only: bool
    reduce_only: bool
    status: OrderStatus | str
    filled_quantity: Decimal | None
    average_fill_price: Decimal | None
    reason: str
    created_at_ns: int
    updated_at_ns: int
    last_sequence: int
    #: ``reason`` in words: the numbers behind a risk denial, a venue's message (may be empty).
    detail: str = ""

    @property
    def is_terminal(self) -> bool:
        return isinstance(self.status, OrderStatus) and self.status.is_terminal

    @classmethod
    def from_proto(cls, m: Any) -> Order:
        common = _pb("common_pb2")
        return cls(
            account_id=m.account_id,
            strategy_id=m.strategy_id,
            client_order_id=m.client_order_id,
            venue_order_id=m.venue_order_id,
            instrument_id=m.instrument_id,
            side=Side.from_proto(m.side, common.Side),
            order_type=OrderType.from_proto(m.order_type, common.OrderType),
            time_in_force=TimeInForce.from_proto(m.time_in_force, common.TimeInForce),
            quantity=_dec(m, "quantity"),
            price=_dec(m, "price"),
            trigger_price=_dec(m, "trigger_price"),
            expire_at_ns=m.expire_at_ns,
            post_only=m.post_only,
            reduce_only=m.reduce_only,
            status=OrderStatus.from_proto(m.status, common.OrderStatus),
            filled_quantity=_dec(m, "filled_quantity"),
            average_fill_price=_dec(m, "average_fill_price"),
            reason=m.reason,
            created_at_ns=m.created_at_ns,
            updated_at_ns=m.updated_at_ns,
            last_sequence=m.last_sequence,
            detail=m.detail,
        )


# -- portfolio ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Position:
    account_id: str
    instrument_id: str
    quantity: Decimal  # signed: positive long, negative short
    average_entry_price: Decimal | None
    mark_price: Decimal | None
    realised_pnl: Decimal | None
    unrealised_pnl: Decimal | None
    fees: Decimal | None
    currency: str
    updated_at_ns: int

    @classmethod
    def from_proto(cls, m: Any) -> Position:
        return cls(
            account_id=m.account_id,
            instrument_id=m.instrument_id,
            quantity=_dec(m, "quantity") or Decimal(0),
            average_entry_price=_dec(m, "average_entry_price"),
            mark_price=_dec(m, "mark_price"),
            realised_pnl=_dec(m, "realised_pnl"),
            unrealised_pnl=_dec(m, "unrealised_pnl"),
            fees=_dec(m, "fees"),
            currency=m.currency,
            updated_at_ns=m.updated_at_ns,
        )


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    total: Decimal


@dataclass(frozen=True, slots=True)
class Balances:
    account_id: str
    balances: tuple[Balance, ...]

    def __getitem__(self, asset: str) -> Decimal:
        for balance in self.balances:
            if balance.asset == asset:
                return balance.total
        raise KeyError(asset)

    @classmethod
    def from_proto(cls, m: Any) -> Balances:
        return cls(m.account_id, tuple(Balance(b.asset, Decimal(b.total.value or "0")) for b in m.balances))


@dataclass(frozen=True, slots=True)
class Pnl:
    account_id: str
    currency: str
    realised_pnl: Decimal | None
    unrealised_pnl: Decimal | None
    fees: Decimal | None
    equity: Decimal | None
    day_start_equity: Decimal | None
    peak_equity: Decimal | None
    ts_ns: int

    @classmethod
    def from_proto(cls, m: Any) -> Pnl:
        return cls(
            m.account_id,
            m.currency,
            _dec(m, "realised_pnl"),
            _dec(m, "unrealised_pnl"),
            _dec(m, "fees"),
            _dec(m, "equity"),
            _dec(m, "day_start_equity"),
            _dec(m, "peak_equity"),
            m.ts_ns,
        )


# -- risk --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AccountLimits:
    max_gross_exposure: Decimal
    max_net_exposure: Decimal
    max_open_orders: int
    max_orders_per_second: int
    order_burst: int
    max_daily_loss: Decimal
    max_drawdown: Decimal
    breach_state: TradingState | str

    @classmethod
    def from_proto(cls, m: Any) -> AccountLimits:
        common = _pb("common_pb2")
        return cls(
            Decimal(m.max_gross_exposure.value),
            Decimal(m.max_net_exposure.value),
            m.max_open_orders,
            m.max_orders_per_second,
            m.order_burst,
            Decimal(m.max_daily_loss.value),
            Decimal(m.max_drawdown.value),
            TradingState.from_proto(m.breach_state, common.TradingState),
        )

    def to_proto(self) -> Any:
        common, risk = _pb("common_pb2"), _pb("risk_pb2")
        return risk.AccountLimits(
            max_gross_exposure=common.Decimal(value=decimal_text(self.max_gross_exposure)),
            max_net_exposure=common.Decimal(value=decimal_text(self.max_net_exposure)),
            max_open_orders=self.max_open_orders,
            max_orders_per_second=self.max_orders_per_second,
            order_burst=self.order_burst,
            max_daily_loss=common.Decimal(value=decimal_text(self.max_daily_loss)),
            max_drawdown=common.Decimal(value=decimal_text(self.max_drawdown)),
            breach_state=TradingState.parse(self.breach_state).to_proto(common.TradingState),
        )


@dataclass(frozen=True, slots=True)
class InstrumentLimits:
    max_order_quantity: Decimal
    max_order_notional: Decimal
    max_position: Decimal
    price_band_bps: int
    max_data_age_ms: int
    reference: PriceReference | str

    @classmethod
    def from_proto(cls, m: Any) -> InstrumentLimits:
        risk = _pb("risk_pb2")
        return cls(
            Decimal(m.max_order_quantity.value),
            Decimal(m.max_order_notional.value),
            Decimal(m.max_position.value),
            m.price_band_bps,
            m.max_data_age_ms,
            PriceReference.from_proto(m.reference, risk.PriceReference),
        )

    def to_proto(self) -> Any:
        common, risk = _pb("common_pb2"), _pb("risk_pb2")
        return risk.InstrumentLimits(
            max_order_quantity=common.Decimal(value=decimal_text(self.max_order_quantity)),
            max_order_notional=common.Decimal(value=decimal_text(self.max_order_notional)),
            max_position=common.Decimal(value=decimal_text(self.max_position)),
            price_band_bps=self.price_band_bps,
            max_data_age_ms=self.max_data_age_ms,
            reference=PriceReference.parse(self.reference).to_proto(risk.PriceReference),
        )


@dataclass(frozen=True, slots=True)
class StrategyLimits:
    max_orders_per_second: int
    order_burst: int

    @classmethod
    def from_proto(cls, m: Any) -> StrategyLimits:
        return cls(m.max_orders_per_second, m.order_burst)

    def to_proto(self) -> Any:
        return _pb("risk_pb2").StrategyLimits(
            max_orders_per_second=self.max_orders_per_second, order_burst=self.order_burst
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """Every subject's limits (``RiskService.GetLimits``); money limits in ``currency``."""

    currency: str
    accounts: dict[str, AccountLimits] = field(default_factory=dict)
    instruments: dict[str, InstrumentLimits] = field(default_factory=dict)
    strategies: dict[str, StrategyLimits] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, m: Any) -> Limits:
        return cls(
            m.currency,
            {e.account_id: AccountLimits.from_proto(e.limits) for e in m.accounts},
            {e.instrument_id: InstrumentLimits.from_proto(e.limits) for e in m.instruments},
            {e.strategy_id: StrategyLimits.from_proto(e.limits) for e in m.strategies},
        )


@dataclass(frozen=True, slots=True)
class TradingStateChange:
    account_id: str  # empty for the global state
    previous: TradingState | str
    current: TradingState | str
    effective: TradingState | str
    ts_ns: int

    @classmethod
    def from_proto(cls, m: Any) -> TradingStateChange:
        ts = _pb("common_pb2").TradingState
        return cls(
            m.account_id,
            TradingState.from_proto(m.previous, ts),
            TradingState.from_proto(m.current, ts),
            TradingState.from_proto(m.effective, ts),
            m.ts_ns,
        )


@dataclass(frozen=True, slots=True)
class RiskState:
    account_id: str
    trading_state: TradingState | str
    global_trading_state: TradingState | str
    currency: str
    gross_exposure: Decimal | None
    net_exposure: Decimal | None
    day_start_equity: Decimal | None
    peak_equity: Decimal | None
    ts_ns: int

    @classmethod
    def from_proto(cls, m: Any) -> RiskState:
        ts = _pb("common_pb2").TradingState
        return cls(
            m.account_id,
            TradingState.from_proto(m.trading_state, ts),
            TradingState.from_proto(m.global_trading_state, ts),
            m.currency,
            _dec(m, "gross_exposure"),
            _dec(m, "net_exposure"),
            _dec(m, "day_start_equity"),
            _dec(m, "peak_equity"),
            m.ts_ns,
        )


# -- auth and admin ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WhoAmI:
    user: str
    role: Role | str
    credential: str  # ACCESS_TOKEN or API_KEY
    key_id: str
    expires_at_ns: int

    @classmethod
    def from_proto(cls, m: Any) -> WhoAmI:
        auth = _pb("auth_pb2")
        return cls(
            m.user,
            Role.from_proto(m.role, auth.Role),
            auth.CredentialKind.Name(m.credential).removeprefix("CREDENTIAL_KIND_"),
            m.key_id,
            m.expires_at_ns,
        )


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    prefix: str
    name: str
    user: str
    role: Role | str
    created_at_ns: int
    expires_at_ns: int
    last_used_at_ns: int
    revoked: bool
    revoked_at_ns: int

    @classmethod
    def from_proto(cls, m: Any) -> ApiKey:
        return cls(
            m.key_id,
            m.prefix,
            m.name,
            m.user,
            Role.from_proto(m.role, _pb("auth_pb2").Role),
            m.created_at_ns,
            m.expires_at_ns,
            m.last_used_at_ns,
            m.revoked,
            m.revoked_at_ns,
        )


@dataclass(frozen=True, slots=True)
class ApiKeyCreated:
    """A new API key: ``secret`` is shown this once (the engine keeps only a hash)."""

    key: ApiKey
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class User:
    user: str
    role: Role | str
    disabled: bool
    created_at_ns: int
    password_changed_at_ns: int

    @classmethod
    def from_proto(cls, m: Any) -> User:
        return cls(
            m.user,
            Role.from_proto(m.role, _pb("auth_pb2").Role),
            m.disabled,
            m.created_at_ns,
            m.password_changed_at_ns,
        )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    ts_ns: int
    actor: str
    action: str
    summary_json: str
    result: str
    prev_hash: str
    hash: str

    @classmethod
    def from_proto(cls, m: Any) -> AuditRecord:
        return cls(m.seq, m.ts_ns, m.actor, m.action, m.summary_json, m.result, m.prev_hash, m.hash)


@dataclass(frozen=True, slots=True)
class AuditVerification:
    ok: bool
    records: int
    first_bad_seq: int
    problem: str
    head_seq: int
    head_hash: str

    @classmethod
    def from_proto(cls, m: Any) -> AuditVerification:
        return cls(m.ok, m.records, m.first_bad_seq, m.problem, m.head_seq, m.head_hash)


# -- streams -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One applied order event (``StreamOrderEvents``); fields beyond the ids are set per ``kind``."""

    sequence: int
    kind: str  # INITIALIZED, ACCEPTED, FILLED, CANCELED ...
    account_id: str
    client_order_id: str
    instrument_id: str
    ts_event_ns: int
    ts_init_ns: int
    strategy_id: str
    side: Side | str | None
    order_type: OrderType | str | None
    time_in_force: TimeInForce | str | None
    quantity: Decimal | None
    price: Decimal | None
    trigger_price: Decimal | None
    venue_order_id: str
    reason: str
    detail: str
    trade_id: str
    last_price: Decimal | None
    last_quantity: Decimal | None
    liquidity_side: str
    commission: Decimal | None
    commission_currency: str

    @classmethod
    def from_proto(cls, m: Any) -> OrderEvent:
        common, orders = _pb("common_pb2"), _pb("orders_pb2")
        return cls(
            sequence=m.sequence,
            kind=orders.OrderEventKind.Name(m.kind).removeprefix("ORDER_EVENT_KIND_"),
            account_id=m.account_id,
            client_order_id=m.client_order_id,
            instrument_id=m.instrument_id,
            ts_event_ns=m.ts_event_ns,
            ts_init_ns=m.ts_init_ns,
            strategy_id=m.strategy_id,
            side=Side.from_proto(m.side, common.Side) if m.side else None,
            order_type=OrderType.from_proto(m.order_type, common.OrderType) if m.order_type else None,
            time_in_force=(
                TimeInForce.from_proto(m.time_in_force, common.TimeInForce) if m.time_in_force else None
            ),
            quantity=_dec(m, "quantity"),
            price=_dec(m, "price"),
            trigger_price=_dec(m, "trigger_price"),
            venue_order_id=m.venue_order_id,
            reason=m.reason,
            detail=m.detail,
            trade_id=m.trade_id,
            last_price=_dec(m, "last_price"),
            last_quantity=_dec(m, "last_quantity"),
            liquidity_side=(
                orders.LiquiditySide.Name(m.liquidity_side).removeprefix("LIQUIDITY_SIDE_")
                if m.liquidity_side
                else ""
            ),
            commission=_dec(m, "commission"),
            commission_currency=m.commission_currency,
        )


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A position right after a fill (``StreamPositions``); mark and unrealised PnL are unset."""

    sequence: int
    position: Position
    client_order_id: str
    trade_id: str
    ts_event_ns: int

    @classmethod
    def from_proto(cls, m: Any) -> PositionUpdate:
        return cls(m.sequence, Position.from_proto(m.position), m.client_order_id, m.trade_id, m.ts_event_ns)


@dataclass(frozen=True, slots=True)
class Trade:
    instrument_id: str
    price: Decimal
    size: Decimal
    aggressor_side: Side | str | None
    trade_id: str
    ts_event_ns: int
    ts_init_ns: int


@dataclass(frozen=True, slots=True)
class BestBidOffer:
    instrument_id: str
    bid_price: Decimal | None
    bid_size: Decimal | None
    ask_price: Decimal | None
    ask_size: Decimal | None
    ts_event_ns: int
    ts_init_ns: int


@dataclass(frozen=True, slots=True)
class BookUpdate:
    instrument_id: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    sequence: int
    crossed: bool
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Bar:
    instrument_id: str
    interval_ns: int
    ts_open_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trade_count: int


@dataclass(frozen=True, slots=True)
class IndicatorValue:
    """Indicator outputs after a closed bar: floats (analytics, not money); NaN while warming up."""

    instrument_id: str
    indicator: str
    params: dict[str, float]
    bar_interval_ns: int
    ts_open_ns: int
    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class TradesSkipped:
    """Trades a slow consumer did not receive: how many, their volume and range."""

    instrument_id: str
    count: int
    volume: Decimal | None
    low: Decimal | None
    high: Decimal | None
    last_price: Decimal | None
    first_ts_event_ns: int
    last_ts_event_ns: int


MarketDataEvent = Trade | BestBidOffer | BookUpdate | Bar | IndicatorValue | TradesSkipped


@dataclass(frozen=True, slots=True)
class MarketDataBatch:
    """One ``StreamMarketData`` message: events in arrival order, or a heartbeat with none."""

    events: tuple[MarketDataEvent, ...]
    heartbeat: bool
    ts_ns: int
    conflated: int


def _levels(items: Any) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(Decimal(x.price.value), Decimal(x.size.value)) for x in items)


def market_data_event(m: Any) -> MarketDataEvent | None:
    """``algotrendy.v1.MarketDataEvent`` -> its dataclass (None for a kind newer than this SDK)."""
    common = _pb("common_pb2")
    kind = m.WhichOneof("event")
    if kind == "trade":
        t = m.trade
        side = Side.from_proto(t.aggressor_side, common.Side) if t.aggressor_side else None
        return Trade(
            t.instrument_id,
            Decimal(t.price.value),
            Decimal(t.size.value),
            side,
            t.trade_id,
            t.ts_event_ns,
            t.ts_init_ns,
        )
    if kind == "bbo":
        b = m.bbo
        return BestBidOffer(
            b.instrument_id,
            _dec(b, "bid_price"),
            _dec(b, "bid_size"),
            _dec(b, "ask_price"),
            _dec(b, "ask_size"),
            b.ts_event_ns,
            b.ts_init_ns,
        )
    if kind == "book":
        k = m.book
        return BookUpdate(k.instrument_id, _levels(k.bids), _levels(k.asks), k.sequence, k.crossed, k.ts_ns)
    if kind == "bar":
        r = m.bar
        return Bar(
            r.instrument_id,
            r.interval_ns,
            r.ts_open_ns,
            Decimal(r.open.value),
            Decimal(r.high.value),
            Decimal(r.low.value),
            Decimal(r.close.value),
            Decimal(r.volume.value or "0"),
            r.trade_count,
        )
    if kind == "indicator":
        i = m.indicator
        return IndicatorValue(
            i.instrument_id,
            i.indicator,
            dict(i.params),
            i.bar_interval_ns,
            i.ts_open_ns,
            dict(zip(i.outputs, i.values, strict=False)),
        )
    if kind == "trades_skipped":
        s = m.trades_skipped
        return TradesSkipped(
            s.instrument_id,
            s.count,
            _dec(s, "volume"),
            _dec(s, "low"),
            _dec(s, "high"),
            _dec(s, "last_price"),
            s.first_ts_event_ns,
            s.last_ts_event_ns,
        )
    return None
