"""``OmsOrderRouter``: strategy order intents into the order manager (risk gate, journal, venue).

A strategy callback is synchronous. A submit goes through ``OrderManager.submit_nowait`` in the
same call (checks, risk gate, journal; sent at once when the journal commits on the loop, else from
the OMS's background task once durable: an intent is durable before it leaves the process). Amends,
cancels and brackets are OMS coroutines: each becomes one task on the running loop, started in
creation order, so the OMS sees a strategy's intents in the order it made them.

A risk denial is not an error (the order comes back ``OrderDenied`` as an event); an error raised
before the OMS created the order (halted OMS, unknown instrument) goes to ``on_intent_failed``; an
error on an amend or cancel (the order finished meanwhile, a risk denial of the amend) is logged and
counted: the order's own events tell the strategy what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from engine.core.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.core.errors import AlgoTrendyError, DuplicateError
from engine.core.ids import ClientOrderId
from engine.oms.manager import OrderManager

__all__ = ["OmsOrderRouter"]

_log = structlog.get_logger("engine.strategy.router")

IntentFailed = Callable[[ClientOrderId, BaseException], None]
Command = SubmitOrder | AmendOrder | CancelOrder


class OmsOrderRouter:
    """``OrderRouter`` over an ``OrderManager`` on the running loop."""

    def __init__(self, oms: OrderManager, on_intent_failed: IntentFailed | None = None) -> None:
        self._oms = oms
        self.on_intent_failed: IntentFailed | None = on_intent_failed
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Amend/cancel commands the OMS refused (the order finished first, amend denied ...).
        self.refused = 0

    def submit(self, command: SubmitOrder) -> None:
        """Checks, risk gate and journal in this call (``OrderManager.submit_nowait``): the order's
        first events reach the strategy before this returns, and with a journal that commits on the
        loop the order has left for the venue too. Errors go where a task's would."""
        try:
            self._oms.submit_nowait(command)
        except Exception as exc:
            self._outcome(command, exc, creates=True)

    def submit_bracket(self, entry: SubmitOrder, take_profit: SubmitOrder, stop_loss: SubmitOrder) -> None:
        self._spawn(self._oms.submit_bracket(entry, take_profit, stop_loss), entry, creates=True)

    def amend(self, command: AmendOrder) -> None:
        self._spawn(self._oms.amend(command), command, creates=False)

    def cancel(self, command: CancelOrder) -> None:
        self._spawn(self._oms.cancel(command), command, creates=False)

    async def idle(self) -> None:
        """Wait until every intent handed over so far has been processed by the OMS (and the OMS's
        own background sends have finished)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._oms.idle()

    def _spawn(self, coro: Coroutine[Any, Any, Any], command: Command, *, creates: bool) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, command, creates))

    def _done(self, task: asyncio.Task[Any], command: Command, creates: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            exc: BaseException | None = asyncio.CancelledError()
        else:
            exc = task.exception()
        if exc is not None:
            self._outcome(command, exc, creates=creates)

    def _outcome(self, command: Command, exc: BaseException, *, creates: bool) -> None:
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
