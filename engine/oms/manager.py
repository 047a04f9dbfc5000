"""``OrderManager``: the order book of record of the engine, on the loop thread.

Flow of a submit (DESIGN.md: an order intent is durable before it leaves the process)::

    submit(cmd) -> input checks (ValidationError, DuplicateError: nothing changes)
                -> OrderInitialized -> risk.check_submit
                -> OrderDenied (terminal)                        journalled, awaited durable
                   or OrderSubmitted -> await durable -> venue.send(cmd)

Venue reports come back through ``on_order_event``; every event the manager applies gets the next
order-event ``sequence`` (per engine, gap-free, starting at 1), goes through the state machine, is
appended to the journal and is published to the subscribers, in that order. Amends and cancels
journal OrderPendingUpdate / OrderPendingCancel and await durability before they are sent.

Only the manager's own paths change orders; an illegal transition raises ``InvariantViolation``,
halts the manager (new orders and amends refused, cancels still allowed) and leaves the order as
it was. ``restore`` rebuilds everything from the journalled events; ``reconcile`` then asks the venue
about every order still open by client order id and applies what the venue knows. Nothing is ever
resubmitted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from engine.core.commands import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side
from engine.core.errors import (
    AlgoTrendyError,
    DuplicateError,
    InvariantViolation,
    NotFoundError,
    PreconditionError,
    RiskDeniedError,
    StorageError,
    TradingHaltedError,
    ValidationError,
)
from engine.core.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSubmitted,
    OrderUpdated,
    QuoteTick,
    TradeTick,
)
from engine.core.fixed import Price
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.core.instruments import Instrument
from engine.core.records import field_slots
from engine.ext.core.records import build as build_record
from engine.ext.core.records import copy_replacing
from engine.oms.contingency import Amend, Cancel, OrderList, Submit
from engine.oms.events import ContingencyKind, OrderListCreated
from engine.oms.order import TERMINAL_STATUSES, Order, OrderKey, initialized_from
from engine.oms.ports import Clock, JournalPort, RiskPort, VenueCommand, VenueOrderView, VenuePort

__all__ = ["OrderManager", "OrderPage"]

_log = structlog.get_logger("engine.oms")

EventHandler = Callable[[OrderEvent], None]
_E = TypeVar("_E", bound=OrderEvent)
#: The venue refuses a second order with an id it has seen; that says nothing about our order.
DUPLICATE_AT_VENUE = "DUPLICATE_CLIENT_ORDER_ID"
#: Reconciliation found no trace of the order at the venue: it never arrived.
NOT_RECEIVED = "NOT_RECEIVED_BY_VENUE"
MAX_PAGE_SIZE = 1000
_TOKEN_PREFIX = "oms1:"
#: Page tokens of a newest-first listing (they walk back from the index they name).
_NEWEST_PREFIX = "oms1r:"
_EXPECTED_RACES = (PreconditionError, NotFoundError)


@dataclass(frozen=True, slots=True)
class OrderPage:
    orders: list[Order]
    #: Opaque; pass it back to get the next page. Empty on the last page.
    next_page_token: str


class OrderManager:
    def __init__(
        self,
        *,
        clock: Clock,
        venue: VenuePort,
        risk: RiskPort,
        journal: JournalPort,
        instruments: Iterable[Instrument],
        on_invariant_violation: Callable[[InvariantViolation], None] | None = None,
    ) -> None:
        self._clock = clock
        self._venue = venue
        self._risk = risk
        self._journal = journal
        # Bound once: called several times per order.
        self._append = journal.append
        self._commit_pending = journal.commit_pending
        #: The journal's optional ``hold_commit`` / ``release_commit`` (see ``JournalPort``): a venue
        #: report's record is scheduled for commit after its subscribers had it (what they do in
        #: reaction, e.g. a new order's intent, is committed with it, one transaction less).
        self._hold = getattr(journal, "hold_commit", None)
        self._release = getattr(journal, "release_commit", None)
        self._instruments: dict[InstrumentId, Instrument] = {i.id: i for i in instruments}
        self._on_invariant_violation = on_invariant_violation
        self._orders: dict[OrderKey, Order] = {}
        self._by_index: list[Order] = []
        #: The orders not yet ended (terminal statuses are final), by index in creation order: what
        #: open-order queries, cancel-all and reconciliation walk instead of every order ever made.
        self._live: dict[int, Order] = {}
        self._sequence = 0
        self._subscribers: list[EventHandler] = []
        #: The subscribers as a tuple, rebuilt on (un)subscribe: the per-event fan-out iterates a
        #: snapshot (a handler may unsubscribe while called) without copying the list per event.
        self._fanout: tuple[EventHandler, ...] = ()
        #: Submits journalled but not sent yet: resolved once the command left (or never will).
        self._in_flight: dict[OrderKey, asyncio.Future[None]] = {}
        self._lists: dict[OrderKey, OrderList] = {}
        self._list_of: dict[OrderKey, OrderList] = {}
        self._trailing: dict[InstrumentId, dict[OrderKey, OrderList]] = {}
        self._dirty: list[OrderList] = []
        self._syncing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._replaying = False
        self._halted = ""
        #: Venue reports ignored: for orders this manager does not know, repeated ones, and
        #: duplicate-client-order-id rejects of a second submit (never applied to the original).
        self.unknown_events = 0
        self.duplicate_events = 0
        self.duplicate_id_rejects = 0
        #: Errors of background work (contingency actions) that were not expected races.
        self.background_errors: list[BaseException] = []

    # == configuration and subscription ============================================================
    def add_instrument(self, instrument: Instrument) -> None:
        self._instruments[instrument.id] = instrument

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Call ``handler(event)`` for every applied order event, in sequence order, on the loop.

        Events reach subscribers when appended to the journal (a stream that acknowledges them to
        clients awaits the journal's durability first). Returns the unsubscribe function.
        """
        self._subscribers.append(handler)
        self._fanout = tuple(self._subscribers)

        def unsubscribe() -> None:
            self._subscribers.remove(handler)
            self._fanout = tuple(self._subscribers)

        return unsubscribe

    @property
    def sequence(self) -> int:
        """The sequence of the last order event applied (0 before the first)."""
        return self._sequence

    @property
    def is_halted(self) -> bool:
        return bool(self._halted)

    @property
    def halt_reason(self) -> str:
        return self._halted

    def halt(self, reason: str) -> None:
        """Refuse new orders and amends from now on (cancels still go through)."""
        if not self._halted:
            self._halted = reason
            _log.error("oms_halted", reason=reason)

    async def idle(self) -> None:
        """Wait until background work (contingency submits, amends, cancels) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # == queries ===================================================================================
    def get(self, account_id: AccountId, client_order_id: ClientOrderId) -> Order:
        order = self._orders.get((account_id, client_order_id))
        if order is None:
            raise NotFoundError(
                f"no order {client_order_id} on account {account_id}", reason="ORDER_NOT_FOUND"
            )
        return order

    def find(self, account_id: AccountId, client_order_id: ClientOrderId) -> Order | None:
        return self._orders.get((account_id, client_order_id))

    def orders(self) -> list[Order]:
        """Every order in creation order."""
        return list(self._by_index)

    def list_orders(
        self,
        *,
        account_id: AccountId | None = None,
        instrument_id: InstrumentId | None = None,
        statuses: Iterable[OrderStatus] | None = None,
        open_only: bool = False,
        strategy_id: StrategyId | None = None,
        page_size: int = 100,
        page_token: str = "",
        newest_first: bool = False,
    ) -> OrderPage:
        """Orders matching every given filter, in creation order (``newest_first``: the reverse,
        the latest order first), one page at a time. A page token continues the listing in the
        direction it was issued for."""
        if type(page_size) is not int or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValidationError("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
        by_index = self._by_index
        if newest_first:
            start = _decode_token(page_token, _NEWEST_PREFIX) if page_token else len(by_index) - 1
            prefix = _NEWEST_PREFIX
        else:
            start = _decode_token(page_token)
            prefix = _TOKEN_PREFIX
        indices: Iterable[int]
        if open_only:  # (only the orders not ended yet can be open: a few, not every order ever)
            live = self._live
            indices = (
                [i for i in reversed(live) if i <= start] if newest_first else [i for i in live if i >= start]
            )
        elif newest_first:
            indices = range(min(start, len(by_index) - 1), -1, -1)
        else:
            indices = range(start, len(by_index))
        wanted = frozenset(statuses) if statuses is not None else None
        out: list[Order] = []
        for i in indices:
            o = by_index[i]
            if (
                (account_id is None or o.account_id == account_id)
                and (instrument_id is None or o.instrument_id == instrument_id)
                and (wanted is None or o.status in wanted)
                and (not open_only or o.is_open)
                and (strategy_id is None or o.strategy_id == strategy_id)
            ):
                if len(out) == page_size:
                    return OrderPage(out, _encode_token(i, prefix))
                out.append(o)
        return OrderPage(out, "")

    def order_list(self, account_id: AccountId, client_order_id: ClientOrderId) -> OrderList | None:
        """The order list an order belongs to, if any."""
        return self._list_of.get((account_id, client_order_id))

    # == commands ==================================================================================
    async def submit(self, command: SubmitOrder) -> Order:
        """Create, risk-check, journal (durably) and send an order; returns it.

        A duplicate ``client_order_id`` raises ``DuplicateError`` whose ``original`` is the existing
        order (nothing is sent). A risk denial is an outcome, not an error: the order comes back
        DENIED with the reason. Invalid input raises ``ValidationError`` and changes nothing.
        """
        self._check_submit(command)
        order, durable, approved = self._submit_now(command)
        if self._commit_pending():  # durable already: the order leaves in this call
            if approved:
                self._send_now(order, command)
            return order
        if not approved:
            if durable is not None:
                await durable
        else:
            await self._send_when_durable(order, command, durable, self._mark_in_flight(order))
        return order

    def submit_nowait(self, command: SubmitOrder) -> Order:
        """``submit`` for code on the loop that reacts to an event and does not await (a strategy's
        callback): the same checks (raised here), risk gate, journal and send; returns the order.

        With a journal that commits on the loop (``async`` durability) the intent is durable and
        sent when this returns, with no loop round trip in between; otherwise it is sent from a
        background task once durable (a journal failure then rejects it, as with ``submit``)."""
        self._check_submit(command)
        order, durable, approved = self._submit_now(command)
        if self._commit_pending():
            if approved:
                self._send_now(order, command)
        elif approved:
            self._spawn(self._send_when_durable(order, command, durable, self._mark_in_flight(order)))
        return order

    async def amend(self, command: AmendOrder) -> Order:
        """Journal OrderPendingUpdate (durably) and send the amend; the venue answers later."""
        order = self.get(command.account_id, command.client_order_id)
        await self._wait_sent(order.key)
        durable = self._amend_now(order, command)
        await self._send_when_durable_or(order, command, durable, OrderModifyRejected)
        return order

    async def cancel(self, command: CancelOrder) -> Order:
        """Journal OrderPendingCancel (durably) and send the cancel. Canceling an order whose cancel
        is already pending returns it unchanged; a finished order raises ``PreconditionError``."""
        order = self.get(command.account_id, command.client_order_id)
        await self._wait_sent(order.key)
        durable = self._cancel_now(order, command)
        if durable is not None:
            await self._send_when_durable_or(order, command, durable, OrderCancelRejected)
        return order

    async def cancel_all(self, command: CancelAllOrders) -> list[Order]:
        """Cancel every open order of the account (optionally one instrument and/or side) known to
        this manager, one cancel per order; returns the orders a cancel was sent for."""
        targets = [
            o
            for o in self._live.values()
            if o.account_id == command.account_id
            and o.is_open
            and o.status is not OrderStatus.PENDING_CANCEL
            and (command.instrument_id is None or o.instrument_id == command.instrument_id)
            and (command.side is None or o.side is command.side)
        ]

        async def one(order: Order) -> Order | None:
            cancel = CancelOrder(
                ts_init=command.ts_init, account_id=order.account_id, client_order_id=order.client_order_id
            )
            try:
                await self.cancel(cancel)
            except _EXPECTED_RACES:
                return None
            return order

        done = await asyncio.gather(*(one(o) for o in targets))
        return [o for o in done if o is not None]

    async def submit_oco(self, first: SubmitOrder, second: SubmitOrder) -> tuple[Order, Order]:
        """Two orders where a fill of one, or one ending unfilled, cancels the other."""
        self._check_list([first, second])
        self._create_list(ContingencyKind.OCO, first, (first, second))
        orders = await asyncio.gather(self.submit(first), self.submit(second))
        return orders[0], orders[1]

    async def submit_bracket(
        self, entry: SubmitOrder, take_profit: SubmitOrder, stop_loss: SubmitOrder
    ) -> Order:
        """Entry now; take-profit (LIMIT) and stop-loss (STOP_*) on the other side released by the
        engine when the entry fills, sized to what has filled. When an exit trades, the entry's
        remainder is canceled and the other exit is resized to the open remainder (canceled at
        zero); an exit ending unfilled (canceled, expired, rejected) dissolves the bracket (the
        rest is canceled). The exits' ``quantity`` must equal the entry's. Returns the entry."""
        self._check_list([entry, take_profit, stop_loss])
        for child, name in ((take_profit, "take_profit"), (stop_loss, "stop_loss")):
            if child.side is not entry.side.opposite:
                raise ValidationError(f"{name}.side", "must be opposite to the entry")
            if child.quantity != entry.quantity:
                raise ValidationError(f"{name}.quantity", "must equal the entry quantity")
        if take_profit.order_type is not OrderType.LIMIT:
            raise ValidationError("take_profit.order_type", "must be LIMIT")
        if not stop_loss.order_type.has_trigger:
            raise ValidationError("stop_loss.order_type", "must be STOP_MARKET or STOP_LIMIT")
        self._create_list(
            ContingencyKind.BRACKET, entry, (entry, take_profit, stop_loss), (take_profit, stop_loss)
        )
        return await self.submit(entry)

    async def submit_trailing_stop(
        self, command: SubmitOrder, *, offset_ticks: int = 0, offset_bps: int = 0
    ) -> Order:
        """A STOP_MARKET whose trigger follows the best price (last trade, or bid for a SELL stop /
        ask for a BUY stop) at ``offset_ticks`` ticks or ``offset_bps`` basis points, only ever
        tightening; each move is an amend at the venue. ``trigger_price`` is the initial trigger."""
        if command.order_type is not OrderType.STOP_MARKET:
            raise ValidationError("order_type", "a trailing stop is a STOP_MARKET order")
        if (offset_ticks > 0) == (offset_bps > 0) or offset_ticks < 0 or offset_bps < 0:
            raise ValidationError("offset", "give exactly one of offset_ticks or offset_bps, positive")
        if offset_bps >= 10_000:
            raise ValidationError("offset_bps", "must be below 10000")
        self._check_list([command])
        self._create_list(
            ContingencyKind.TRAILING_STOP,
            command,
            (command,),
            offset_ticks=offset_ticks,
            offset_bps=offset_bps,
        )
        return await self.submit(command)

    # == venue reports and market data =============================================================
    def on_order_event(self, event: OrderEvent, *, owned: bool = False) -> Order | None:
        """Apply a venue report. Returns the order it changed, or None when it was ignored (unknown
        order, a repeated report, or a duplicate-id reject of a second submit).

        ``owned``: the caller hands the event over and nobody else holds it (the events a
        synchronous venue core just returned, as in the backtester), so it is sequenced in place
        instead of copied (see ``_commit``). Default: copied, the venue's object is left as it is."""
        order = self._orders.get((event.account_id, event.client_order_id))
        cls = type(event)  # (final event classes: identity, not isinstance)
        if order is None or cls is OrderListCreated:
            self.unknown_events += 1
            return None
        # ``order.is_duplicate(event)``, inlined (every venue report passes here)
        if cls is OrderFilled:
            duplicate = event.trade_id in order.trade_ids  # type: ignore[attr-defined]
        elif cls is OrderRejected and event.reason == DUPLICATE_AT_VENUE:  # type: ignore[attr-defined]
            self.duplicate_id_rejects += 1
            _log.warning("venue_duplicate_id_reject_ignored", client_order_id=event.client_order_id)
            return None
        elif cls is OrderAccepted and order.status is OrderStatus.ACCEPTED:
            duplicate = event.venue_order_id == order.venue_order_id  # type: ignore[attr-defined]
        else:
            duplicate = order.status in TERMINAL_STATUSES and cls.__name__ == order.closed_by
        if duplicate:
            self.duplicate_events += 1
            return None
        hold = self._hold
        if hold is None:
            self._commit(order, event, fresh=owned)
        else:
            hold()  # (the report's record is scheduled for commit once its subscribers had it)
            try:
                self._commit(order, event, fresh=owned)
            finally:
                self._release()  # type: ignore[misc]
        return order

    def on_trade(self, tick: TradeTick) -> None:
        self._risk.on_trade(tick)
        if self._trailing:  # (every tick: no call while there are no trailing stops)
            self._trail(tick.instrument_id, tick.price, tick.price)

    def on_quote(self, tick: QuoteTick) -> None:
        self._risk.on_quote(tick)
        if self._trailing:
            self._trail(tick.instrument_id, tick.bid_price, tick.ask_price)

    # == recovery ==================================================================================
    def restore(self, events: Iterable[OrderEvent], *, notify_risk: bool = True) -> None:
        """Rebuild every order, order list and the sequence from journalled order events (in
        journal order, gap-free from sequence 1). With ``notify_risk`` the risk hooks run as they
        did live (for a risk engine that rebuilds its exposure from them). Subscribers are not
        called. The manager must be new."""
        if self._orders or self._sequence:
            raise PreconditionError("restore needs a new order manager", reason="OMS_NOT_EMPTY")
        self._replaying = True
        orders = self._orders
        risk = self._risk
        terminal = TERMINAL_STATUSES
        initialized = OrderStatus.INITIALIZED
        sequence = self._sequence
        try:
            # ``_apply`` inlined and dispatch by class (final event classes): this runs once per
            # journalled order event at every start, a million times for a 1M-event journal.
            for event in events:
                sequence += 1
                if event.sequence != sequence:
                    raise StorageError(
                        f"order journal out of sequence: expected {sequence}, got {event.sequence}",
                        reason="JOURNAL_SEQUENCE_GAP",
                    )
                cls = type(event)
                if cls is OrderInitialized:
                    if (event.account_id, event.client_order_id) in orders:
                        raise StorageError(f"order {event.client_order_id} initialized twice in the journal")
                    self._add_order(event)  # type: ignore[arg-type]
                elif cls is OrderListCreated:
                    self._register_list(event)  # type: ignore[arg-type]
                else:
                    order = orders.get((event.account_id, event.client_order_id))
                    if order is None:
                        raise StorageError(f"journal event for unknown order {event.client_order_id}")
                    before = order.status
                    after = order.apply(event)
                    if notify_risk:
                        if cls is OrderSubmitted:
                            risk.on_order_opened(order)
                        elif cls is OrderFilled:
                            risk.on_fill(order, event)  # type: ignore[arg-type]
                        elif cls is OrderUpdated:
                            risk.on_order_updated(order)
                        if after in terminal and before not in terminal and before is not initialized:
                            risk.on_order_closed(order)
                self._sequence = sequence
            # The orders not ended, once at the end (cheaper than kept up per replayed event).
            self._live = {o.index: o for o in self._by_index if o.status not in terminal}
        finally:
            self._replaying = False

    async def reconcile(self, venue: VenuePort | None = None) -> list[Order]:
        """Ask the venue about every open order by client order id and apply what it knows:
        acknowledgement, missed fills, amend results, cancels, expiries, rejects. An order the venue
        has never heard of was never received: it is rejected (``NOT_RECEIVED_BY_VENUE``), never
        resent. Then order lists catch up (e.g. bracket exits released for fills missed while down).
        Returns the orders that changed; their events are durable when this returns."""
        source = venue or self._venue
        changed: list[Order] = []
        last: Awaitable[None] | None = None
        ts = self._clock.timestamp_ns()
        for order in [o for o in self._live.values() if o.is_open]:
            view = source.order(order.account_id, order.client_order_id)
            events = self._reconcile_events(order, view, ts)
            for event in events:
                if not order.is_duplicate(event):
                    last = self._commit(order, event)
            if events:
                changed.append(order)
        for lst in list(self._lists.values()):
            self._mark_dirty(lst)
        if last is not None:
            await last
        return changed

    # == internals: input checks ===================================================================
    def _instrument(self, instrument_id: InstrumentId) -> Instrument:
        instrument = self._instruments.get(instrument_id)
        if instrument is None:
            raise ValidationError(
                "instrument_id", f"{instrument_id} is not a known instrument", reason="UNKNOWN_INSTRUMENT"
            )
        return instrument

    def _check_submit(self, command: SubmitOrder) -> None:
        if not isinstance(command, SubmitOrder):
            raise ValidationError("command", f"expected SubmitOrder, got {type(command).__name__}")
        instrument = self._instruments.get(command.instrument_id) or self._instrument(command.instrument_id)
        if command.quantity._raw == 0:
            raise ValidationError("quantity", "must be positive")
        # The instrument's conversions check the grid (and raise the field's error); a value at the
        # grid's own precision takes their shortcut.
        instrument.quantity_to_lots(command.quantity)
        if command.price is not None:
            instrument.price_to_ticks(command.price)
        if command.trigger_price is not None:
            instrument.price_to_ticks(command.trigger_price)
        existing = self._orders.get((command.account_id, command.client_order_id))
        if existing is not None:
            raise DuplicateError(
                f"client order id {command.client_order_id} already used on {command.account_id}",
                original=existing,
                reason="DUPLICATE_CLIENT_ORDER_ID",
            )
        if self._halted:
            raise TradingHaltedError(f"order manager halted: {self._halted}")

    def _check_list(self, commands: list[SubmitOrder]) -> None:
        first = commands[0]
        seen: set[ClientOrderId] = set()
        for c in commands:
            self._check_submit(c)
            if c.account_id != first.account_id or c.instrument_id != first.instrument_id:
                raise ValidationError("account_id", "orders of a list share the account and instrument")
            if c.client_order_id in seen:
                raise ValidationError("client_order_id", "orders of a list need distinct client order ids")
            seen.add(c.client_order_id)

    def _check_amend(self, order: Order, command: AmendOrder) -> None:
        instrument = self._instrument(order.instrument_id)
        if command.quantity is not None:
            instrument.quantity_to_lots(command.quantity)
        if command.price is not None:
            if not order.order_type.has_price:
                raise ValidationError("price", f"{order.order_type.name} orders have no price")
            instrument.price_to_ticks(command.price)
        if command.trigger_price is not None:
            if not order.order_type.has_trigger:
                raise ValidationError("trigger_price", f"{order.order_type.name} orders have no trigger")
            instrument.price_to_ticks(command.trigger_price)
        if order.is_terminal:
            raise PreconditionError(
                f"order {order.client_order_id} is {order.status.name}", reason="ORDER_CLOSED"
            )
        if order.status is OrderStatus.PENDING_CANCEL:
            raise PreconditionError(
                f"order {order.client_order_id} is being canceled", reason="CANCEL_PENDING"
            )
        if order.status is OrderStatus.PENDING_UPDATE:
            raise PreconditionError(
                f"order {order.client_order_id} has an amend in flight", reason="UPDATE_PENDING"
            )
        if order.status is OrderStatus.SUBMITTED:
            raise PreconditionError(
                f"order {order.client_order_id} is not acknowledged by the venue yet",
                reason="NOT_ACKNOWLEDGED",
            )
        if command.quantity is not None and command.quantity <= order.filled_quantity:
            raise PreconditionError(
                f"new quantity {command.quantity} must exceed the filled {order.filled_quantity}",
                reason="AMEND_QUANTITY_BELOW_FILLED",
            )
        if self._halted:
            raise TradingHaltedError(f"order manager halted: {self._halted}")

    # == internals: the synchronous halves of the commands =========================================
    def _now(self) -> int:
        return self._clock.timestamp_ns()

    def _submit_now(self, command: SubmitOrder) -> tuple[Order, Awaitable[None] | None, bool]:
        """Create, risk-check and journal (sync). Returns the order, the durability of its last event
        and whether the gate approved it (then it still has to be sent, once durable)."""
        ts = self._clock.timestamp_ns()
        order = self._add_order(initialized_from(command, ts), fresh=True)
        try:
            decision = self._risk.check_submit(command, ts)
            approved = decision.approved
        except Exception as exc:  # the gate fails closed
            _log.exception("risk_check_failed", client_order_id=command.client_order_id)
            approved, decision = False, _Refusal("RISK_CHECK_FAILED", str(exc))
        if not approved:
            durable = self._commit(
                order,
                OrderDenied(
                    ts_event=ts,
                    ts_init=ts,
                    **_ids(order),
                    reason=decision.reason or "RISK_DENIED",
                    detail=decision.detail,
                ),
                fresh=True,
            )
            return order, durable, False
        submitted = _submitted(ts, order.account_id, order.client_order_id, order.instrument_id)
        return order, self._commit(order, submitted, fresh=True), True

    def _mark_in_flight(self, order: Order) -> asyncio.Future[None]:
        """The future amends and cancels of ``order`` wait on until its submit has left."""
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight[order.key] = sent
        return sent

    def _send_now(self, order: Order, command: SubmitOrder) -> None:
        """Send a submit whose intent is durable; a venue that refuses it rejects the order."""
        try:
            self._venue.send(command)
        except AlgoTrendyError as exc:
            self._not_sent(order, OrderRejected, exc.reason, exc)
        if self._list_of:
            lst = self._list_of.get(order.key)
            if lst is not None:
                self._mark_dirty(lst)

    async def _send_when_durable(
        self, order: Order, command: SubmitOrder, durable: Awaitable[None] | None, sent: asyncio.Future[None]
    ) -> None:
        try:
            try:
                if durable is not None:
                    await durable
            except BaseException as exc:
                self._not_sent(order, OrderRejected, _unsent_reason(exc), exc)
                raise
            try:
                self._venue.send(command)
            except AlgoTrendyError as exc:
                self._not_sent(order, OrderRejected, exc.reason, exc)
        finally:
            del self._in_flight[order.key]
            sent.set_result(None)
            lst = self._list_of.get(order.key)
            if lst is not None:
                self._mark_dirty(lst)

    async def _send_when_durable_or(
        self,
        order: Order,
        command: VenueCommand,
        durable: Awaitable[None],
        reject: type[OrderModifyRejected] | type[OrderCancelRejected],
    ) -> None:
        if not self._journal.commit_pending():
            try:
                await durable
            except BaseException as exc:
                self._not_sent(order, reject, _unsent_reason(exc), exc)
                raise
        self._send_or(order, command, reject)

    def _send_or(
        self,
        order: Order,
        command: VenueCommand,
        reject: type[OrderModifyRejected] | type[OrderCancelRejected],
    ) -> None:
        """Send a durable amend or cancel; a venue that refuses it undoes the pending state."""
        try:
            self._venue.send(command)
        except AlgoTrendyError as exc:
            self._not_sent(order, reject, exc.reason, exc)

    def _not_sent(self, order: Order, kind: type[OrderEvent], reason: str, exc: BaseException) -> None:
        """The command never left: undo the pending state with the matching reject."""
        if reason == "JOURNAL_FAILED":
            self.halt("JOURNAL_FAILED")
        ts = self._now()
        event = kind(ts_event=ts, ts_init=ts, **_ids(order), reason=reason, detail=str(exc))  # type: ignore[call-arg]
        if order.status.is_terminal:
            return
        self._commit(order, event, fresh=True)

    def _amend_now(self, order: Order, command: AmendOrder) -> Awaitable[None]:
        self._check_amend(order, command)
        ts = self._now()
        decision = self._risk_decision(lambda: self._risk.check_amend(command, ts))
        if not decision[0]:
            raise RiskDeniedError(decision[2] or "amend denied by the risk gate", reason=decision[1])
        pending = _pending_update(ts, order.account_id, order.client_order_id, order.instrument_id)
        durable = self._commit(order, pending, fresh=True)
        return _DURABLE if durable is None else durable

    def _cancel_now(self, order: Order, command: CancelOrder) -> Awaitable[None] | None:
        """Journal the pending cancel (sync); None when a cancel is already pending."""
        if order.is_terminal:
            raise PreconditionError(
                f"order {order.client_order_id} is {order.status.name}", reason="ORDER_CLOSED"
            )
        if order.status is OrderStatus.PENDING_CANCEL:
            return None
        ts = self._now()
        decision = self._risk_decision(lambda: self._risk.check_cancel(command, ts))
        if not decision[0]:
            raise RiskDeniedError(decision[2] or "cancel denied by the risk gate", reason=decision[1])
        pending = _pending_cancel(ts, order.account_id, order.client_order_id, order.instrument_id)
        durable = self._commit(order, pending, fresh=True)
        # (a journal durable on append returns None: not to be read as "a cancel is already pending")
        return _DURABLE if durable is None else durable

    def _risk_decision(self, check: Callable[[], Any]) -> tuple[bool, str, str]:
        try:
            d = check()
            return bool(d.approved), d.reason, d.detail
        except Exception as exc:  # fail closed
            _log.exception("risk_check_failed")
            return False, "RISK_CHECK_FAILED", str(exc)

    async def _wait_sent(self, key: OrderKey) -> None:
        sent = self._in_flight.get(key)
        if sent is not None:
            await asyncio.shield(sent)

    # == internals: applying events ================================================================
    def _add_order(self, event: OrderInitialized, *, fresh: bool = False) -> Order:
        """``fresh``: ``event`` was just built here and nobody else holds it (see ``_commit``)."""
        replaying = self._replaying
        if not replaying:
            if fresh:  # (``_sequenced``'s in-place case, inlined: once per order)
                _set_field(event, "sequence", self._sequence + 1)
            else:
                event = _sequenced(event, self._sequence + 1, fresh)
        by_index = self._by_index
        order = Order(event, len(by_index))
        key = (event.account_id, event.client_order_id)
        if self._list_of:  # (no dict lookup per order while there are no order lists)
            lst = self._list_of.get(key)
            if lst is not None:
                order.list_id = lst.list_id
        self._orders[key] = order
        by_index.append(order)
        if not replaying:
            self._live[order.index] = order  # (a replay builds ``_live`` once at its end)
            self._sequence = event.sequence
            self._append(event)  # (``_record``, inlined)
            for handler in self._fanout:
                try:
                    handler(event)
                except Exception:
                    _log.exception("order_event_subscriber_failed", handler=repr(handler))
        return order

    def _commit(self, order: Order, event: OrderEvent, *, fresh: bool = False) -> Awaitable[None] | None:
        """Sequence, apply (state machine), journal and publish one live event of ``order``; returns
        what the journal's ``append`` returned (None from a journal durable on append).

        ``fresh``: the event was just constructed by this manager and has not been shared yet, so it
        is sequenced in place instead of copied (a copy of a 16-field event costs ~3 us)."""
        sequence = self._sequence + 1
        if fresh:  # (``_sequenced``, inlined: several times per order)
            _set_field(event, "sequence", sequence)
        else:
            copier = _COPIERS.get(type(event))
            event = _sequenced(event, sequence, False) if copier is None else copier(event, sequence)
        # Apply (state machine), the risk hooks (as ``restore`` runs them) and ``self._record(event)``,
        # inlined: this runs for every event of every order.
        before = order.status
        try:
            after = order.apply(event)
            cls = type(event)  # (final event classes: identity, not an isinstance chain per event)
            if cls is OrderSubmitted:
                self._risk.on_order_opened(order)
            elif cls is OrderFilled:
                self._risk.on_fill(order, event)  # type: ignore[arg-type]
            elif cls is OrderUpdated:
                self._risk.on_order_updated(order)
            if after in TERMINAL_STATUSES and before not in TERMINAL_STATUSES:
                self._live.pop(order.index, None)
                if before is not OrderStatus.INITIALIZED:
                    self._risk.on_order_closed(order)
        except InvariantViolation as exc:
            self.halt(f"INVARIANT_VIOLATION: {exc.message}")
            raise
        self._sequence = sequence
        durable = self._append(event)
        for handler in self._fanout:
            try:
                handler(event)
            except Exception:
                _log.exception("order_event_subscriber_failed", handler=repr(handler))
        if self._list_of:
            lst = self._list_of.get(order.key)
            if lst is not None:
                self._mark_dirty(lst)
        return durable

    def _record(self, event: OrderEvent) -> Awaitable[None] | None:
        durable = self._append(event)
        for handler in self._fanout:
            try:
                handler(event)
            except Exception:
                _log.exception("order_event_subscriber_failed", handler=repr(handler))
        return durable

    # == internals: order lists ====================================================================
    def _create_list(
        self,
        kind: ContingencyKind,
        primary: SubmitOrder,
        members: tuple[SubmitOrder, ...],
        deferred: tuple[SubmitOrder, ...] = (),
        *,
        offset_ticks: int = 0,
        offset_bps: int = 0,
    ) -> OrderList:
        ts = self._now()
        event = OrderListCreated(
            ts_event=ts,
            ts_init=ts,
            account_id=primary.account_id,
            client_order_id=primary.client_order_id,
            instrument_id=primary.instrument_id,
            sequence=self._sequence + 1,
            kind=kind,
            members=tuple(m.client_order_id for m in members),
            deferred=deferred,
            trailing_offset_ticks=offset_ticks,
            trailing_offset_bps=offset_bps,
        )
        lst = self._register_list(event)
        self._sequence = event.sequence
        self._record(event)
        return lst

    def _register_list(self, event: OrderListCreated) -> OrderList:
        lst = OrderList(event)
        for key in lst.members:
            if key in self._list_of or key in self._orders:
                raise InvariantViolation(f"order {key[1]} is already in a list or exists")
        self._lists[lst.members[0]] = lst
        for key in lst.members:
            self._list_of[key] = lst
        if lst.kind is ContingencyKind.TRAILING_STOP:
            self._trailing.setdefault(event.instrument_id, {})[lst.members[0]] = lst
        return lst

    def _mark_dirty(self, lst: OrderList) -> None:
        if self._replaying:
            return
        if lst not in self._dirty:
            self._dirty.append(lst)
        if self._syncing:
            return
        self._syncing = True
        try:
            while self._dirty:
                self._sync_list(self._dirty.pop(0))
        finally:
            self._syncing = False

    def _sync_list(self, lst: OrderList) -> None:
        actions = lst.plan(self._orders.get, self._in_flight.__contains__, self._now())
        for action in actions:
            self._run_action(action)

    def _run_action(self, action: Submit | Amend | Cancel) -> None:
        """Start a contingency action now (sync state change), finish it in the background."""
        ts = self._now()
        try:
            if isinstance(action, Submit):
                command = action.command
                if (command.account_id, command.client_order_id) in self._orders:
                    return
                self.submit_nowait(command)
            elif isinstance(action, Cancel):
                order = self._orders[action.key]
                cancel = CancelOrder(
                    ts_init=ts, account_id=order.account_id, client_order_id=order.client_order_id
                )
                durable = self._cancel_now(order, cancel)
                if durable is not None:
                    _log.info(
                        "contingency_cancel", client_order_id=order.client_order_id, reason=action.reason
                    )
                    self._send_durable_or(order, cancel, durable, OrderCancelRejected)
            else:
                order = self._orders[action.key]
                amend = AmendOrder(
                    ts_init=ts,
                    account_id=order.account_id,
                    client_order_id=order.client_order_id,
                    quantity=action.quantity,
                    trigger_price=action.trigger_price,
                )
                durable = self._amend_now(order, amend)
                self._send_durable_or(order, amend, durable, OrderModifyRejected)
        except _EXPECTED_RACES as exc:
            _log.info("contingency_action_skipped", action=repr(action), reason=exc.reason)
        except InvariantViolation as exc:
            self._invariant(exc)
        except AlgoTrendyError as exc:
            _log.warning("contingency_action_failed", action=repr(action), error=str(exc))
            self.background_errors.append(exc)

    def _send_durable_or(
        self,
        order: Order,
        command: VenueCommand,
        durable: Awaitable[None],
        reject: type[OrderModifyRejected] | type[OrderCancelRejected],
    ) -> None:
        """Send now when the journal is durable already, else from a task once it is."""
        if self._journal.commit_pending():
            self._send_or(order, command, reject)
        else:
            self._spawn(self._send_when_durable_or(order, command, durable, reject))

    def _trail(self, instrument_id: InstrumentId, bid: Price, ask: Price) -> None:
        lists = self._trailing.get(instrument_id)
        if not lists:
            return
        instrument = self._instruments[instrument_id]
        for key, lst in list(lists.items()):
            order = self._orders.get(key)
            if order is None:
                continue
            if order.is_terminal:
                del lists[key]
                continue
            if key in self._in_flight:
                continue
            amend = lst.trail(order, instrument, bid if order.side is Side.SELL else ask)
            if amend is not None:
                self._run_action(amend)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None or isinstance(exc, _EXPECTED_RACES):
            return
        if isinstance(exc, InvariantViolation):
            self._invariant(exc)
            return
        _log.error("oms_background_task_failed", error=repr(exc))
        self.background_errors.append(exc)

    def _invariant(self, exc: InvariantViolation) -> None:
        self.halt(f"INVARIANT_VIOLATION: {exc.message}")
        self.background_errors.append(exc)
        if self._on_invariant_violation is not None:
            self._on_invariant_violation(exc)

    # == internals: reconciliation =================================================================
    def _reconcile_events(self, order: Order, view: VenueOrderView | None, ts: int) -> list[OrderEvent]:
        ids = _ids(order)
        if view is None:
            if order.acknowledged:
                raise InvariantViolation(
                    f"the venue has no record of acknowledged order {order.client_order_id}",
                    reason="VENUE_LOST_ORDER",
                )
            return [
                OrderRejected(
                    ts_event=ts,
                    ts_init=ts,
                    **ids,
                    reason=NOT_RECEIVED,
                    detail="reconciliation: the venue has no order with this client order id",
                )
            ]
        at = view.ts_last
        if view.status is OrderStatus.REJECTED:
            if order.acknowledged:
                raise InvariantViolation(f"venue reports acknowledged order {order.client_order_id} rejected")
            reason = view.reason or "REJECTED"
            return [OrderRejected(ts_event=at, ts_init=ts, **ids, reason=reason, detail="reconciliation")]
        out: list[OrderEvent] = []
        if not order.acknowledged and view.venue_order_id is not None:
            out.append(OrderAccepted(ts_event=at, ts_init=ts, **ids, venue_order_id=view.venue_order_id))
        updated = (view.quantity, view.price, view.trigger_price) != (
            order.quantity,
            order.price,
            order.trigger_price,
        )
        if updated:
            out.append(
                OrderUpdated(
                    ts_event=at,
                    ts_init=ts,
                    **ids,
                    quantity=view.quantity,
                    price=view.price,
                    trigger_price=view.trigger_price,
                )
            )
        vid = view.venue_order_id or order.venue_order_id
        for fill in view.fills:
            if fill.trade_id in order.trade_ids:
                continue
            if vid is None:
                raise InvariantViolation(f"venue fills for {order.client_order_id} without a venue order id")
            out.append(
                OrderFilled(
                    ts_event=fill.ts_event,
                    ts_init=ts,
                    **ids,
                    venue_order_id=vid,
                    trade_id=fill.trade_id,
                    side=order.side,
                    last_price=fill.price,
                    last_quantity=fill.quantity,
                    liquidity_side=fill.liquidity_side,
                    commission=fill.commission,
                )
            )
        if view.status is OrderStatus.CANCELED:
            out.append(OrderCanceled(ts_event=at, ts_init=ts, **ids, reason=view.reason or ""))
        elif view.status is OrderStatus.EXPIRED:
            out.append(OrderExpired(ts_event=at, ts_init=ts, **ids))
        elif view.status is not OrderStatus.FILLED:
            # still working at the venue: a request of ours that it never got is answered now
            if order.status is OrderStatus.PENDING_CANCEL:
                out.append(
                    OrderCancelRejected(
                        ts_event=at, ts_init=ts, **ids, reason=NOT_RECEIVED, detail="reconciliation"
                    )
                )
            elif order.status is OrderStatus.PENDING_UPDATE and not updated:
                out.append(
                    OrderModifyRejected(
                        ts_event=at, ts_init=ts, **ids, reason=NOT_RECEIVED, detail="reconciliation"
                    )
                )
        return out


_set_field = object.__setattr__
_COPIERS: dict[type, Callable[[Any, int], Any]] = {}


@dataclass(frozen=True, slots=True)
class _Refusal:
    """The gate's answer when the gate itself failed (it fails closed)."""

    reason: str
    detail: str
    approved: bool = False


class _Durable:
    """An awaitable that is complete at once: what a journal durable on append (``append`` returned
    None, see ``JournalPort``) stands for where a caller needs an awaitable."""

    __slots__ = ()

    def __await__(self) -> Iterator[None]:
        return iter(())


_DURABLE = _Durable()


def _ids_builder(cls: type[_E]) -> Callable[[int, AccountId, ClientOrderId, InstrumentId], _E]:
    """A positional constructor for an order event that carries only the order's ids (submitted,
    pending cancel / update): ``cls(ts_event=ts, ts_init=ts, account_id=..., ...)`` without the
    keyword-argument call (once or twice per order): one compiled call that sets the slots
    (``engine.ext.core.records.build``). The sequence keeps its default until the
    manager sets it; a class with other fields fails here, at import."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = [f.name for f in fields]
    if names != ["ts_event", "ts_init", "account_id", "client_order_id", "instrument_id", "sequence"]:
        raise TypeError(f"{cls.__name__} carries more than the order's ids: {names}")
    setters = field_slots(cls)
    sequence0 = fields[-1].default

    def build(
        ts: int, account_id: AccountId, client_order_id: ClientOrderId, instrument_id: InstrumentId
    ) -> _E:
        return build_record(cls, setters, (ts, ts, account_id, client_order_id, instrument_id, sequence0))  # type: ignore[no-any-return]

    return build


_submitted = _ids_builder(OrderSubmitted)
_pending_cancel = _ids_builder(OrderPendingCancel)
_pending_update = _ids_builder(OrderPendingUpdate)


def _sequenced(event: _E, sequence: int, fresh: bool) -> _E:
    """``dataclasses.replace(event, sequence=sequence)``, without its per-call introspection.

    A ``fresh`` event (constructed by the caller, not yet published to anyone) gets its sequence
    set in place before it escapes -- the frozen dataclass is immutable from then on. Any other
    event (e.g. the venue's) is copied slot by slot in one compiled call per event
    (``engine.ext.core.records.copy_replacing``); order events have no ``__post_init__``, so the
    copy equals what ``replace`` builds (a class with one, or without slots, goes through ``replace``).
    """
    if fresh:
        _set_field(event, "sequence", sequence)
        return event
    copier = _COPIERS.get(type(event))
    if copier is None:
        copier = _COPIERS[type(event)] = _copier(type(event))
    return copier(event, sequence)  # type: ignore[no-any-return]


def _copier(cls: type) -> Callable[[Any, int], Any]:
    if hasattr(cls, "__post_init__") or not hasattr(cls, "__slots__"):
        return lambda event, sequence: dataclasses.replace(event, sequence=sequence)
    setters = field_slots(cls)
    at = [f.name for f in dataclasses.fields(cls)].index("sequence")
    return lambda event, sequence: copy_replacing(event, setters, at, sequence)


def _unsent_reason(exc: BaseException) -> str:
    """A journal error halts trading; a cancellation (shutdown) only means the command never left."""
    return "JOURNAL_FAILED" if isinstance(exc, Exception) else "NOT_SENT"


def _ids(order: Order) -> dict[str, Any]:
    return {
        "account_id": order.account_id,
        "client_order_id": order.client_order_id,
        "instrument_id": order.instrument_id,
    }


def _encode_token(index: int, prefix: str = _TOKEN_PREFIX) -> str:
    return base64.urlsafe_b64encode(f"{prefix}{index}".encode()).decode().rstrip("=")


def _decode_token(token: str, prefix: str = _TOKEN_PREFIX) -> int:
    """The index a token of ``prefix``'s direction resumes at (a token of the other direction, or
    one this server never issued, is refused)."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith(prefix):
            raise ValueError(text)
        index = int(text[len(prefix) :])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("page_token", "not a token this server issued") from None
    if index < 0:
        raise ValidationError("page_token", "not a token this server issued")
    return index
