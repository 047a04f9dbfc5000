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

Retention (as at the simulated venue, ``engine.venues.sim.retention``): every open order is kept; of
the finished ones only the ``PaperVenueConfig.closed_order_retention`` most recently finished. Client
order ids are unique per account among the orders the venue remembers (rejected ones included). At a
restart the venue comes back from its last durable state (``DurablePaperVenue``), which holds every
report it delivered, so reconciliation finds every order the journal still shows open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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
from engine.marketdata.book import OrderBook
from engine.venues.sim.delay import DelayLine
from engine.venues.sim.ledger import Ledger
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
_MAKER, _TAKER = int(LiquiditySide.MAKER), int(LiquiditySide.TAKER)
#: Plain ints of the enums compared on every order (an ``int == IntEnum`` compare is slower).
_BUY = int(Side.BUY)
_MARKET, _STOP_MARKET = int(OrderType.MARKET), int(OrderType.STOP_MARKET)
_LIMIT, _STOP_LIMIT = int(OrderType.LIMIT), int(OrderType.STOP_LIMIT)
#: Order types that take at any price (no limit).
_TAKING = (_MARKET, _STOP_MARKET)
_GTD, _IOC, _FOK = int(TimeInForce.GTD), int(TimeInForce.IOC), int(TimeInForce.FOK)
#: How many recent prices / quantities per instrument the venue keeps for reuse.
_RECENT = 64
#: Enum members by their integer value: ``Side(x)`` runs the Enum lookup machinery on every call.
_SIDE = {int(m): m for m in Side}
_LIQUIDITY = {int(m): m for m in LiquiditySide}
_new_str = str.__new__


def _venue_order_id(vid: int) -> VenueOrderId:
    """``P<vid>``: a valid ``VenueOrderId`` by construction (1-128 non-space characters), so the
    constructor's pattern check is skipped."""
    return _new_str(VenueOrderId, f"P{vid}")


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


class _Paper:
    """One of our paper orders (integers: ticks, lots, fee units)."""

    __slots__ = (
        "account",
        "coid",
        "expire",
        "filled",
        "fills",
        "flags",
        "iid",
        "leaves",
        "otype",
        "price",
        "qty",
        "queue_ahead",
        "reason",
        "seen",
        "side",
        "state",
        "status",
        "tif",
        "trigger",
        "triggered",
        "ts_last",
        "vid",
    )

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values[name])

    @classmethod
    def taking(cls, cmd: SubmitOrder, ts: int) -> _Paper:
        """A new order from a submit, before validation (what ``__init__`` with every field does,
        without the keyword dict: this runs once per order)."""
        o = _new_paper(cls)
        o.account = cmd.account_id
        o.coid = cmd.client_order_id
        o.vid = 0
        o.iid = cmd.instrument_id
        o.side = int(cmd.side)
        o.otype = int(cmd.order_type)
        o.tif = int(cmd.time_in_force)
        o.qty = o.price = o.trigger = 0
        o.expire = cmd.expire_at_ns or 0
        o.flags = (1 if cmd.post_only else 0) | (2 if cmd.reduce_only else 0)
        o.status = OrderStatus.SUBMITTED
        o.filled = o.leaves = 0
        o.triggered = False
        o.reason = None
        o.fills = []
        o.ts_last = ts
        o.queue_ahead = o.seen = 0
        o.state = "taking"
        return o

    @property
    def post_only(self) -> bool:
        return bool(self.flags & 1)

    @property
    def reduce_only(self) -> bool:
        return bool(self.flags & 2)


_new_paper = object.__new__


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
        #: Each instrument's compiled book (an ``OrderBook`` keeps its ``l2`` for life): read on
        #: every order without the property call.
        self._l2 = {iid: book.l2 for iid, book in self._books.items()}
        self._terms = {
            iid: InstrumentTerms.of(b.instrument, fee_precision=cfg.fee_precision) for iid, b in books.items()
        }
        self._ledger = Ledger()
        self._positions: dict[tuple[AccountId, InstrumentId], int] = {}
        self._orders: dict[tuple[AccountId, ClientOrderId], _Paper] = {}
        self._live: dict[int, _Paper] = {}
        #: The finished orders still in ``_orders``, in the order they finished.
        self._closed = FinishedOrders(self._orders, cfg.closed_order_retention)
        self._last_trade: dict[InstrumentId, int] = {}
        self._next_vid = 1
        self._next_trade = 1
        self._running = False
        self._line = DelayLine(clock, name, on_tick=self._on_tick, next_extra_ns=self._next_expiry_ns)
        self._walk_ticks = np.zeros(cfg.max_walk_levels, dtype=np.int64)
        self._walk_lots = np.zeros(cfg.max_walk_levels, dtype=np.int64)
        #: Per instrument, read on every fill: the ``P-<symbol>-`` prefix of its trade ids.
        self._trade_prefix = {iid: f"P-{iid.symbol}-" for iid in self._terms}
        #: Recently built prices and quantities per instrument, by ticks / lots. They are
        #: immutable, so a fill at a price or size seen before (the same order size bought and
        #: sold, the same reference price) reuses the object instead of building one per fill.
        self._prices: dict[InstrumentId, dict[int, Price]] = {iid: {} for iid in self._terms}
        self._quantities: dict[InstrumentId, dict[int, Quantity]] = {iid: {} for iid in self._terms}
        #: The zero commission per instrument (``Money`` is immutable: every fee-free fill shares it).
        self._zero_fee = {iid: t.fee(0) for iid, t in self._terms.items()}
        #: Whether a GTD order was ever live: until then nothing can expire, so the expiry scan
        #: and the delay line's re-arm after each command (for the next expiry) are skipped.
        self._gtd_seen = False
        #: Whether anything was ever put on the delay line (a command sent with ``send``, reports
        #: delayed by ``report_latency_ns``): until then it holds nothing, and ``apply`` does not
        #: ask it (a venue driven only through ``apply``, as the zero-latency backtest drives it).
        self._line_used = False
        #: Per instrument, the fee rule's integers (maker num, maker den, taker num, taker den):
        #: ``InstrumentTerms.fee_units`` inline on every fill.
        self._fee_rates = {
            iid: (t.maker_fee_num, t.maker_fee_den, t.taker_fee_num, t.taker_fee_den)
            for iid, t in self._terms.items()
        }
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

    def _state(self, o: _Paper) -> SimOrderState:
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
        if self._gtd_seen:
            self._expire(ts, out)
        if type(command) is SubmitOrder or isinstance(command, SubmitOrder):
            self._submit(command, ts, out)
            if not self._gtd_seen and not (self._line_used and self._line.pending):
                return out  # no expiry to re-arm for (the next GTD submit sets _gtd_seen first)
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
                    self._close(o, ts, "CANCELED", out)
        else:
            raise ValidationError("command", f"{type(command).__name__} is not a venue command")
        self._line.rearm()
        return out

    def advance(self, ts_ns: int) -> list[Event]:
        """Expire GTD orders due by ``ts_ns``."""
        out: list[Event] = []
        if self._gtd_seen:
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
        if self._gtd_seen:
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
                self._fill(o, o.price, min(o.leaves, size), _MAKER, ts, out)
            elif price == o.price:
                consumed = min(o.queue_ahead, size)
                o.queue_ahead -= consumed
                o.seen = max(0, o.seen - size)
                if size - consumed > 0:
                    self._fill(o, o.price, min(o.leaves, size - consumed), _MAKER, ts, out)
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

    def _ids(self, o: _Paper) -> dict[str, Any]:
        return {"account_id": o.account, "client_order_id": o.coid, "instrument_id": o.iid}

    def _submit(self, cmd: SubmitOrder, ts: int, out: list[Event]) -> None:
        key = (cmd.account_id, cmd.client_order_id)
        if key in self._orders:
            out.append(
                rejected(
                    OrderRejected,
                    ts_event=ts,
                    ts_init=self._ts_init(ts),
                    account_id=cmd.account_id,
                    client_order_id=cmd.client_order_id,
                    instrument_id=cmd.instrument_id,
                    reason="DUPLICATE_CLIENT_ORDER_ID",
                )
            )
            return
        o = _Paper.taking(cmd, ts)
        self._orders[key] = o
        reason = self._validate(cmd, o, ts)
        if reason is not None:
            o.status, o.reason, o.leaves = OrderStatus.REJECTED, reason, 0
            self._closed.add(key)
            out.append(
                rejected(OrderRejected, ts_event=ts, ts_init=self._ts_init(ts), **self._ids(o), reason=reason)
            )
            return
        o.vid = self._next_vid
        self._next_vid += 1
        o.status = OrderStatus.ACCEPTED
        self._live[o.vid] = o
        if o.tif == _GTD:
            self._gtd_seen = True
        out.append(
            OrderAccepted(
                ts_event=ts,
                ts_init=ts + self._config.report_latency_ns,
                account_id=o.account,
                client_order_id=o.coid,
                instrument_id=o.iid,
                venue_order_id=_new_str(VenueOrderId, f"P{o.vid}"),  # ``_venue_order_id`` inline
            )
        )
        if o.otype in (_STOP_MARKET, _STOP_LIMIT):
            o.state = "stop"
            return
        self._execute(o, ts, out)

    def _validate(self, cmd: SubmitOrder, o: _Paper, ts: int) -> str | None:
        terms = self._terms.get(cmd.instrument_id)
        if terms is None:
            return "UNKNOWN_INSTRUMENT"
        inst = terms.instrument
        if not inst.tradable:
            return "INSTRUMENT_NOT_TRADABLE"
        if not self._ledger.has(cmd.account_id):
            return "UNKNOWN_ACCOUNT"
        try:
            o.qty = o.leaves = inst.quantity_to_lots(cmd.quantity)
            o.price = inst.price_to_ticks(cmd.price) if cmd.price is not None else 0
            o.trigger = inst.price_to_ticks(cmd.trigger_price) if cmd.trigger_price is not None else 0
        except ValidationError as exc:
            return exc.reason if exc.reason in REASON_DETAILS else "VALUE_OUT_OF_RANGE"
        if o.qty > _MAX or o.price > _MAX or o.trigger > _MAX:
            return "VALUE_OUT_OF_RANGE"
        if o.tif == _GTD and o.expire <= ts:
            return "INVALID_EXPIRE_TIME"
        if o.flags & 1 and (o.otype != _LIMIT or o.tif in (_IOC, _FOK)):
            return "POST_ONLY_INVALID"
        if o.qty < terms.min_lots:
            return "BELOW_MIN_QUANTITY"
        if terms.max_lots and o.qty > terms.max_lots:
            return "ABOVE_MAX_QUANTITY"
        l2 = self._l2[o.iid]
        buy = o.side == _BUY
        if buy:
            opposite = l2.best_ask_ticks() if l2.best_ask_lots() else 0
        else:
            opposite = l2.best_bid_ticks() if l2.best_bid_lots() else 0
        if o.otype == _MARKET and not opposite:
            return "NO_LIQUIDITY"
        ref = o.price or o.trigger or opposite
        if ref * o.qty < terms.min_notional_units:
            return "BELOW_MIN_NOTIONAL"
        if o.flags & 2 and self._reducible(o) == 0:
            return "REDUCE_ONLY_WOULD_INCREASE"
        if o.trigger and self._triggers(o, self._last_trade.get(o.iid, 0)):
            return "STOP_WOULD_TRIGGER"
        if o.flags & 1 and opposite and (o.price >= opposite if buy else o.price <= opposite):
            return "POST_ONLY_WOULD_TAKE"
        return None

    def _reducible(self, o: _Paper) -> int:
        pos = self._positions.get((o.account, o.iid), 0)
        return max(-pos, 0) if o.side == _BUY else max(pos, 0)

    @staticmethod
    def _triggers(o: _Paper, last: int) -> bool:
        if last <= 0:
            return False
        return last >= o.trigger if o.side == Side.BUY else last <= o.trigger

    def _walk(self, o: _Paper) -> list[tuple[int, int]]:
        """Levels (ticks, lots) this order may take, best first, within its limit price."""
        l2 = self._books[o.iid].l2
        side = 3 - o.side
        count = l2.level_count(side)  # O(1)
        if count == 0:
            return []
        buy = o.side == _BUY
        market = o.otype in (_MARKET, _STOP_MARKET)
        if count == 1:  # e.g. the one-level books of a bar backtest: no buffer copy
            if buy:
                ticks, lots = l2.best_ask_ticks(), l2.best_ask_lots()
            else:
                ticks, lots = l2.best_bid_ticks(), l2.best_bid_lots()
            if not market and (ticks > o.price if buy else ticks < o.price):
                return []
            return [(ticks, lots)]
        n = l2.depth(side, self._walk_ticks, self._walk_lots, min(count, len(self._walk_ticks)))
        levels = []
        for ticks, lots in zip(self._walk_ticks[:n].tolist(), self._walk_lots[:n].tolist(), strict=True):
            if not market and (ticks > o.price if buy else ticks < o.price):
                break
            levels.append((ticks, lots))
        return levels

    def _execute(self, o: _Paper, ts: int, out: list[Event]) -> None:
        """Take what the book offers, then rest or cancel the remainder."""
        l2 = self._l2[o.iid]
        if l2.level_count(3 - o.side) == 1:
            # ``_walk`` inline for a one-level book (the bar backtest's: once per order).
            if o.side == _BUY:
                ticks, lots = l2.best_ask_ticks(), l2.best_ask_lots()
                levels = [] if o.otype not in _TAKING and ticks > o.price else [(ticks, lots)]
            else:
                ticks, lots = l2.best_bid_ticks(), l2.best_bid_lots()
                levels = [] if o.otype not in _TAKING and ticks < o.price else [(ticks, lots)]
        else:
            levels = self._walk(o)
        reduce_only = o.flags & 2  # o.reduce_only, without a property call per level
        want = min(o.leaves, self._reducible(o)) if reduce_only else o.leaves
        if o.tif == _FOK and (want < o.leaves or sum(q for _, q in levels) < o.leaves):
            self._close(o, ts, "FOK_CANNOT_FILL", out)
            return
        for ticks, shown in levels:
            if o.leaves == 0:
                return
            take = min(o.leaves, shown)
            if reduce_only:
                cap = self._reducible(o)
                if cap == 0:
                    self._close(o, ts, "REDUCE_ONLY_EXHAUSTED", out)
                    return
                take = min(take, cap)
            self._fill(o, ticks, take, _TAKER, ts, out)
        if o.leaves == 0:
            return
        if o.otype in (_MARKET, _STOP_MARKET):
            self._close(o, ts, "NO_LIQUIDITY", out)
        elif o.tif in (_IOC, _FOK):
            self._close(o, ts, "IOC_REMAINDER", out)
        else:
            self._rest(o)

    def _rest(self, o: _Paper) -> None:
        shown = self._books[o.iid].l2.level_lots(o.side, o.price)
        o.state = "resting"
        o.queue_ahead = shown
        o.seen = shown

    def _fill(self, o: _Paper, ticks: int, lots: int, liq: int, ts: int, out: list[Event]) -> None:
        if lots <= 0:
            return
        reduce_only = o.flags & 2  # o.reduce_only
        if reduce_only:
            lots = min(lots, self._reducible(o))
            if lots == 0:
                self._close(o, ts, "REDUCE_ONLY_EXHAUSTED", out)
                return
        iid = o.iid
        terms = self._terms[iid]
        # ``terms.fee_units(ticks, lots, maker=...)`` inline: ceil(ticks * lots * num / den).
        rates = self._fee_rates[iid]
        num, den = (rates[0], rates[1]) if liq == _MAKER else (rates[2], rates[3])
        fee_units = -((-ticks * lots * num) // den) if num else 0
        commission = terms.fee(fee_units) if fee_units else self._zero_fee[iid]
        # ``P-<symbol>-<n>``: a symbol has no spaces and at most 64 characters, so this is a valid
        # ``TradeId`` by construction (the pattern check is skipped below).
        trade_id = f"{self._trade_prefix[iid]}{self._next_trade}"
        self._next_trade += 1
        o.filled += lots
        o.leaves -= lots
        o.fills.append((trade_id, ticks, lots, liq, fee_units, ts))
        o.status = OrderStatus.FILLED if o.leaves == 0 else OrderStatus.PARTIALLY_FILLED
        o.ts_last = ts
        key = (o.account, iid)
        self._positions[key] = self._positions.get(key, 0) + (lots if o.side == _BUY else -lots)
        side = _SIDE[o.side]
        self._ledger.apply_fill(o.account, terms, side, ticks, lots, commission)
        prices = self._prices[iid]
        price = prices.get(ticks)
        if price is None:
            if len(prices) >= _RECENT:
                prices.clear()
            price = prices[ticks] = terms.price(ticks)
        quantities = self._quantities[iid]
        quantity = quantities.get(lots)
        if quantity is None:
            if len(quantities) >= _RECENT:
                quantities.clear()
            quantity = quantities[lots] = terms.quantity(lots)
        out.append(
            OrderFilled(
                ts_event=ts,
                ts_init=ts + self._config.report_latency_ns,
                account_id=o.account,
                client_order_id=o.coid,
                instrument_id=iid,
                venue_order_id=_new_str(VenueOrderId, f"P{o.vid}"),  # ``_venue_order_id`` inline
                trade_id=_new_str(TradeId, trade_id),
                side=side,
                last_price=price,
                last_quantity=quantity,
                liquidity_side=_LIQUIDITY[liq],
                commission=commission,
            )
        )
        if o.leaves == 0:
            self._live.pop(o.vid, None)
            o.state = "done"
            self._closed.add((o.account, o.coid))
        elif reduce_only and self._reducible(o) == 0:
            self._close(o, ts, "REDUCE_ONLY_EXHAUSTED", out)

    def _close(self, o: _Paper, ts: int, reason: str, out: list[Event]) -> None:
        """Cancel (or expire, for GTD_EXPIRED) what is left of an order."""
        self._live.pop(o.vid, None)
        o.state = "done"
        o.leaves = 0
        o.reason = reason
        o.ts_last = ts
        self._closed.add((o.account, o.coid))
        if reason == "GTD_EXPIRED":
            o.status = OrderStatus.EXPIRED
            out.append(OrderExpired(ts_event=ts, ts_init=self._ts_init(ts), **self._ids(o)))
        else:
            o.status = OrderStatus.CANCELED
            out.append(OrderCanceled(ts_event=ts, ts_init=self._ts_init(ts), **self._ids(o)))

    def _run_triggers(self, iid: InstrumentId, ts: int, out: list[Event]) -> None:
        last = self._last_trade.get(iid, 0)
        stops = [
            o for o in self._live.values() if o.iid == iid and o.state == "stop" and self._triggers(o, last)
        ]
        for o in sorted(stops, key=lambda o: o.vid):
            if o.vid in self._live and o.state == "stop":
                o.triggered = True
                o.state = "taking"
                self._execute(o, ts, out)

    def _expire(self, ts: int, out: list[Event]) -> None:
        due = [o for o in self._live.values() if o.tif == TimeInForce.GTD and o.expire <= ts]
        for o in sorted(due, key=lambda o: (o.expire, o.vid)):
            self._close(o, ts, "GTD_EXPIRED", out)

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

    def _working(self, account_id: AccountId, client_order_id: ClientOrderId) -> _Paper | None:
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
        self._close(o, ts, "CANCELED", out)

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
                self._execute(o, ts, out)
            elif grew:
                self._rest(o)

    # == persistence =================================================================================
    def snapshot(self) -> dict[str, Any]:
        """Paper venue state as plain data (the external books are market data, not included)."""
        return {
            "version": SNAPSHOT_VERSION,
            "next_venue_order_id": self._next_vid,
            "next_trade": self._next_trade,
            "balances": self._ledger.snapshot(),
            "positions": [[str(a), str(i), lots] for (a, i), lots in self._positions.items()],
            "last_trade": {str(i): t for i, t in self._last_trade.items()},
            "orders": [
                {
                    **{s: getattr(o, s) for s in _Paper.__slots__},
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
        self._next_vid = snapshot["next_venue_order_id"]
        self._next_trade = snapshot["next_trade"]
        self._ledger = Ledger()
        self._ledger.restore(snapshot["balances"])
        self._positions = {(AccountId(a), InstrumentId(i)): lots for a, i, lots in snapshot["positions"]}
        self._last_trade = {InstrumentId(i): t for i, t in snapshot["last_trade"].items()}
        for data in snapshot["orders"]:
            values = dict(data)
            values.update(
                account=AccountId(data["account"]),
                coid=ClientOrderId(data["coid"]),
                iid=InstrumentId(data["iid"]),
                status=OrderStatus(data["status"]),
                fills=[tuple(f) for f in data["fills"]],
            )
            o = _Paper(**values)
            self._orders[(o.account, o.coid)] = o
            if o.status in _OPEN:
                self._live[o.vid] = o
                if o.tif == TimeInForce.GTD:
                    self._gtd_seen = True
        self._closed.restore(closed, _OPEN)
        self._line.rearm()


def _with(o: _Paper, **changes: int) -> _Paper:
    copy = _Paper(**{s: getattr(o, s) for s in _Paper.__slots__})
    for name, value in changes.items():
        setattr(copy, name, value)
    return copy
