"""Shared by the SDK and CLI tests (no tests here): the real engine in this process on port 0, its
admin credential, and a TCP proxy in front of it that a test can cut to break live connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.app import Engine
from engine.config import load_config

#: Cheap password hashing and a fast simulated market: the tests wait on real events.
TEST_OVERRIDES: dict[str, Any] = {
    "grpc.port": 0,
    "metrics.port": 0,
    "sim.step_ms": 20,
    "store.durability": "async",
    "auth.argon2_memory_kib": 64,
    "auth.argon2_time_cost": 1,
    "auth.argon2_parallelism": 1,
}


@dataclass
class RunningEngine:
    engine: Engine
    data_dir: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.engine.grpc.port}"


@contextlib.asynccontextmanager
async def running_engine(
    data_dir: Path, *, quoted: bool = True, **overrides: Any
) -> AsyncIterator[RunningEngine]:
    """The engine on port 0 (``overrides`` are config keys); with ``quoted``, yielded once every
    simulated instrument has quotes (needs a plaintext port and query budget to check)."""
    config = load_config(env={}, overrides={**TEST_OVERRIDES, "data_dir": str(data_dir), **overrides})
    engine = Engine(config)
    await engine.start()
    try:
        running = RunningEngine(engine, data_dir)
        if quoted:
            await wait_for_quotes(running.target, data_dir)
        yield running
    finally:
        await engine.stop()


async def wait_for_quotes(target: str, data_dir: Path, timeout_s: float = 30.0) -> None:
    """Until every simulated instrument has a two-sided book: before that the risk gate has no
    reference price and denies every order (RISK_NO_REFERENCE_PRICE), as it should."""
    from algotrendy_sdk import AsyncClient
    from algotrendy_sdk.auth import admin_file_credentials

    deadline = asyncio.get_running_loop().time() + timeout_s
    async with AsyncClient(target, admin_file_credentials(data_dir)) as client:
        for instrument in await client.instruments("SIM"):
            while True:
                book = await client.order_book(instrument.instrument_id, 1)
                if book.bids and book.asks:
                    break
                assert asyncio.get_running_loop().time() < deadline, (
                    f"no quotes for {instrument.instrument_id}"
                )
                await asyncio.sleep(0.02)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the engine. ``cut()`` aborts every open connection (a network
    failure as the client sees it); while ``refusing`` new connections are closed at once."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.accepted = 0
        self.refusing = False
        self._server: asyncio.Server | None = None
        self._open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refusing:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        pair = (writer, up_writer)
        self._open.add(pair)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._open.discard(pair)

    def cut(self) -> int:
        """Abort every proxied connection; returns how many there were."""
        pairs = list(self._open)
        for client, upstream in pairs:
            client.transport.abort()
            upstream.transport.abort()
        return len(pairs)

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
