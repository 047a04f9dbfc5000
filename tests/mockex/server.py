"""``MockExchange``: one aiohttp server on 127.0.0.1 (port 0) answering a venue's REST paths with
recorded bodies and replaying recorded WebSocket messages to whoever subscribes.

Behaviour a test can steer:

* ``fail_rest(path, status, count)``: the next ``count`` requests to ``path`` answer ``status`` (429,
  418, the venue's own rate-limit body) before the recorded answer comes back;
* ``drop_after``: close the socket after sending that many messages (once), as a network drop would;
* ``mutate``: rewrite message ``i`` before it is sent (a corrupted update, a wrong checksum);
* every subscribe message (re)starts the replay from the first message (debounced so that one
  subscription burst starts it once) — a client that resubscribes gets a fresh snapshot;
* ``pong``: the venue's answer to an application-level ping text, if any;
* ``ws_routes``: WebSocket paths served by another ``MockExchange`` (never started itself) with its
  own messages and all of the above (OKX's ``/business`` candle endpoint beside ``/public``).

``rest_log`` and ``ws_log`` record what the client did (with monotonic times) so tests can check the
backoff, the subscriptions and the reconnects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from tests.mockex.sessions import RestRecord


@dataclass
class _Failure:
    status: int
    count: int
    body: str
    headers: dict[str, str]


@dataclass
class MockExchange:
    rest: list[RestRecord]
    ws_messages: list[str]
    #: Messages sent per event-loop yield (keeps the replay fast but interleaved with the client).
    batch: int = 50
    drop_after: int | None = None
    #: False: WebSocket upgrades are refused with 503 (the venue's socket is down; REST still answers).
    ws_enabled: bool = True
    mutate: Callable[[int, str], str] | None = None
    pong: Callable[[str], str | None] | None = None
    #: Extra REST answers keyed by path (fixtures that are not in a recorded session).
    extra_rest: dict[str, str] = field(default_factory=dict)
    rest_log: list[tuple[float, str, int]] = field(default_factory=list)
    ws_log: list[tuple[float, str]] = field(default_factory=list)
    connections: int = 0
    sent: int = 0
    #: Called with (index, monotonic ns) right before message ``index`` is sent (latency benchmarks).
    on_send: Callable[[int, int], None] | None = None
    #: WebSocket path -> the mock serving it (its messages, drops, logs); other paths are served here.
    ws_routes: dict[str, MockExchange] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._failures: dict[str, _Failure] = {}
        self._holds: dict[str, asyncio.Event] = {}
        #: Requests that arrived at a held path (see ``hold_rest``), answered or still waiting.
        self.held_requests = 0
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._dropped = False
        self.port = 0
        self.replay_done = asyncio.Event()

    # -- control -----------------------------------------------------------------------------------
    def fail_rest(
        self, path: str, status: int, count: int = 1, body: str = "", headers: dict[str, str] | None = None
    ) -> None:
        self._failures[path] = _Failure(status, count, body, headers or {})

    def hold_rest(self, path: str) -> asyncio.Event:
        """Requests to ``path`` wait until the returned event is set (a slow venue, a request in
        flight at a chosen moment)."""
        event = self._holds[path] = asyncio.Event()
        return event

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self.base_url

    async def stop(self) -> None:
        await self.close_sockets()
        if self._runner is not None:
            await self._runner.cleanup()

    async def close_sockets(self) -> None:
        for route in self.ws_routes.values():
            await route.close_sockets()
        for ws in list(self._sockets):
            await ws.close()

    # -- HTTP ----------------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            target = self.ws_routes.get(request.path, self)
            if not target.ws_enabled:
                target.ws_log.append((time.monotonic(), "<refused>"))
                return web.Response(status=503, text="websocket unavailable")
            return await target._websocket(request)
        hold = self._holds.get(request.path)
        if hold is not None:
            self.held_requests += 1
            await hold.wait()
        return self._rest(request)

    def _rest(self, request: web.Request) -> web.Response:
        path = request.path
        failure = self._failures.get(path)
        now = time.monotonic()
        if failure is not None and failure.count > 0:
            failure.count -= 1
            self.rest_log.append((now, path, failure.status))
            return web.Response(
                status=failure.status,
                text=failure.body,
                headers=failure.headers,
                content_type="application/json",
            )
        query = dict(request.query)
        candidates = [r for r in self.rest if r.path == path]
        exact = [r for r in candidates if r.query == query]
        chosen = exact or [
            r for r in candidates if all(r.query.get(k) == v for k, v in query.items() if k != "limit")
        ]
        if chosen:
            self.rest_log.append((now, path, 200))
            return web.Response(text=chosen[0].body, content_type="application/json")
        if path in self.extra_rest:
            self.rest_log.append((now, path, 200))
            return web.Response(text=self.extra_rest[path], content_type="application/json")
        self.rest_log.append((now, f"{path}?{request.query_string}", 404))
        return web.Response(status=404, text='{"error":"not recorded"}', content_type="application/json")

    # -- WebSocket ------------------------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self._sockets.add(ws)
        replay: asyncio.Task[None] | None = None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                self.ws_log.append((time.monotonic(), msg.data))
                answer = self.pong(msg.data) if self.pong is not None else None
                if answer is not None:
                    await ws.send_str(answer)
                    continue
                if "subscribe" in msg.data.lower() and "unsubscribe" not in msg.data.lower():
                    if replay is not None:
                        replay.cancel()
                    replay = asyncio.get_running_loop().create_task(self._replay(ws))
        finally:
            if replay is not None:
                replay.cancel()
            self._sockets.discard(ws)
        return ws

    async def _replay(self, ws: web.WebSocketResponse) -> None:
        await asyncio.sleep(0.02)  # one subscription burst -> one replay
        for i, text in enumerate(self.ws_messages):
            if ws.closed:
                return
            if self.drop_after is not None and not self._dropped and i >= self.drop_after:
                self._dropped = True
                await ws.close()
                return
            wire = self.mutate(i, text) if self.mutate is not None else text
            if self.on_send is not None:
                self.on_send(i, time.monotonic_ns())
            await ws.send_str(wire)
            self.sent += 1
            if i % self.batch == self.batch - 1:
                await asyncio.sleep(0)
        self.replay_done.set()
