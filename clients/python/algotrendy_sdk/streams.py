"""Streams that survive a disconnect.

Order events and position updates carry the engine's order-event sequence (gap-free per engine).
``resume_by_sequence`` remembers the last sequence it yielded and, when the stream breaks (the
engine restarted, the network dropped, or the engine closed a slow consumer with
RESOURCE_EXHAUSTED), reopens it with ``from_sequence = last + 1`` after a backoff. Anything at or
below the last yielded sequence is skipped, so the caller sees every event exactly once, in order.

Market data has no sequence (it is conflated by design); ``reconnecting`` simply resubscribes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from algotrendy_sdk.errors import AlgoTrendyError, Unauthenticated, from_rpc_error

T = TypeVar("T")

__all__ = ["Backoff", "reconnecting", "resume_by_sequence"]

#: Failures after which a stream reconnects: the engine may come back, or the consumer catches up.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
    }
)


@dataclass
class Backoff:
    """Exponential backoff with full jitter; ``attempts`` is reset by every delivered event.

    ``max_attempts`` consecutive failures without one delivered event end the stream with the
    last error (None: keep trying forever, for long-running consumers).
    """

    initial_s: float = 0.05
    max_s: float = 5.0
    multiplier: float = 2.0
    max_attempts: int | None = 30
    attempts: int = 0

    def next_delay(self, hint_s: float = 0.0) -> float:
        self.attempts += 1
        cap = min(self.max_s, self.initial_s * self.multiplier ** (self.attempts - 1))
        return max(hint_s, random.uniform(cap / 2, cap))

    def exhausted(self) -> bool:
        return self.max_attempts is not None and self.attempts >= self.max_attempts

    def reset(self) -> None:
        self.attempts = 0


OpenStream = Callable[[int], Awaitable[AsyncIterator[Any]]]


async def resume_by_sequence(
    open_stream: OpenStream,
    unpack: Callable[[Any], Iterable[tuple[int, T]]],
    *,
    from_sequence: int,
    backoff: Backoff | None = None,
    renew: Callable[[Unauthenticated], Awaitable[bool]] | None = None,
    on_reconnect: Callable[[int, AlgoTrendyError], None] | None = None,
    caught_up_to: Callable[[Any], int | None] | None = None,
) -> AsyncIterator[T]:
    """Yield ``unpack``-ed items of a sequenced stream in order, exactly once, across reconnects.

    ``open_stream(from_sequence)`` opens the server stream (0 = live only); ``unpack(message)``
    gives ``(sequence, item)`` pairs. ``renew`` gets an UNAUTHENTICATED error (e.g. an expired
    token) and returns True if the credential was renewed and the stream should reopen.
    ``on_reconnect(from_sequence, error)`` is told about every reopening (for logs and metrics).
    ``caught_up_to(message)`` is the sequence up to which the stream has delivered everything for
    this subscription (a heartbeat's head sequence), else None: it gives a live-only stream that
    has not seen an event yet (or a filtered one) a resume point, so a break loses nothing.
    """
    backoff = backoff or Backoff()
    last_seen: int | None = from_sequence - 1 if from_sequence > 0 else None
    while True:
        start = 0 if last_seen is None else last_seen + 1
        call: Any = None
        try:
            call = await open_stream(start)
            async for message in call:
                for sequence, item in unpack(message):
                    if last_seen is not None and sequence <= last_seen:
                        continue  # already delivered before the break
                    last_seen = sequence
                    backoff.reset()
                    yield item
                complete = caught_up_to(message) if caught_up_to is not None else None
                if complete is not None and (last_seen is None or complete > last_seen):
                    last_seen = complete
            return  # the server ended the stream normally
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
        except AlgoTrendyError as exc:  # raised while opening (e.g. credentials)
            error = exc
        finally:
            if call is not None and hasattr(call, "cancel"):
                call.cancel()  # the consumer stopped early, or the call failed: free it now
        if isinstance(error, Unauthenticated):
            if renew is None or not await renew(error):
                raise error
        elif error.code not in RETRYABLE or backoff.exhausted():
            raise error
        hint_s = 0.0
        # Always resume from what this client saw: a message in flight when the engine closed the
        # stream may never have arrived, so no server-named resume point is trusted.
        if error.code is grpc.StatusCode.RESOURCE_EXHAUSTED:
            hint_s = getattr(error, "retry_after", 0.0)
        if on_reconnect is not None:
            on_reconnect(0 if last_seen is None else last_seen + 1, error)
        await asyncio.sleep(backoff.next_delay(hint_s))


async def reconnecting(
    open_stream: Callable[[], Awaitable[AsyncIterator[Any]]],
    *,
    backoff: Backoff | None = None,
    renew: Callable[[Unauthenticated], Awaitable[bool]] | None = None,
    on_reconnect: Callable[[AlgoTrendyError], None] | None = None,
) -> AsyncIterator[Any]:
    """Yield the messages of an unsequenced stream, resubscribing after a retryable failure."""
    backoff = backoff or Backoff()
    while True:
        call: Any = None
        try:
            call = await open_stream()
            async for message in call:
                backoff.reset()
                yield message
            return
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
        except AlgoTrendyError as exc:
            error = exc
        finally:
            if call is not None and hasattr(call, "cancel"):
                call.cancel()
        if isinstance(error, Unauthenticated):
            if renew is None or not await renew(error):
                raise error
        elif error.code not in RETRYABLE or backoff.exhausted():
            raise error
        if on_reconnect is not None:
            on_reconnect(error)
        await asyncio.sleep(backoff.next_delay(getattr(error, "retry_after", 0.0)))
