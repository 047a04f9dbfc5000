"""Adapters from the order manager's ports (``engine.oms.ports``) to the real components.

The OMS sits below the store and beside the risk engine in the layering, so it states what it needs
as Protocols; the composition root plugs the LMDB journal and the Cython risk gate in here.
"""

from __future__ import annotations

from engine.core.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.core.events import OrderEvent, OrderFilled, OrderUpdated, QuoteTick, TradeTick
from engine.oms.order import Order
from engine.risk import RiskEngine
from engine.risk.engine import RiskDecision
from engine.store.journal import DurableSequence, Journal

#: The awaitable ``JournalAdapter.append`` answers (defined beside the journal it waits on).
Durability = DurableSequence


class JournalAdapter:
    """``JournalPort`` over the LMDB journal: enqueue now; an awaitable that completes once durable."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        # The port's calls go straight to the journal (no adapter frame: three appends per order).
        self.append = journal.append_awaitable  # type: ignore[method-assign]
        self.commit_pending = journal.commit_pending  # type: ignore[method-assign]
        #: The journal's ``hold_commit`` / ``release_commit`` (see ``JournalPort``).
        self.hold_commit = journal.hold_commit
        self.release_commit = journal.release_commit

    def append(self, record: OrderEvent) -> Durability:  # (bound to the journal's in __init__)
        return self._journal.append_awaitable(record)

    def commit_pending(self) -> bool:  # (bound to the journal's in __init__)
        return self._journal.commit_pending()


class RiskAdapter:
    """``RiskPort`` over ``RiskEngine`` (the OMS hands over ``Order`` objects; the gate takes events)."""

    def __init__(self, risk: RiskEngine) -> None:
        self._risk = risk
        # The calls whose signature is the engine's own go straight to it (no adapter frame per
        # order or tick); the methods below stay as the documented ``RiskPort`` implementation.
        self.check_submit = risk.check_submit  # type: ignore[method-assign]
        self.on_trade = risk.on_trade_tick  # type: ignore[method-assign]
        self.on_quote = risk.on_quote_tick  # type: ignore[method-assign]
        self.on_fill = risk.on_fill  # type: ignore[method-assign]
        self.on_order_closed = risk.on_closed  # type: ignore[method-assign,assignment]
        self.on_order_opened = risk.on_order_opened  # type: ignore[method-assign,assignment]

    def check_submit(self, command: SubmitOrder, ts_ns: int) -> RiskDecision:  # (bound in __init__)
        return self._risk.check_submit(command, ts_ns)

    def check_amend(self, command: AmendOrder, ts_ns: int) -> RiskDecision:
        return self._risk.check_amend(command, ts_ns)

    def check_cancel(self, command: CancelOrder, ts_ns: int) -> RiskDecision:
        return self._risk.check_cancel(command)

    def on_order_opened(self, order: Order) -> None:  # (bound to the engine's in __init__)
        # The gate reads the order's terms (ids, side, type, prices, quantity) once, right here and
        # does not keep the object; ``Order`` carries them under the ``SubmitOrder`` names, so it is
        # handed over as is instead of re-building (and re-validating) a command per order (~3 us).
        self._risk.on_order_opened(order)  # type: ignore[arg-type]

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

    def on_trade(self, tick: TradeTick) -> None:  # (bound to the engine's in __init__)
        self._risk.on_trade_tick(tick)

    def on_quote(self, tick: QuoteTick) -> None:  # (bound to the engine's in __init__)
        self._risk.on_quote_tick(tick)
