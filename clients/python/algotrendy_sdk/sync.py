"""``Client``: the synchronous face of ``AsyncClient`` for scripts, notebooks and the CLI.

It owns one event loop on a daemon thread and runs every ``AsyncClient`` coroutine there, so the
two clients share one implementation (same auth, errors, types and stream resumption). Streams
become ordinary iterators; leaving the ``for`` loop (or ``close()``) cancels the call.

Do not call a ``Client`` from inside a running event loop's thread when the engine it talks to
runs on that same loop (an in-process engine in a test): the call would block the loop that has
to answer it. Use ``AsyncClient`` there, or call from a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from algotrendy_sdk.client import AsyncClient

T = TypeVar("T")

__all__ = ["Client"]


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="algotrendy-sdk", daemon=True)
        self._thread.start()

    def run(self, coro: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self.run(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            if self.loop.is_running():
                self.run(_aclose(agen))  # cancels the underlying gRPC call

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


class Client:
    """Every public ``AsyncClient`` method, blocking. Same constructor arguments.

    with Client.local() as client:
        print(client.status().engine_state)
        for event in client.stream_order_events(from_sequence=1):
            ...
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._runner = _LoopThread()
        try:
            self._async: AsyncClient = self._runner.run(_make(AsyncClient, *args, **kwargs))
        except BaseException:
            self._runner.stop()
            raise

    @classmethod
    def local(cls, target: str | None = None, **kwargs: Any) -> Client:
        """Like ``AsyncClient.local``: credentials from arguments, environment or the admin file."""
        client = cls.__new__(cls)
        client._streams = weakref.WeakSet()
        client._runner = _LoopThread()
        try:
            client._async = client._runner.run(_make(AsyncClient.local, target, **kwargs))
        except BaseException:
            client._runner.stop()
            raise
        return client

    @property
    def aio(self) -> AsyncClient:
        """The underlying ``AsyncClient`` (its coroutines run on this client's loop thread)."""
        return self._async

    @property
    def target(self) -> str:
        return self._async.target

    @property
    def credentials(self) -> Any:
        return self._async.credentials

    @property
    def account_id(self) -> str:
        return self._async.account_id

    def close(self) -> None:
        """Cancel the streams still open, close the channel, stop the loop thread."""
        for iterator in list(self._streams):
            iterator.close()
        if self._runner.loop.is_running():
            self._runner.run(self._async.close())
            self._runner.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _aclose(agen: Any) -> None:
    """Close an async generator; if an interrupted ``__anext__`` is still unwinding (its task was
    cancelled a moment ago), let it finish first."""
    for _ in range(1000):
        if not agen.ag_running:
            break
        await asyncio.sleep(0.001)
    await agen.aclose()


async def _make(factory: Callable[..., AsyncClient], *args: Any, **kwargs: Any) -> AsyncClient:
    return factory(*args, **kwargs)  # grpc.aio channels must be created on the loop that uses them


def _blocking(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        def stream(self: Client, *args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = self._runner.iterate(getattr(self._async, name)(*args, **kwargs))
            self._streams.add(iterator)
            return iterator

        return stream

    @functools.wraps(method)
    def call(self: Client, *args: Any, **kwargs: Any) -> Any:
        return self._runner.run(getattr(self._async, name)(*args, **kwargs))

    return call


for _name, _method in inspect.getmembers(AsyncClient, predicate=inspect.isfunction):
    if _name.startswith("_") or _name in ("close", "local") or _name in Client.__dict__:
        continue
    if inspect.iscoroutinefunction(_method) or inspect.isasyncgenfunction(_method):
        setattr(Client, _name, _blocking(_name, _method))
