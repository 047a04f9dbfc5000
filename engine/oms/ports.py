"""The ports the order manager and the portfolio depend on, as structural ``Protocol`` types.

The composition root (``engine/app.py``) plugs in the real implementations: the Cython risk gate
(``engine.risk``), the LMDB journal (``engine.store``), a venue adapter (``engine.venues``) and the
engine clock. Tests use small real in-process implementations of the same ports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Protocol

from engine.core.commands import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
from engine.core.enums import LiquiditySide, OrderStatus
from engine.core.events import OrderEvent, OrderFilled, QuoteTick, TradeTick
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, TradeId, VenueOrderId

if TYPE_CHECKING:
    from engine.oms.order import Order

__all__ = [
    "Clock",
    "JournalPort",
    "RiskDecision",
    "RiskPort",
    "VenueCommand",
    "VenueFill",
    "VenueOrderView",
    "VenuePort",
]

VenueCommand = SubmitOrder | AmendOrder | CancelOrder | CancelAllOrders


class Clock(Protocol):
    def timestamp_ns(self) -> int: ...


class RiskDecision(Protocol):
    """The risk gate's answer: ``approved``, else a named ``reason`` (``RISK_MAX_NOTIONAL``...)."""

    @property
    def approved(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    @property
    def detail(self) -> str: ...


class RiskPort(Protocol):
    """Pre-trade checks plus O(1) state hooks. The checks must fail closed (deny on missing data).

    The order manager calls the hooks on the loop, in event order: ``on_order_opened`` when an order
    is submitted to a venue, ``on_order_updated`` when the venue confirms an amend,
    ``on_order_closed`` when it becomes terminal (after it left the process), ``on_fill`` for every
    applied fill (duplicates by trade id are never passed), and market data as it arrives.
    """

    def check_submit(self, command: SubmitOrder, ts_ns: int) -> RiskDecision: ...

    def check_amend(self, command: AmendOrder, ts_ns: int) -> RiskDecision: ...

    def check_cancel(self, command: CancelOrder, ts_ns: int) -> RiskDecision: ...

    def on_order_opened(self, order: Order) -> None: ...

    def on_order_updated(self, order: Order) -> None: ...

    def on_order_closed(self, order: Order) -> None: ...

    def on_fill(self, order: Order, fill: OrderFilled) -> None: ...

    def on_trade(self, tick: TradeTick) -> None: ...

    def on_quote(self, tick: QuoteTick) -> None: ...


class JournalPort(Protocol):
    """The append-only event journal of order events (``OrderListCreated`` included).

    ``append`` enqueues ``record`` (in call order, never blocking the loop) and returns an awaitable
    that completes when the record is durable, or raises ``StorageError``. The awaitable must be
    safe to drop without awaiting (a future or an awaitable object, not a coroutine): venue events are
    appended without waiting, order intents are awaited before they leave the process. Records
    become durable in append order (group commit), so awaiting the last one covers the earlier ones.
    A journal that is durable on append (the backtester's in-memory one) may return None instead:
    nothing to wait for. Its ``commit_pending`` must then always be true, so the manager never
    awaits what ``append`` returned (it sends in the same call).
    """

    def append(self, record: OrderEvent) -> Awaitable[None] | None: ...

    def commit_pending(self) -> bool:
        """Make everything appended so far durable now if that needs no waiting (a commit on the
        calling thread, e.g. ``async`` durability); True when all of it is durable. False means
        "await the awaitables": the manager then sends an intent only once its awaitable completes."""
        ...

    # Optional (the manager uses them when the journal has them): ``hold_commit()`` and
    # ``release_commit()`` bracket the manager's handling of a venue report, so a journal that
    # schedules its commits (a loop callback per burst) schedules none while held and, on the
    # outermost ``release_commit``, one for whatever is still uncommitted: the report's record is
    # then committed after its subscribers had it, with what they did in reaction.


class VenueFill(Protocol):
    @property
    def trade_id(self) -> TradeId: ...

    @property
    def price(self) -> Price: ...

    @property
    def quantity(self) -> Quantity: ...

    @property
    def liquidity_side(self) -> LiquiditySide: ...

    @property
    def commission(self) -> Money: ...

    @property
    def ts_event(self) -> int: ...


class VenueOrderView(Protocol):
    """What a venue reports about one order, looked up by client order id (reconciliation)."""

    @property
    def status(self) -> OrderStatus: ...

    @property
    def venue_order_id(self) -> VenueOrderId | None: ...

    @property
    def quantity(self) -> Quantity: ...

    @property
    def price(self) -> Price | None: ...

    @property
    def trigger_price(self) -> Price | None: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def fills(self) -> Sequence[VenueFill]: ...

    @property
    def ts_last(self) -> int: ...


class VenuePort(Protocol):
    """Order I/O with a venue. ``send`` never blocks and never delivers events from inside itself;
    reports come back later through ``OrderManager.on_order_event``. ``send`` raises
    ``UnavailableError`` when the command cannot leave (then the venue never saw it)."""

    def send(self, command: VenueCommand) -> None: ...

    def order(self, account_id: AccountId, client_order_id: ClientOrderId) -> VenueOrderView | None: ...
