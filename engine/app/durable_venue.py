"""The simulated venue as a separate party that survives ``kill -9``.

A real venue keeps its own books whatever happens to us; recovery is only meaningful if ours does
too. So the venue's complete state (books, our orders and fills, balances, counters) is written to
LMDB through the store's writer thread **before** any order report it produced reaches the order
manager: whatever the OMS was told, the venue remembers, and after a crash the OMS reconciles
against it by client order id (``VenuePort.order``). Market data that carries no order report is
forwarded without waiting, but never ahead of an earlier batch that is still waiting.

The venue also counts, durably, how many times each client order id reached it, which makes "no
order reached the venue twice" checkable after any number of crashes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from engine.core.commands import SubmitOrder
from engine.core.events import Event, OrderEvent
from engine.core.ids import AccountId, ClientOrderId
from engine.oms.ports import VenueCommand
from engine.store.state import StateStore
from engine.store.writer import StoreWriter
from engine.venues.sim import SimOrderState, SimVenue

TABLE = "sim_venue"
KEY_STATE = "state"
KEY_RECEIVED = "received"
#: Agent-only activity (no report for us) is written at most this often.
IDLE_SNAPSHOT_NS = 1_000_000_000


class DurableSimVenue:
    def __init__(
        self,
        venue: SimVenue,
        state: StateStore,
        writer: StoreWriter,
        deliver: Callable[[Event], None],
        now_ns: Callable[[], int],
    ) -> None:
        self.venue = venue
        self._state = state
        self._writer = writer
        self._deliver = deliver
        self._now_ns = now_ns
        self._buffer: list[Event] = []
        self._flush_scheduled = False
        self._pending: deque[tuple[asyncio.Future[Any] | None, list[Event]]] = deque()
        self._last_snapshot_ns = 0
        #: client order id -> number of times a SubmitOrder with it reached the venue.
        self.received: dict[str, int] = {}
        venue.set_event_handler(self._on_event)

    # -- restore ---------------------------------------------------------------------------------
    @staticmethod
    def saved_state(state: StateStore) -> dict[str, Any] | None:
        """The venue's last durable state, or None for a venue that never ran."""
        return state.get(TABLE, KEY_STATE)

    def restore(self, saved: dict[str, Any]) -> None:
        """Load ``saved_state`` into the (new) venue, with the durable receipt counts."""
        self.venue.restore(saved)
        self.received = dict(self._state.get(TABLE, KEY_RECEIVED, {}))

    # -- VenuePort -------------------------------------------------------------------------------
    def send(self, command: VenueCommand) -> None:
        if isinstance(command, SubmitOrder):
            key = f"{command.account_id}/{command.client_order_id}"
            self.received[key] = self.received.get(key, 0) + 1
        self.venue.send(command)

    def order(self, account_id: AccountId, client_order_id: ClientOrderId) -> SimOrderState | None:
        return self.venue.order(account_id, client_order_id)

    # -- reports ---------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        self._buffer.append(event)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._buffer = self._buffer, []
        now = self._now_ns()
        waiting: asyncio.Future[Any] | None = None
        reports = any(isinstance(e, OrderEvent) for e in batch)
        if reports or now - self._last_snapshot_ns >= IDLE_SNAPSHOT_NS:
            ticket = self._save()
            self._last_snapshot_ns = now
            if reports:
                waiting = self._writer.wait(ticket)
        self._pending.append((waiting, batch))
        if waiting is not None:
            waiting.add_done_callback(lambda _f: self._release())
        self._release()

    def _release(self) -> None:
        """Deliver batches in order, each once its state is durable (or needed no write)."""
        pending = self._pending
        while pending:
            waiting, batch = pending[0]
            if waiting is not None and not waiting.done():
                return
            pending.popleft()
            if waiting is not None and waiting.exception() is not None:
                # The venue could not make its state durable: withhold the reports. The OMS will
                # learn the outcome by reconciliation; the store failure halts the engine.
                continue
            for event in batch:
                self._deliver(event)

    async def flush(self) -> None:
        """Make the current venue state durable and deliver everything pending (shutdown)."""
        if self._flush_scheduled:
            self._flush()
        await self._writer.wait(self._save())
        self._release()

    def _save(self) -> int:
        """Queue the venue's complete state and receipt counts as one unit; returns the ticket."""
        return self._state.put_many(
            TABLE, {KEY_STATE: self.venue.snapshot(), KEY_RECEIVED: dict(self.received)}
        )
