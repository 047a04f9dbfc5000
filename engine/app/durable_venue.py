"""The simulated venue as a separate party that survives ``kill -9``.

A real venue keeps its own books whatever happens to us; recovery is only meaningful if ours does
too. The venue is deterministic, so it is made durable the way a journal makes the engine durable:

* every input that changes its state (our commands as they reach the matcher, GTD expiries, the
  market simulator's agent orders, quote publication) is appended to an **input log** in LMDB
  (state table ``sim_venue_log``, one small record per input, key = zero-padded sequence);
* a **snapshot** of the whole venue (``SimVenue.snapshot``) is written at first start, every
  ``snapshot_every`` inputs and on a clean stop, with the input sequence it covers; the log entries
  it covers are then pruned a chunk per loop iteration;
* **restore** loads the snapshot and replays the inputs recorded after it (``SimVenue.replay``),
  reading and decoding only those; covered entries that an interrupted pruning left (a clean stop
  snapshots and stops before pruning) are found by key alone and pruned again.

An order report never reaches the order manager before the input that produced it is durable: with
``async`` durability the log is committed on the spot (``StoreWriter.commit_pending``, a bounded
page-cache commit) and the report is delivered in the same call; with ``sync`` durability reports
wait for the writer thread's fsync. Market data that carries no order report is forwarded without
waiting, but never ahead of an earlier report that is still waiting. Writing one input costs a few
microseconds whatever the size of the books (a full snapshot per report cost milliseconds).

The venue also counts, durably, how many times each client order id reached it (derived from the
logged commands), which makes "no order reached the venue twice" checkable after any number of
crashes. The counts are kept as long as the venue remembers the order (open, or among its
``closed_order_retention`` most recently finished); an id that arrived more than once is kept for
good. Each snapshot drops the rest, so the counts stay as bounded as the venue's order table.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from engine.core.commands import SubmitOrder
from engine.core.errors import StorageError
from engine.core.events import Event, OrderEvent
from engine.core.ids import AccountId, ClientOrderId
from engine.oms.ports import VenueCommand
from engine.store.state import StateStore
from engine.store.writer import StoreWriter
from engine.venues.sim import SimOrderState, SimVenue
from engine.venues.sim.venue import INPUT_COMMAND, VenueInput

TABLE = "sim_venue"
LOG_TABLE = "sim_venue_log"
KEY_STATE = "state"
#: Inputs between two snapshots (bounds the replay at restart: ~10 us per input).
SNAPSHOT_EVERY = 50_000
#: Log entries deleted per loop iteration after a snapshot (bounds one commit's size).
PRUNE_CHUNK = 2_000


def _log_key(seq: int) -> str:
    return f"{seq:016d}"


@dataclass(slots=True)
class Rebuilt:
    """What ``rebuild`` found: receipt counts, the last input sequence, how many inputs it
    replayed and the log entries the snapshot already covers (to prune)."""

    received: dict[str, int]
    input_sequence: int
    replayed: int
    stale: list[int]


def rebuild(venue: SimVenue, saved: dict[str, Any], log: Iterable[tuple[str, VenueInput]]) -> Rebuilt:
    """Load snapshot document ``saved`` into the new ``venue`` and replay the input ``log``
    (``(key, input)`` in key order) recorded after it. Used at start and by offline readers."""
    venue.restore(saved["venue"])
    received = dict(saved["received"])
    covered = last = saved["as_of_sequence"]
    replayed = 0
    stale: list[int] = []
    for key, recorded in log:
        seq = int(key)
        if seq <= covered:
            stale.append(seq)
            continue
        if seq != last + 1:
            raise StorageError(f"sim venue input log has a gap: {last} -> {seq}")
        _count(received, recorded)
        venue.replay(recorded)
        last = seq
        replayed += 1
    return Rebuilt(received, last, replayed, stale)


def _count(received: dict[str, int], recorded: VenueInput) -> None:
    command = recorded.command
    if recorded.kind == INPUT_COMMAND and isinstance(command, SubmitOrder):
        key = _receipt_key(command.account_id, command.client_order_id)
        received[key] = received.get(key, 0) + 1


def _receipt_key(account_id: str, client_order_id: str) -> str:
    return f"{account_id}/{client_order_id}"


def _remembered(received: dict[str, int], venue: SimVenue) -> dict[str, int]:
    """The receipt counts worth keeping: those of the orders ``venue`` still knows, and every id
    that reached it more than once (an incident: kept for good)."""
    known = {_receipt_key(account, coid) for account, coid in venue.order_keys()}
    return {key: n for key, n in received.items() if n > 1 or key in known}


class DurableSimVenue:
    def __init__(
        self,
        venue: SimVenue,
        state: StateStore,
        writer: StoreWriter,
        deliver: Callable[[Event], None],
        now_ns: Callable[[], int],
        *,
        snapshot_every: int = SNAPSHOT_EVERY,
    ) -> None:
        self.venue = venue
        self._state = state
        self._writer = writer
        self._deliver = deliver
        self._now_ns = now_ns
        self._snapshot_every = snapshot_every
        #: Sequence of the last input logged, and of the last one the latest snapshot covers.
        self.input_sequence = 0
        self.snapshot_sequence = 0
        self._snapshot_scheduled = False
        self._prune: deque[int] = deque()
        self._prune_scheduled = False
        self._buffer: list[Event] = []
        self._flush_scheduled = False
        self._pending: deque[tuple[asyncio.Future[Any] | None, list[Event]]] = deque()
        #: client order id -> number of times a SubmitOrder with it reached the venue.
        self.received: dict[str, int] = {}
        venue.set_event_handler(self._on_event)
        self.send = venue.send  # type: ignore[method-assign]  # (the port's call, no frame of ours)

    # -- start -----------------------------------------------------------------------------------
    @staticmethod
    def saved_state(state: StateStore) -> dict[str, Any] | None:
        """The venue's last durable snapshot document, or None for a venue that never ran."""
        return state.get(TABLE, KEY_STATE)

    def restore(self, saved: dict[str, Any] | None) -> int:
        """Load the snapshot (None: the venue is new) and replay the inputs logged after it; then
        start logging. Returns the number of inputs replayed."""
        if saved is None:
            self.venue.set_input_recorder(self._record)
            self._snapshot()  # the starting point every later input applies to
            return 0
        covered = _log_key(saved["as_of_sequence"])
        # Only the inputs after the snapshot are read and decoded; the ones it covers are left from
        # a pruning that a stop or a crash interrupted (a clean stop snapshots everything and leaves
        # its whole log to prune): their keys are enough to delete them.
        rebuilt = rebuild(self.venue, saved, self._state.items(LOG_TABLE, after=covered))
        self.received = rebuilt.received
        self.snapshot_sequence = saved["as_of_sequence"]
        self.input_sequence = rebuilt.input_sequence
        self._prune.extend(int(key) for key in self._state.keys(LOG_TABLE, upto=covered))
        self.venue.set_input_recorder(self._record)
        if self._prune:
            self._schedule_prune()
        return rebuilt.replayed

    # -- VenuePort -------------------------------------------------------------------------------
    def send(self, command: VenueCommand) -> None:  # (bound to the venue's in __init__)
        self.venue.send(command)

    def order(self, account_id: AccountId, client_order_id: ClientOrderId) -> SimOrderState | None:
        return self.venue.order(account_id, client_order_id)

    # -- the input log ---------------------------------------------------------------------------
    def _record(self, recorded: VenueInput) -> None:
        seq = self.input_sequence + 1
        self._state.put(LOG_TABLE, f"{seq:016d}", recorded)  # (``_log_key``, inline: once per input)
        self.input_sequence = seq
        if recorded.kind == INPUT_COMMAND:
            _count(self.received, recorded)
        if seq - self.snapshot_sequence >= self._snapshot_every and not self._snapshot_scheduled:
            self._snapshot_scheduled = True
            asyncio.get_running_loop().call_soon(self._snapshot)

    def _snapshot(self) -> int:
        """Queue the whole venue with the input sequence it covers; prune the covered log."""
        self._snapshot_scheduled = False
        previous, seq = self.snapshot_sequence, self.input_sequence
        self.received = _remembered(self.received, self.venue)
        ticket = self._state.put(
            TABLE,
            KEY_STATE,
            {"as_of_sequence": seq, "venue": self.venue.snapshot(), "received": dict(self.received)},
        )
        self.snapshot_sequence = seq
        self._prune.extend(range(previous + 1, seq + 1))
        if self._prune:
            self._schedule_prune()
        return ticket

    def _schedule_prune(self) -> None:
        if not self._prune_scheduled:
            self._prune_scheduled = True
            asyncio.get_running_loop().call_soon(self._prune_some)

    def _prune_some(self) -> None:
        self._prune_scheduled = False
        if not self._writer.running:
            return  # stopping: what is left is pruned after the next start (``rebuild``'s stale list)
        prune = self._prune
        for _ in range(min(PRUNE_CHUNK, len(prune))):
            self._state.delete(LOG_TABLE, _log_key(prune.popleft()))
        if prune:
            self._schedule_prune()

    # -- reports ---------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        # Nothing waiting ahead of it: a report goes now if its input is durable now.
        if (
            not self._pending
            and not self._buffer
            and (not isinstance(event, OrderEvent) or self._writer.commit_pending())
        ):
            self._deliver(event)
            return
        self._buffer.append(event)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._buffer = self._buffer, []
        waiting: asyncio.Future[Any] | None = None
        if any(isinstance(e, OrderEvent) for e in batch) and not self._writer.commit_pending():
            waiting = self._writer.flush()
            waiting.add_done_callback(lambda _f: self._release())
        self._pending.append((waiting, batch))
        self._release()

    def _release(self) -> None:
        """Deliver batches in order, each once its inputs are durable (or needed no write)."""
        pending = self._pending
        while pending:
            waiting, batch = pending[0]
            if waiting is not None and not waiting.done():
                return
            pending.popleft()
            if waiting is not None and waiting.exception() is not None:
                # The venue could not make its inputs durable: withhold the reports. The OMS will
                # learn the outcome by reconciliation; the store failure halts the engine.
                continue
            for event in batch:
                self._deliver(event)

    async def flush(self) -> None:
        """Snapshot the venue and deliver everything pending (clean stop)."""
        if self._flush_scheduled:
            self._flush()
        await self._writer.wait(self._snapshot())
        self._release()
