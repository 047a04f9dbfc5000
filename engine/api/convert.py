"""Domain <-> protobuf conversion. Enums share integer values with the proto, so they map directly."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from algotrendy.v1 import common_pb2, engine_pb2, marketdata_pb2, orders_pb2, portfolio_pb2, risk_pb2
from engine.api.errors import REASON_KEY, status_for
from engine.core.component import ComponentStatus, EngineStatus
from engine.core.fixed import Money, Price, Quantity
from engine.core.instruments import Instrument
from engine.marketdata.book import BookSnapshot
from engine.oms.order import Order
from engine.oms.portfolio import PnlView, PositionView
from engine.risk import AccountLimits, InstrumentLimits, RiskLimits, StrategyLimits

_R = TypeVar("_R")


def decimal_to_proto(value: Price | Quantity | Money | Decimal) -> common_pb2.Decimal:
    """An exact value as the API's decimal string (Money without its currency)."""
    return common_pb2.Decimal(value=decimal_text(value))


def instrument_to_proto(instrument: Instrument) -> marketdata_pb2.Instrument:
    message = marketdata_pb2.Instrument(
        instrument_id=str(instrument.id),
        kind=int(instrument.kind),
        base=instrument.base,
        quote=instrument.quote,
        settlement=instrument.settlement,
        price_increment=decimal_to_proto(instrument.price_increment),
        size_increment=decimal_to_proto(instrument.size_increment),
        min_quantity=decimal_to_proto(instrument.min_quantity),
        maker_fee=decimal_to_proto(instrument.maker_fee),
        taker_fee=decimal_to_proto(instrument.taker_fee),
        multiplier=decimal_to_proto(instrument.multiplier),
        tradable=instrument.tradable,
    )
    if instrument.max_quantity is not None:
        message.max_quantity.CopyFrom(decimal_to_proto(instrument.max_quantity))
    if instrument.min_notional is not None:
        message.min_notional.CopyFrom(decimal_to_proto(instrument.min_notional))
    return message


def book_snapshot_to_proto(snapshot: BookSnapshot, ts_ns: int) -> marketdata_pb2.GetOrderBookResponse:
    """Levels are added to the response in place (a BookLevel and two Decimals built and copied
    per level cost several times more)."""
    message = marketdata_pb2.GetOrderBookResponse(
        instrument_id=str(snapshot.instrument_id),
        sequence=snapshot.sequence,
        crossed=snapshot.is_crossed,
        ts_ns=ts_ns,
    )
    for side, levels in ((message.bids, snapshot.bids), (message.asks, snapshot.asks)):
        for price, size in levels:
            level = side.add()
            level.price.value = str(price)
            level.size.value = str(size)
    return message


def component_status_to_proto(status: ComponentStatus) -> engine_pb2.ComponentStatus:
    return engine_pb2.ComponentStatus(
        name=status.name, state=int(status.state), detail=status.detail, since_ns=status.since_ns
    )


def engine_status_to_proto(status: EngineStatus) -> engine_pb2.GetStatusResponse:
    return engine_pb2.GetStatusResponse(
        version=status.version,
        instance=status.instance,
        engine_state=int(status.engine_state),
        trading_state=int(status.trading_state),
        started_at_ns=status.started_at_ns,
        uptime_ns=status.uptime_ns,
        server_time_ns=status.server_time_ns,
        components=[component_status_to_proto(c) for c in status.components],
        loop_lag=engine_pb2.LoopLag(
            p50_ns=status.loop_lag_p50_ns,
            p99_ns=status.loop_lag_p99_ns,
            max_ns=status.loop_lag_max_ns,
            samples=status.loop_lag_samples,
            window_ns=status.loop_lag_window_ns,
        ),
        pid=status.pid,
    )


# == orders ========================================================================================
def decimal_text(value: Price | Quantity | Money | Decimal) -> str:
    """The API's decimal string of an exact value (what ``decimal_to_proto`` wraps)."""
    if isinstance(value, Money):
        return value.amount_str()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def order_to_proto(order: Order) -> orders_pb2.Order:
    """An order as the API's ``Order`` (a copy: the domain object stays on the loop)."""
    return fill_order(orders_pb2.Order(), order)


def fill_order(message: orders_pb2.Order, order: Order) -> orders_pb2.Order:
    """Write ``order`` into an empty ``message`` -- e.g. a response's own ``order`` field, which
    saves building an Order and copying it in. Every order of an answer goes through here, so the
    decimals are set as strings on the message's own sub-messages rather than built as
    ``Decimal`` messages and copied (a quarter of the cost)."""
    message.account_id = order.account_id
    message.strategy_id = order.strategy_id
    message.client_order_id = order.client_order_id
    message.venue_order_id = order.venue_order_id or ""
    message.instrument_id = order.instrument_id
    message.side = order.side
    message.order_type = order.order_type
    message.time_in_force = order.time_in_force
    message.quantity.value = str(order.quantity)
    message.expire_at_ns = order.expire_at_ns or 0
    message.post_only = order.post_only
    message.reduce_only = order.reduce_only
    message.status = order.status
    message.filled_quantity.value = str(order.filled_quantity)
    message.reason = order.reason
    message.detail = order.detail
    message.created_at_ns = order.ts_created
    message.updated_at_ns = order.ts_last
    message.last_sequence = order.last_sequence
    if order.price is not None:
        message.price.value = str(order.price)
    if order.trigger_price is not None:
        message.trigger_price.value = str(order.trigger_price)
    average = order.average_fill_price
    if average is not None:
        message.average_fill_price.value = decimal_text(average)
    return message


# == portfolio =====================================================================================
def position_to_proto(view: PositionView) -> portfolio_pb2.Position:
    message = portfolio_pb2.Position(
        account_id=view.account_id,
        instrument_id=view.instrument_id,
        quantity=decimal_to_proto(view.quantity),
        realised_pnl=decimal_to_proto(view.realised_pnl),
        unrealised_pnl=decimal_to_proto(view.unrealised_pnl),
        currency=view.realised_pnl.currency,
    )
    if view.avg_entry_price is not None:
        message.average_entry_price.CopyFrom(decimal_to_proto(view.avg_entry_price))
    if view.mark is not None:
        message.mark_price.CopyFrom(decimal_to_proto(view.mark))
    return message


def balances_to_proto(account_id: str, balances: Mapping[str, Money]) -> portfolio_pb2.GetBalancesResponse:
    return portfolio_pb2.GetBalancesResponse(
        account_id=account_id,
        balances=[
            portfolio_pb2.Balance(asset=asset, total=decimal_to_proto(balances[asset]))
            for asset in sorted(balances)
        ],
    )


def pnl_to_proto(
    account_id: str,
    currency: str,
    pnl: PnlView,
    equity_marks: tuple[Money, Money] | None,
    ts_ns: int,
) -> portfolio_pb2.GetPnlResponse:
    message = portfolio_pb2.GetPnlResponse(
        account_id=account_id,
        currency=currency,
        realised_pnl=decimal_to_proto(pnl.realised),
        unrealised_pnl=decimal_to_proto(pnl.unrealised),
        fees=decimal_to_proto(pnl.fees),
        equity=decimal_to_proto(pnl.equity),
        ts_ns=ts_ns,
    )
    if equity_marks is not None:
        message.day_start_equity.CopyFrom(decimal_to_proto(equity_marks[0]))
        message.peak_equity.CopyFrom(decimal_to_proto(equity_marks[1]))
    return message


# == risk ==========================================================================================
def instrument_limits_to_proto(limits: InstrumentLimits) -> risk_pb2.InstrumentLimits:
    return risk_pb2.InstrumentLimits(
        max_order_quantity=decimal_to_proto(limits.max_order_quantity),
        max_order_notional=decimal_to_proto(limits.max_order_notional),
        max_position=decimal_to_proto(limits.max_position),
        price_band_bps=limits.price_band_bps,
        max_data_age_ms=limits.max_data_age_ms,
        reference=int(limits.reference),
    )


def account_limits_to_proto(limits: AccountLimits) -> risk_pb2.AccountLimits:
    return risk_pb2.AccountLimits(
        max_gross_exposure=decimal_to_proto(limits.max_gross_exposure),
        max_net_exposure=decimal_to_proto(limits.max_net_exposure),
        max_open_orders=limits.max_open_orders,
        max_orders_per_second=limits.max_orders_per_second,
        order_burst=limits.order_burst,
        max_daily_loss=decimal_to_proto(limits.max_daily_loss),
        max_drawdown=decimal_to_proto(limits.max_drawdown),
        breach_state=int(limits.breach_state),
    )


def strategy_limits_to_proto(limits: StrategyLimits) -> risk_pb2.StrategyLimits:
    return risk_pb2.StrategyLimits(
        max_orders_per_second=limits.max_orders_per_second, order_burst=limits.order_burst
    )


def subject_limits_to_proto(
    subject_id: str, limits: AccountLimits | InstrumentLimits | StrategyLimits
) -> risk_pb2.SubjectLimits:
    if isinstance(limits, AccountLimits):
        return risk_pb2.SubjectLimits(
            account=risk_pb2.AccountLimitsEntry(account_id=subject_id, limits=account_limits_to_proto(limits))
        )
    if isinstance(limits, InstrumentLimits):
        return risk_pb2.SubjectLimits(
            instrument=risk_pb2.InstrumentLimitsEntry(
                instrument_id=subject_id, limits=instrument_limits_to_proto(limits)
            )
        )
    return risk_pb2.SubjectLimits(
        strategy=risk_pb2.StrategyLimitsEntry(strategy_id=subject_id, limits=strategy_limits_to_proto(limits))
    )


def risk_limits_to_proto(limits: RiskLimits, currency: str) -> risk_pb2.GetLimitsResponse:
    return risk_pb2.GetLimitsResponse(
        currency=currency,
        accounts=[
            risk_pb2.AccountLimitsEntry(account_id=k, limits=account_limits_to_proto(v))
            for k, v in sorted(limits.accounts.items())
        ],
        instruments=[
            risk_pb2.InstrumentLimitsEntry(instrument_id=k, limits=instrument_limits_to_proto(v))
            for k, v in sorted(limits.instruments.items())
        ],
        strategies=[
            risk_pb2.StrategyLimitsEntry(strategy_id=k, limits=strategy_limits_to_proto(v))
            for k, v in sorted(limits.strategies.items())
        ],
    )


# == audit summaries ===============================================================================
#: Longest string kept in an audit summary (the rest is elided; the request itself is not stored).
SUMMARY_MAX_CHARS = 128
SUMMARY_MAX_ITEMS = 32


def request_summary(message: Message) -> dict[str, Any]:
    """The fields a request set, as plain data for the audit log: decimals as their strings, enums
    by name, long strings elided, long lists cut. (The order, portfolio and risk requests carry no
    secrets; a request type that does must leave them out here.)"""
    out: dict[str, Any] = {}
    for descriptor, value in message.ListFields():
        plan = _SUMMARY_PLAN.get(descriptor)
        if plan is None:
            plan = _SUMMARY_PLAN[descriptor] = (
                descriptor.name,
                descriptor.is_repeated,
                _summary_kind(descriptor),
            )
        name, repeated, how = plan
        if repeated:
            items = list(value)
            summary: Any = [_summary_value(how, v) for v in items[:SUMMARY_MAX_ITEMS]]
            if len(items) > SUMMARY_MAX_ITEMS:
                summary.append(f"... {len(items) - SUMMARY_MAX_ITEMS} more")
        elif how is _DECIMAL:
            summary = value.value
            if len(summary) > SUMMARY_MAX_CHARS:
                summary = _clip(summary)
        elif how is _OTHER and type(value) is not bytes:
            summary = value
            if type(value) is str and len(value) > SUMMARY_MAX_CHARS:
                summary = _clip(value)
        else:
            summary = _summary_value(how, value)
        out[name] = summary
    return out


#: How each field is summarised -- (name, repeated, kind) -- worked out once per field (every
#: audited call summarises its request).
_DECIMAL, _MESSAGE, _OTHER = 0, 1, 2
_SUMMARY_PLAN: dict[FieldDescriptor, tuple[str, bool, int | dict[int, str]]] = {}


def _summary_kind(descriptor: FieldDescriptor) -> int | dict[int, str]:
    """``_DECIMAL``, ``_MESSAGE``, ``_OTHER``, or for an enum its names by number."""
    if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
        if descriptor.message_type.full_name == common_pb2.Decimal.DESCRIPTOR.full_name:
            return _DECIMAL
        return _MESSAGE
    if descriptor.type == FieldDescriptor.TYPE_ENUM:
        return {number: value.name for number, value in descriptor.enum_type.values_by_number.items()}
    return _OTHER


def _summary_value(how: int | dict[int, str], value: Any) -> Any:
    if how is _DECIMAL:
        return _clip(value.value)
    if how is _MESSAGE:
        return request_summary(value)
    if how is not _OTHER:
        return how.get(value, value)  # type: ignore[union-attr]  # an enum: its name, else the number
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _clip(text: str) -> str:
    if len(text) <= SUMMARY_MAX_CHARS:
        return text
    return f"{text[:SUMMARY_MAX_CHARS]}... ({len(text)} chars)"


#: ``audit(method, summary, result)``: called once for every state-changing call, after it finished;
#: it answers ``None`` when the record is durable, else an awaitable that resolves once it is (the
#: call answers only after that).
AuditHook = Callable[[str, dict[str, Any], str], Awaitable[Any] | None]


def audit_result(exc: BaseException | None) -> str:
    """The outcome of a call as the audit log records it: ``OK``, ``CANCELLED`` (the caller went away
    before the answer) or ``<gRPC code>:<reason>``, e.g. ``FAILED_PRECONDITION:TRADING_HALTED``."""
    if exc is None:
        return "OK"
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    code, _, metadata = status_for(exc)
    reason = dict(metadata).get(REASON_KEY, "INTERNAL")
    return f"{code.name}:{reason}"


class RpcHooks:
    """Runs one servicer call with the hooks every servicer shares.

    * ``audit(method, summary, result)`` for state-changing calls, once, after the call finished,
      success or failure (``summary``: ``request_summary``; ``result``: ``audit_result``); the call
      answers once the record is durable (what ``audit`` returns is awaited);
    * ``on_internal(exc)`` for every call that ends in an internal error (the app halts trading);
    * the call is shielded from the caller going away: a command the engine started is finished
      (and audited with its real outcome) even if the client disconnects, and no durability future
      of the journal is ever canceled by a client.

    The call starts eagerly, in the caller's task: a command that finishes without waiting (an
    order with ``async`` durability: journalled, sent and audited in one go) needs no task, no
    shield and no loop round trip, and nothing can cancel it in between. Only a call that does
    wait (an fsync, a venue answer) continues in a task of its own, shielded from the caller --
    what Python 3.12's eager task factory does, by hand for 3.11.

    An exception raised by ``audit`` reaches ``on_internal`` and answers INTERNAL: an unrecorded
    state change must not look like a success.
    """

    __slots__ = ("_audit", "_on_internal", "_tasks")

    def __init__(
        self, audit: AuditHook | None = None, on_internal: Callable[[BaseException], None] | None = None
    ) -> None:
        self._audit = audit
        self._on_internal = on_internal
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, method: str, request: Message, call: Coroutine[Any, Any, _R], *, audited: bool) -> _R:
        completion = self._complete(method, request, call, audited)
        try:
            waiting_on = completion.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        task = asyncio.get_running_loop().create_task(_continue(completion, waiting_on))
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return await asyncio.shield(task)

    async def _complete(
        self, method: str, request: Message, call: Coroutine[Any, Any, _R], audited: bool
    ) -> _R:
        try:
            response = await call
        except BaseException as exc:
            pending = self._finished(method, request, exc, audited)
            if pending is not None:
                await pending
            raise
        pending = self._finished(method, request, None, audited)
        if pending is not None:
            await pending
        return response

    def _finished(
        self, method: str, request: Message, exc: BaseException | None, audited: bool
    ) -> Awaitable[Any] | None:
        if (
            exc is not None
            and self._on_internal is not None
            and isinstance(exc, Exception)
            and status_for(exc)[0] is grpc.StatusCode.INTERNAL
        ):
            self._on_internal(exc)
        if audited and self._audit is not None:
            try:
                return self._audit(method, request_summary(request), audit_result(exc))
            except Exception as audit_exc:
                if self._on_internal is not None:
                    self._on_internal(audit_exc)
                raise
        return None

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the outcome was handled (or the caller had gone)


@types.coroutine
def _continue(coroutine: Coroutine[Any, Any, _R], waiting_on: Any) -> Generator[Any, Any, _R]:
    """Drive ``coroutine``, already stepped once (it yielded ``waiting_on``, the future it awaits),
    to its end as its task would: what the coroutine yields goes to the task running this, and
    what the task sends or throws back goes to the coroutine."""
    while True:
        try:
            sent = yield waiting_on
        except BaseException as exc:
            try:
                waiting_on = coroutine.throw(exc)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
        else:
            try:
                waiting_on = coroutine.send(sent)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
