"""Readers for the recorded sessions in ``exchange-payloads/cryptofeed-sessions``.

Line formats (cryptofeed's recorder): REST ``<url> -> <ts>: <body>``; WebSocket connect
``<url> <-> <ts>``; sent ``<url> <- <ts>: <json>``; received ``<ts>: <json>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

_REST = re.compile(r"^(https?://\S+) -> ([0-9.]+): (.*)$")
_WS_CONNECT = re.compile(r"^(wss?://\S+) <-> ([0-9.]+)$")
_WS_SENT = re.compile(r"^(wss?://\S+) <- ([0-9.]+): (.*)$")
_WS_RECV = re.compile(r"^([0-9.]+): (.*)$")


@dataclass
class RestRecord:
    path: str
    query: dict[str, str]
    body: str


@dataclass
class WsSession:
    url: str
    sent: list[str] = field(default_factory=list)
    #: (receive ts seconds, raw JSON text) in arrival order.
    received: list[tuple[float, str]] = field(default_factory=list)


def read_rest(path: Path) -> list[RestRecord]:
    out = []
    for line in path.read_text().splitlines():
        m = _REST.match(line)
        if m:
            url = urlsplit(m.group(1))
            out.append(RestRecord(url.path, dict(parse_qsl(url.query)), m.group(3)))
    return out


def read_ws(path: Path) -> WsSession:
    session: WsSession | None = None
    for line in path.read_text().splitlines():
        if m := _WS_CONNECT.match(line):
            session = WsSession(m.group(1))
        elif m := _WS_SENT.match(line):
            assert session is not None
            session.sent.append(m.group(3))
        elif m := _WS_RECV.match(line):
            assert session is not None
            session.received.append((float(m.group(1)), m.group(2)))
    if session is None:
        raise ValueError(f"{path}: no websocket session")
    return session


def merge(*sessions: WsSession) -> list[str]:
    """Received messages of several connections in receive-time order."""
    rows = sorted((ts, i, text) for i, s in enumerate(sessions) for ts, text in s.received)
    return [text for _, _, text in rows]
