"""What every stream subscriber shares: a wake-up future, heartbeat bookkeeping, and a way to end
the call with a status from outside the call's own task (a slow consumer blocked in a write).

``Streams`` owns all subscribers of the engine: it enforces ``max_subscribers``, runs one heartbeat
timer for all of them (no timer per stream), and ends every stream when the engine drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import structlog

from engine.api.errors import status_for
from engine.config.model import StreamsConfig
from engine.core.errors import AlgoTrendyError, ResourceExhaustedError, UnavailableError

__all__ = ["Streams", "Subscriber", "run_stream"]

_log = structlog.get_logger("engine.api.streams")


class Subscriber:
    """One open stream. The hub fills its queue on the loop and calls ``wake``; the call's task
    waits in ``wait`` and sends. ``fail`` ends the call with an error, even while it is blocked in
    a write to a client that stopped reading (the messages before the status still arrive)."""

    __slots__ = ("_abort_task", "_waiter", "context", "failure", "heartbeat_due", "in_write", "last_sent_ns")

    def __init__(self, context: grpc.aio.ServicerContext | None) -> None:
        self.context = context
        self._waiter: asyncio.Future[None] | None = None
        self._abort_task: asyncio.Task[None] | None = None
        #: Set by the hub: the call ends with this error the next time it looks (or at once, see fail).
        self.failure: AlgoTrendyError | None = None
        self.heartbeat_due = False
        #: True while the call's task is inside a write (``yield``) to gRPC.
        self.in_write = False
        self.last_sent_ns = time.monotonic_ns()

    @property
    def has_data(self) -> bool:
        raise NotImplementedError

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def parked(self) -> None:
        """Called just before waiting (a hub that wakes only waiting subscribers registers it)."""

    async def wait(self) -> None:
        """Until the hub has something (data, a heartbeat or a failure) for this subscriber."""
        if self.has_data or self.heartbeat_due or self.failure is not None:
            return
        self.parked()
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def fail(self, error: AlgoTrendyError) -> None:
        """End the call with ``error``. A call blocked in a write (its client stopped reading) is
        aborted from here; otherwise its task raises ``error`` when it wakes."""
        if self.failure is not None:
            return
        self.failure = error
        if self.in_write and self.context is not None:
            self._abort_task = asyncio.get_running_loop().create_task(self._abort(self.context, error))
        else:
            self.wake()

    @staticmethod
    async def _abort(context: grpc.aio.ServicerContext, error: AlgoTrendyError) -> None:
        code, message, metadata = status_for(error)
        context.set_trailing_metadata(metadata)
        with contextlib.suppress(grpc.aio.AbortError, grpc.aio.UsageError, asyncio.CancelledError):
            await context.abort(code, message)

    def sent(self) -> None:
        self.heartbeat_due = False
        self.last_sent_ns = time.monotonic_ns()


class Streams:
    """The engine's stream subscribers: admission, heartbeats, and the end of every stream on drain."""

    def __init__(self, config: StreamsConfig) -> None:
        self.config = config
        self._subscribers: set[Subscriber] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        #: Streams refused because ``max_subscribers`` were open.
        self.refused = 0
        #: Streams ended because their reader fell too far behind.
        self.slow_consumers = 0

    def __len__(self) -> int:
        return len(self._subscribers)

    def admit(self, subscriber: Subscriber) -> None:
        if self._closed:
            raise UnavailableError("the engine is draining; no new streams", reason="ENGINE_DRAINING")
        if len(self._subscribers) >= self.config.max_subscribers:
            self.refused += 1
            raise ResourceExhaustedError(
                f"{self.config.max_subscribers} streams are open (streams.max_subscribers)",
                retry_after_ms=1_000,
                reason="TOO_MANY_STREAMS",
            )
        self._subscribers.add(subscriber)
        if self._timer is None:
            self._schedule()

    def release(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def close(self) -> None:
        """Drain: end every open stream with UNAVAILABLE (clients resume elsewhere or later)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for subscriber in list(self._subscribers):
            subscriber.fail(UnavailableError("the engine is draining", reason="ENGINE_DRAINING"))

    def _schedule(self) -> None:
        interval_s = self.config.heartbeat_interval_ms / 1000 / 4
        self._timer = asyncio.get_running_loop().call_later(interval_s, self._beat)

    def _beat(self) -> None:
        self._timer = None
        if self._closed:
            return
        due = time.monotonic_ns() - self.config.heartbeat_interval_ms * 1_000_000
        for subscriber in self._subscribers:
            if subscriber.last_sent_ns <= due and not subscriber.heartbeat_due:
                subscriber.heartbeat_due = True
                subscriber.wake()
        if self._subscribers:
            self._schedule()


async def run_stream(
    context: grpc.aio.ServicerContext,
    open_stream: Callable[[], AsyncIterator[Any]],
    on_internal: Callable[[BaseException], None] | None = None,
) -> AsyncIterator[Any]:
    """Run a server stream: ``open_stream()`` validates and subscribes (raising on a bad request)
    and returns the messages. Domain errors, at open or later, end the call with their mapped
    status and trailing metadata, like ``grpc_errors`` does for unary calls."""
    try:
        async for message in open_stream():
            yield message
    except AlgoTrendyError as exc:
        code, message, metadata = status_for(exc)
        if code is grpc.StatusCode.INTERNAL:
            _log.error("api.stream_internal_error", exc_info=exc)
            if on_internal is not None:
                on_internal(exc)
        context.set_trailing_metadata(metadata)
        await context.abort(code, message)
    except (grpc.aio.AbortError, grpc.aio.UsageError, asyncio.CancelledError, GeneratorExit):
        raise
    except Exception as exc:
        _log.error("api.stream_unhandled_error", exc_info=exc)
        if on_internal is not None:
            on_internal(exc)
        context.set_trailing_metadata((("algotrendy-reason", "INTERNAL"),))
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")
