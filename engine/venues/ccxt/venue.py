"""``CcxtVenue``: live order I/O with a crypto venue through ccxt (REST) and ccxt.pro (websockets).

It implements the OMS's ``VenuePort``: ``send`` never blocks (each command runs as a task on the
loop, commands of one order strictly in order) and reports come back through ``on_event`` as order
events; ``order(account, client_order_id)`` answers reconciliation from what the venue last told us.

How an order's state is learnt, one code path for every source:

* the answers to our own requests (create / edit / cancel return the venue's order),
* ``watch_orders`` and ``watch_my_trades`` over websockets where ccxt.pro supports them for the
  venue, REST polling (``fetch_order``) where it does not,
* lookups by client order id (``fetch_order`` with ``clientOrderId``, else the open and closed
  orders) after an unknown outcome, at start, after every reconnect and periodically.

Each of them is diffed against the order as we have reported it and only the difference becomes
events: ``OrderAccepted`` (first venue id), ``OrderUpdated`` (quantity/price/trigger changed),
``OrderFilled`` (one per venue trade id, from the trades — a fill whose trade we have not seen yet
is fetched with ``fetch_order_trades`` / ``fetch_my_trades`` after ``fill_grace_ms``), and a final
``OrderCanceled`` / ``OrderExpired`` / ``OrderRejected`` only once every fill before it is reported.

Errors are mapped once (``errors.py``): a rate-limit answer backs everything off (exponential, with
jitter, at least the venue's ``Retry-After``) and the refused request is sent again; an order write
whose outcome is unknown (timeout, dropped connection, a duplicate client order id) is **looked up by
client order id, never sent again** — found, it is applied; still unknown after
``order_lookup_timeout_ms``, the order is rejected as ``NOT_RECEIVED_BY_VENUE``.

Amends: venues either modify in place (the order keeps its id, the amount is the new total) or, like
Binance spot (``cancelReplace``), cancel and replace it: the new leg gets a new venue id and the
amount *remaining* (new total minus what has filled); the order keeps its client order id and the
venue id it was acknowledged with, the view's quantity is the fills of the earlier legs plus the
current leg. A fill that races the replace makes the effective total larger than requested; the view
reports what the venue did (an ``OrderUpdated``).

Exact numbers: see ``convert.py``. Credentials live only in the ccxt exchange object; every message
that reaches a log goes through ``errors.redact``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ccxt
import structlog

from engine.core.clock import Clock
from engine.core.commands import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
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
)
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, TradeId, VenueOrderId
from engine.core.instruments import Instrument
from engine.oms.ports import VenueCommand
from engine.venues.ccxt.convert import decimal_of, instrument_from_market, money_of
from engine.venues.ccxt.errors import Action, VenueError, classify, to_domain

__all__ = [
    "NOT_RECEIVED",
    "CcxtFill",
    "CcxtVenue",
    "CcxtVenueConfig",
    "VenueOrderSnapshot",
    "VenuePosition",
    "load_instruments",
]

_log = structlog.get_logger("engine.venues.ccxt")

EventHandler = Callable[[Event], None]
ResyncHandler = Callable[[], Awaitable[Any]]
#: The OMS's reason for an order the venue never got (``engine.oms.manager.NOT_RECEIVED``).
NOT_RECEIVED = "NOT_RECEIVED_BY_VENUE"
#: Venues whose ``fetch_order`` takes ``params={'clientOrderId': ...}``; others are scanned.
_FETCH_BY_CLIENT_ID = frozenset({"binance", "binanceusdm", "binancecoinm", "okx", "bybit"})
#: Venues whose ``edit_order`` is cancel-and-replace on spot markets (new id, remaining amount).
_REPLACE_ON_AMEND_SPOT = frozenset({"binance", "binanceus"})
_TERMINAL_TEXT = {
    "canceled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}
_MAX_ORPHAN_TRADES = 10_000


@dataclass(frozen=True, slots=True)
class CcxtVenueConfig:
    #: The one account the credentials trade; commands for another account are rejected.
    account_id: AccountId
    #: An order write with an unknown outcome is looked up by client order id this long before the
    #: order is declared never received.
    order_lookup_timeout_ms: int = 10_000
    lookup_interval_ms: int = 250
    #: Backoff after a rate-limit answer or a failed read/connection: base, doubled per repeat, capped.
    backoff_ms: int = 500
    max_backoff_ms: int = 30_000
    #: Sends of one command the venue refused with a rate limit before it is rejected.
    max_write_attempts: int = 5
    #: Attempts of one read through transient failures.
    read_attempts: int = 5
    #: Order and fill updates over ccxt.pro websockets (else, or where unsupported: REST polling).
    websockets: bool = True
    poll_interval_ms: int = 1_000
    #: A fill the order shows but whose trade has not arrived is fetched after this long.
    fill_grace_ms: int = 250
    #: Safety-net reconciliation of every open order, also while the websockets are healthy.
    resync_interval_ms: int = 60_000
    #: How long ``start`` waits for the first websocket connection before reconciling over REST.
    connect_timeout_ms: int = 10_000

    def __post_init__(self) -> None:
        for name in ("order_lookup_timeout_ms", "lookup_interval_ms", "backoff_ms", "max_backoff_ms"):
            if getattr(self, name) <= 0:
                raise ValidationError(name, "must be positive")
        if self.max_write_attempts < 1 or self.read_attempts < 1:
            raise ValidationError("attempts", "must be >= 1")


@dataclass(frozen=True, slots=True)
class CcxtFill:
    """One venue trade of one of our orders (``VenueFill``)."""

    trade_id: TradeId
    venue_order_id: str
    price: Price
    quantity: Quantity
    liquidity_side: LiquiditySide
    commission: Money
    ts_event: int


@dataclass(frozen=True, slots=True)
class VenueOrderSnapshot:
    """An order as the venue lists it (``fetch_open_orders``), ours or not."""

    instrument_id: InstrumentId
    venue_order_id: VenueOrderId
    client_order_id: str | None
    side: Side
    quantity: Quantity
    filled_quantity: Quantity
    price: Price | None
    status: str


@dataclass(frozen=True, slots=True)
class VenuePosition:
    instrument_id: InstrumentId
    side: Side | None
    quantity: Quantity
    entry_price: Price | None


class _Backoff:
    """Shared backoff window: after a rate-limit answer nothing is sent until it has passed."""

    def __init__(self, base_ms: int, max_ms: int) -> None:
        self._base_s = base_ms / 1000
        self._max_s = max_ms / 1000
        self._until = 0.0
        self.consecutive = 0
        #: Every delay applied, in seconds (metrics, tests).
        self.history: list[float] = []

    def hit(self, retry_after_s: float = 0.0) -> float:
        self.consecutive += 1
        delay = min(self._base_s * 2 ** (self.consecutive - 1), self._max_s)
        delay = max(delay + random.uniform(0, delay / 4), retry_after_s)
        loop = asyncio.get_running_loop()
        self._until = max(self._until, loop.time() + delay)
        self.history.append(delay)
        return delay

    def ok(self) -> None:
        self.consecutive = 0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        # The window can only grow while we sleep (another 429), so look again after each sleep.
        while (remaining := self._until - loop.time()) > 0:  # noqa: ASYNC110 - a deadline, not an event
            await asyncio.sleep(remaining)


class _Order:
    """One of our orders at the venue, as learnt so far; the ``VenueOrderView`` of reconciliation."""

    def __init__(
        self,
        *,
        account_id: AccountId,
        client_order_id: ClientOrderId,
        instrument: Instrument,
        symbol: str,
        side: Side,
        order_type: OrderType,
        quantity: Quantity,
        price: Price | None,
        trigger_price: Price | None,
        created_ms: int,
    ) -> None:
        self.account_id = account_id
        self.client_order_id = client_order_id
        self.instrument = instrument
        self.symbol = symbol
        self.side = side
        self.order_type = order_type
        self.created_ms = created_ms
        #: Venue ids of every leg, in order, with each leg's amount in lots (cancel-replace amends).
        self.legs: dict[str, int] = {}
        #: Lots each leg has filled according to the venue's order reports.
        self.leg_filled: dict[str, int] = {}
        self.current_vid: str | None = None
        self.acked_vid: str | None = None
        self.fills: dict[str, CcxtFill] = {}
        #: Trade ids the engine already knows (adopted orders): recorded, never reported again.
        self.known_trade_ids: set[str] = set()
        self.reported = (quantity, price, trigger_price)
        self._price = price
        self._trigger = trigger_price
        self._quantity = quantity
        self.final: OrderStatus | None = None
        self.final_reason: str | None = None
        self.pending_final: tuple[OrderStatus, str] | None = None
        self.amend_pending = False
        #: Lots of the leg last sent (submit, or a cancel-replace amend): a venue answer that only
        #: acknowledges (ids, no amount, e.g. OKX) starts its leg with this.
        self.sent_leg_lots = instrument.quantity_to_lots(quantity)
        self.deferred: list[dict[str, Any]] = []
        self.ts_last = 0
        self.lock = asyncio.Lock()
        self.catch_up: asyncio.Task[None] | None = None

    # -- VenueOrderView ---------------------------------------------------------------------------
    @property
    def status(self) -> OrderStatus:
        if self.final is not None:
            return self.final
        if self.current_vid is None:
            return OrderStatus.SUBMITTED
        filled = self.filled_lots
        if filled and filled >= self.quantity_lots:
            return OrderStatus.FILLED
        return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED

    @property
    def venue_order_id(self) -> VenueOrderId | None:
        return VenueOrderId(self.acked_vid) if self.acked_vid else None

    @property
    def quantity(self) -> Quantity:
        return self.instrument.lots_to_quantity(self.quantity_lots)

    @property
    def price(self) -> Price | None:
        return self._price

    @property
    def trigger_price(self) -> Price | None:
        return self._trigger

    @property
    def reason(self) -> str | None:
        return self.final_reason

    @property
    def fills_view(self) -> Sequence[CcxtFill]:
        return sorted(self.fills.values(), key=lambda f: (f.ts_event, f.trade_id))

    # -- lots -------------------------------------------------------------------------------------
    def _lots(self, fill: CcxtFill) -> int:
        return self.instrument.quantity_to_lots(fill.quantity)

    @property
    def filled_lots(self) -> int:
        return sum(self._lots(f) for f in self.fills.values())

    def leg_fills_lots(self, vid: str) -> int:
        return sum(self._lots(f) for f in self.fills.values() if f.venue_order_id == vid)

    @property
    def venue_filled_lots(self) -> int:
        """Lots filled according to the order reports (may run ahead of the trades we have)."""
        return sum(max(self.leg_filled.get(v, 0), self.leg_fills_lots(v)) for v in self.legs)

    @property
    def quantity_lots(self) -> int:
        if self.current_vid is None:
            return self.instrument.quantity_to_lots(self._quantity)
        earlier = sum(
            max(self.leg_filled.get(v, 0), self.leg_fills_lots(v)) for v in self.legs if v != self.current_vid
        )
        return earlier + self.legs[self.current_vid]

    @property
    def is_closed(self) -> bool:
        return self.final is not None

    @property
    def missing_fills(self) -> bool:
        return self.venue_filled_lots > self.filled_lots

    def view(self) -> _OrderView:
        return _OrderView(self)


class _OrderView:
    """The read-only ``VenueOrderView`` of an ``_Order`` (what ``CcxtVenue.order`` returns)."""

    __slots__ = ("_order",)

    def __init__(self, order: _Order) -> None:
        self._order = order

    status = property(lambda self: self._order.status)
    venue_order_id = property(lambda self: self._order.venue_order_id)
    quantity = property(lambda self: self._order.quantity)
    price = property(lambda self: self._order.price)
    trigger_price = property(lambda self: self._order.trigger_price)
    reason = property(lambda self: self._order.reason)
    fills = property(lambda self: self._order.fills_view)
    ts_last = property(lambda self: self._order.ts_last)
    client_order_id = property(lambda self: self._order.client_order_id)


async def load_instruments(
    exchange: Any, venue: str, symbols: Iterable[str], *, attempts: int = 5
) -> dict[str, Instrument]:
    """``load_markets`` (retrying transient failures) and our ``Instrument`` for each ccxt symbol;
    ``venue`` is the engine's venue name for the ids (``exchange.VENUE_NAMES``)."""
    for attempt in range(1, attempts + 1):
        try:
            await exchange.load_markets()
            break
        except Exception as exc:  # mapped once, below
            error = classify(exc)
            if error.action not in (Action.RETRY, Action.BACK_OFF) or attempt == attempts:
                raise to_domain(error) from None
            await asyncio.sleep(min(0.5 * 2**attempt, 10))
    out: dict[str, Instrument] = {}
    for symbol in symbols:
        market = exchange.markets.get(symbol)
        if market is None:
            raise ValidationError("symbols", f"{venue} has no market {symbol!r}", reason="UNKNOWN_INSTRUMENT")
        out[symbol] = instrument_from_market(venue, market, exchange.precisionMode)
    return out


def _ms_to_ns(value: Any) -> int:
    return int(value) * 1_000_000 if value is not None else 0


class CcxtVenue:
    def __init__(
        self,
        exchange: Any,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        config: CcxtVenueConfig,
        *,
        on_event: EventHandler | None = None,
        secrets: Iterable[str] = (),
        name: str | None = None,
    ) -> None:
        self._exchange = exchange
        self._clock = clock
        self._config = config
        self._on_event = on_event
        self._secrets = tuple(s for s in secrets if s)
        self.name = name or exchange.id
        self._by_symbol = dict(instruments)
        self._by_id = {i.id: (symbol, i) for symbol, i in instruments.items()}
        self._orders: dict[ClientOrderId, _Order] = {}
        self._by_vid: dict[str, _Order] = {}
        self._orphan_trades: dict[str, list[dict[str, Any]]] = {}
        self._backoff = _Backoff(config.backoff_ms, config.max_backoff_ms)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._running = False
        self._on_resynced: ResyncHandler | None = None
        self._synced: asyncio.Event | None = None
        self._resync_lock: asyncio.Lock | None = None
        has = getattr(exchange, "has", {}) or {}
        self._ws_orders = bool(config.websockets and has.get("watchOrders"))
        self._ws_trades = bool(config.websockets and has.get("watchMyTrades"))
        #: ``fetch_order_trades`` until the venue says it cannot (then ``fetch_my_trades``).
        self._order_trades = bool(has.get("fetchOrderTrades"))
        #: Counters for status, metrics and tests.
        self.reconnects = 0
        self.resyncs = 0
        self.lookups = 0
        self.unknown_reports = 0
        self.ws_connected = False

    # == lifecycle =================================================================================
    @property
    def instruments(self) -> list[Instrument]:
        return [i for _s, i in self._by_id.values()]

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def uses_websockets(self) -> bool:
        return self._ws_orders

    @property
    def backoff_history_s(self) -> list[float]:
        return list(self._backoff.history)

    def set_event_handler(self, on_event: EventHandler | None) -> None:
        self._on_event = on_event

    def set_resync_handler(self, handler: ResyncHandler | None) -> None:
        """Awaited after every reconnect's reconciliation (the app runs ``OrderManager.reconcile``)."""
        self._on_resynced = handler

    async def start(self, open_orders: Iterable[Any] = ()) -> None:
        """Adopt the orders the engine believes open (restored from the journal), start the update
        streams and reconcile once the first connection is up (over REST if it does not come)."""
        self._running = True
        self._synced = asyncio.Event()
        self._resync_lock = asyncio.Lock()
        for order in open_orders:
            self._adopt(order)
        if self._ws_orders:
            self._loops.append(asyncio.get_running_loop().create_task(self._watch("orders")))
            if self._ws_trades:
                self._loops.append(asyncio.get_running_loop().create_task(self._watch("trades")))
            try:
                await asyncio.wait_for(self._synced.wait(), self._config.connect_timeout_ms / 1000)
            except TimeoutError:
                _log.warning(
                    "venue.ws_not_connected", venue=self.name, timeout_ms=self._config.connect_timeout_ms
                )
                await self.resync(notify=False)
        else:
            await self.resync(notify=False)
            self._loops.append(asyncio.get_running_loop().create_task(self._poll()))
        if self._ws_orders:
            self._loops.append(asyncio.get_running_loop().create_task(self._safety_resync()))

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the streams, let commands in flight finish (bounded), close the connections."""
        self._running = False
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()
        if self._tasks:
            _done, pending = await asyncio.wait(list(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._exchange.close()

    async def idle(self) -> None:
        """Wait until every command and catch-up started so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # == VenuePort =================================================================================
    def send(self, command: VenueCommand) -> None:
        if not self._running:
            raise UnavailableError(f"venue {self.name} is not running")
        if isinstance(command, SubmitOrder):
            order = self._track(command)
            self._spawn(
                self._serially(order, self._submit(order, command)) if order else self._refuse(command)
            )
        elif isinstance(command, CancelOrder | AmendOrder):
            order = self._orders.get(command.client_order_id)
            if order is None or order.account_id != command.account_id:
                self._spawn(self._refuse(command))
            elif isinstance(command, CancelOrder):
                self._spawn(self._serially(order, self._cancel(order)))
            else:
                self._spawn(self._serially(order, self._amend(order, command)))
        elif isinstance(command, CancelAllOrders):
            for order in list(self._orders.values()):
                if (
                    order.account_id == command.account_id
                    and not order.is_closed
                    and command.instrument_id in (None, order.instrument.id)
                    and command.side in (None, order.side)
                ):
                    self._spawn(self._serially(order, self._cancel(order)))
        else:
            raise ValidationError("command", f"{type(command).__name__} is not a venue command")

    def order(self, account_id: AccountId, client_order_id: ClientOrderId) -> _OrderView | None:
        order = self._orders.get(client_order_id)
        if order is None or order.account_id != account_id:
            return None
        return order.view()

    # == reads =====================================================================================
    async def fetch_open_orders(self, instrument_id: InstrumentId | None = None) -> list[VenueOrderSnapshot]:
        """Every open order at the venue (ours or placed elsewhere) on our instruments."""
        symbols = [self._symbol(instrument_id)] if instrument_id else list(self._by_symbol)
        out: list[VenueOrderSnapshot] = []
        for symbol in symbols:
            for o in await self._read(self._exchange.fetch_open_orders, symbol):
                instrument = self._by_symbol[symbol]
                out.append(
                    VenueOrderSnapshot(
                        instrument_id=instrument.id,
                        venue_order_id=VenueOrderId(str(o["id"])),
                        client_order_id=o.get("clientOrderId"),
                        side=Side.BUY if o.get("side") == "buy" else Side.SELL,
                        quantity=self._quantity(instrument, o.get("amount") or 0),
                        filled_quantity=self._quantity(instrument, o.get("filled") or 0),
                        price=self._price(instrument, o["price"]) if o.get("price") else None,
                        status=str(o.get("status")),
                    )
                )
        return out

    async def fetch_balances(self) -> dict[str, Money]:
        """Total balance per asset (free + used), exactly as the venue reports it."""
        balance = await self._read(self._exchange.fetch_balance)
        totals = balance.get("total") or {}
        return {asset: money_of(amount, asset) for asset, amount in totals.items() if amount is not None}

    async def fetch_positions(self) -> list[VenuePosition]:
        """Open derivative positions on our instruments (spot holdings are balances)."""
        if not (self._exchange.has or {}).get("fetchPositions"):
            return []
        symbols = [s for s, i in self._by_symbol.items() if i.kind.name != "SPOT"]
        if not symbols:
            return []
        out: list[VenuePosition] = []
        for p in await self._read(self._exchange.fetch_positions, symbols):
            instrument = self._by_symbol.get(p.get("symbol"))
            if instrument is None or not p.get("contracts"):
                continue
            out.append(
                VenuePosition(
                    instrument_id=instrument.id,
                    side=Side.BUY if p.get("side") == "long" else Side.SELL,
                    quantity=self._quantity(instrument, p["contracts"]),
                    entry_price=self._price(instrument, p["entryPrice"]) if p.get("entryPrice") else None,
                )
            )
        return out

    async def fetch_my_trades(
        self, instrument_id: InstrumentId, since_ns: int | None = None
    ) -> list[CcxtFill]:
        """Our own trades on one instrument (optionally since a time)."""
        symbol = self._symbol(instrument_id)
        instrument = self._by_symbol[symbol]
        since = since_ns // 1_000_000 if since_ns else None
        trades = await self._read(self._exchange.fetch_my_trades, symbol, since)
        return [self._fill_of(instrument, t) for t in trades]

    # == reconciliation ============================================================================
    async def resync(self, *, notify: bool = True) -> list[ClientOrderId]:
        """Look up every order not known to be closed by client order id and report what changed;
        then (``notify``) await the resync handler. Returns the client order ids looked up."""
        assert self._resync_lock is not None
        async with self._resync_lock:
            looked: list[ClientOrderId] = []
            for order in [o for o in self._orders.values() if not o.is_closed and o.current_vid]:
                found = await self._lookup(order)
                looked.append(order.client_order_id)
                if found is None:
                    _log.error("venue.order_missing", venue=self.name, client_order_id=order.client_order_id)
                    continue
                self._apply_order(order, found, catch_up=False)
                await self._catch_up(order, grace=False)
            self.resyncs += 1
        if self._synced is not None:
            self._synced.set()
        if notify and self._on_resynced is not None:
            await self._on_resynced()
        return looked

    def _adopt(self, order: Any) -> None:
        """Track an order the engine restored as open (an OMS ``Order``), seeded with what the
        engine already knows so nothing is reported twice."""
        found = self._by_id.get(order.instrument_id)
        if found is None or order.account_id != self._config.account_id:
            return
        symbol, instrument = found
        tracked = _Order(
            account_id=order.account_id,
            client_order_id=order.client_order_id,
            instrument=instrument,
            symbol=symbol,
            side=order.side,
            order_type=order.order_type,
            quantity=order.quantity,
            price=order.price,
            trigger_price=order.trigger_price,
            created_ms=0,
        )
        tracked.known_trade_ids = {str(t) for t in order.trade_ids}
        if order.venue_order_id is not None:
            vid = str(order.venue_order_id)
            tracked.acked_vid = tracked.current_vid = vid
            tracked.legs[vid] = instrument.quantity_to_lots(order.quantity)
            self._by_vid[vid] = tracked
        else:
            # Never acknowledged: the submit's outcome is unknown; look it up like a timed-out write.
            self._spawn(self._serially(tracked, self._resolve_unknown(tracked, "RESTART")))
        self._orders[tracked.client_order_id] = tracked

    # == commands ==================================================================================
    def _track(self, command: SubmitOrder) -> _Order | None:
        found = self._by_id.get(command.instrument_id)
        if (
            found is None
            or command.account_id != self._config.account_id
            or command.client_order_id in self._orders
        ):
            return None
        symbol, instrument = found
        order = _Order(
            account_id=command.account_id,
            client_order_id=command.client_order_id,
            instrument=instrument,
            symbol=symbol,
            side=command.side,
            order_type=command.order_type,
            quantity=command.quantity,
            price=command.price,
            trigger_price=command.trigger_price,
            created_ms=self._clock.timestamp_ns() // 1_000_000,
        )
        self._orders[command.client_order_id] = order
        return order

    async def _refuse(self, command: VenueCommand) -> None:
        """A command this venue cannot take (unknown account, instrument or order, id reused)."""
        ts = self._clock.timestamp_ns()
        if isinstance(command, SubmitOrder):
            if command.client_order_id in self._orders:
                reason, detail = "DUPLICATE_CLIENT_ORDER_ID", "client order id already used at this venue"
            elif command.account_id != self._config.account_id:
                reason, detail = (
                    "UNKNOWN_ACCOUNT",
                    f"{self.name} trades account {self._config.account_id} only",
                )
            else:
                reason, detail = "UNKNOWN_INSTRUMENT", f"{command.instrument_id} is not loaded at {self.name}"
            self._emit(
                OrderRejected(
                    ts_event=ts,
                    ts_init=ts,
                    account_id=command.account_id,
                    client_order_id=command.client_order_id,
                    instrument_id=command.instrument_id,
                    reason=reason,
                    detail=detail,
                )
            )
        else:
            self.unknown_reports += 1
            _log.warning("venue.command_for_unknown_order", venue=self.name, command=type(command).__name__)

    async def _serially(self, order: _Order, work: Awaitable[None]) -> None:
        async with order.lock:
            await work

    async def _submit(self, order: _Order, command: SubmitOrder) -> None:
        if command.time_in_force is TimeInForce.GTD:
            self._reject(order, "UNSUPPORTED_TIME_IN_FORCE", f"{self.name}: GTD orders are not supported")
            return
        otype = "market" if command.order_type in (OrderType.MARKET, OrderType.STOP_MARKET) else "limit"
        params: dict[str, Any] = {"clientOrderId": str(command.client_order_id)}
        if command.order_type is not OrderType.MARKET:
            params["timeInForce"] = command.time_in_force.name
        if command.trigger_price is not None:
            params["triggerPrice"] = str(command.trigger_price)
        if command.post_only:
            params["postOnly"] = True
        if command.reduce_only:
            params["reduceOnly"] = True
        side = "buy" if command.side is Side.BUY else "sell"
        price = str(command.price) if command.price is not None else None
        for attempt in range(1, self._config.max_write_attempts + 1):
            await self._backoff.wait()
            try:
                answer = await self._exchange.create_order(
                    order.symbol, otype, side, str(command.quantity), price, params
                )
            except Exception as exc:  # mapped once: errors.classify
                error = self._classify(exc)
                _log.warning(
                    "venue.create_failed",
                    venue=self.name,
                    client_order_id=order.client_order_id,
                    reason=error.reason,
                    detail=error.detail,
                    attempt=attempt,
                )
                if error.action is Action.BACK_OFF and attempt < self._config.max_write_attempts:
                    self._back_off()
                    continue
                if error.action in (Action.REJECT, Action.FAIL, Action.BACK_OFF):
                    self._reject(order, error.reason, error.detail)
                    return
                # Outcome unknown (timeout, connection, duplicate id): find it, never resend.
                await self._resolve_unknown(order, error.reason)
                return
            self._backoff.ok()
            self._apply_order(order, answer)
            return

    async def _resolve_unknown(self, order: _Order, why: str) -> None:
        """Look the order up by client order id until found or ``order_lookup_timeout_ms`` passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.order_lookup_timeout_ms / 1000
        while True:
            try:
                found = await self._lookup(order)
            except Exception as exc:
                _log.warning(
                    "venue.lookup_failed",
                    venue=self.name,
                    client_order_id=order.client_order_id,
                    error=str(exc),
                )
                found = None
            if found is not None:
                _log.info(
                    "venue.order_found_by_client_id",
                    venue=self.name,
                    client_order_id=order.client_order_id,
                    after=why,
                )
                self._apply_order(order, found, catch_up=False)
                await self._catch_up(order, grace=False)
                return
            if loop.time() >= deadline:
                self._reject(
                    order,
                    NOT_RECEIVED,
                    f"{why}: no order with this client order id after {self._config.order_lookup_timeout_ms} ms",
                )
                return
            await asyncio.sleep(self._config.lookup_interval_ms / 1000)

    async def _cancel(self, order: _Order) -> None:
        if order.is_closed or order.current_vid is None:
            return  # the engine has (or will get) the final report; nothing to cancel
        params = {"clientOrderId": str(order.client_order_id)}
        for attempt in range(1, self._config.max_write_attempts + 1):
            await self._backoff.wait()
            try:
                answer = await self._exchange.cancel_order(order.current_vid, order.symbol, params)
            except Exception as exc:
                error = self._classify(exc)
                _log.warning(
                    "venue.cancel_failed",
                    venue=self.name,
                    client_order_id=order.client_order_id,
                    reason=error.reason,
                    detail=error.detail,
                )
                if error.action is Action.BACK_OFF and attempt < self._config.max_write_attempts:
                    self._back_off()
                    continue
                if error.action is Action.FAIL:
                    self._emit_simple(order, OrderCancelRejected, error.reason, error.detail)
                    return
                # Not found, timed out, rejected: learn the order's real state, then answer.
                await self._refresh(order)
                if not order.is_closed and order.pending_final is None:
                    self._emit_simple(order, OrderCancelRejected, error.reason, error.detail)
                return
            self._backoff.ok()
            self._apply_order(order, answer)
            return

    async def _amend(self, order: _Order, command: AmendOrder) -> None:
        if order.is_closed or order.current_vid is None:
            return
        instrument = order.instrument
        quantity = command.quantity if command.quantity is not None else order.quantity
        price = command.price if command.price is not None else order.price
        trigger = command.trigger_price if command.trigger_price is not None else order.trigger_price
        before = (order.quantity, order.price, order.trigger_price)
        market = self._exchange.markets.get(order.symbol, {})
        replace = bool(market.get("spot")) and self._exchange.id in _REPLACE_ON_AMEND_SPOT
        lots = instrument.quantity_to_lots(quantity)
        if replace:
            lots -= order.filled_lots
        if lots <= 0:
            self._emit_simple(
                order, OrderModifyRejected, "AMEND_QUANTITY_BELOW_FILLED", "nothing would remain"
            )
            return
        otype = "market" if order.order_type in (OrderType.MARKET, OrderType.STOP_MARKET) else "limit"
        params: dict[str, Any] = {"clientOrderId": str(order.client_order_id)}
        if trigger is not None:
            params["triggerPrice"] = str(trigger)
        side = "buy" if order.side is Side.BUY else "sell"
        amount = str(instrument.lots_to_quantity(lots))
        order.sent_leg_lots = lots
        order.amend_pending = True
        try:
            for attempt in range(1, self._config.max_write_attempts + 1):
                await self._backoff.wait()
                try:
                    answer = await self._exchange.edit_order(
                        order.current_vid,
                        order.symbol,
                        otype,
                        side,
                        amount,
                        str(price) if price is not None else None,
                        params,
                    )
                except Exception as exc:
                    error = self._classify(exc)
                    _log.warning(
                        "venue.amend_failed",
                        venue=self.name,
                        client_order_id=order.client_order_id,
                        reason=error.reason,
                        detail=error.detail,
                    )
                    if error.action is Action.BACK_OFF and attempt < self._config.max_write_attempts:
                        self._back_off()
                        continue
                    if error.action in (Action.RETRY, Action.RECONCILE):
                        await self._refresh(order)
                    if not order.is_closed and (order.quantity, order.price, order.trigger_price) == before:
                        self._emit_simple(order, OrderModifyRejected, error.reason, error.detail)
                    return
                self._backoff.ok()
                self._apply_order(order, answer, amended=True)
                return
        finally:
            order.amend_pending = False
            deferred, order.deferred = order.deferred, []
            for report in deferred:
                self._apply_order(order, report)

    async def _refresh(self, order: _Order) -> None:
        try:
            found = await self._lookup(order)
        except Exception as exc:
            _log.warning(
                "venue.lookup_failed", venue=self.name, client_order_id=order.client_order_id, error=str(exc)
            )
            return
        if found is not None:
            self._apply_order(order, found, catch_up=False)
            await self._catch_up(order, grace=False)

    # == applying what the venue says ==============================================================
    def _apply_order(
        self, order: _Order, report: dict[str, Any], *, catch_up: bool = True, amended: bool = False
    ) -> None:
        """Diff one ccxt order structure of ``order`` against what was reported; emit the changes."""
        if order.is_closed:
            return
        raw_id = report.get("id")
        vid = str(raw_id) if raw_id not in (None, "") else None
        status = report.get("status")
        if vid is None:
            return
        instrument = order.instrument
        if vid not in order.legs:
            if order.current_vid is not None and not (order.amend_pending or amended):
                self.unknown_reports += 1
                _log.warning(
                    "venue.unexpected_order_id", venue=self.name, client_order_id=order.client_order_id
                )
                return
            if status == "rejected" and order.current_vid is None:
                self._reject(order, self._reject_reason(report), "the venue rejected the order")
                return
            amount = report.get("amount")
            order.legs[vid] = (
                instrument.quantity_to_lots(self._quantity(instrument, amount))
                if amount is not None
                else order.sent_leg_lots
            )
            order.current_vid = vid
            self._by_vid[vid] = order
            if order.acked_vid is None:
                order.acked_vid = vid
                ts = _ms_to_ns(report.get("timestamp")) or self._clock.timestamp_ns()
                order.ts_last = ts
                self._emit(
                    OrderAccepted(
                        ts_event=ts,
                        ts_init=self._clock.timestamp_ns(),
                        **self._ids(order),
                        venue_order_id=VenueOrderId(vid),
                    )
                )
            for trade in self._orphan_trades.pop(vid, []):
                self._apply_trade(order, trade)
        filled = report.get("filled")
        if filled is not None:
            lots = instrument.quantity_to_lots(self._quantity(instrument, filled))
            order.leg_filled[vid] = max(order.leg_filled.get(vid, 0), lots)
        for trade in report.get("trades") or []:
            if trade.get("id") is not None:
                self._apply_trade(order, trade)
        if vid != order.current_vid:
            return  # an earlier leg of a cancel-replace: only its fills matter
        if status in ("canceled", "expired") and order.amend_pending and not amended:
            order.deferred.append(report)  # the cancel half of a cancel-replace, or a real cancel
            return
        ts = (
            _ms_to_ns(report.get("lastUpdateTimestamp") or report.get("timestamp"))
            or self._clock.timestamp_ns()
        )
        order.ts_last = max(order.ts_last, ts)
        amount = report.get("amount")
        if amount is not None:
            order.legs[vid] = instrument.quantity_to_lots(self._quantity(instrument, amount))
        if order.order_type.has_price and report.get("price"):
            order._price = self._price(instrument, report["price"])
        trigger = report.get("triggerPrice") or report.get("stopPrice")
        if order.order_type.has_trigger and trigger:
            order._trigger = self._price(instrument, trigger)
        now_terms = (order.quantity, order.price, order.trigger_price)
        if now_terms != order.reported and status not in _TERMINAL_TEXT:
            order.reported = now_terms
            self._emit(
                OrderUpdated(
                    ts_event=order.ts_last,
                    ts_init=self._clock.timestamp_ns(),
                    **self._ids(order),
                    quantity=now_terms[0],
                    price=now_terms[1],
                    trigger_price=now_terms[2],
                )
            )
        if status in _TERMINAL_TEXT and order.pending_final is None:
            final = _TERMINAL_TEXT[status]
            reason = self._reject_reason(report) if final is OrderStatus.REJECTED else ""
            order.pending_final = (final, reason)
        self._settle(order, catch_up)

    def _settle(self, order: _Order, catch_up: bool) -> None:
        """Report the final state once every fill before it is reported; fetch missing fills."""
        if order.missing_fills:
            if catch_up and (order.catch_up is None or order.catch_up.done()):
                order.catch_up = self._spawn(self._catch_up(order, grace=True))
            return
        if order.pending_final is not None and not order.is_closed:
            final, reason = order.pending_final
            order.final = final
            order.final_reason = reason or None
            ts, now = order.ts_last or self._clock.timestamp_ns(), self._clock.timestamp_ns()
            if final is OrderStatus.CANCELED:
                self._emit(OrderCanceled(ts_event=ts, ts_init=now, **self._ids(order), reason=reason))
            elif final is OrderStatus.EXPIRED:
                self._emit(OrderExpired(ts_event=ts, ts_init=now, **self._ids(order)))
            else:
                self._emit(
                    OrderRejected(ts_event=ts, ts_init=now, **self._ids(order), reason=reason, detail="venue")
                )
        elif order.filled_lots and order.filled_lots >= order.quantity_lots:
            order.final = OrderStatus.FILLED

    async def _catch_up(self, order: _Order, *, grace: bool) -> None:
        """Fetch the trades of an order whose reports show more filled than the trades we have."""
        if grace:
            await asyncio.sleep(self._config.fill_grace_ms / 1000)
        if not order.missing_fills:
            self._settle(order, catch_up=False)
            return
        try:
            trades: list[dict[str, Any]] = []
            if self._order_trades:
                try:
                    for vid in list(order.legs):
                        trades += await self._read(self._exchange.fetch_order_trades, vid, order.symbol)
                except ccxt.NotSupported:  # e.g. binanceusdm: "supports spot markets only"
                    self._order_trades = False
                    trades = []
            if not self._order_trades:
                since = order.created_ms - 60_000 if order.created_ms else None
                trades = await self._read(self._exchange.fetch_my_trades, order.symbol, since)
        except Exception as exc:
            _log.warning(
                "venue.fill_catch_up_failed",
                venue=self.name,
                client_order_id=order.client_order_id,
                error=str(exc),
            )
            return
        for trade in trades:
            if str(trade.get("order")) in order.legs:
                self._apply_trade(order, trade)
        self._settle(order, catch_up=False)

    def _on_trade_report(self, trade: dict[str, Any]) -> None:
        vid = str(trade.get("order"))
        order = self._by_vid.get(vid)
        if order is None:
            # Our create's answer may still be on its way: keep it until the id is known.
            pending = self._orphan_trades.setdefault(vid, [])
            if sum(len(v) for v in self._orphan_trades.values()) < _MAX_ORPHAN_TRADES:
                pending.append(trade)
            return
        self._apply_trade(order, trade)
        self._settle(order, catch_up=False)

    def _on_order_report(self, report: dict[str, Any]) -> None:
        vid = str(report.get("id"))
        order = self._by_vid.get(vid)
        if order is None:
            coid = report.get("clientOrderId")
            order = self._orders.get(coid) if coid else None
        if order is None:
            self.unknown_reports += 1
            return
        self._apply_order(order, report)

    def _apply_trade(self, order: _Order, trade: dict[str, Any]) -> None:
        tid = str(trade["id"])
        if tid in order.fills:
            return
        fill = self._fill_of(order.instrument, trade)
        order.fills[tid] = fill
        vid = fill.venue_order_id
        if order.acked_vid is None:
            order.acked_vid = order.current_vid = vid
            order.legs.setdefault(vid, order.instrument.quantity_to_lots(order._quantity))
            self._by_vid[vid] = order
            self._emit(
                OrderAccepted(
                    ts_event=fill.ts_event,
                    ts_init=self._clock.timestamp_ns(),
                    **self._ids(order),
                    venue_order_id=VenueOrderId(vid),
                )
            )
        order.ts_last = max(order.ts_last, fill.ts_event)
        if tid in order.known_trade_ids:
            return
        self._emit(
            OrderFilled(
                ts_event=fill.ts_event,
                ts_init=self._clock.timestamp_ns(),
                **self._ids(order),
                venue_order_id=VenueOrderId(order.acked_vid or vid),
                trade_id=fill.trade_id,
                side=order.side,
                last_price=fill.price,
                last_quantity=fill.quantity,
                liquidity_side=fill.liquidity_side,
                commission=fill.commission,
            )
        )

    # == streams ===================================================================================
    async def _watch(self, kind: str) -> None:
        """One ccxt.pro stream (``orders`` or ``trades``) for as long as the venue runs.

        Every (re)connection of the orders stream is followed by a reconciliation over REST once the
        socket is up, so whatever happened while disconnected is found (then the resync handler).
        """
        method = self._exchange.watch_orders if kind == "orders" else self._exchange.watch_my_trades
        handle = self._on_order_report if kind == "orders" else self._on_trade_report
        failures = 0
        connecting, first = True, True
        while self._running:
            try:
                if connecting:
                    pending = asyncio.ensure_future(method())
                    await self._wait_connected(pending)
                    if kind == "orders":
                        self.ws_connected = True
                        if not first:
                            self.reconnects += 1
                            _log.info("venue.ws_reconnected", venue=self.name, reconnects=self.reconnects)
                        await self.resync(notify=not first)
                    connecting, first = False, False
                    items = await pending
                else:
                    items = await method()
                failures = 0
                for item in items:
                    handle(item)
            except asyncio.CancelledError:
                raise
            except ccxt.NotSupported:
                _log.warning("venue.ws_not_supported", venue=self.name, stream=kind)
                if kind == "orders":
                    self._ws_orders = False
                    self._loops.append(asyncio.get_running_loop().create_task(self._poll()))
                    if self._synced is not None and not self._synced.is_set():
                        await self.resync(notify=False)
                return
            except Exception as exc:
                error = self._classify(exc)
                failures += 1
                connecting = True
                if kind == "orders":
                    self.ws_connected = False
                delay = min(
                    self._config.backoff_ms / 1000 * 2 ** (failures - 1), self._config.max_backoff_ms / 1000
                )
                delay += random.uniform(0, delay / 4)
                _log.warning(
                    "venue.ws_disconnected",
                    venue=self.name,
                    stream=kind,
                    reason=error.reason,
                    detail=error.detail,
                    retry_in_s=round(delay, 3),
                )
                await asyncio.sleep(delay)

    async def _wait_connected(self, pending: asyncio.Future[Any]) -> None:
        """Until a websocket of the exchange is open (or the watch call finished/failed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.connect_timeout_ms / 1000
        while not pending.done() and loop.time() < deadline:
            for client in list((getattr(self._exchange, "clients", None) or {}).values()):
                connected = getattr(client, "connected", None)
                if (
                    connected is not None
                    and connected.done()
                    and not connected.cancelled()
                    and connected.exception() is None
                ):
                    await asyncio.sleep(0)
                    return
            await asyncio.sleep(0.01)
        if pending.done():
            pending.result()  # re-raise a failed connection attempt

    async def _poll(self) -> None:
        """REST polling of every open order (venues or configs without websocket order updates)."""
        while self._running:
            await asyncio.sleep(self._config.poll_interval_ms / 1000)
            try:
                await self.resync(notify=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("venue.poll_failed", venue=self.name, error=self._classify(exc).detail)

    async def _safety_resync(self) -> None:
        while self._running:
            await asyncio.sleep(self._config.resync_interval_ms / 1000)
            try:
                await self.resync(notify=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("venue.resync_failed", venue=self.name, error=self._classify(exc).detail)

    # == helpers ===================================================================================
    async def _lookup(self, order: _Order) -> dict[str, Any] | None:
        """The venue's current order with our client order id (current leg), or None if it has none."""
        self.lookups += 1
        exchange = self._exchange
        coid = str(order.client_order_id)
        if exchange.id in _FETCH_BY_CLIENT_ID:
            try:
                return await self._read(
                    exchange.fetch_order, order.current_vid, order.symbol, {"clientOrderId": coid}
                )
            except ccxt.OrderNotFound:
                return None
        if order.current_vid is not None and (exchange.has or {}).get("fetchOrder"):
            try:
                return await self._read(exchange.fetch_order, order.current_vid, order.symbol)
            except ccxt.OrderNotFound:
                return None
        candidates = list(await self._read(exchange.fetch_open_orders, order.symbol))
        if (exchange.has or {}).get("fetchClosedOrders"):
            since = order.created_ms - 60_000 if order.created_ms else None
            candidates += await self._read(exchange.fetch_closed_orders, order.symbol, since)
        matches = [o for o in candidates if o.get("clientOrderId") == coid]
        return matches[-1] if matches else None

    async def _read(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """A read through transient failures (retried with backoff) and rate limits (backed off).
        Refusals re-raise the ccxt error for the caller (``OrderNotFound`` is an answer)."""
        for attempt in range(1, self._config.read_attempts + 1):
            await self._backoff.wait()
            try:
                result = await fn(*args)
            except Exception as exc:
                error = self._classify(exc)
                if error.action is Action.BACK_OFF:
                    self._back_off()
                elif error.action is not Action.RETRY:
                    raise
                if attempt == self._config.read_attempts:
                    raise to_domain(error) from None
                if error.action is Action.RETRY:
                    await asyncio.sleep(
                        min(
                            self._config.backoff_ms / 1000 * 2 ** (attempt - 1),
                            self._config.max_backoff_ms / 1000,
                        )
                    )
                continue
            self._backoff.ok()
            return result
        raise AssertionError("unreachable")

    def _back_off(self) -> None:
        retry_after = 0.0
        headers = getattr(self._exchange, "last_response_headers", None) or {}
        value = headers.get("Retry-After") or headers.get("retry-after")
        if value:
            try:
                retry_after = float(value)
            except ValueError:
                retry_after = 0.0
        delay = self._backoff.hit(retry_after)
        _log.warning("venue.rate_limited", venue=self.name, backoff_s=round(delay, 3))

    def _classify(self, exc: BaseException) -> VenueError:
        return classify(exc, self._secrets)

    def _fill_of(self, instrument: Instrument, trade: dict[str, Any]) -> CcxtFill:
        fee = trade.get("fee") or {}
        cost, currency = fee.get("cost"), fee.get("currency")
        commission = money_of(cost, currency) if cost is not None and currency else Money(0, instrument.quote)
        return CcxtFill(
            trade_id=TradeId(str(trade["id"])),
            venue_order_id=str(trade.get("order")),
            price=self._price(instrument, trade["price"]),
            quantity=self._quantity(instrument, trade["amount"]),
            liquidity_side=LiquiditySide.MAKER
            if trade.get("takerOrMaker") == "maker"
            else LiquiditySide.TAKER,
            commission=commission,
            ts_event=_ms_to_ns(trade.get("timestamp")) or self._clock.timestamp_ns(),
        )

    @staticmethod
    def _price(instrument: Instrument, value: Any) -> Price:
        return instrument.parse_price(format(decimal_of(value, "price"), "f"))

    @staticmethod
    def _quantity(instrument: Instrument, value: Any) -> Quantity:
        return instrument.parse_quantity(format(decimal_of(value, "quantity"), "f"))

    def _symbol(self, instrument_id: InstrumentId) -> str:
        found = self._by_id.get(instrument_id)
        if found is None:
            raise ValidationError("instrument_id", f"{instrument_id} is not loaded at {self.name}")
        return found[0]

    @staticmethod
    def _reject_reason(report: dict[str, Any]) -> str:
        info = report.get("info") or {}
        code = info.get("r") or info.get("rejectReason")
        return f"VENUE_{code}" if code and code != "NONE" else "VENUE_REJECTED"

    @staticmethod
    def _ids(order: _Order) -> dict[str, Any]:
        return {
            "account_id": order.account_id,
            "client_order_id": order.client_order_id,
            "instrument_id": order.instrument.id,
        }

    def _reject(self, order: _Order, reason: str, detail: str) -> None:
        if order.is_closed:
            return
        order.final = OrderStatus.REJECTED
        order.final_reason = reason
        ts = self._clock.timestamp_ns()
        self._emit(OrderRejected(ts_event=ts, ts_init=ts, **self._ids(order), reason=reason, detail=detail))

    def _emit_simple(self, order: _Order, kind: type[Any], reason: str, detail: str) -> None:
        ts = self._clock.timestamp_ns()
        self._emit(kind(ts_event=ts, ts_init=ts, **self._ids(order), reason=reason, detail=detail))

    def _emit(self, event: Event) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            _log.exception("venue.event_handler_failed", venue=self.name, event=type(event).__name__)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("venue.task_failed", venue=self.name, error=repr(task.exception()))
