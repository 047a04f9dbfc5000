"""``PaperVenue``: paper trading — our orders fill against an external L2 book and its trade prints.

The books (``engine.marketdata.book.OrderBook``) are owned and updated by market data (a replay now,
a live feed later); the paper venue only reads them and never changes them. The feed tells the venue
what happened with ``on_trade(tick)`` and ``on_book_update(instrument_id, ts)``.

Fill model (documented because every paper venue is a model):

* **Taking** (market orders, marketable limit orders, triggered stops): walk the opposite side of the
  book level by level at each level's displayed price and size, one fill per level (taker fee), up to
  the limit price. The walk does not deplete the external book: a second order sent before the next
  book update sees the same liquidity. FOK fills only if the displayed depth covers it all; a market
  order's unfilled remainder is canceled (NO_LIQUIDITY), an IOC's (IOC_REMAINDER).
* **Resting** limit orders join the back of the queue at their price: ``queue_ahead`` = the displayed
  size at that price when the order reaches the venue (0 if the level is empty).
  - A trade printed *at* our price first consumes ``queue_ahead``; what is left of its size fills us
    (maker fee), up to our remaining quantity.
  - A trade printed *through* our price (below a bid, above an ask) fills us for up to its size:
    the whole level traded, so the queue ahead is gone.
  - A book update that shows less size at our price than we last saw (after subtracting the trades
    we saw there) is read as cancellations spread evenly over the queue, so ``queue_ahead`` shrinks
    pro rata: ``queue_ahead -= floor(decrease * queue_ahead / seen)``; more size means orders joined
    behind us. ``queue_ahead`` never exceeds the displayed size.
  - Amend: a price change or a size increase goes to the back of the (new) queue; a decrease keeps
    its place.
* **Stops** trigger on the external last trade price (BUY when >= trigger, SELL when <= trigger) and
  then take liquidity as above; a stop that would trigger immediately is rejected.
* Reduce-only orders are capped by the account's paper position (kept here, per instrument).
* Latency: a command reaches the venue ``order_latency_ns`` after it is sent and sees the book as it
  is then; events reach the engine ``report_latency_ns`` after they happen.

Validation and reason names are the simulated venue's (``VenueReason``); fees use the same integer
rule as the matcher (``InstrumentTerms``). Balances move as in ``Ledger`` (no funds check).

Compiled: the order path (submit, validation, taking the book, fills with their fees and balance
moves, resting, canceling) is ``engine.ext.matching.paper.PaperKernel`` over this venue's own tables
(orders, live orders, positions, the ledger's balances, the retained finished orders); orders are
its ``PaperOrder``. This class keeps the lifecycle, queries, amend, cancel, trade prints, triggers,
expiry and snapshot/restore, and calls the kernel wherever an order fills, rests or ends.

Retention (as at the simulated venue, ``engine.venues.sim.retention``): every open order is kept; of
the finished ones only the ``PaperVenueConfig.closed_order_retention`` most recently finished. Client
order ids are unique per account among the orders the venue remembers (rejected ones included). At a
restart the venue comes back from its last durable state (``DurablePaperVenue``), which holds every
report it delivered, so reconciliation finds every order the journal still shows open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from engine.core.clock import Clock
from engine.core.commands import AmendOrder, CancelAllOrders, CancelOrder, Command, SubmitOrder
from engine.core.enums import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import UnavailableError, ValidationError
from engine.core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderModifyRejected,
    OrderRejected,
    OrderUpdated,
    TradeTick,
)
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId
from engine.ext.matching.paper import (
    ACCEPTED_FIELDS,
    CANCELED_FIELDS,
    EXPIRED_FIELDS,
    FILLED_FIELDS,
    PAPER_FIELDS,
    STATUS_NAMES,
    SUBMIT_FIELDS,
    PaperKernel,
    PaperOrder,
)
from engine.marketdata.book import OrderBook
from engine.venues.sim.delay import DelayLine
from engine.venues.sim.ledger import Ledger, fill_terms
from engine.venues.sim.reasons import REASON_DETAILS, rejected
from engine.venues.sim.retention import FinishedOrders, closed_keys
from engine.venues.sim.terms import DEFAULT_FEE_PRECISION, InstrumentTerms
from engine.venues.sim.venue import SimFill, SimOrderState, SimPosition, unlisted_order_state

__all__ = ["PaperVenue", "PaperVenueConfig"]

EventHandler = Callable[[Event], None]
#: 2: adds ``closed_orders`` (the retained finished orders, oldest first). ``restore`` reads 1 too.
SNAPSHOT_VERSION = 2
_MAX = (1 << 53) - 1
_OPEN = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
_MAKER = int(LiquiditySide.MAKER)


@dataclass(frozen=True, slots=True)
class PaperVenueConfig:
    order_latency_ns: int = 0
    report_latency_ns: int = 0
    fee_precision: int = DEFAULT_FEE_PRECISION
    #: Accounts opened at construction: account id -> {asset: decimal string}.
    accounts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Deepest level a taking order walks.
    max_walk_levels: int = 1000
    #: Finished orders kept for ``order()`` lookups (the most recently finished); older ones are
    #: forgotten, which bounds memory and the snapshot. Open orders are always kept.
    closed_order_retention: int = 10_000

    def __post_init__(self) -> None:
        if self.order_latency_ns < 0 or self.report_latency_ns < 0:
            raise ValidationError("latency", "must be >= 0 ns")
        if self.max_walk_levels < 1:
            raise ValidationError("max_walk_levels", "must be >= 1")
        if self.closed_order_retention < 1:
            raise ValidationError("closed_order_retention", "must be >= 1")


class PaperVenue:
    """Paper trading against external books (see the module docstring)."""

    def __init__(
        self,
        books: Mapping[InstrumentId, OrderBook],
        clock: Clock,
        config: PaperVenueConfig | None = None,
        *,
        on_event: EventHandler | None = None,
        name: str = "paper-venue",
    ) -> None:
        self._config = cfg = config or PaperVenueConfig()
        self._clock = clock
        self._on_event = on_event
        self._name = name
        self._books = dict(books)
        self._terms = {
            iid: InstrumentTerms.of(b.instrument, fee_precision=cfg.fee_precision) for iid, b in books.items()
        }
        #: One ledger for the venue's life (``restore`` loads into it): the kernel moves its balances.
        self._ledger = Ledger()
        self._positions: dict[tuple[AccountId, InstrumentId], int] = {}
        self._orders: dict[tuple[AccountId, ClientOrderId], PaperOrder] = {}
        self._live: dict[int, PaperOrder] = {}
        #: The finished orders still in ``_orders``, in the order they finished.
        self._closed = FinishedOrders(self._orders, cfg.closed_order_retention)
        self._last_trade: dict[InstrumentId, int] = {}
        self._running = False
        self._line = DelayLine(clock, name, on_tick=self._on_tick, next_extra_ns=self._next_expiry_ns)
        #: Whether anything was ever put on the delay line (a command sent with ``send``, reports
        #: delayed by ``report_latency_ns``): until then it holds nothing, and ``apply`` does not
        #: ask it (a venue driven only through ``apply``, as the zero-latency backtest drives it).
        self._line_used = False
        #: The compiled order path (submit, validate, take, fill, rest, close) over these tables.
        #: It also keeps the venue order id and trade counters and whether a GTD order was ever
        #: live (until then nothing can expire: the expiry scan and the delay line's re-arm after
        #: each command are skipped).
        self._kernel = kernel = _kernel(self, cfg)
        for iid, book in self._books.items():
            inst = book.instrument
            terms = self._terms[iid]
            kernel.add_market(
                iid,
                book.l2,
                inst,
                terms,
                prefix=f"P-{iid.symbol}-",
                price_precision=inst.price_increment.precision,
                price_step=inst.price_increment.raw,
                size_precision=inst.size_increment.precision,
                size_step=inst.size_increment.raw,
                fill_terms=fill_terms(terms),
                zero_fee=terms.fee(0),
            )
        for account, balances in cfg.accounts.items():
            self.open_account(AccountId(account), {a: Money(v, a) for a, v in balances.items()})

    # == lifecycle, accounts, queries ================================================================
    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def live_orders(self) -> Mapping[int, Any]:
        """The orders working at the venue by venue order id: one mapping for the venue's life,
        empty when nothing works (a market-data driver may skip ``apply_book_update`` then: it only
        re-estimates the queues of working orders). Read it, never change it."""
        return self._live

    def set_event_handler(self, on_event: EventHandler | None) -> None:
        self._on_event = on_event

    def start(self) -> None:
        self._running = True
        self._line.start()

    def stop(self) -> None:
        self._running = False
        self._line.stop()

    def open_account(self, account_id: AccountId, balances: Mapping[str, Money] | None = None) -> None:
        if self._ledger.has(account_id):
            raise ValidationError("account_id", f"{account_id} is already open")
        self._ledger.open(account_id, balances)

    def balances(self, account_id: AccountId) -> dict[str, Money]:
        if not self._ledger.has(account_id):
            raise ValidationError("account_id", f"{account_id} has no account at this venue")
        return self._ledger.balances(account_id)

    def position(self, account_id: AccountId, instrument_id: InstrumentId) -> SimPosition:
        lots = self._positions.get((account_id, instrument_id), 0)
        side = None if lots == 0 else Side.BUY if lots > 0 else Side.SELL
        return SimPosition(account_id, instrument_id, side, self._terms[instrument_id].quantity(abs(lots)))

    def order(self, account_id: AccountId, client_order_id: ClientOrderId) -> SimOrderState | None:
        o = self._orders.get((account_id, client_order_id))
        return None if o is None else self._state(o)

    def open_orders(self, account_id: AccountId | None = None) -> list[SimOrderState]:
        return [self._state(o) for o in self._live.values() if account_id is None or o.account == account_id]

    def queue_ahead(self, account_id: AccountId, client_order_id: ClientOrderId) -> int | None:
        """Estimated lots ahead of a resting order in its price level's queue (None if not resting)."""
        o = self._orders.get((account_id, client_order_id))
        return o.queue_ahead if o is not None and o.vid in self._live and o.state == "resting" else None

    def _state(self, o: PaperOrder) -> SimOrderState:
        terms = self._terms.get(o.iid)
        if terms is None:  # rejected for an unknown instrument: nothing to convert
            return unlisted_order_state(o, None)
        return SimOrderState(
            account_id=o.account,
            client_order_id=o.coid,
            venue_order_id=VenueOrderId(f"P{o.vid}") if o.vid else None,
            instrument_id=o.iid,
            side=Side(o.side),
            order_type=OrderType(o.otype),
            time_in_force=TimeInForce(o.tif),
            quantity=terms.quantity(o.qty),
            price=terms.price(o.price) if o.price else None,
            trigger_price=terms.price(o.trigger) if o.trigger else None,
            expire_at_ns=o.expire or None,
            post_only=o.post_only,
            reduce_only=o.reduce_only,
            status=o.status,
            filled_quantity=terms.quantity(o.filled),
            leaves_quantity=terms.quantity(o.leaves),
            triggered=o.triggered,
            reason=o.reason,
            fills=tuple(
                SimFill(
                    TradeId(tid), terms.price(t), terms.quantity(q), LiquiditySide(liq), terms.fee(fee), ts
                )
                for tid, t, q, liq, fee, ts in o.fills
            ),
            ts_last=o.ts_last,
        )

    # == commands ==================================================================================
    def send(self, command: Command) -> None:
        """Deliver ``command`` after the order latency; its events go to ``on_event``."""
        if not self._running:
            raise UnavailableError(f"{self._name} is not running")
        if not isinstance(command, SubmitOrder | AmendOrder | CancelOrder | CancelAllOrders):
            raise ValidationError("command", f"{type(command).__name__} is not a venue command")
        due = self._clock.timestamp_ns() + self._config.order_latency_ns
        self._line_used = True
        self._line.push(due, lambda ts: self._deliver(self.apply(command, ts)))

    def apply(self, command: Command, ts_ns: int | None = None) -> list[Event]:
        """Run ``command`` at ``ts_ns`` (default: now) against the books as they are; return events."""
        ts = self._clock.timestamp_ns() if ts_ns is None else ts_ns
        out: list[Event] = []
        kernel = self._kernel
        if kernel.gtd_seen:
            self._expire(ts, out)
        if type(command) is SubmitOrder or isinstance(command, SubmitOrder):
            kernel.submit(command, ts, out)
            if not kernel.gtd_seen and not (self._line_used and self._line.pending):
                return out  # no expiry to re-arm for (the next GTD submit sets gtd_seen first)
        elif isinstance(command, CancelOrder):
            self._cancel(command, ts, out)
        elif isinstance(command, AmendOrder):
            self._amend(command, ts, out)
        elif isinstance(command, CancelAllOrders):
            for o in sorted(self._live.values(), key=lambda o: o.vid):
                if (
                    o.account == command.account_id
                    and command.instrument_id in (None, o.iid)
                    and command.side in (None, o.side)
                ):
                    self._kernel.close(o, ts, "CANCELED", out)
        else:
            raise ValidationError("command", f"{type(command).__name__} is not a venue command")
        self._line.rearm()
        return out

    def advance(self, ts_ns: int) -> list[Event]:
        """Expire GTD orders due by ``ts_ns``."""
        out: list[Event] = []
        if self._kernel.gtd_seen:
            self._expire(ts_ns, out)
        return out

    # -- market data in ---------------------------------------------------------------------------
    def on_trade(self, tick: TradeTick) -> None:
        """A trade printed on the external venue: trigger stops, fill resting orders (events go to
        ``on_event``)."""
        self._deliver(self.apply_trade(tick))

    def on_book_update(self, instrument_id: InstrumentId, ts_ns: int) -> None:
        """The external book changed: re-estimate queue positions (cancellations ahead of us)."""
        self.apply_book_update(instrument_id, ts_ns)

    def apply_trade(self, tick: TradeTick) -> list[Event]:
        iid = tick.instrument_id
        terms = self._terms.get(iid)
        out: list[Event] = []
        if terms is None:
            return out
        ts = tick.ts_event
        if self._kernel.gtd_seen:
            self._expire(ts, out)
        price = terms.instrument.price_to_ticks(tick.price)
        size = terms.instrument.quantity_to_lots(tick.size)
        self._last_trade[iid] = price
        for o in sorted(self._live.values(), key=lambda o: o.vid):
            if o.iid != iid or o.state != "resting" or o.vid not in self._live:
                continue
            through = price < o.price if o.side == Side.BUY else price > o.price
            if through:
                o.queue_ahead = 0
                self._kernel.fill(o, o.price, min(o.leaves, size), _MAKER, ts, out)
            elif price == o.price:
                consumed = min(o.queue_ahead, size)
                o.queue_ahead -= consumed
                o.seen = max(0, o.seen - size)
                if size - consumed > 0:
                    self._kernel.fill(o, o.price, min(o.leaves, size - consumed), _MAKER, ts, out)
        self._run_triggers(iid, ts, out)
        self._line.rearm()
        return out

    def apply_book_update(self, instrument_id: InstrumentId, ts_ns: int) -> None:
        book = self._books.get(instrument_id)
        if book is None:
            return
        l2 = book.l2
        for o in self._live.values():
            if o.iid != instrument_id or o.state != "resting":
                continue
            shown = l2.level_lots(o.side, o.price)
            if shown < o.seen and o.seen > 0:
                o.queue_ahead -= (o.seen - shown) * o.queue_ahead // o.seen
            o.queue_ahead = min(o.queue_ahead, shown)
            o.seen = shown

    # == internals ===================================================================================
    def _ts_init(self, ts: int) -> int:
        return ts + self._config.report_latency_ns

    def _ids(self, o: PaperOrder) -> dict[str, Any]:
        return {"account_id": o.account, "client_order_id": o.coid, "instrument_id": o.iid}

    @staticmethod
    def _triggers(o: PaperOrder, last: int) -> bool:
        if last <= 0:
            return False
        return last >= o.trigger if o.side == Side.BUY else last <= o.trigger

    def _run_triggers(self, iid: InstrumentId, ts: int, out: list[Event]) -> None:
        last = self._last_trade.get(iid, 0)
        stops = [
            o for o in self._live.values() if o.iid == iid and o.state == "stop" and self._triggers(o, last)
        ]
        for o in sorted(stops, key=lambda o: o.vid):
            if o.vid in self._live and o.state == "stop":
                o.triggered = True
                o.state = "taking"
                self._kernel.execute(o, ts, out)

    def _expire(self, ts: int, out: list[Event]) -> None:
        due = [o for o in self._live.values() if o.tif == TimeInForce.GTD and o.expire <= ts]
        for o in sorted(due, key=lambda o: (o.expire, o.vid)):
            self._kernel.close(o, ts, "GTD_EXPIRED", out)

    def _next_expiry_ns(self) -> int:
        times = [o.expire for o in self._live.values() if o.tif == TimeInForce.GTD]
        return min(times) if times else 0

    def _on_tick(self, now_ns: int) -> None:
        self._deliver(self.advance(now_ns))

    def _deliver(self, events: list[Event]) -> None:
        handler = self._on_event
        if not events or handler is None:
            return
        latency = self._config.report_latency_ns
        if latency == 0:
            for event in events:
                handler(event)
            return

        def later(_ts: int, batch: list[Event] = events) -> None:
            for event in batch:
                handler(event)

        self._line_used = True
        self._line.push(events[0].ts_event + latency, later)

    def _working(self, account_id: AccountId, client_order_id: ClientOrderId) -> PaperOrder | None:
        o = self._orders.get((account_id, client_order_id))
        return o if o is not None and o.vid in self._live else None

    def _cancel(self, cmd: CancelOrder, ts: int, out: list[Event]) -> None:
        o = self._working(cmd.account_id, cmd.client_order_id)
        if o is None:
            known = self._orders.get((cmd.account_id, cmd.client_order_id))
            out.append(
                rejected(
                    OrderCancelRejected,
                    ts_event=ts,
                    ts_init=self._ts_init(ts),
                    account_id=cmd.account_id,
                    client_order_id=cmd.client_order_id,
                    instrument_id=known.iid if known else None,
                    reason="UNKNOWN_ORDER",
                )
            )
            return
        self._kernel.close(o, ts, "CANCELED", out)

    def _amend(self, cmd: AmendOrder, ts: int, out: list[Event]) -> None:
        o = self._working(cmd.account_id, cmd.client_order_id)
        known = o or self._orders.get((cmd.account_id, cmd.client_order_id))

        def reject(reason: str) -> None:
            out.append(
                rejected(
                    OrderModifyRejected,
                    ts_event=ts,
                    ts_init=self._ts_init(ts),
                    account_id=cmd.account_id,
                    client_order_id=cmd.client_order_id,
                    instrument_id=known.iid if known else None,
                    reason=reason,
                )
            )

        if o is None:
            reject("UNKNOWN_ORDER")
            return
        terms = self._terms[o.iid]
        inst = terms.instrument
        try:
            qty = inst.quantity_to_lots(cmd.quantity) if cmd.quantity is not None else o.qty
            price = inst.price_to_ticks(cmd.price) if cmd.price is not None else o.price
            trigger = inst.price_to_ticks(cmd.trigger_price) if cmd.trigger_price is not None else o.trigger
        except ValidationError as exc:
            reject(exc.reason if exc.reason in REASON_DETAILS else "VALUE_OUT_OF_RANGE")
            return
        limit_type = o.otype in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        l2 = self._books[o.iid].l2
        opposite_lots = l2.best_ask_lots() if o.side == Side.BUY else l2.best_bid_lots()
        opposite = (
            (l2.best_ask_ticks() if o.side == Side.BUY else l2.best_bid_ticks()) if opposite_lots else 0
        )
        reason = None
        if max(qty, price, trigger) > _MAX:
            reason = "VALUE_OUT_OF_RANGE"
        elif cmd.price is not None and not limit_type:
            reason = "INVALID_PRICE"
        elif cmd.trigger_price is not None and o.state != "stop":
            reason = "INVALID_TRIGGER_PRICE"
        elif qty <= o.filled:
            reason = "AMEND_QUANTITY_BELOW_FILLED"
        elif qty < terms.min_lots:
            reason = "BELOW_MIN_QUANTITY"
        elif terms.max_lots and qty > terms.max_lots:
            reason = "ABOVE_MAX_QUANTITY"
        elif (price if limit_type else trigger) * qty < terms.min_notional_units:
            reason = "BELOW_MIN_NOTIONAL"
        elif (
            o.state == "stop"
            and trigger != o.trigger
            and self._triggers(_with(o, trigger=trigger), self._last_trade.get(o.iid, 0))
        ):
            reason = "STOP_WOULD_TRIGGER"
        elif (
            o.state == "resting"
            and price != o.price
            and o.post_only
            and opposite
            and (price >= opposite if o.side == Side.BUY else price <= opposite)
        ):
            reason = "POST_ONLY_WOULD_TAKE"
        if reason is not None:
            reject(reason)
            return
        repriced = price != o.price
        grew = qty > o.qty
        o.leaves = qty - o.filled
        o.qty, o.price, o.trigger = qty, price, trigger
        o.ts_last = ts
        out.append(
            OrderUpdated(
                ts_event=ts,
                ts_init=self._ts_init(ts),
                **self._ids(o),
                quantity=terms.quantity(qty),
                price=terms.price(price) if price else None,
                trigger_price=terms.price(trigger) if trigger else None,
            )
        )
        if o.state == "resting":
            if repriced:
                o.state = "taking"
                self._kernel.execute(o, ts, out)
            elif grew:
                self._kernel.rest(o)

    # == persistence =================================================================================
    def snapshot(self) -> dict[str, Any]:
        """Paper venue state as plain data (the external books are market data, not included)."""
        return {
            "version": SNAPSHOT_VERSION,
            "next_venue_order_id": self._kernel.next_vid,
            "next_trade": self._kernel.next_trade,
            "balances": self._ledger.snapshot(),
            "positions": [[str(a), str(i), lots] for (a, i), lots in self._positions.items()],
            "last_trade": {str(i): t for i, t in self._last_trade.items()},
            "orders": [
                {
                    **{s: getattr(o, s) for s in PAPER_FIELDS},
                    "status": int(o.status),
                    "fills": [list(f) for f in o.fills],
                }
                for o in self._orders.values()
            ],
            "closed_orders": self._closed.snapshot(),
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Load a ``snapshot()`` into this venue, which must have no orders. A version-1 snapshot
        (before retention) still loads (``FinishedOrders.restore``)."""
        version = snapshot.get("version")
        if version not in (1, SNAPSHOT_VERSION):
            raise ValidationError(
                "snapshot", f"unsupported version {version!r} (this venue reads 1 and {SNAPSHOT_VERSION})"
            )
        if self._orders or self._live or self._closed:
            raise ValidationError("snapshot", "restore needs a venue with no orders")
        closed = closed_keys(snapshot, _OPEN) if version == SNAPSHOT_VERSION else None  # checked first
        self._kernel.next_vid = snapshot["next_venue_order_id"]
        self._kernel.next_trade = snapshot["next_trade"]
        # The ledger, positions and last trades are loaded in place: the kernel holds these tables.
        self._ledger.restore(snapshot["balances"])
        self._positions.clear()
        self._positions.update(
            {(AccountId(a), InstrumentId(i)): lots for a, i, lots in snapshot["positions"]}
        )
        self._last_trade.clear()
        self._last_trade.update({InstrumentId(i): t for i, t in snapshot["last_trade"].items()})
        for data in snapshot["orders"]:
            values = dict(data)
            values.update(
                account=AccountId(data["account"]),
                coid=ClientOrderId(data["coid"]),
                iid=InstrumentId(data["iid"]),
                status=OrderStatus(data["status"]),
                fills=[tuple(f) for f in data["fills"]],
            )
            o = PaperOrder(**values)
            self._orders[(o.account, o.coid)] = o
            if o.status in _OPEN:
                self._live[o.vid] = o
                if o.tif == TimeInForce.GTD:
                    self._kernel.gtd_seen = True
        self._closed.restore(closed, _OPEN)
        self._line.rearm()


def _with(o: PaperOrder, **changes: int) -> PaperOrder:
    copy = PaperOrder(**{s: getattr(o, s) for s in PAPER_FIELDS})
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy


def _kernel(venue: PaperVenue, cfg: PaperVenueConfig) -> PaperKernel:
    """The venue's compiled order path over its own tables, with the classes and enum members it
    builds events from (the kernel imports nothing of the engine)."""
    latency = cfg.report_latency_ns

    def reject(ts: int, account: AccountId, coid: ClientOrderId, iid: InstrumentId, reason: str) -> Event:
        return rejected(
            OrderRejected,
            ts_event=ts,
            ts_init=ts + latency,
            account_id=account,
            client_order_id=coid,
            instrument_id=iid,
            reason=reason,
        )

    return PaperKernel(
        venue._orders,
        venue._live,
        venue._positions,
        venue._ledger.table,
        venue._last_trade,
        venue._closed.keys,
        venue._closed.retention,
        report_latency_ns=latency,
        max_walk_levels=cfg.max_walk_levels,
        enums={
            "buy": int(Side.BUY),
            "market": int(OrderType.MARKET),
            "stop_market": int(OrderType.STOP_MARKET),
            "limit": int(OrderType.LIMIT),
            "stop_limit": int(OrderType.STOP_LIMIT),
            "gtd": int(TimeInForce.GTD),
            "ioc": int(TimeInForce.IOC),
            "fok": int(TimeInForce.FOK),
            "maker": int(LiquiditySide.MAKER),
            "taker": int(LiquiditySide.TAKER),
        },
        statuses=tuple(OrderStatus[name] for name in STATUS_NAMES),
        sides={int(m): m for m in Side},
        liquidity={int(m): m for m in LiquiditySide},
        events={
            "accepted": _event_spec(OrderAccepted, ACCEPTED_FIELDS),
            "filled": _event_spec(OrderFilled, FILLED_FIELDS),
            "canceled": _event_spec(OrderCanceled, CANCELED_FIELDS),
            "expired": _event_spec(OrderExpired, EXPIRED_FIELDS),
        },
        ids=(VenueOrderId, TradeId),
        money=(Money, Money._raw, Money._precision, Money._currency),  # type: ignore[attr-defined]
        fixed=(Price, Quantity, Price._raw, Price._precision),  # type: ignore[attr-defined]
        submit_fields=tuple(getattr(SubmitOrder, name) for name in SUBMIT_FIELDS),
        reject=reject,
        validation_error=ValidationError,
        reason_details=REASON_DETAILS,
    )


def _event_spec(cls: type, names: tuple[str, ...]) -> tuple[type, tuple[Any, ...]]:
    """``cls`` and its slot setters in the order of ``names``, which must be all of its fields (the
    kernel builds the event from exactly these)."""
    own = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    if own != set(names):
        raise TypeError(
            f"{cls.__name__} has the fields {sorted(own)}, the paper kernel builds {sorted(names)}"
        )
    return cls, tuple(getattr(cls, name) for name in names)
