"""Request decoding at the API boundary: one function per request type.

Each function checks every field of its request and returns the domain command (or the decoded
query), or raises before anything changes:

* ``ValidationError`` (INVALID_ARGUMENT) whose ``field`` is the request field as a dotted path
  (``quantity``, ``limits.instrument.limits.max_position``): a required field missing, an id
  malformed, an enum ``*_UNSPECIFIED`` or unknown, a decimal malformed, not positive or off the
  instrument's increments (reason ``PRICE_OFF_TICK`` / ``SIZE_OFF_INCREMENT``), a count or a page
  size out of range, a text too long;
* ``NotFoundError`` (NOT_FOUND) when an id that must exist does not, with the reason
  ``UNKNOWN_ACCOUNT`` or ``UNKNOWN_INSTRUMENT``.

Decimals are plain decimal strings (``-?digits[.digits]``: no exponent, no spaces, ASCII digits
only, at most 64 characters); a ``Decimal`` message that is absent or has an empty ``value`` is
unset. Prices and quantities are parsed through the instrument (``parse_price`` /
``parse_quantity``), so they come back on its grid at its precision.

Nothing here reads or changes engine state beyond the lookups passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any, TypeVar

from google.protobuf.message import Message

from algotrendy.v1 import common_pb2, orders_pb2, portfolio_pb2, risk_pb2
from engine.core.commands import AmendOrder, CancelAllOrders, CancelOrder, SetTradingState, SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side, TimeInForce, TradingState
from engine.core.errors import NotFoundError, ValidationError
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.core.instruments import Instrument
from engine.risk import AccountLimits, InstrumentLimits, PriceReference, StrategyLimits

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_STRATEGY",
    "MAX_PAGE_SIZE",
    "AccountCheck",
    "InstrumentLookup",
    "LimitsUpdate",
    "OrderQuery",
    "PositionQuery",
    "account_of",
    "amend_order",
    "cancel_all_orders",
    "cancel_order",
    "get_order",
    "get_risk_state",
    "list_orders",
    "list_positions",
    "set_limits",
    "set_trading_state",
    "submit_order",
]

#: ``instruments(instrument_id)`` returns the instrument or raises ``NotFoundError``
#: (``MarketDataRegistry.instrument`` has this shape).
InstrumentLookup = Callable[[str], Instrument]
#: ``account_exists(account_id)``: whether the engine knows the account.
AccountCheck = Callable[[AccountId], bool]

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_DECIMAL_CHARS = 64
MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 500
MAX_PAGE_TOKEN_CHARS = 256
MAX_STATUS_FILTERS = 32
DEFAULT_STRATEGY = StrategyId("manual")
#: Bounds of the limits' integer fields (the domain's own ranges).
MAX_COUNT = 1_000_000_000
MAX_PRICE_BAND_BPS = 1_000_000
MAX_DATA_AGE_MS = 86_400_000

_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_E = TypeVar("_E", bound=IntEnum)
_I = TypeVar("_I", bound=str)

#: Successful parses of request text, remembered: a client sends the same account, instrument and
#: strategy ids -- and mostly the same few prices and sizes -- on every order, and each parse
#: (regex, ``Decimal``, the instrument's grid) costs microseconds on the order path. The parses are
#: pure functions of the text (and the instrument object), the results immutable values, and only
#: successes are kept: a bad value is checked, and refused, every time. The keys come from callers,
#: so each memo is cleared when it reaches ``_MEMO_MAX`` entries.
_MEMO_MAX = 4096
_MEMO_IDS = (AccountId, InstrumentId, StrategyId)  # not client order ids: unique per order
_ids: dict[tuple[type, str], Any] = {}
#: (id(instrument), "price" | "quantity", text) -> (the instrument, the value on its grid).
_grid_values: dict[tuple[int, str, str], tuple[Instrument, Price | Quantity]] = {}
#: Enum class -> its members by value (``kind(value)`` is a slow call for an IntEnum).
_enum_members: dict[type, dict[int, Any]] = {}


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> None:
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value


# == decoded queries ===============================================================================
@dataclass(frozen=True, slots=True)
class OrderQuery:
    """``OrderManager.list_orders`` keyword arguments."""

    account_id: AccountId | None
    instrument_id: InstrumentId | None
    strategy_id: StrategyId | None
    statuses: frozenset[OrderStatus] | None
    open_only: bool
    page_size: int
    page_token: str
    newest_first: bool = False

    def kwargs(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "instrument_id": self.instrument_id,
            "strategy_id": self.strategy_id,
            "statuses": self.statuses,
            "open_only": self.open_only,
            "page_size": self.page_size,
            "page_token": self.page_token,
            "newest_first": self.newest_first,
        }


@dataclass(frozen=True, slots=True)
class PositionQuery:
    account_id: AccountId | None
    instrument_id: InstrumentId | None


@dataclass(frozen=True, slots=True)
class LimitsUpdate:
    """``RiskEngine.set_limits(subject_id, limits, ts)`` arguments, plus the operator's reason."""

    subject: str  # ACCOUNT, INSTRUMENT or STRATEGY
    subject_id: AccountId | InstrumentId | StrategyId
    limits: AccountLimits | InstrumentLimits | StrategyLimits
    reason: str


# == orders ========================================================================================
def submit_order(
    request: orders_pb2.SubmitOrderRequest,
    *,
    instruments: InstrumentLookup,
    ts_ns: int,
    account_exists: AccountCheck | None = None,
) -> SubmitOrder:
    account_id = _id(AccountId, request.account_id, "account_id")
    strategy_id = _optional_id(StrategyId, request.strategy_id, "strategy_id") or DEFAULT_STRATEGY
    client_order_id = _id(ClientOrderId, request.client_order_id, "client_order_id")
    instrument_id = _id(InstrumentId, request.instrument_id, "instrument_id")
    side = _enum(request.side, Side, common_pb2.Side, "side")
    order_type = _enum(request.order_type, OrderType, common_pb2.OrderType, "order_type")
    time_in_force = _enum(request.time_in_force, TimeInForce, common_pb2.TimeInForce, "time_in_force")
    quantity_text = _decimal(request, "quantity", "quantity")
    price_text = _decimal(request, "price", "price")
    trigger_text = _decimal(request, "trigger_price", "trigger_price")
    if request.expire_at_ns < 0:
        raise ValidationError("expire_at_ns", "must not be negative (0 = unset)")
    expire_at_ns = request.expire_at_ns or None
    if time_in_force is TimeInForce.GTD and expire_at_ns is not None and expire_at_ns <= ts_ns:
        raise ValidationError("expire_at_ns", "must be in the future")
    if quantity_text is None:
        raise ValidationError("quantity", "is required")
    _check_account(account_id, account_exists, "account_id")
    instrument = _instrument(instruments, instrument_id, "instrument_id")
    # The command checks its own consistency (a LIMIT needs a price, ...) and names the field it
    # refuses, which is the request's field of the same name.
    return SubmitOrder(
        ts_init=ts_ns,
        account_id=account_id,
        strategy_id=strategy_id,
        client_order_id=client_order_id,
        instrument_id=instrument.id,
        side=side,
        order_type=order_type,
        quantity=_quantity(instrument, quantity_text, "quantity"),
        price=None if price_text is None else _price(instrument, price_text, "price"),
        trigger_price=None if trigger_text is None else _price(instrument, trigger_text, "trigger_price"),
        time_in_force=time_in_force,
        expire_at_ns=expire_at_ns,
        post_only=request.post_only,
        reduce_only=request.reduce_only,
    )


def cancel_order(
    request: orders_pb2.CancelOrderRequest, *, ts_ns: int, account_exists: AccountCheck | None = None
) -> CancelOrder:
    account_id, client_order_id = _order_ref(request.account_id, request.client_order_id)
    _check_account(account_id, account_exists, "account_id")
    return CancelOrder(ts_init=ts_ns, account_id=account_id, client_order_id=client_order_id)


def cancel_all_orders(
    request: orders_pb2.CancelAllOrdersRequest,
    *,
    instruments: InstrumentLookup,
    ts_ns: int,
    account_exists: AccountCheck | None = None,
) -> CancelAllOrders:
    account_id = _id(AccountId, request.account_id, "account_id")
    instrument_id = _optional_id(InstrumentId, request.instrument_id, "instrument_id")
    side = None if request.side == 0 else _enum(request.side, Side, common_pb2.Side, "side")
    _check_account(account_id, account_exists, "account_id")
    if instrument_id is not None:
        instrument_id = _instrument(instruments, instrument_id, "instrument_id").id
    return CancelAllOrders(ts_init=ts_ns, account_id=account_id, instrument_id=instrument_id, side=side)


def amend_order(
    request: orders_pb2.AmendOrderRequest,
    *,
    instrument_of: Callable[[AccountId, ClientOrderId], Instrument],
    ts_ns: int,
) -> AmendOrder:
    """``instrument_of(account_id, client_order_id)`` is the order's instrument (``NotFoundError``
    for an unknown order): amended values must fit its increments."""
    account_id, client_order_id = _order_ref(request.account_id, request.client_order_id)
    quantity_text = _decimal(request, "quantity", "quantity")
    price_text = _decimal(request, "price", "price")
    trigger_text = _decimal(request, "trigger_price", "trigger_price")
    if quantity_text is None and price_text is None and trigger_text is None:
        raise ValidationError("quantity", "an amend must change quantity, price or trigger_price")
    instrument = instrument_of(account_id, client_order_id)
    return AmendOrder(
        ts_init=ts_ns,
        account_id=account_id,
        client_order_id=client_order_id,
        quantity=None if quantity_text is None else _quantity(instrument, quantity_text, "quantity"),
        price=None if price_text is None else _price(instrument, price_text, "price"),
        trigger_price=None if trigger_text is None else _price(instrument, trigger_text, "trigger_price"),
    )


def get_order(request: orders_pb2.GetOrderRequest) -> tuple[AccountId, ClientOrderId]:
    return _order_ref(request.account_id, request.client_order_id)


def list_orders(request: orders_pb2.ListOrdersRequest) -> OrderQuery:
    if request.page_size > MAX_PAGE_SIZE:
        raise ValidationError("page_size", f"must be between 0 and {MAX_PAGE_SIZE} (0 = {DEFAULT_PAGE_SIZE})")
    if len(request.page_token) > MAX_PAGE_TOKEN_CHARS:
        raise ValidationError("page_token", "not a token this server issued")
    if len(request.statuses) > MAX_STATUS_FILTERS:
        raise ValidationError("statuses", f"at most {MAX_STATUS_FILTERS} entries")
    statuses = frozenset(
        _enum(value, OrderStatus, common_pb2.OrderStatus, "statuses") for value in request.statuses
    )
    return OrderQuery(
        account_id=_optional_id(AccountId, request.account_id, "account_id"),
        instrument_id=_optional_id(InstrumentId, request.instrument_id, "instrument_id"),
        strategy_id=_optional_id(StrategyId, request.strategy_id, "strategy_id"),
        statuses=statuses or None,
        open_only=request.open_only,
        page_size=request.page_size or DEFAULT_PAGE_SIZE,
        page_token=request.page_token,
        newest_first=request.newest_first,
    )


# == portfolio =====================================================================================
def list_positions(
    request: portfolio_pb2.ListPositionsRequest,
    *,
    instruments: InstrumentLookup,
    account_exists: AccountCheck | None = None,
) -> PositionQuery:
    account_id = _optional_id(AccountId, request.account_id, "account_id")
    instrument_id = _optional_id(InstrumentId, request.instrument_id, "instrument_id")
    if account_id is not None:
        _check_account(account_id, account_exists, "account_id")
    if instrument_id is not None:
        instrument_id = _instrument(instruments, instrument_id, "instrument_id").id
    return PositionQuery(account_id, instrument_id)


def account_of(
    request: portfolio_pb2.GetBalancesRequest | portfolio_pb2.GetPnlRequest,
    *,
    account_exists: AccountCheck | None = None,
) -> AccountId:
    """The required, existing ``account_id`` of GetBalances and GetPnl."""
    account_id = _id(AccountId, request.account_id, "account_id")
    _check_account(account_id, account_exists, "account_id")
    return account_id


def stream_filters(
    request: orders_pb2.StreamOrderEventsRequest | portfolio_pb2.StreamPositionsRequest,
    *,
    instruments: InstrumentLookup,
    account_exists: AccountCheck | None = None,
) -> PositionQuery:
    """The optional account and instrument filters of StreamOrderEvents and StreamPositions (known
    ones only; ``from_sequence`` is checked by the stream against its head)."""
    account_id = _optional_id(AccountId, request.account_id, "account_id")
    instrument_id = _optional_id(InstrumentId, request.instrument_id, "instrument_id")
    if account_id is not None:
        _check_account(account_id, account_exists, "account_id")
    if instrument_id is not None:
        instrument_id = _instrument(instruments, instrument_id, "instrument_id").id
    return PositionQuery(account_id, instrument_id)


# == risk ==========================================================================================
def set_limits(
    request: risk_pb2.SetLimitsRequest, *, instruments: InstrumentLookup, currency: str
) -> LimitsUpdate:
    """Money limits are read in ``currency`` (the risk engine's quote currency)."""
    reason = _text(request.reason, "reason", required=False)
    if not request.HasField("limits"):
        raise ValidationError("limits", "is required: one of account, instrument or strategy")
    which = request.limits.WhichOneof("subject")
    if which == "account":
        a = request.limits.account
        account_id = _id(AccountId, a.account_id, "limits.account.account_id")
        p = "limits.account.limits"
        _require(a, "limits", p)
        al = a.limits
        with _fields(p):
            account = AccountLimits(
                max_gross_exposure=_money(al, "max_gross_exposure", p, currency),
                max_net_exposure=_money(al, "max_net_exposure", p, currency),
                max_open_orders=_count(al.max_open_orders, f"{p}.max_open_orders", MAX_COUNT),
                max_orders_per_second=_count(
                    al.max_orders_per_second, f"{p}.max_orders_per_second", MAX_COUNT
                ),
                order_burst=_count(al.order_burst, f"{p}.order_burst", MAX_COUNT),
                max_daily_loss=_money(al, "max_daily_loss", p, currency),
                max_drawdown=_money(al, "max_drawdown", p, currency),
                breach_state=_breach_state(al.breach_state, f"{p}.breach_state"),
            )
        return LimitsUpdate("ACCOUNT", account_id, account, reason)
    if which == "instrument":
        i = request.limits.instrument
        instrument_id = _id(InstrumentId, i.instrument_id, "limits.instrument.instrument_id")
        p = "limits.instrument.limits"
        _require(i, "limits", p)
        il = i.limits
        max_order_quantity = _required_decimal(il, "max_order_quantity", p)
        notional = _money(il, "max_order_notional", p, currency)
        max_position = _required_decimal(il, "max_position", p)
        band = _count(il.price_band_bps, f"{p}.price_band_bps", MAX_PRICE_BAND_BPS)
        age = _count(il.max_data_age_ms, f"{p}.max_data_age_ms", MAX_DATA_AGE_MS)
        reference = _enum(il.reference, PriceReference, risk_pb2.PriceReference, f"{p}.reference")
        instrument = _instrument(instruments, instrument_id, "limits.instrument.instrument_id")
        with _fields(p):
            limits = InstrumentLimits(
                max_order_quantity=_quantity(instrument, max_order_quantity, f"{p}.max_order_quantity"),
                max_order_notional=notional,
                max_position=_quantity(instrument, max_position, f"{p}.max_position"),
                price_band_bps=band,
                max_data_age_ms=age,
                reference=reference,
            )
        return LimitsUpdate("INSTRUMENT", instrument.id, limits, reason)
    if which == "strategy":
        s = request.limits.strategy
        strategy_id = _id(StrategyId, s.strategy_id, "limits.strategy.strategy_id")
        p = "limits.strategy.limits"
        _require(s, "limits", p)
        sl = s.limits
        with _fields(p):
            strategy = StrategyLimits(
                max_orders_per_second=_count(
                    sl.max_orders_per_second, f"{p}.max_orders_per_second", MAX_COUNT
                ),
                order_burst=_count(sl.order_burst, f"{p}.order_burst", MAX_COUNT),
            )
        return LimitsUpdate("STRATEGY", strategy_id, strategy, reason)
    raise ValidationError("limits", "set exactly one of account, instrument or strategy")


def set_trading_state(request: risk_pb2.SetTradingStateRequest, *, ts_ns: int) -> SetTradingState:
    account_id = _optional_id(AccountId, request.account_id, "account_id")
    state = _enum(request.state, TradingState, common_pb2.TradingState, "state")
    reason = _text(request.reason, "reason", required=True)
    return SetTradingState(ts_init=ts_ns, state=state, reason=reason, account_id=account_id)


def get_risk_state(request: risk_pb2.GetRiskStateRequest) -> AccountId | None:
    return _optional_id(AccountId, request.account_id, "account_id")


# == field checks ==================================================================================
def _id(kind: type[_I], value: str, field: str) -> _I:
    known = _ids.get((kind, value))
    if known is not None:
        return known  # type: ignore[no-any-return]
    if not value:
        raise ValidationError(field, "is required")
    if len(value) > MAX_ID_CHARS:
        raise ValidationError(field, f"at most {MAX_ID_CHARS} characters")
    try:
        parsed = kind(value)
    except ValidationError as exc:
        raise ValidationError(field, exc.problem) from None
    if kind in _MEMO_IDS:
        _remember(_ids, (kind, value), parsed)
    return parsed


def _optional_id(kind: type[_I], value: str, field: str) -> _I | None:
    return None if value == "" else _id(kind, value, field)


def _order_ref(account_id: str, client_order_id: str) -> tuple[AccountId, ClientOrderId]:
    return (
        _id(AccountId, account_id, "account_id"),
        _id(ClientOrderId, client_order_id, "client_order_id"),
    )


def _enum(value: int, kind: type[_E], proto_enum: Any, field: str) -> _E:
    if value == 0:
        unspecified = proto_enum.DESCRIPTOR.values_by_number[0].name
        raise ValidationError(field, f"must be set ({unspecified} is not allowed)")
    members = _enum_members.get(kind)
    if members is None:
        members = _enum_members[kind] = {member.value: member for member in kind}
    member = members.get(value)
    if member is None:
        raise ValidationError(field, f"{value} is not a valid {proto_enum.DESCRIPTOR.name}")
    return member  # type: ignore[no-any-return]


def _breach_state(value: int, field: str) -> TradingState:
    state = _enum(value, TradingState, common_pb2.TradingState, field)
    if state not in (TradingState.REDUCING, TradingState.HALTED):
        raise ValidationError(field, "must be TRADING_STATE_REDUCING or TRADING_STATE_HALTED")
    return state


def _text(value: str, field: str, *, required: bool) -> str:
    if not value.strip():
        if required:
            raise ValidationError(field, "is required")
        return ""
    if len(value) > MAX_TEXT_CHARS:
        raise ValidationError(field, f"at most {MAX_TEXT_CHARS} characters")
    if not value.isprintable():
        raise ValidationError(field, "must be printable text (no control characters)")
    return value


def _count(value: int, field: str, upper: int) -> int:
    if not 1 <= value <= upper:
        raise ValidationError(field, f"must be between 1 and {upper}, got {value}")
    return value


def _require(parent: Message, name: str, field: str) -> None:
    if not parent.HasField(name):
        raise ValidationError(field, "is required")


def _decimal(parent: Message, name: str, field: str) -> str | None:
    """The text of a ``Decimal`` field, None when unset; malformed text raises."""
    if not parent.HasField(name):
        return None
    text: str = getattr(parent, name).value
    if text == "":
        return None
    if len(text) > MAX_DECIMAL_CHARS or _DECIMAL.fullmatch(text) is None:
        raise ValidationError(
            field,
            f"{text[:MAX_DECIMAL_CHARS]!r} is not a decimal string like '123.45' (no exponent, no spaces)",
        )
    return text


def _positive(text: str, field: str) -> None:
    if Decimal(text) <= 0:
        raise ValidationError(field, f"must be positive, got {text}")


def _price(instrument: Instrument, text: str, field: str) -> Price:
    key = (id(instrument), "price", text)
    known = _grid_values.get(key)
    if known is not None and known[0] is instrument:
        return known[1]  # type: ignore[return-value]
    _positive(text, field)
    try:
        price = instrument.parse_price(text)
    except ValidationError as exc:
        raise ValidationError(field, exc.problem, reason=exc.reason) from None
    _remember(_grid_values, key, (instrument, price))
    return price


def _quantity(instrument: Instrument, text: str, field: str) -> Quantity:
    key = (id(instrument), "quantity", text)
    known = _grid_values.get(key)
    if known is not None and known[0] is instrument:
        return known[1]  # type: ignore[return-value]
    _positive(text, field)
    try:
        quantity = instrument.parse_quantity(text)
    except ValidationError as exc:
        raise ValidationError(field, exc.problem, reason=exc.reason) from None
    _remember(_grid_values, key, (instrument, quantity))
    return quantity


def _required_decimal(parent: Message, name: str, prefix: str) -> str:
    field = f"{prefix}.{name}"
    text = _decimal(parent, name, field)
    if text is None:
        raise ValidationError(field, "is required")
    return text


def _money(parent: Message, name: str, prefix: str, currency: str) -> Money:
    field = f"{prefix}.{name}"
    text = _required_decimal(parent, name, prefix)
    _positive(text, field)
    try:
        return Money(text, currency)
    except ValueError as exc:
        raise ValidationError(field, str(exc)) from None


def _check_account(account_id: AccountId, account_exists: AccountCheck | None, field: str) -> None:
    if account_exists is not None and not account_exists(account_id):
        raise NotFoundError(f"{field}: unknown account {account_id}", reason="UNKNOWN_ACCOUNT")


def _instrument(instruments: InstrumentLookup, instrument_id: InstrumentId, field: str) -> Instrument:
    try:
        return instruments(instrument_id)
    except NotFoundError:
        raise NotFoundError(
            f"{field}: unknown instrument {instrument_id}", reason="UNKNOWN_INSTRUMENT"
        ) from None


@contextmanager
def _fields(prefix: str) -> Iterator[None]:
    """Domain constructors name their own fields; put them under the request path ``prefix``."""
    try:
        yield
    except ValidationError as exc:
        if not prefix or exc.field.startswith(f"{prefix}."):
            raise
        raise ValidationError(f"{prefix}.{exc.field}", exc.problem, reason=exc.reason) from None
