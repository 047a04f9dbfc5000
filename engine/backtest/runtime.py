"""The ports the order manager needs, in simulated time: journal, venue, risk adapter, order router.

* ``MemoryJournal`` keeps every order event in a list (the run's order log) and is durable at once
  (``append`` returns None, ``commit_pending`` is always true), so the OMS sends an intent in the same
  call that made it.
* ``InstantVenue``: with zero latency, the paper venue's commands run through its synchronous core
  (``PaperVenue.apply``) from a queue the driver flushes, instead of a clock alert per command.
* ``BacktestRisk`` is the OMS's ``RiskPort`` over the real ``RiskEngine`` (the compiled gate), with
  one addition: the gate's reference price is fed lazily. Live, every trade and quote reaches the gate;
  in a backtest that would be a tick object per bar, so instead the driver names the current price
  and the adapter hands it to the gate right before a check, when it changed.
* ``SimOrderRouter`` is the strategy context's ``OrderRouter``: submits go through
  ``OrderManager.submit_nowait`` (synchronous); amends, cancels and brackets drive the OMS coroutines
  with a minimal trampoline (they normally complete without suspending). Anything that does suspend
  (``cancel_all`` gathers) resumes from the loop; the driver drains the loop before it moves the clock
  on (``pending``). Same outcome rules as the live ``OmsOrderRouter``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, cast

import structlog

from engine.core.clock import TestClock
from engine.core.commands import AmendOrder, CancelAllOrders, CancelOrder, Command, SubmitOrder
from engine.core.errors import AlgoTrendyError, DuplicateError, UnavailableError, ValidationError
from engine.core.events import Event, OrderEvent, OrderFilled, OrderUpdated, QuoteTick, TradeTick
from engine.core.ids import AccountId, ClientOrderId, InstrumentId
from engine.oms.manager import OrderManager
from engine.oms.order import Order
from engine.risk import RiskEngine
from engine.risk.engine import RiskDecision
from engine.venues.sim import PaperVenue, SimOrderState

__all__ = ["BacktestRisk", "InstantVenue", "MemoryJournal", "SimOrderRouter"]

_log = structlog.get_logger("engine.backtest")
#: What a venue accepts (a tuple built once: ``A | B`` in the check would build a union per call).
_VENUE_COMMANDS = (SubmitOrder, AmendOrder, CancelOrder, CancelAllOrders)


class MemoryJournal:
    """``JournalPort``: the run's order events in order; every append is durable at once, so it
    returns None (nothing to wait for, see ``JournalPort``) and ``append`` is the list's own (no
    Python frame per event: four per order)."""

    def __init__(self) -> None:
        self.records: list[OrderEvent] = []
        self.append = self.records.append  # type: ignore[method-assign]

    def append(self, record: OrderEvent) -> None:  # (bound to the list's in __init__)
        self.records.append(record)

    def commit_pending(self) -> bool:
        """Everything appended is durable already (the OMS sends in the same call)."""
        return True


class InstantVenue:
    """``VenuePort`` over a ``PaperVenue`` when both latencies are zero: ``send`` queues the command
    and ``flush`` runs the queue through ``PaperVenue.apply`` at the current time, handing the events
    to ``on_event`` in order — what the venue's own zero-latency delay line does, without a clock
    alert per command. Like ``send`` on the venue, nothing is ever delivered from inside ``send``."""

    def __init__(self, venue: PaperVenue, on_event: Callable[[Event], None], clock: TestClock) -> None:
        self._venue = venue
        self._on_event = on_event
        #: The venue's own clock (read as ``_now``: the time ``apply`` would ask it for, without a call).
        self._clock = clock
        self._queue: deque[Command] = deque()

    def set_event_handler(self, on_event: Callable[[Event], None]) -> None:
        """Where ``flush`` hands the venue's events (every one is an order event: ``PaperVenue.apply``
        returns nothing else)."""
        self._on_event = on_event

    @property
    def pending(self) -> int:
        return len(self._queue)

    def send(self, command: Command) -> None:
        if not self._venue._running:  # (``is_running``: a property call per order)
            raise UnavailableError("the backtest venue is not running")
        if not isinstance(command, _VENUE_COMMANDS):
            raise ValidationError("command", f"{type(command).__name__} is not a venue command")
        self._queue.append(command)

    def order(self, account_id: AccountId, client_order_id: ClientOrderId) -> SimOrderState | None:
        return self._venue.order(account_id, client_order_id)

    def flush(self) -> None:
        queue = self._queue
        apply = self._venue.apply
        on_event = self._on_event
        clock = self._clock
        while queue:
            for event in apply(queue.popleft(), clock._now):
                on_event(event)


class BacktestRisk:
    """``RiskPort`` over ``RiskEngine`` with the reference price fed just before each check."""

    def __init__(self, risk: RiskEngine) -> None:
        self._risk = risk
        self._gate = risk.gate
        self._ix: dict[InstrumentId, int] = {}
        #: instrument -> (ticks, ts) the driver says is the current price; fed when it changed.
        self._current: dict[InstrumentId, tuple[int, int]] = {}
        self._fed: dict[InstrumentId, tuple[int, int]] = {}
        #: Whether a price was named since the last feed (no scan of ``_current`` per check if not).
        self._stale = False
        # The hook whose signature is the engine's own goes straight to it (no adapter frame per
        # order); the method below stays as the documented ``RiskPort`` implementation.
        self.on_order_opened = risk.on_order_opened  # type: ignore[method-assign,assignment]
        self.on_fill = risk.on_fill  # type: ignore[method-assign]
        self.on_order_closed = risk.on_closed  # type: ignore[method-assign,assignment]

    @property
    def engine(self) -> RiskEngine:
        return self._risk

    def register(self, instrument_id: InstrumentId, index: int) -> None:
        self._ix[instrument_id] = index

    def set_price(self, instrument_id: InstrumentId, ticks: int, ts_ns: int) -> None:
        self._current[instrument_id] = (ticks, ts_ns)
        self._stale = True

    def _feed(self) -> None:
        """Hand the gate every price that changed since the last check (one per instrument)."""
        self._stale = False
        fed = self._fed
        for iid, current in self._current.items():
            if fed.get(iid) != current:
                ticks, ts = current
                ix = self._ix[iid]
                self._gate.on_quote(ix, ticks, ticks, ts)
                self._gate.on_trade(ix, ticks, ts)
                fed[iid] = current

    def check_submit(self, command: SubmitOrder, ts_ns: int) -> RiskDecision:
        if self._stale:
            self._feed()
        return self._risk.check_submit(command, ts_ns)

    def check_amend(self, command: AmendOrder, ts_ns: int) -> RiskDecision:
        if self._stale:
            self._feed()
        return self._risk.check_amend(command, ts_ns)

    def check_cancel(self, command: CancelOrder, ts_ns: int) -> RiskDecision:
        return self._risk.check_cancel(command)

    def on_order_opened(self, order: Order) -> None:  # (bound to the engine's in __init__)
        self._risk.on_order_opened(order)  # type: ignore[arg-type]  # an Order has the fields it reads

    def on_order_updated(self, order: Order) -> None:
        self._risk.on_order_updated(
            OrderUpdated(
                ts_event=0,
                ts_init=0,
                account_id=order.account_id,
                client_order_id=order.client_order_id,
                instrument_id=order.instrument_id,
                quantity=order.quantity,
                price=order.price,
                trigger_price=order.trigger_price,
            )
        )

    def on_order_closed(self, order: Order) -> None:  # (bound to the engine's ``on_closed`` in __init__)
        self._risk.on_closed(order)

    def on_fill(self, order: Order, fill: OrderFilled) -> None:  # (bound to the engine's in __init__)
        self._risk.on_fill(order, fill)

    def on_trade(self, tick: TradeTick) -> None:
        self._risk.on_trade_tick(tick)

    def on_quote(self, tick: QuoteTick) -> None:
        self._risk.on_quote_tick(tick)


class SimOrderRouter:
    """The strategy context's ``OrderRouter`` in simulated time (see the module docstring); the same
    outcome rules as the live ``engine.strategy.router.OmsOrderRouter``."""

    def __init__(self, oms: OrderManager, before_send: Callable[[], None]) -> None:
        self._oms = oms
        self._before_send = before_send
        #: Set by the strategy host: (client order id, error) when an order could not be created.
        self.on_intent_failed: Callable[[ClientOrderId, BaseException], None] | None = None
        #: Coroutines suspended on a future (resumed from the loop; the driver drains them).
        self.pending = 0
        #: Commands routed (orders, amends, cancels) and amend/cancel commands the OMS refused.
        self.commands = 0
        self.refused = 0

    def submit(self, command: SubmitOrder) -> None:
        # The journal is durable at once, so the OMS's synchronous submit sends in this same call.
        self.commands += 1
        self._before_send()
        try:
            self._oms.submit_nowait(command)
        except Exception as exc:
            self._failed(command, exc, True)

    def submit_bracket(self, entry: SubmitOrder, take_profit: SubmitOrder, stop_loss: SubmitOrder) -> None:
        self._run(self._oms.submit_bracket(entry, take_profit, stop_loss), entry, creates=True)

    def amend(self, command: AmendOrder) -> None:
        self._run(self._oms.amend(command), command, creates=False)

    def cancel(self, command: CancelOrder) -> None:
        self._run(self._oms.cancel(command), command, creates=False)

    def _run(self, coro: Coroutine[Any, Any, Any], command: Any, *, creates: bool) -> None:
        self.commands += 1
        self._before_send()
        self._step(coro, command, creates, resumed=False)

    def _step(self, coro: Coroutine[Any, Any, Any], command: Any, creates: bool, *, resumed: bool) -> None:
        if resumed:
            self.pending -= 1
        try:
            awaited = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:
            self._failed(command, exc, creates)
            return
        # Suspended on a future (``asyncio.gather``, ``shield``): resume when it resolves, as a Task
        # would (a Task clears ``_asyncio_future_blocking`` before it waits on the future).
        self.pending += 1
        future = cast("asyncio.Future[Any]", awaited)
        future._asyncio_future_blocking = False
        future.add_done_callback(lambda _f: self._step(coro, command, creates, resumed=True))

    def _failed(self, command: Any, exc: BaseException, creates: bool) -> None:
        coid = command.client_order_id
        if (
            creates
            and not isinstance(exc, DuplicateError)
            and self._oms.find(command.account_id, coid) is None
        ):
            if self.on_intent_failed is not None:
                self.on_intent_failed(coid, exc)
            return
        self.refused += 1
        level = "info" if isinstance(exc, AlgoTrendyError) else "error"
        getattr(_log, level)("strategy_command_refused", client_order_id=str(coid), error=repr(exc))
