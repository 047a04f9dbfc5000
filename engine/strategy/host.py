"""``StrategyHost``: runs several strategies on several instruments, guarded, on the loop thread.

It routes market data and order events to the strategies that asked for them and wraps every
callback in the safe wrapper of DESIGN.md: an exception is logged (with the strategy id) and counted;
at ``max_errors`` the strategy is quarantined — no more callbacks, its timers canceled, a cancel sent
for each of its open orders, a ``StrategyQuarantined`` event published — and everything else keeps
running. A strategy whose ``on_start`` raises is quarantined at once (its state is unknown).

Dispatch is table driven: per instrument a tuple of ``(slot, bound method)`` for exactly the
strategies that subscribed to it *and* override the callback, rebuilt on add/quarantine — no
``isinstance`` chain and no per-event allocation. Bars go through one ``BarView`` per instrument
and interval that is overwritten in place (a strategy picks its interval with ``bar_interval_ns``;
the bar service publishes every configured interval on the same topic):

* live: ``attach(bus)`` subscribes ``data.bars.<id>`` (``Bar`` events with exact prices),
  ``data.trades.<id>``, ``data.quotes.<id>``, ``data.books.<id>`` and ``events.order.<account>``;
* backtest: ``bar_pusher(instrument_id)`` returns ``push(ts_open, ts_event, o, h, l, c, v, n)``
  that fills the view from plain numbers (the cheapest path: no ``Bar`` object per bar); order
  events go to ``on_order_event`` exactly as live.

Both paths end in the same strategy code with the same floats (an exact ``Price`` ``raw / 10**p`` is
the float a decimal parser gives for the same text), so a strategy decides the same live and in a
backtest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import structlog

from engine.core.clock import Clock, TimeEvent
from engine.core.enums import Side
from engine.core.errors import ValidationError
from engine.core.events import Bar, OrderEvent, OrderFilled, QuoteTick, TradeTick
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.core.instruments import Instrument
from engine.ext.backtest.replay import BarPusher
from engine.strategy.api import BarView, OrderRouter, Strategy
from engine.strategy.context import BOOK_EVENT_TYPES, BalanceSource, Context
from engine.strategy.events import StrategyQuarantined
from engine.strategy.loader import load_strategy

__all__ = [
    "TOPIC_BARS",
    "TOPIC_BOOKS",
    "TOPIC_ORDER_EVENTS",
    "TOPIC_QUOTES",
    "TOPIC_STRATEGY_EVENTS",
    "TOPIC_TRADES",
    "StrategyHost",
    "StrategySlot",
]

_log = structlog.get_logger("engine.strategy")

# Bus topics (contract: engine/app/trading.py and the cross-helper contracts).
TOPIC_BARS = "data.bars"
TOPIC_TRADES = "data.trades"
TOPIC_QUOTES = "data.quotes"
TOPIC_BOOKS = "data.books"
TOPIC_ORDER_EVENTS = "events.order"
TOPIC_STRATEGY_EVENTS = "events.strategy"

_POW10 = tuple(10.0**i for i in range(40))
Publish = Callable[[str, Any], Any]


class StrategySlot:
    """One hosted strategy: the instance, its context and its error accounting."""

    __slots__ = (
        "active",
        "bar_interval_ns",
        "ctx",
        "errors",
        "instruments",
        "last_error",
        "strategy",
        "strategy_id",
        "wants_fills",
        "wants_order_events",
    )

    def __init__(self, strategy: Strategy, ctx: Context, bar_interval_ns: int = 0) -> None:
        self.strategy = strategy
        self.ctx = ctx
        self.strategy_id = ctx.strategy_id
        self.instruments = ctx.instruments
        #: The bar interval the strategy trades on (0: every interval published for its instruments).
        self.bar_interval_ns = bar_interval_ns
        #: Whether the strategy overrides these callbacks (no call for the base class's no-op).
        self.wants_order_events = _overrides(strategy, "on_order_event")
        self.wants_fills = _overrides(strategy, "on_fill")
        self.active = True
        self.errors = 0
        self.last_error = ""

    @property
    def quarantined(self) -> bool:
        return not self.active

    def __repr__(self) -> str:
        state = "active" if self.active else "quarantined"
        return f"StrategySlot({self.strategy_id} {type(self.strategy).__name__} {state} errors={self.errors})"


def _overrides(strategy: Strategy, name: str) -> bool:
    return getattr(type(strategy), name) is not getattr(Strategy, name)


class StrategyHost:
    """Hosts strategies of one account; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock,
        router: OrderRouter,
        portfolio: BalanceSource,
        instruments: Iterable[Instrument] | Mapping[InstrumentId, Instrument],
        account_id: AccountId,
        max_errors: int = 10,
        publish: Publish | None = None,
    ) -> None:
        if type(max_errors) is not int or max_errors < 1:
            raise ValidationError("max_errors", f"must be a positive int, got {max_errors!r}")
        known = instruments.values() if isinstance(instruments, Mapping) else instruments
        self._instruments: dict[InstrumentId, Instrument] = {i.id: i for i in known}
        self._clock = clock
        self._router = router
        self._portfolio = portfolio
        self.account_id = account_id
        self.max_errors = max_errors
        self._publish = publish
        self._slots: list[StrategySlot] = []
        self._by_id: dict[StrategyId, StrategySlot] = {}
        self._owners: dict[ClientOrderId, StrategySlot] = {}
        self._views: dict[tuple[InstrumentId, int], BarView] = {}
        #: (instrument, interval_ns) -> the on_bar handlers for it; filled lazily, cleared on changes.
        self._bar_table: dict[
            tuple[InstrumentId, int], tuple[tuple[StrategySlot, Callable[[BarView], None]], ...]
        ] = {}
        #: Every ``bar_pusher`` made: told to look its handlers up again after a change.
        self._pushers: list[BarPusher] = []
        self._trade_table: dict[InstrumentId, tuple[tuple[StrategySlot, Callable[[Any], None]], ...]] = {}
        self._quote_table: dict[InstrumentId, tuple[tuple[StrategySlot, Callable[[Any], None]], ...]] = {}
        self._book_table: dict[InstrumentId, tuple[tuple[StrategySlot, Callable[[Any], None]], ...]] = {}
        self._subscriptions: list[Any] = []
        self._bus: Any = None
        self.started = False
        #: Callback exceptions caught, all strategies together.
        self.error_count = 0
        #: Strategies quarantined so far.
        self.quarantine_count = 0
        #: Order events that belonged to no hosted strategy (other strategies, manual orders).
        self.foreign_events = 0
        #: Bar revisions (late-trade amendments) not delivered; see ``on_bar``.
        self.bar_revisions_skipped = 0
        if hasattr(router, "on_intent_failed"):
            router.on_intent_failed = self._intent_failed  # type: ignore[attr-defined]

    # == configuration =============================================================================
    def add(
        self,
        strategy: str | type[Strategy],
        *,
        instruments: Sequence[str | InstrumentId],
        params: Mapping[str, Any] | None = None,
        strategy_id: str | None = None,
        bar_interval_ns: int = 0,
    ) -> StrategySlot:
        """Load, validate and host one strategy (before ``start``). Its id defaults to its name and
        must be unique in the host; ``bar_interval_ns`` picks the bars it gets when several
        intervals are published (0: all). Bad input raises ``ValidationError`` and adds nothing."""
        if type(bar_interval_ns) is not int or bar_interval_ns < 0:
            raise ValidationError("bar_interval_ns", f"must be a non-negative int, got {bar_interval_ns!r}")
        if self.started:
            raise ValidationError("strategy", "add strategies before the host starts")
        cls = load_strategy(strategy)
        sid = StrategyId(strategy_id or cls.name or cls.__name__)
        if sid in self._by_id:
            raise ValidationError("strategy_id", f"{sid} is already hosted", reason="DUPLICATE_STRATEGY")
        iids = tuple(InstrumentId(str(i)) for i in instruments)
        if not iids:
            raise ValidationError("instruments", f"strategy {sid} needs at least one instrument")
        ctx = Context(
            strategy_id=sid,
            account_id=self.account_id,
            instruments=iids,
            known_instruments=self._instruments,
            clock=self._clock,
            router=self._router,
            portfolio=self._portfolio,
            on_new_order=self._register_order,
            on_timer=self._on_timer,
        )
        try:
            instance = cls(ctx, params)
        except ValidationError:
            raise
        except Exception as exc:  # a user __init__ that does not follow the interface
            raise ValidationError(
                "strategy",
                f"{cls.__name__} could not be created: {type(exc).__name__}: {exc}",
                reason="INVALID_STRATEGY",
            ) from exc
        slot = StrategySlot(instance, ctx, bar_interval_ns)
        self._slots.append(slot)
        self._by_id[sid] = slot
        self._rebuild()
        return slot

    def resume(self, orders: Iterable[Any]) -> None:
        """Live restart: continue each strategy's client order numbers after its journalled orders,
        rebuild its position from their fills and track the ones still open. ``orders`` are the
        OMS ``Order`` objects (any object with the same attributes). Call before ``start``."""
        for order in orders:
            slot = self._by_id.get(order.strategy_id)
            if slot is None or order.account_id != self.account_id:
                continue
            ctx = slot.ctx
            prefix, _, number = str(order.client_order_id).rpartition("-")
            if prefix == str(slot.strategy_id) and number.isdigit():
                ctx._next_number = max(ctx._next_number, int(number) + 1)
            position = ctx.position(order.instrument_id)
            filled = position.instrument.quantity_to_lots(order.filled_quantity)
            position.lots += filled if order.side is Side.BUY else -filled
            self._owners[order.client_order_id] = slot
            if order.is_open:
                ctx.track_restored(order)

    @property
    def slots(self) -> list[StrategySlot]:
        return list(self._slots)

    def slot(self, strategy_id: str) -> StrategySlot:
        try:
            return self._by_id[StrategyId(strategy_id)]
        except KeyError:
            raise ValidationError(
                "strategy_id",
                f"no strategy {strategy_id!r}; hosted: {', '.join(self._by_id) or 'none'}",
                reason="UNKNOWN_STRATEGY",
            ) from None

    def instrument_ids(self) -> list[InstrumentId]:
        """Every instrument some hosted strategy subscribed to, in first-subscription order."""
        out: dict[InstrumentId, None] = {}
        for slot in self._slots:
            for iid in slot.instruments:
                out[iid] = None
        return list(out)

    # == lifecycle =================================================================================
    def start(self) -> None:
        """``on_start`` of every strategy (a raising one is quarantined at once)."""
        self.started = True
        for slot in self._slots:
            if not slot.active:
                continue
            try:
                slot.strategy.on_start()
            except Exception as exc:
                self._record_error(slot, "on_start", exc)
                self.quarantine(slot, "on_start")

    def stop(self) -> None:
        """``on_stop`` of every active strategy, then detach from the bus."""
        for slot in self._slots:
            if slot.active:
                self._guarded(slot, "on_stop", slot.strategy.on_stop)
                slot.ctx.cancel_timers()
        self.detach()
        self.started = False

    def attach(self, bus: Any, *, order_events: bool = True) -> None:
        """Subscribe to the bus topics of every hosted instrument and the account's order events
        (and publish ``StrategyQuarantined`` on ``events.strategy``). ``order_events=False``: the
        caller hands the order events to ``on_order_event`` itself (the backtester, which applies
        every event of the run and calls the host directly instead of dispatching through a bus
        topic per event)."""
        self.detach()
        self._bus = bus
        if self._publish is None:
            self._publish = bus.publish_c
        subscribe = bus.subscribe
        for iid in self.instrument_ids():
            subs = self._subscriptions
            subs.append(subscribe(f"{TOPIC_BARS}.{iid}", self.on_bar))
            subs.append(subscribe(f"{TOPIC_TRADES}.{iid}", self.on_trade))
            subs.append(subscribe(f"{TOPIC_QUOTES}.{iid}", self.on_quote))
            subs.append(subscribe(f"{TOPIC_BOOKS}.{iid}", self.on_book))
        if order_events:
            self._subscriptions.append(
                subscribe(f"{TOPIC_ORDER_EVENTS}.{self.account_id}", self.on_order_event)
            )

    def detach(self) -> None:
        if self._bus is not None:
            for sub in self._subscriptions:
                self._bus.unsubscribe(sub)
        self._subscriptions.clear()
        self._bus = None

    # == dispatch ==================================================================================
    def bar_view(self, instrument_id: InstrumentId, interval_ns: int = 0) -> BarView:
        """The in-place view of ``instrument_id``'s bars of ``interval_ns``."""
        key = (instrument_id, interval_ns)
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = BarView(instrument_id, interval_ns)
        return view

    def _bar_handlers(
        self, key: tuple[InstrumentId, int]
    ) -> tuple[tuple[StrategySlot, Callable[[BarView], None]], ...]:
        handlers = self._bar_table.get(key)
        if handlers is None:
            iid, interval = key
            handlers = self._bar_table[key] = tuple(
                (slot, slot.strategy.on_bar)
                for slot in self._slots
                if slot.active
                and iid in slot.instruments
                and slot.bar_interval_ns in (0, interval)
                and _overrides(slot.strategy, "on_bar")
            )
        return handlers

    def on_bar(self, bar: Bar) -> None:
        """A closed ``Bar`` (exact prices) for the strategies subscribed to its instrument.

        A revision of a bar already delivered (``revision > 0``: a late trade amended it) is not
        delivered again: the strategies acted on the bar and fed their indicators with it, and
        feeding it twice would corrupt them; ``bar_revisions_skipped`` counts them."""
        if bar.revision:
            self.bar_revisions_skipped += 1
            return
        key = (bar.instrument_id, bar.interval_ns)
        handlers = self._bar_table.get(key)
        if handlers is None:
            handlers = self._bar_handlers(key)
        if not handlers:
            return
        view = self._views.get(key) or self.bar_view(*key)
        p = bar.close.precision
        scale = _POW10[p]
        view.ts_open = bar.ts_open
        view.ts_event = bar.ts_event
        view.open = bar.open.raw / (scale if bar.open.precision == p else _POW10[bar.open.precision])
        view.high = bar.high.raw / (scale if bar.high.precision == p else _POW10[bar.high.precision])
        view.low = bar.low.raw / (scale if bar.low.precision == p else _POW10[bar.low.precision])
        view.close = bar.close.raw / scale
        view.volume = bar.volume.raw / _POW10[bar.volume.precision]
        view.trade_count = bar.trade_count
        for slot, fn in handlers:
            try:
                fn(view)
            except Exception as exc:
                self._failed(slot, "on_bar", exc)

    def bar_pusher(self, instrument_id: InstrumentId, interval_ns: int = 0) -> BarPusher:
        """The backtest fast path for one instrument: ``push(ts_open, ts_event, open, high, low,
        close, volume, trade_count)`` fills the instrument's ``BarView`` and calls the subscribed
        strategies' ``on_bar`` (guarded), with no object allocated per bar. Compiled
        (``engine.ext.backtest.replay.BarPusher``): the view's fields are set through their slots
        in C and, with exactly one handler (one strategy on the instrument: the usual backtest),
        it is called without a loop; the handlers are looked up again after a subscription change."""
        key = (instrument_id, interval_ns)
        pusher = BarPusher(self.bar_view(instrument_id, interval_ns), key, self._bar_handlers, self._failed)
        self._pushers.append(pusher)
        return pusher

    def on_trade(self, tick: TradeTick) -> None:
        for slot, fn in self._trade_table.get(tick.instrument_id, ()):
            try:
                fn(tick)
            except Exception as exc:
                self._failed(slot, "on_trade", exc)

    def on_quote(self, tick: QuoteTick) -> None:
        for slot, fn in self._quote_table.get(tick.instrument_id, ()):
            try:
                fn(tick)
            except Exception as exc:
                self._failed(slot, "on_quote", exc)

    def on_book(self, book: Any) -> None:
        """``book`` is whatever ``data.books.<id>`` carries; it must have ``instrument_id``."""
        for slot, fn in self._book_table.get(book.instrument_id, ()):
            try:
                fn(book)
            except Exception as exc:
                self._failed(slot, "on_book", exc)

    def order_event_types(self) -> frozenset[type] | None:
        """The order event classes ``on_order_event`` acts on: None (every one) while a hosted
        strategy overrides ``on_order_event``, else the ones that change a strategy's book or reach
        ``on_fill`` (``BOOK_EVENT_TYPES``). A caller that applies every event of a run (the
        backtester) hands over only these: for the others the host would look the order up and do
        nothing. Stays valid when a strategy is quarantined (it only ever shrinks what is needed)."""
        if any(slot.wants_order_events for slot in self._slots):
            return None
        return BOOK_EVENT_TYPES

    def on_order_event(self, event: OrderEvent) -> None:
        """An applied order event: the owning strategy's book first, then its callbacks."""
        slot = self._owners.get(event.client_order_id)
        if slot is None or event.account_id != self.account_id:
            self.foreign_events += 1
            return
        if type(event) in BOOK_EVENT_TYPES:  # (submitted, accepted, pending ... change nothing)
            slot.ctx.apply(event)
        if not slot.active:
            return
        if slot.wants_order_events:
            try:
                slot.strategy.on_order_event(event)
            except Exception as exc:
                self._failed(slot, "on_order_event", exc)
        if slot.wants_fills and type(event) is OrderFilled and slot.active:
            try:
                slot.strategy.on_fill(event)
            except Exception as exc:
                self._failed(slot, "on_fill", exc)

    def _on_timer(self, ctx: Context, event: TimeEvent) -> None:
        slot = self._by_id.get(ctx.strategy_id)
        if slot is not None and slot.active:
            self._guarded(slot, "on_timer", slot.strategy.on_timer, event)

    # == the safe wrapper ==========================================================================
    def _guarded(self, slot: StrategySlot, name: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            self._failed(slot, name, exc)

    def _record_error(self, slot: StrategySlot, callback: str, exc: Exception) -> None:
        slot.errors += 1
        slot.last_error = f"{callback}: {type(exc).__name__}: {exc}"
        self.error_count += 1
        slot.ctx.log.error("strategy_callback_failed", callback=callback, errors=slot.errors, exc_info=exc)

    def _failed(self, slot: StrategySlot, callback: str, exc: Exception) -> None:
        self._record_error(slot, callback, exc)
        if slot.active and slot.errors >= self.max_errors:
            self.quarantine(slot, callback)

    def quarantine(self, slot: StrategySlot, callback: str = "") -> StrategyQuarantined:
        """Stop calling ``slot``'s strategy, cancel its timers and open orders, publish the event."""
        slot.active = False
        self.quarantine_count += 1
        self._rebuild()
        slot.ctx.cancel_timers()
        try:
            canceled = slot.ctx.cancel_all()
        except Exception:  # a cancel that cannot be sent must not take the host down
            _log.exception("strategy_quarantine_cancel_failed", strategy_id=str(slot.strategy_id))
            canceled = 0
        ts = self._clock.timestamp_ns()
        event = StrategyQuarantined(
            ts_event=ts,
            ts_init=ts,
            strategy_id=slot.strategy_id,
            errors=slot.errors,
            callback=callback,
            last_error=slot.last_error,
            canceled_orders=canceled,
        )
        slot.ctx.log.error(
            "strategy_quarantined", errors=slot.errors, callback=callback, canceled_orders=canceled
        )
        if self._publish is not None:
            self._publish(TOPIC_STRATEGY_EVENTS, event)
        return event

    # == internals =================================================================================
    def _register_order(self, client_order_id: ClientOrderId, ctx: Context) -> None:
        self._owners[client_order_id] = self._by_id[ctx.strategy_id]

    def _intent_failed(self, client_order_id: ClientOrderId, error: BaseException) -> None:
        slot = self._owners.pop(client_order_id, None)
        if slot is not None:
            slot.ctx.intent_failed(client_order_id, error)

    def _rebuild(self) -> None:
        tables: dict[str, dict[InstrumentId, list[tuple[StrategySlot, Callable[[Any], None]]]]] = {
            "on_trade": {},
            "on_quote": {},
            "on_book": {},
        }
        for slot in self._slots:
            if not slot.active:
                continue
            for name, table in tables.items():
                if not _overrides(slot.strategy, name):
                    continue
                fn = getattr(slot.strategy, name)
                for iid in slot.instruments:
                    table.setdefault(iid, []).append((slot, fn))
        self._bar_table.clear()  # rebuilt lazily per (instrument, interval)
        for pusher in self._pushers:
            pusher.reset()
        self._trade_table = {k: tuple(v) for k, v in tables["on_trade"].items()}
        self._quote_table = {k: tuple(v) for k, v in tables["on_quote"].items()}
        self._book_table = {k: tuple(v) for k, v in tables["on_book"].items()}
