"""The autouse socket guard (tests/conftest.py) blocks every non-loopback address."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tests.conftest import NetworkAccessBlocked


def test_socket_guard_when_connecting_outside_loopback_then_blocked(socket_guard: list[str]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkAccessBlocked):
            sock.connect(("203.0.113.7", 443))  # TEST-NET-3: never routable
    finally:
        sock.close()
    with pytest.raises(NetworkAccessBlocked):
        socket.getaddrinfo("api.binance.com", 443)
    assert len(socket_guard) == 2
    socket_guard.clear()  # the attempts were this test's point: do not fail it at teardown


async def test_socket_guard_when_asyncio_resolves_a_hostname_then_blocked(socket_guard: list[str]) -> None:
    with pytest.raises(NetworkAccessBlocked):
        await asyncio.open_connection("stream.binance.com", 9443)
    assert socket_guard == ["getaddrinfo('stream.binance.com')"]
    socket_guard.clear()


async def test_socket_guard_when_connecting_to_loopback_then_allowed() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
