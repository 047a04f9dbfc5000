"""Sequenced streams (order events, position updates): durable before sent, exact resume, no drops.

Every item carries the order-event ``sequence`` (per engine, gap-free from 1). The hub listens to
the order events the OMS applies (bus ``events.order.<account_id>``), turns each into its item once
(``SequencedSource.live``) and releases items to subscribers only once the journal says they are
durable: a client never sees an event a crash could take back, so "resume after my last sequence"
is always exact, across engine restarts too.

Resume (``from_sequence = n``) without a race, all on the loop except the journal reads::

    subscribe  -> the subscriber is registered at hub head h: every item > h reaches its queue
    replay     -> items n..h are read from the journal (LMDB, worker thread, short read txns)
    live       -> queued items (all > h), deduplicated by sequence against what replay sent

Nothing is dropped: a subscriber whose queue reaches ``streams.order_queue_max`` (it reads too
slowly, or its replay took too long while live items piled up) is ended with RESOURCE_EXHAUSTED
(reason SLOW_CONSUMER); it resumes from the last sequence it saw.
"""

from __future__ import annotations

import asyncio
import decimal
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, NamedTuple, Protocol

import grpc
import structlog

from engine.api.streams.encode import order_event_entry, position_update_entry
from engine.api.streams.subscriber import Streams, Subscriber
from engine.core.errors import ResourceExhaustedError, StorageError, UnavailableError, ValidationError
from engine.core.events import OrderEvent, OrderFilled
from engine.core.instruments import Instrument
from engine.oms.portfolio import Portfolio, PositionView
from engine.store.journal import Journal

__all__ = ["Item", "OrderEventSource", "PositionSource", "SequencedHub", "SequencedSource"]

_log = structlog.get_logger("engine.api.streams")


class Item(NamedTuple):
    sequence: int
    account_id: str
    instrument_id: str
    #: The pre-encoded element of the response's field 1 (``encode.entry``).
    entry: bytes


class SequencedSource(Protocol):
    """Turns order events into a stream's items, live (on the loop) and from the journal.

    ``eager``: ``live`` must run when the event is published (it reads state that moves on, like
    the portfolio); otherwise it runs when the event is released, and only if someone listens."""

    eager: bool

    def live(self, event: OrderEvent) -> Item | None: ...

    def replay(self, from_seq: int, to_seq: int, journal_to: int) -> Iterator[Item]:
        """Items with ``from_seq <= sequence <= to_seq`` from the committed journal (records up to
        ``journal_to``). Blocking; runs on a worker thread."""
        ...


# == sources =======================================================================================
class OrderEventSource:
    """Every applied order event is an item (encoded only when released to a subscriber)."""

    eager = False

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def live(self, event: OrderEvent) -> Item | None:
        return Item(event.sequence, str(event.account_id), str(event.instrument_id), order_event_entry(event))

    def replay(self, from_seq: int, to_seq: int, journal_to: int) -> Iterator[Item]:
        start = locate_order_sequence(self._journal, from_seq, journal_to)
        expected = from_seq
        for _, record in self._journal.read(start, journal_to, chunk=1024):
            if not isinstance(record, OrderEvent):
                continue
            seq = record.sequence
            if seq < from_seq:
                continue
            if seq != expected:
                raise StorageError(
                    f"order events in the journal out of sequence: expected {expected}, got {seq}"
                )
            yield self.live(record)  # type: ignore[misc]
            if seq >= to_seq:
                return
            expected = seq + 1
        if expected <= to_seq:
            raise StorageError(f"order event {expected} is not in the journal (head {to_seq})")


class PositionSource:
    """Every fill is an item: the position of its (account, instrument) right after it.

    ``position_of`` reads the live portfolio, which has applied the fill by the time the event is
    published. A replay rebuilds the positions by applying every journalled fill from the start to
    a scratch ``Portfolio`` (positions depend on fills only), so replayed updates equal the live
    ones. The cost is a read of the journal from its start: a resume of this stream is O(journal).
    """

    eager = True

    def __init__(
        self,
        journal: Journal,
        instruments: Iterable[Instrument],
        position_of: Callable[[Any, Any], PositionView],
    ) -> None:
        self._journal = journal
        self._instruments = tuple(instruments)
        self._position_of = position_of

    def live(self, event: OrderEvent) -> Item | None:
        if not isinstance(event, OrderFilled):
            return None
        view = self._position_of(event.account_id, event.instrument_id)
        return Item(
            event.sequence,
            str(event.account_id),
            str(event.instrument_id),
            position_update_entry(view, event),
        )

    def replay(self, from_seq: int, to_seq: int, journal_to: int) -> Iterator[Item]:
        scratch = Portfolio(self._instruments)
        for _, record in self._journal.read(1, journal_to, chunk=4096):
            if not isinstance(record, OrderEvent):
                continue
            if record.sequence > to_seq:
                return
            if isinstance(record, OrderFilled):
                scratch.on_fill(record)
                if record.sequence >= from_seq:
                    view = scratch.position(record.account_id, record.instrument_id)
                    yield Item(
                        record.sequence,
                        str(record.account_id),
                        str(record.instrument_id),
                        position_update_entry(view, record),
                    )


def locate_order_sequence(journal: Journal, order_seq: int, journal_to: int) -> int:
    """The first journal sequence at or after which the order event ``order_seq`` can be found.

    Order events are journalled in order-sequence order, interleaved with other records (risk
    changes, ...), so "the order sequence of the first order event at or after journal position j"
    grows with j: a binary search finds the start in O(log n) short reads, with no index to keep.
    """

    def first_order_seq(at: int) -> int | None:
        for _, record in journal.read(at, journal_to, chunk=16):
            if isinstance(record, OrderEvent):
                return int(record.sequence)
        return None

    lo, hi = 1, journal_to + 1
    while lo < hi:
        mid = (lo + hi) // 2
        found = first_order_seq(mid)
        if found is None or found >= order_seq:
            hi = mid
        else:
            lo = mid + 1
    return lo


# == the hub =======================================================================================
class SequencedSubscriber(Subscriber):
    __slots__ = (
        "account_id",
        "from_sequence",
        "instrument_id",
        "last_sequence",
        "queue",
        "start_head",
        "start_journal",
    )

    def __init__(
        self,
        context: grpc.aio.ServicerContext | None,
        account_id: str,
        instrument_id: str,
        from_sequence: int,
        start_head: int,
        start_journal: int,
    ) -> None:
        super().__init__(context)
        self.account_id = account_id
        self.instrument_id = instrument_id
        self.from_sequence = from_sequence
        #: Items with a sequence up to this come from the journal, later ones from the live queue.
        self.start_head = start_head
        self.start_journal = start_journal
        self.queue: deque[Item] = deque()
        #: The last sequence handed to gRPC (for deduplication).
        self.last_sequence = 0

    @property
    def has_data(self) -> bool:
        return bool(self.queue)

    def wants(self, item: Item) -> bool:
        return (not self.account_id or item.account_id == self.account_id) and (
            not self.instrument_id or item.instrument_id == self.instrument_id
        )


class SequencedHub:
    """Fan-out of one kind of sequenced item to its subscribers (see the module docstring).

    ``head`` is the last sequence released to subscribers (durable), or, while nobody listens, the
    last one applied (a new subscriber first waits for the journal to cover it). ``response`` is the stream's
    response class: field 1 the repeated items, 2 ``head_sequence``, 3 ``heartbeat``, 4 ``ts_ns``.
    """

    def __init__(
        self,
        name: str,
        source: SequencedSource,
        journal: Journal,
        streams: Streams,
        response: type[Any],
        *,
        head: int,
        timestamp_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.name = name
        self._source = source
        self._journal = journal
        self._streams = streams
        self._response = response
        self._now = timestamp_ns
        self._subscribers: set[SequencedSubscriber] = set()
        self.head = head
        #: The journal sequence that covers ``head`` (await its durability before reading up to head).
        self._head_journal = journal.last_sequence
        #: The last sequence seen live (events at or below it are duplicates).
        self._seen = head
        #: Live events not durable yet: (journal sequence covering them, order sequence, the item --
        #: or the event itself for a lazy source, or None when the event has no item).
        self._pending: deque[tuple[int, int, Item | OrderEvent | None]] = deque()
        self._waiting = False
        self._failed: BaseException | None = None

    # -- live side (loop) --------------------------------------------------------------------------
    def on_order_event(self, event: Any) -> None:
        """Bus handler for ``events.order.*``."""
        if not isinstance(event, OrderEvent) or event.sequence <= self._seen:
            return
        self._seen = event.sequence
        # The OMS appended the event to the journal before publishing it: the journal's last
        # sequence now covers it (or a later record, which only makes the wait longer).
        journal_seq = self._journal.last_sequence
        if not self._subscribers and not self._pending:
            # Nobody to release to: just move the head. A subscriber that starts from here first
            # waits until the journal covering the head is durable (``_replay``), so nothing it
            # is sent can be taken back -- and the order path pays nothing for an idle stream.
            self.head, self._head_journal = event.sequence, journal_seq
            return
        item = self._source.live(event) if self._source.eager else event
        self._pending.append((journal_seq, event.sequence, item))
        if not self._waiting:
            self._wait_durable()

    def _wait_durable(self) -> None:
        if self._failed is not None or not self._pending:
            return
        self._waiting = True
        self._journal.durable(self._pending[-1][0]).add_done_callback(self._on_durable)

    def _on_durable(self, future: asyncio.Future[int]) -> None:
        self._waiting = False
        if future.cancelled() or future.exception() is not None:
            error = future.exception() if not future.cancelled() else StorageError("durability wait canceled")
            self._failed = error
            _log.error("streams.journal_failed", hub=self.name, error=repr(error))
            for subscriber in list(self._subscribers):
                subscriber.fail(UnavailableError("the journal failed; the stream cannot continue"))
            return
        durable = self._journal.durable_sequence
        pending = self._pending
        released: list[Item] = []
        head = self.head
        journal_head = self._head_journal
        listening = bool(self._subscribers)
        live = self._source.live
        while pending and pending[0][0] <= durable:
            journal_seq, seq, item = pending.popleft()
            head, journal_head = seq, journal_seq
            if isinstance(item, Item):
                released.append(item)
            elif item is not None and listening:
                made = live(item)
                if made is not None:
                    released.append(made)
        if head > self.head:
            self.head, self._head_journal = head, journal_head
        if released:
            self._fan_out(released)
        if pending:
            self._wait_durable()

    def _fan_out(self, items: list[Item]) -> None:
        limit = self._streams.config.order_queue_max
        for subscriber in self._subscribers:
            if subscriber.failure is not None:
                continue
            queue = subscriber.queue
            before = len(queue)
            for item in items:
                if subscriber.wants(item):
                    queue.append(item)
            if len(queue) >= limit:
                self._streams.slow_consumers += 1
                queue.clear()
                subscriber.fail(
                    ResourceExhaustedError(
                        f"the {self.name} stream fell {limit} events behind (streams.order_queue_max); "
                        "resume with from_sequence = the last sequence received + 1",
                        reason="SLOW_CONSUMER",
                    )
                )
            elif len(queue) != before:
                subscriber.wake()

    # -- subscriptions ------------------------------------------------------------------------------
    def subscribe(
        self,
        context: grpc.aio.ServicerContext | None,
        *,
        account_id: str = "",
        instrument_id: str = "",
        from_sequence: int = 0,
    ) -> SequencedSubscriber:
        """Validate ``from_sequence`` and register a subscriber at the current head (on the loop)."""
        if self._failed is not None:
            raise UnavailableError("the journal failed; no streams")
        if from_sequence > self.head + 1:
            raise ValidationError(
                "from_sequence",
                f"{from_sequence} is beyond the head: the last sequence is {self.head}",
                reason="SEQUENCE_BEYOND_HEAD",
            )
        subscriber = SequencedSubscriber(
            context, account_id, instrument_id, from_sequence, self.head, self._head_journal
        )
        self._streams.admit(subscriber)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: SequencedSubscriber) -> None:
        self._subscribers.discard(subscriber)
        self._streams.release(subscriber)

    async def stream(self, subscriber: SequencedSubscriber) -> AsyncIterator[bytes]:
        """The messages of one subscriber: journal replay (if asked), then live; ends on failure."""
        try:
            # The head it starts from may not be durable yet (moved while nobody listened): no
            # message -- replayed event or reported head -- goes out before it is.
            await self._journal.durable(subscriber.start_journal)
            if subscriber.from_sequence and subscriber.from_sequence <= subscriber.start_head:
                async for message in self._replay(subscriber):
                    subscriber.in_write = True
                    yield message
                    subscriber.in_write = False
            async for message in self._live(subscriber):
                subscriber.in_write = True
                yield message
                subscriber.in_write = False
        finally:
            self.unsubscribe(subscriber)

    async def _replay(self, subscriber: SequencedSubscriber) -> AsyncIterator[bytes]:
        items = self._source.replay(subscriber.from_sequence, subscriber.start_head, subscriber.start_journal)
        batch = self._streams.config.batch_max_events
        context = decimal.getcontext().copy()  # the loop's, so replayed values format as live ones
        while True:
            chunk, done = await asyncio.to_thread(_take, items, subscriber, batch, context)
            if subscriber.failure is not None:
                raise subscriber.failure
            if chunk:
                yield self._send(subscriber, chunk)
            if done:
                return

    async def _live(self, subscriber: SequencedSubscriber) -> AsyncIterator[bytes]:
        batch = self._streams.config.batch_max_events
        queue = subscriber.queue
        while True:
            await subscriber.wait()
            if subscriber.failure is not None:
                raise subscriber.failure
            chunk: list[Item] = []
            last = subscriber.last_sequence
            while queue and len(chunk) < batch:
                item = queue.popleft()
                if item.sequence > last:  # dedupe against the replay
                    chunk.append(item)
                    last = item.sequence
            if chunk or subscriber.heartbeat_due:
                yield self._send(subscriber, chunk)

    def _send(self, subscriber: SequencedSubscriber, chunk: list[Item]) -> bytes:
        if chunk:
            subscriber.last_sequence = chunk[-1].sequence
        subscriber.sent()
        trailer = self._response(head_sequence=self.head, heartbeat=not chunk, ts_ns=self._now())
        return b"".join([item.entry for item in chunk]) + trailer.SerializeToString()


def _take(
    items: Iterator[Item], subscriber: SequencedSubscriber, limit: int, context: decimal.Context
) -> tuple[list[Item], bool]:
    """Up to ``limit`` wanted items from a replay (worker thread); True when it is exhausted."""
    chunk: list[Item] = []
    with decimal.localcontext(context):
        for item in items:
            if subscriber.wants(item):
                chunk.append(item)
                if len(chunk) >= limit:
                    return chunk, False
            if subscriber.failure is not None:
                return chunk, True
    return chunk, True
