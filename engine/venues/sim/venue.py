"""``SimVenue``: the simulated exchange — one compiled matching engine per instrument, accounts with
balances, latency, market data, and a plain snapshot of everything for persistence.

Driving it (everything on the loop thread; nothing blocks, nothing starts a thread):

* ``send(command)`` — the production path. The command reaches the matcher ``order_latency_ns``
  after ``clock.timestamp_ns()``; its events reach ``on_event`` ``report_latency_ns`` after they
  happened. Delivery runs from a clock alert, never from inside ``send``.
* ``apply(command, ts_ns)`` — the synchronous core: runs the command at ``ts_ns`` and returns the
  events it caused (order events of every one of our accounts it touched, trade and quote ticks);
  nothing goes to ``on_event``. For tests, backtests and tools.
* ``start()`` / ``stop()`` arm and disarm the clock alert (latency delivery and GTD expiries).

Order events carry ``sequence=0``: sequencing belongs to the journal (issue 4). ``ts_event`` is the
matcher time, ``ts_init`` the time the event reaches the engine (``ts_event + report_latency_ns``).

Accounts: ``open_account`` (or ``SimVenueConfig.accounts``) for our accounts, which get events and
balances; ``register_agent`` for the market simulator's agents, which trade on the same books but get
no events and no balances. Client order ids are unique per account among the orders the venue
remembers (rejected ones included), so ``order(account, client_order_id)`` answers reconciliation.

Retention: every open order is kept; of the finished ones only the
``SimVenueConfig.closed_order_retention`` most recently finished (``engine.venues.sim.retention``,
which says why reconciliation never needs a forgotten one); ``snapshot`` + ``replay`` forgets exactly
what the live venue forgot.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from engine.core.clock import Clock
from engine.core.commands import AmendOrder, CancelAllOrders, CancelOrder, Command, SubmitOrder
from engine.core.enums import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce
from engine.core.errors import InvariantViolation, UnavailableError, ValidationError
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
    QuoteTick,
    TradeTick,
)
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId
from engine.core.instruments import Instrument
from engine.core.records import field_slots
from engine.ext.core.records import build as build_record
from engine.ext.matching import engine as mx
from engine.ext.matching import sim as sx
from engine.marketdata.book import BookSnapshot
from engine.venues.sim.delay import DelayLine
from engine.venues.sim.ledger import Ledger
from engine.venues.sim.reasons import REASON_DETAILS, rejected
from engine.venues.sim.retention import FinishedOrders, closed_keys
from engine.venues.sim.terms import DEFAULT_FEE_PRECISION, InstrumentTerms

__all__ = ["SimFill", "SimOrderState", "SimPosition", "SimVenue", "SimVenueConfig", "VenueInput"]

EventHandler = Callable[[Event], None]
#: 2: adds ``closed_orders`` (the retained finished orders, oldest first). ``restore`` reads 1 too.
SNAPSHOT_VERSION = 2

#: ``VenueInput.kind``: every call that changes the venue's state (see ``set_input_recorder``).
INPUT_COMMAND = 1
INPUT_EXPIRE = 2
INPUT_AGENT_SUBMIT = 3
INPUT_AGENT_CANCEL = 4
INPUT_AGENT_CANCEL_ALL = 5
INPUT_QUOTES = 6
INPUT_REGISTER_AGENT = 7
INPUT_OPEN_ACCOUNT = 8
_COMMANDS = (SubmitOrder, AmendOrder, CancelOrder, CancelAllOrders)


@dataclass(frozen=True, slots=True)
class VenueInput:
    """One state-changing call into the venue, as recorded for its input log.

    The venue is deterministic: a ``snapshot()`` followed by ``replay`` of every input recorded after
    it, in order, rebuilds exactly the state the venue had (books, orders, fills, balances, ids).
    ``args`` carries the integer arguments of agent calls, ``name`` an agent or account name and
    ``values`` an account's opening balances as ``(asset, amount, asset, amount, ...)``.
    """

    kind: int
    ts: int
    command: SubmitOrder | AmendOrder | CancelOrder | CancelAllOrders | None = None
    instrument_id: str = ""
    args: tuple[int, ...] = ()
    name: str = ""
    values: tuple[str, ...] = ()


_INPUT_SETTERS = field_slots(VenueInput)  # (kind, ts, command, instrument_id, args, name, values)


def _command_input(ts: int, command: Command) -> VenueInput:
    """``VenueInput(INPUT_COMMAND, ts, command)`` built in one compiled call that sets the slots
    (``engine.ext.core.records.build``): the frozen dataclass ``__init__`` goes through
    ``object.__setattr__`` per field, once per order that reaches the matcher of a durable venue.
    Same object, as immutable as the constructor's."""
    return build_record(VenueInput, _INPUT_SETTERS, (INPUT_COMMAND, ts, command, "", (), "", ()))  # type: ignore[no-any-return]


_MAX_TICKS = (1 << 53) - 1
_new_str = str.__new__
_NO_FILLS: tuple[()] = ()


_ACCEPTED_SETTERS = field_slots(OrderAccepted)
if [f.name for f in fields(OrderAccepted)] != [
    "ts_event",
    "ts_init",
    "account_id",
    "client_order_id",
    "instrument_id",
    "sequence",
    "venue_order_id",
]:
    raise TypeError("OrderAccepted's fields changed: update _accepted")
_SEQUENCE0 = OrderAccepted.__dataclass_fields__["sequence"].default


def _accepted(
    ts: int, ts_init: int, account_id: AccountId, coid: ClientOrderId, iid: InstrumentId, vid: int
) -> OrderAccepted:
    """``OrderAccepted(ts_event=ts, ts_init=ts_init, ..., venue_order_id=_venue_order_id(vid))`` built
    in one compiled call that sets the slots (``engine.ext.core.records.build``): the venue's most
    common report, once per order, without the keyword-argument call and ``object.__setattr__`` per
    field of the frozen dataclass ``__init__``. Same object (events have no ``__post_init__``)."""
    return build_record(  # type: ignore[no-any-return]
        OrderAccepted,
        _ACCEPTED_SETTERS,
        (ts, ts_init, account_id, coid, iid, _SEQUENCE0, _new_str(VenueOrderId, str(vid))),
    )


def _venue_order_id(vid: int) -> VenueOrderId:
    """The id of a venue order number: its decimal digits, valid by construction (a 1-128 character
    string without spaces), so the id's pattern check is skipped (it is most of the cost)."""
    return _new_str(VenueOrderId, str(vid))


_REASON = mx.REASON_NAMES
#: Report kinds and the taker flag read once per report in ``_dispatch`` (module constants: no
#: attribute lookup on the extension module per report).
_ACCEPTED, _FILLED, _TAKER = mx.REPORT_ACCEPTED, mx.REPORT_FILLED, mx.TAKER
_OPEN = (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class SimVenueConfig:
    #: Command travel time to the matcher and event travel time back (ns).
    order_latency_ns: int = 0
    report_latency_ns: int = 0
    #: Self-trade prevention: NONE, CANCEL_TAKER, CANCEL_MAKER or CANCEL_BOTH.
    stp_mode: str = "CANCEL_TAKER"
    #: Decimal places of fee amounts (at least the instrument's notional precision).
    fee_precision: int = DEFAULT_FEE_PRECISION
    #: Recent trades kept per instrument for ``trades()``.
    trade_history: int = 1000
    #: Accounts opened at construction: account id -> {asset: decimal string}.
    accounts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Initial order-pool capacity per instrument (grows on demand).
    capacity: int = 4096
    #: Finished orders of our accounts kept for ``order()`` lookups (the most recently finished);
    #: older ones are forgotten, which bounds memory and the snapshot. Open orders are always kept.
    closed_order_retention: int = 10_000

    def __post_init__(self) -> None:
        if self.order_latency_ns < 0 or self.report_latency_ns < 0:
            raise ValidationError("latency", "must be >= 0 ns")
        if self.stp_mode not in mx.STP_MODES:
            raise ValidationError("stp_mode", f"must be one of {sorted(mx.STP_MODES)}")
        if self.trade_history < 1:
            raise ValidationError("trade_history", "must be >= 1")
        if self.closed_order_retention < 1:
            raise ValidationError("closed_order_retention", "must be >= 1")


@dataclass(frozen=True, slots=True)
class SimFill:
    trade_id: TradeId
    price: Price
    quantity: Quantity
    liquidity_side: LiquiditySide
    commission: Money
    ts_event: int


@dataclass(frozen=True, slots=True)
class SimOrderState:
    """What the venue knows about one of our orders (for reconciliation by client order id)."""

    account_id: AccountId
    client_order_id: ClientOrderId
    venue_order_id: VenueOrderId | None
    instrument_id: InstrumentId
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: Quantity
    price: Price | None
    trigger_price: Price | None
    expire_at_ns: int | None
    post_only: bool
    reduce_only: bool
    status: OrderStatus
    filled_quantity: Quantity
    leaves_quantity: Quantity
    triggered: bool
    #: Reject or cancel reason (``VenueReason`` name), None while working or when filled.
    reason: str | None
    fills: tuple[SimFill, ...]
    ts_last: int


@dataclass(frozen=True, slots=True)
class SimPosition:
    account_id: AccountId
    instrument_id: InstrumentId
    #: BUY = long, SELL = short, None = flat.
    side: Side | None
    quantity: Quantity


class _Order:
    """Our order as the venue tracks it: integers (ticks, lots, fee units) and the status."""

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
        "reason",
        "side",
        "status",
        "tif",
        "trigger",
        "triggered",
        "ts_last",
        "vid",
    )

    def __init__(
        self,
        account: AccountId,
        coid: ClientOrderId,
        expire: int,
        filled: int,
        fills: list[tuple[int, ...]] | tuple[()],
        flags: int,
        iid: InstrumentId,
        leaves: int,
        otype: int,
        price: int,
        qty: int,
        reason: str | None,
        side: int,
        status: OrderStatus,
        tif: int,
        trigger: int,
        triggered: bool,
        ts_last: int,
        vid: int,
    ) -> None:
        # Plain assignments (one per order on the submit path; a loop of setattr costs ~3x more).
        # Positional parameters in slot order: ``_submit`` passes them so (a 19-keyword call costs
        # ~0.4 us more per order); ``from_dict`` passes keywords.
        self.account = account
        self.coid = coid
        self.expire = expire
        self.filled = filled
        self.fills = fills
        self.flags = flags
        self.iid = iid
        self.leaves = leaves
        self.otype = otype
        self.price = price
        self.qty = qty
        self.reason = reason
        self.side = side
        self.status = status
        self.tif = tif
        self.trigger = trigger
        self.triggered = triggered
        self.ts_last = ts_last
        self.vid = vid

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        out["status"] = int(self.status)
        out["fills"] = [list(f) for f in self.fills]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _Order:
        values = dict(data)
        values["account"] = AccountId(values["account"])
        values["coid"] = ClientOrderId(values["coid"])
        values["iid"] = InstrumentId(values["iid"])
        values["status"] = OrderStatus(values["status"])
        values["fills"] = [tuple(f) for f in values["fills"]]
        return cls(**values)


class _Market:
    __slots__ = ("engine", "last_quote", "terms", "trades")

    def __init__(self, terms: InstrumentTerms, engine: mx.MatchingEngine, history: int) -> None:
        self.terms = terms
        self.engine = engine
        self.trades: deque[TradeTick] = deque(maxlen=history)
        self.last_quote: tuple[int, int, int, int] = (0, 0, 0, 0)


class SimVenue:
    """The simulated exchange (see the module docstring)."""

    def __init__(
        self,
        instruments: Iterable[Instrument],
        clock: Clock,
        config: SimVenueConfig | None = None,
        *,
        on_event: EventHandler | None = None,
        name: str = "sim-venue",
    ) -> None:
        self._config = config or SimVenueConfig()
        self._clock = clock
        self._on_event = on_event
        self._name = name
        self._markets: dict[InstrumentId, _Market] = {}
        for instrument in instruments:
            if instrument.id in self._markets:
                raise ValidationError("instruments", f"{instrument.id} listed twice")
            self._markets[instrument.id] = self._new_market(instrument)
        self._ledger = Ledger()
        self._accounts: dict[AccountId, int] = {}
        self._agents: dict[str, int] = {}
        self._next_index = 0
        self._orders: dict[tuple[AccountId, ClientOrderId], _Order] = {}
        self._live: dict[int, _Order] = {}
        #: The finished orders still in ``_orders``, in the order they finished.
        self._closed = FinishedOrders(self._orders, self._config.closed_order_retention)
        self._next_vid = 1
        self._running = False
        self._recorder: Callable[[VenueInput], None] | None = None
        self._line = DelayLine(clock, name, on_tick=self._on_tick, next_extra_ns=self._next_expiry_ns)
        #: The compiled common submit path (``engine.ext.matching.sim``); None runs every submit
        #: through ``_submit`` (the reference the kernel is tested against).
        self._kernel: sx.SimKernel | None = self._new_kernel()
        for account, balances in self._config.accounts.items():
            self.open_account(AccountId(account), {a: Money(v, a) for a, v in balances.items()})

    def _new_market(self, instrument: Instrument) -> _Market:
        terms = InstrumentTerms.of(instrument, fee_precision=self._config.fee_precision)
        engine = mx.MatchingEngine(
            min_lots=terms.min_lots,
            max_lots=terms.max_lots,
            min_notional=terms.min_notional_units,
            maker_fee_num=terms.maker_fee_num,
            maker_fee_den=terms.maker_fee_den,
            taker_fee_num=terms.taker_fee_num,
            taker_fee_den=terms.taker_fee_den,
            stp_mode=mx.STP_MODES[self._config.stp_mode],
            capacity=self._config.capacity,
        )
        return _Market(terms, engine, self._config.trade_history)

    def _new_kernel(self) -> sx.SimKernel:
        """The compiled submit path over this venue's tables and markets (built again when
        ``restore`` replaces the markets and the account table)."""
        kernel = sx.SimKernel(
            self._orders,
            self._live,
            self._accounts,
            self.__dict__,  # its ``_next_vid`` entry: the next venue order id
            "_next_vid",
            report_latency_ns=self._config.report_latency_ns,
            order=(_Order, tuple(getattr(_Order, name) for name in sx.ORDER_FIELDS)),
            accepted=(OrderAccepted, tuple(getattr(OrderAccepted, name) for name in sx.ACCEPTED_FIELDS)),
            submit=(SubmitOrder, tuple(getattr(SubmitOrder, name) for name in sx.SUBMIT_FIELDS)),
            sequence0=_SEQUENCE0,
            venue_order_id_cls=VenueOrderId,
            statuses=(OrderStatus.SUBMITTED, OrderStatus.ACCEPTED),
            no_fills=_NO_FILLS,
            flags=(mx.POST_ONLY, mx.REDUCE_ONLY),
            fixed=(Price, Quantity, Price._raw, Price._precision),  # type: ignore[attr-defined]
            market=tuple(getattr(_Market, name) for name in sx.MARKET_FIELDS),
            dispatch=self._dispatch,
            quote_tick=self._quote_tick,
        )
        for iid, market in self._markets.items():
            inst = market.terms.instrument
            kernel.add_market(
                iid,
                market,
                market.engine,
                inst.id,
                inst.tradable,
                price_precision=inst._price_precision,
                price_step=inst._price_step,
                size_precision=inst._size_precision,
                size_step=inst._size_step,
            )
        return kernel

    # == lifecycle =================================================================================
    @property
    def config(self) -> SimVenueConfig:
        return self._config

    @property
    def is_running(self) -> bool:
        return self._running

    def set_event_handler(self, on_event: EventHandler | None) -> None:
        self._on_event = on_event

    def set_input_recorder(self, recorder: Callable[[VenueInput], None] | None) -> None:
        """Call ``recorder(input)`` before every state change (our commands as they reach the
        matcher, expiries, agent orders, quote publication, agents and accounts added), so a durable
        log of inputs plus a snapshot can rebuild the venue (``replay``)."""
        self._recorder = recorder

    def replay(self, recorded: VenueInput) -> None:
        """Apply one recorded input again (recovery): the same state change, no events delivered."""
        handler, recorder = self._on_event, self._recorder
        self._on_event = self._recorder = None
        try:
            kind, ts = recorded.kind, recorded.ts
            if kind == INPUT_COMMAND:
                assert recorded.command is not None
                self.apply(recorded.command, ts)
            elif kind == INPUT_EXPIRE:
                self.advance(ts)
            elif kind == INPUT_QUOTES:
                self.publish_quotes(ts)
            elif kind == INPUT_REGISTER_AGENT:
                self.register_agent(recorded.name)
            elif kind == INPUT_OPEN_ACCOUNT:
                pairs = zip(recorded.values[::2], recorded.values[1::2], strict=True)
                self.open_account(AccountId(recorded.name), {a: Money(v, a) for a, v in pairs})
            else:
                iid = InstrumentId(recorded.instrument_id)
                a = recorded.args
                if kind == INPUT_AGENT_SUBMIT:
                    self.agent_submit(iid, a[0], ts, a[1], a[2], a[3], a[4], a[5], expire_ns=a[6], flags=a[7])
                elif kind == INPUT_AGENT_CANCEL:
                    self.agent_cancel(iid, ts, a[0])
                elif kind == INPUT_AGENT_CANCEL_ALL:
                    self.agent_cancel_all(iid, ts, a[0])
                else:
                    raise ValidationError("input", f"unknown venue input kind {kind}")
        finally:
            self._on_event, self._recorder = handler, recorder

    def start(self) -> None:
        self._running = True
        self._line.start()

    def stop(self) -> None:
        """Disarm the clock alert. Commands in flight stay queued and run after the next ``start``."""
        self._running = False
        self._line.stop()

    # == reference data and accounts ===============================================================
    def instruments(self) -> list[Instrument]:
        return [m.terms.instrument for m in self._markets.values()]

    def instrument(self, instrument_id: InstrumentId) -> Instrument:
        return self._market(instrument_id).terms.instrument

    def terms(self, instrument_id: InstrumentId) -> InstrumentTerms:
        return self._market(instrument_id).terms

    def _market(self, instrument_id: InstrumentId) -> _Market:
        market = self._markets.get(instrument_id)
        if market is None:
            raise ValidationError("instrument_id", f"{instrument_id} is not listed on this venue")
        return market

    def open_account(self, account_id: AccountId, balances: Mapping[str, Money] | None = None) -> None:
        if account_id in self._accounts:
            raise ValidationError("account_id", f"{account_id} is already open")
        if self._recorder is not None:
            values = tuple(
                x for asset, money in (balances or {}).items() for x in (asset, money.amount_str())
            )
            self._recorder(VenueInput(INPUT_OPEN_ACCOUNT, 0, name=str(account_id), values=values))
        self._ledger.open(account_id, balances)
        self._accounts[account_id] = self._next_index
        self._next_index += 1

    def accounts(self) -> list[AccountId]:
        return list(self._accounts)

    def balances(self, account_id: AccountId) -> dict[str, Money]:
        if account_id not in self._accounts:
            raise ValidationError("account_id", f"{account_id} has no account at this venue")
        return self._ledger.balances(account_id)

    def position(self, account_id: AccountId, instrument_id: InstrumentId) -> SimPosition:
        market = self._market(instrument_id)
        index = self._accounts.get(account_id)
        lots = market.engine.position(index) if index is not None else 0
        side = None if lots == 0 else Side.BUY if lots > 0 else Side.SELL
        return SimPosition(account_id, instrument_id, side, market.terms.quantity(abs(lots)))

    # == orders: queries =========================================================================
    def order(self, account_id: AccountId, client_order_id: ClientOrderId) -> SimOrderState | None:
        """The venue's view of an order by client order id (working or finished), or None."""
        record = self._orders.get((account_id, client_order_id))
        return None if record is None else self._state(record)

    def order_keys(self) -> list[tuple[AccountId, ClientOrderId]]:
        """(account, client order id) of every order the venue still knows: the open ones and the
        most recently finished (``closed_order_retention``)."""
        return list(self._orders)

    def open_orders(
        self, account_id: AccountId | None = None, instrument_id: InstrumentId | None = None
    ) -> list[SimOrderState]:
        return [
            self._state(o)
            for o in self._live.values()
            if (account_id is None or o.account == account_id)
            and (instrument_id is None or o.iid == instrument_id)
        ]

    def _state(self, o: _Order) -> SimOrderState:
        market = self._markets.get(o.iid)
        if market is None:  # rejected for an unknown instrument: there is nothing to convert
            return unlisted_order_state(o, None)
        terms = market.terms
        fills = tuple(
            SimFill(
                trade_id=self._trade_id(o.iid, trade_no),
                price=terms.price(ticks),
                quantity=terms.quantity(lots),
                liquidity_side=LiquiditySide(liq),
                commission=terms.fee(fee),
                ts_event=ts,
            )
            for trade_no, ticks, lots, liq, fee, ts in o.fills
        )
        return SimOrderState(
            account_id=o.account,
            client_order_id=o.coid,
            venue_order_id=_venue_order_id(o.vid) if o.vid else None,
            instrument_id=o.iid,
            side=Side(o.side),
            order_type=OrderType(o.otype),
            time_in_force=TimeInForce(o.tif),
            quantity=terms.quantity(o.qty),
            price=terms.price(o.price) if o.price else None,
            trigger_price=terms.price(o.trigger) if o.trigger else None,
            expire_at_ns=o.expire or None,
            post_only=bool(o.flags & mx.POST_ONLY),
            reduce_only=bool(o.flags & mx.REDUCE_ONLY),
            status=o.status,
            filled_quantity=terms.quantity(o.filled),
            leaves_quantity=terms.quantity(o.leaves),
            triggered=o.triggered,
            reason=o.reason,
            fills=fills,
            ts_last=o.ts_last,
        )

    # == market data =============================================================================
    def book(self, instrument_id: InstrumentId, depth: int = 10) -> BookSnapshot:
        """Top ``depth`` price levels of both sides (aggregated from the L3 book)."""
        market = self._market(instrument_id)
        if depth < 0:
            raise ValidationError("depth", "must be >= 0")
        terms = market.terms
        sides = []
        for side in (mx.BUY, mx.SELL):
            prices, lots, _ = market.engine.depth(side, depth)
            sides.append(
                [
                    (terms.price(p), terms.quantity(q))
                    for p, q in zip(prices.tolist(), lots.tolist(), strict=True)
                ]
            )
        return BookSnapshot(
            instrument_id=instrument_id, bids=sides[0], asks=sides[1], sequence=-1, is_crossed=False
        )

    def quote(self, instrument_id: InstrumentId) -> QuoteTick | None:
        """The current best bid and offer (None while a side is empty)."""
        market = self._market(instrument_id)
        ts = self._clock.timestamp_ns()
        return self._quote_tick(market, ts, ts)

    def trades(self, instrument_id: InstrumentId, limit: int = 100) -> list[TradeTick]:
        """The most recent trades, oldest first."""
        trades = self._market(instrument_id).trades
        return list(trades)[-limit:] if limit > 0 else []

    def matching_engine(self, instrument_id: InstrumentId) -> mx.MatchingEngine:
        """The compiled matcher (read its book; do not send orders to it directly)."""
        return self._market(instrument_id).engine

    # == commands ================================================================================
    def send(self, command: Command) -> None:
        """Production path: deliver ``command`` after the order latency; events go to ``on_event``."""
        if not self._running:
            raise UnavailableError(f"{self._name} is not running")
        if not isinstance(command, _COMMANDS):
            raise ValidationError("command", f"{type(command).__name__} is not a venue command")
        now = self._clock.timestamp_ns()
        latency = self._config.order_latency_ns
        if latency:
            self._line.push(now + latency, lambda ts: self._deliver(self.apply(command, ts)))
        else:  # due now: the line's FIFO of due items (no heap entry, no second clock read)
            self._line.push_due(now, lambda ts: self._deliver(self.apply(command, ts)))

    def apply(self, command: Command, ts_ns: int | None = None) -> list[Event]:
        """Run ``command`` now (at ``ts_ns``, default the clock) and return the events it caused."""
        ts = self._clock.timestamp_ns() if ts_ns is None else ts_ns
        if self._recorder is not None and isinstance(command, _COMMANDS):
            self._recorder(_command_input(ts, command))
        out: list[Event] = []
        if isinstance(command, SubmitOrder):
            kernel = self._kernel
            if kernel is None or not kernel.submit(command, ts, out):  # (the common case compiled)
                self._submit(command, ts, out)
            # Only a GTD order can bring the next expiry forward. A fill or cancel that removes the
            # earliest one leaves the alert early, which is harmless: it finds nothing due (and logs
            # no input), then re-arms. (``rearm`` walks every market: ~0.5 us per order saved.)
            if command.expire_at_ns:
                self._line.rearm()
        elif isinstance(command, CancelOrder):
            self._cancel(command, ts, out)
        elif isinstance(command, AmendOrder):
            self._amend(command, ts, out)
        elif isinstance(command, CancelAllOrders):
            self._cancel_all(command, ts, out)
        else:
            raise ValidationError("command", f"{type(command).__name__} is not a venue command")
        return out

    def advance(self, ts_ns: int) -> list[Event]:
        """Expire GTD orders due by ``ts_ns`` on every instrument; returns the events."""
        out: list[Event] = []
        # One pass finds the markets with an expiry due (this runs after every delivery from the
        # delay line; mostly none is due). Expiring one market's orders moves no other's expiry.
        due = [m for m in self._markets.values() if 0 < m.engine.next_expiry_ts() <= ts_ns]
        if not due:
            return out
        if self._recorder is not None:
            self._recorder(VenueInput(INPUT_EXPIRE, ts_ns))
        for market in due:
            market.engine.advance(ts_ns)
            self._dispatch(market, out)
            self._publish_quote(market, ts_ns, out)
        return out

    def _ts_init(self, ts: int) -> int:
        return ts + self._config.report_latency_ns

    def _submit(self, cmd: SubmitOrder, ts: int, out: list[Event]) -> None:
        """A submit the compiled kernel declined (a reject, a value with more places than the grid;
        see ``engine.ext.matching.sim``), or every submit while ``_kernel`` is None: the reference
        the kernel's common case matches (``tests/unit/venues/sim/test_sim_kernel.py``)."""
        key = (cmd.account_id, cmd.client_order_id)
        market = self._markets.get(cmd.instrument_id)
        if key in self._orders:
            out.append(self._rejected(cmd, ts, "DUPLICATE_CLIENT_ORDER_ID"))
            return
        reason = None
        ticks = trigger = lots = 0
        if market is None:
            reason = "UNKNOWN_INSTRUMENT"
        elif not market.terms.instrument.tradable:
            reason = "INSTRUMENT_NOT_TRADABLE"
        elif cmd.account_id not in self._accounts:
            reason = "UNKNOWN_ACCOUNT"
        else:
            try:
                inst = market.terms.instrument
                lots = inst.quantity_to_lots(cmd.quantity)
                ticks = inst.price_to_ticks(cmd.price) if cmd.price is not None else 0
                trigger = inst.price_to_ticks(cmd.trigger_price) if cmd.trigger_price is not None else 0
            except ValidationError as exc:
                reason = exc.reason if exc.reason in REASON_DETAILS else "VALUE_OUT_OF_RANGE"
            else:
                if lots > _MAX_TICKS or ticks > _MAX_TICKS or trigger > _MAX_TICKS:
                    reason = "VALUE_OUT_OF_RANGE"
        record = _Order(
            cmd.account_id,  # account
            cmd.client_order_id,  # coid
            cmd.expire_at_ns or 0,  # expire
            0,  # filled
            _NO_FILLS,  # fills: a list from the first fill on (most orders never fill; one object less)
            (mx.POST_ONLY if cmd.post_only else 0) | (mx.REDUCE_ONLY if cmd.reduce_only else 0),  # flags
            cmd.instrument_id,  # iid
            lots,  # leaves
            int(cmd.order_type),  # otype
            ticks,  # price
            lots,  # qty
            None,  # reason
            int(cmd.side),  # side
            OrderStatus.SUBMITTED,  # status
            int(cmd.time_in_force),  # tif
            trigger,  # trigger
            False,  # triggered
            ts,  # ts_last
            0,  # vid
        )
        self._orders[key] = record
        if reason is not None or market is None:
            record.status = OrderStatus.REJECTED
            record.reason = reason
            record.leaves = 0
            self._closed.add(key)
            out.append(self._rejected(cmd, ts, reason or "UNKNOWN_INSTRUMENT"))
            return
        record.vid = self._next_vid
        self._next_vid += 1
        self._live[record.vid] = record
        engine = market.engine
        engine.submit(
            ts,
            record.vid,
            self._accounts[cmd.account_id],
            record.side,
            record.otype,
            record.tif,
            lots,
            ticks,
            trigger,
            record.expire,
            record.flags,
        )
        if engine.accepted_only(record.vid):  # rests untouched (most orders): no report rows to read
            record.status = OrderStatus.ACCEPTED
            out.append(
                _accepted(
                    ts,
                    ts + self._config.report_latency_ns,
                    record.account,
                    record.coid,
                    market.terms.instrument.id,
                    record.vid,
                )
            )
        else:
            self._dispatch(market, out)
        self._publish_quote(market, ts, out)

    def _rejected(self, cmd: SubmitOrder, ts: int, reason: str) -> OrderRejected:
        return rejected(
            OrderRejected,
            ts_event=ts,
            ts_init=self._ts_init(ts),
            account_id=cmd.account_id,
            client_order_id=cmd.client_order_id,
            instrument_id=cmd.instrument_id,
            reason=reason,
        )

    def _working(self, account_id: AccountId, client_order_id: ClientOrderId) -> _Order | None:
        record = self._orders.get((account_id, client_order_id))
        return record if record is not None and record.vid in self._live else None

    def _cancel(self, cmd: CancelOrder, ts: int, out: list[Event]) -> None:
        record = self._working(cmd.account_id, cmd.client_order_id)
        if record is None:
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
        market = self._markets[record.iid]
        market.engine.cancel(ts, record.vid)
        self._dispatch(market, out)
        self._publish_quote(market, ts, out)

    def _amend(self, cmd: AmendOrder, ts: int, out: list[Event]) -> None:
        record = self._working(cmd.account_id, cmd.client_order_id)
        known = record or self._orders.get((cmd.account_id, cmd.client_order_id))

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

        if record is None:
            reject("UNKNOWN_ORDER")
            return
        market = self._markets[record.iid]
        inst = market.terms.instrument
        try:
            lots = inst.quantity_to_lots(cmd.quantity) if cmd.quantity is not None else 0
            ticks = inst.price_to_ticks(cmd.price) if cmd.price is not None else 0
            trigger = inst.price_to_ticks(cmd.trigger_price) if cmd.trigger_price is not None else 0
        except ValidationError as exc:
            reject(exc.reason if exc.reason in REASON_DETAILS else "VALUE_OUT_OF_RANGE")
            return
        if max(lots, ticks, trigger) > _MAX_TICKS:
            reject("VALUE_OUT_OF_RANGE")
            return
        market.engine.amend(ts, record.vid, lots, ticks, trigger)
        self._dispatch(market, out)
        self._publish_quote(market, ts, out)

    def _cancel_all(self, cmd: CancelAllOrders, ts: int, out: list[Event]) -> None:
        index = self._accounts.get(cmd.account_id)
        if index is None:
            return
        for iid, market in self._markets.items():
            if cmd.instrument_id is None or cmd.instrument_id == iid:
                market.engine.cancel_all(ts, index, int(cmd.side) if cmd.side is not None else 0)
                self._dispatch(market, out)
                self._publish_quote(market, ts, out)

    # == reports -> events =========================================================================
    def _trade_id(self, iid: InstrumentId, trade_no: int) -> TradeId:
        return TradeId(f"{iid.symbol}-{trade_no}")

    def _dispatch(self, market: _Market, out: list[Event]) -> None:
        """Turn the matcher's reports of the last call into events (ours) and trade ticks (all)."""
        engine = market.engine
        if not engine.n_reports:
            return
        terms = market.terms
        iid = terms.instrument.id
        live = self._live
        latency = self._config.report_latency_ns
        for (
            kind,
            oid,
            _acct,
            side,
            price,
            qty,
            leaves,
            tid,
            liq,
            fee,
            ts,
            reason,
            _contra,
            trigger,
        ) in engine.report_rows():
            ts_init = ts + latency
            if kind == _FILLED and liq == _TAKER:
                tick = TradeTick(
                    ts_event=ts,
                    ts_init=ts_init,
                    instrument_id=iid,
                    price=terms.price(price),
                    size=terms.quantity(qty),
                    aggressor_side=Side(side),
                    trade_id=self._trade_id(iid, tid),
                )
                market.trades.append(tick)
                out.append(tick)
            o = live.get(oid)
            if o is None:
                continue
            o.ts_last = ts
            if kind == _ACCEPTED:  # the common report first, built without a kwargs dict
                o.status = OrderStatus.ACCEPTED
                out.append(_accepted(ts, ts_init, o.account, o.coid, iid, oid))
                continue
            ids = {"account_id": o.account, "client_order_id": o.coid, "instrument_id": iid}
            if kind == mx.REPORT_FILLED:
                commission = terms.fee(fee)
                o.filled += qty
                o.leaves = leaves
                if o.fills:
                    o.fills.append((tid, price, qty, liq, fee, ts))
                else:
                    o.fills = [(tid, price, qty, liq, fee, ts)]
                o.status = OrderStatus.FILLED if leaves == 0 else OrderStatus.PARTIALLY_FILLED
                self._ledger.apply_fill(o.account, terms, Side(side), price, qty, commission)
                out.append(
                    OrderFilled(
                        ts_event=ts,
                        ts_init=ts_init,
                        **ids,
                        venue_order_id=_venue_order_id(oid),
                        trade_id=self._trade_id(iid, tid),
                        side=Side(side),
                        last_price=terms.price(price),
                        last_quantity=terms.quantity(qty),
                        liquidity_side=LiquiditySide(liq),
                        commission=commission,
                    )
                )
                if leaves == 0:
                    del live[oid]
                    self._closed.add((o.account, o.coid))
            elif kind == mx.REPORT_REJECTED:
                o.status, o.reason, o.leaves = OrderStatus.REJECTED, _REASON[reason], 0
                del live[oid]
                self._closed.add((o.account, o.coid))
                name = _REASON[reason]
                out.append(
                    OrderRejected(
                        ts_event=ts, ts_init=ts_init, **ids, reason=name, detail=REASON_DETAILS[name]
                    )
                )
            elif kind in (mx.REPORT_CANCELED, mx.REPORT_EXPIRED):
                expired = kind == mx.REPORT_EXPIRED
                o.status = OrderStatus.EXPIRED if expired else OrderStatus.CANCELED
                o.reason, o.leaves = _REASON[reason], 0
                del live[oid]
                self._closed.add((o.account, o.coid))
                out.append((OrderExpired if expired else OrderCanceled)(ts_event=ts, ts_init=ts_init, **ids))
            elif kind == mx.REPORT_UPDATED:
                o.qty, o.leaves, o.price, o.trigger = qty, leaves, price, trigger
                out.append(
                    OrderUpdated(
                        ts_event=ts,
                        ts_init=ts_init,
                        **ids,
                        quantity=terms.quantity(qty),
                        price=terms.price(price) if price else None,
                        trigger_price=terms.price(trigger) if trigger else None,
                    )
                )
            elif kind == mx.REPORT_TRIGGERED:
                o.triggered = True
            elif kind == mx.REPORT_AMEND_REJECTED:
                name = _REASON[reason]
                out.append(
                    OrderModifyRejected(
                        ts_event=ts, ts_init=ts_init, **ids, reason=name, detail=REASON_DETAILS[name]
                    )
                )
            elif kind == mx.REPORT_CANCEL_REJECTED:
                name = _REASON[reason]
                out.append(
                    OrderCancelRejected(
                        ts_event=ts, ts_init=ts_init, **ids, reason=name, detail=REASON_DETAILS[name]
                    )
                )

    def _quote_tick(
        self, market: _Market, ts: int, ts_init: int, top: tuple[int, int, int, int] | None = None
    ) -> QuoteTick | None:
        """The market's quote, or None while a side is empty; ``top``: the matcher's ``top()`` if
        the caller just read it."""
        bid, bid_lots, ask, ask_lots = market.engine.top() if top is None else top
        if not bid or not ask:
            return None
        terms = market.terms
        return QuoteTick(
            ts_event=ts,
            ts_init=ts_init,
            instrument_id=terms.instrument.id,
            bid_price=terms.price(bid),
            bid_size=terms.quantity(bid_lots),
            ask_price=terms.price(ask),
            ask_size=terms.quantity(ask_lots),
        )

    def _publish_quote(self, market: _Market, ts: int, out: list[Event]) -> None:
        top = market.engine.top()  # (best bid, its lots, best ask, its lots): one call
        if top == market.last_quote:
            return
        market.last_quote = top
        if top[0] and top[2]:  # (both sides: ``_quote_tick`` from the values just read)
            tick = self._quote_tick(market, ts, self._ts_init(ts), top)
            if tick is not None:
                out.append(tick)

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

        self._line.push(events[0].ts_event + latency, later)

    def _next_expiry_ns(self) -> int:
        earliest = 0
        for market in self._markets.values():
            t = market.engine.next_expiry_ts()
            if t and (not earliest or t < earliest):
                earliest = t
        return earliest

    def _on_tick(self, now_ns: int) -> None:
        self._deliver(self.advance(now_ns))

    # == market simulator hooks (agents trade on the same books; no events, no balances) ==========
    def register_agent(self, name: str) -> int:
        """Matcher account index of a simulator agent (the same index for the same name)."""
        index = self._agents.get(name)
        if index is None:
            if self._recorder is not None:
                self._recorder(VenueInput(INPUT_REGISTER_AGENT, 0, name=name))
            index = self._agents[name] = self._next_index
            self._next_index += 1
        return index

    def next_venue_order_id(self) -> int:
        vid = self._next_vid
        self._next_vid += 1
        return vid

    def agent_submit(
        self,
        instrument_id: InstrumentId,
        agent: int,
        ts: int,
        side: int,
        order_type: int,
        tif: int,
        lots: int,
        ticks: int = 0,
        *,
        expire_ns: int = 0,
        flags: int = 0,
    ) -> tuple[int, int]:
        """Submit an agent order at ``ts``; returns (reason code, venue order id)."""
        if self._recorder is not None:
            args = (agent, side, order_type, tif, lots, ticks, expire_ns, flags)
            self._recorder(VenueInput(INPUT_AGENT_SUBMIT, ts, instrument_id=instrument_id, args=args))
        market = self._markets[instrument_id]
        vid = self.next_venue_order_id()
        code = market.engine.submit(ts, vid, agent, side, order_type, tif, lots, ticks, 0, expire_ns, flags)
        self._after_agent(market)
        return code, vid

    def agent_cancel(self, instrument_id: InstrumentId, ts: int, venue_order_id: int) -> int:
        if self._recorder is not None:
            self._recorder(
                VenueInput(INPUT_AGENT_CANCEL, ts, instrument_id=instrument_id, args=(venue_order_id,))
            )
        market = self._markets[instrument_id]
        code = market.engine.cancel(ts, venue_order_id)
        self._after_agent(market)
        return code

    def agent_cancel_all(self, instrument_id: InstrumentId, ts: int, agent: int) -> int:
        if self._recorder is not None:
            self._recorder(VenueInput(INPUT_AGENT_CANCEL_ALL, ts, instrument_id=instrument_id, args=(agent,)))
        market = self._markets[instrument_id]
        code = market.engine.cancel_all(ts, agent)
        self._after_agent(market)
        return code

    def _after_agent(self, market: _Market) -> None:
        out: list[Event] = []
        self._dispatch(market, out)
        self._deliver(out)

    def publish_quotes(self, ts: int) -> None:
        """Send a QuoteTick for each instrument whose top of book changed (the simulator calls this
        once per step, so quotes are conflated per step)."""
        if self._recorder is not None:
            self._recorder(VenueInput(INPUT_QUOTES, ts))
        out: list[Event] = []
        for market in self._markets.values():
            self._publish_quote(market, ts, out)
        self._deliver(out)
        self._line.rearm()

    # == persistence ===============================================================================
    def snapshot(self) -> dict[str, Any]:
        """Every piece of venue state as plain JSON-ready data (ints, strings, lists, dicts).

        Commands and events in flight (latency) are not venue state and are not included.
        """
        markets = {}
        for iid, market in self._markets.items():
            engine = market.engine
            markets[str(iid)] = {
                "orders": engine.orders_array().tolist(),
                "positions": {str(a): lots for a, lots in engine.positions_dict().items()},
                "state": engine.state_dict(),
                "last_quote": list(market.last_quote),
                "trades": [
                    [t.ts_event, t.ts_init, str(t.price), str(t.size), int(t.aggressor_side), str(t.trade_id)]
                    for t in market.trades
                ],
            }
        return {
            "version": SNAPSHOT_VERSION,
            "next_venue_order_id": self._next_vid,
            "next_account_index": self._next_index,
            "accounts": {str(a): i for a, i in self._accounts.items()},
            "agents": dict(self._agents),
            "balances": self._ledger.snapshot(),
            "markets": markets,
            "orders": [o.to_dict() for o in self._orders.values()],
            "closed_orders": self._closed.snapshot(),
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Load a ``snapshot()`` into this venue, which must be new (no accounts opened by hand, no
        orders) and list the same instruments. A version-1 snapshot (before retention) still loads
        (``FinishedOrders.restore``)."""
        version = snapshot.get("version")
        if version not in (1, SNAPSHOT_VERSION):
            raise ValidationError(
                "snapshot", f"unsupported version {version!r} (this venue reads 1 and {SNAPSHOT_VERSION})"
            )
        if self._orders or self._live or self._agents or self._closed:
            raise ValidationError("snapshot", "restore needs a venue with no orders")
        if set(snapshot["markets"]) != {str(i) for i in self._markets}:
            raise ValidationError("snapshot", "the snapshot lists other instruments than this venue")
        closed = closed_keys(snapshot, _OPEN) if version == SNAPSHOT_VERSION else None
        for iid in list(self._markets):
            self._markets[iid] = market = self._new_market(self._markets[iid].terms.instrument)
            data = snapshot["markets"][str(iid)]
            engine = market.engine
            for row in data["orders"]:
                engine.restore_order(*row)
            engine.restore_state(**data["state"])
            for account, lots in data["positions"].items():
                engine.set_position(int(account), lots)
            engine.check_invariants()
            market.last_quote = tuple(data["last_quote"])  # type: ignore[assignment]
            terms = market.terms
            for ts_event, ts_init, price, size, side, trade_id in data["trades"]:
                market.trades.append(
                    TradeTick(
                        ts_event=ts_event,
                        ts_init=ts_init,
                        instrument_id=iid,
                        price=terms.instrument.parse_price(price),
                        size=terms.instrument.parse_quantity(size),
                        aggressor_side=Side(side),
                        trade_id=TradeId(trade_id),
                    )
                )
        self._next_vid = snapshot["next_venue_order_id"]
        self._next_index = snapshot["next_account_index"]
        self._accounts = {AccountId(a): i for a, i in snapshot["accounts"].items()}
        self._agents = dict(snapshot["agents"])
        self._ledger = Ledger()
        self._ledger.restore(snapshot["balances"])
        for data in snapshot["orders"]:
            record = _Order.from_dict(data)
            self._orders[(record.account, record.coid)] = record
            if record.status in _OPEN:
                if self._markets[record.iid].engine.order(record.vid) is None:
                    raise InvariantViolation(
                        f"order {record.coid} is open in the snapshot but not on the book"
                    )
                self._live[record.vid] = record
        self._closed.restore(closed, _OPEN)
        if self._kernel is not None:  # (new markets and account table)
            self._kernel = self._new_kernel()
        self._line.rearm()


def unlisted_order_state(o: Any, venue_order_id: VenueOrderId | None) -> SimOrderState:
    """The state of an order rejected because its instrument is not listed (no terms to convert with)."""
    zero = Quantity(0)
    return SimOrderState(
        account_id=o.account,
        client_order_id=o.coid,
        venue_order_id=venue_order_id,
        instrument_id=o.iid,
        side=Side(o.side),
        order_type=OrderType(o.otype),
        time_in_force=TimeInForce(o.tif),
        quantity=zero,
        price=None,
        trigger_price=None,
        expire_at_ns=o.expire or None,
        post_only=bool(o.flags & mx.POST_ONLY),
        reduce_only=bool(o.flags & mx.REDUCE_ONLY),
        status=o.status,
        filled_quantity=zero,
        leaves_quantity=zero,
        triggered=False,
        reason=o.reason,
        fills=(),
        ts_last=o.ts_last,
    )
