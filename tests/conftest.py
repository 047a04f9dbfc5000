"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_path() -> Path:
    """``../shared/data`` next to the clone, or ``$ALGOTRENDY_SHARED_DATA`` when set."""
    override = os.environ.get("ALGOTRENDY_SHARED_DATA")
    return Path(override) if override else (REPO_ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real market data folder; tests that need it are skipped with a reason when it is absent."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"real market data not found at {path} (set ALGOTRENDY_SHARED_DATA to its location)")
    return path


# -- no network: every test runs with a socket guard ------------------------------------------
class NetworkAccessBlocked(RuntimeError):
    """A test tried to reach a non-loopback address (tests must use 127.0.0.1 only)."""


_HOSTNAME = __import__("socket").gethostname()


def _is_loopback_host(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard, used for binding
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text in ("", "localhost", "0.0.0.0", "::", "::1", _HOSTNAME):
        return True
    return text.startswith("127.") or text.startswith("::ffff:127.")


@pytest.fixture(autouse=True)
def socket_guard() -> Iterator[list[str]]:
    """Fail any test that resolves or connects to a non-loopback address (no internet in tests).

    Guards ``socket.getaddrinfo`` (every hostname lookup, asyncio's included), ``socket.connect`` /
    ``connect_ex`` and ``socket.create_connection``. The attempt raises ``NetworkAccessBlocked`` where
    it happens (which may be swallowed by a retrying client), and the test fails at teardown anyway.
    """
    import socket

    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection

    def blocked(what: str) -> NetworkAccessBlocked:
        attempts.append(what)
        return NetworkAccessBlocked(f"network access outside 127.0.0.1 in a test: {what}")

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not _is_loopback_host(host):
            raise blocked(f"getaddrinfo({host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    def _check(sock: socket.socket, address: object) -> None:
        inet = sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
        if inet and not _is_loopback_host(address[0]):
            raise blocked(f"connect({address!r})")

    def connect(self, address):  # type: ignore[no-untyped-def]
        _check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        _check(self, address)
        return real_connect_ex(self, address)

    def create_connection(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not _is_loopback_host(address[0]):
            raise blocked(f"create_connection({address!r})")
        return real_create_connection(address, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.create_connection = create_connection
    try:
        yield attempts
    finally:
        socket.getaddrinfo = real_getaddrinfo
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.create_connection = real_create_connection
    if attempts:
        pytest.fail(f"the test tried to use the network: {', '.join(attempts)}")
