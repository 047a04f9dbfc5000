"""A local stand-in for QuestDB's ILP endpoints, for tests: it captures every row it is sent.

- ``IlpHttpServer``: ``POST /write`` (ILP over HTTP, acknowledged with 204) and ``GET /exec?query=``
  (DDL, answered ``{"ddl": "OK"}``), on 127.0.0.1. ``down()``/``up()`` close and reopen the port
  (an outage), ``hold()``/``release()`` make writes hang (a stuck server).
- ``IlpTcpServer``: ILP over a plain TCP socket (newline-separated lines, no acknowledgements).

``parse_line`` turns one ILP text line back into ``(table, tags, fields, ts_ns)``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Row = tuple[str, dict[str, str], dict[str, Any], int]


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _field_value(text: str) -> Any:
    if text.startswith('"'):
        return text[1:-1]
    if text.endswith("i"):
        return int(text[:-1])
    if text.endswith("t"):
        return ("ts_us", int(text[:-1]))
    if text.endswith("n"):
        return ("ts_ns", int(text[:-1]))
    if text in ("t", "T", "true", "TRUE"):
        return True
    if text in ("f", "F", "false", "FALSE"):
        return False
    return float(text)


def parse_line(line: str) -> Row:
    head, fields_text, ts_text = _split_unescaped(line, " ")
    table, *tag_parts = _split_unescaped(head, ",")
    tags = dict(part.split("=", 1) for part in tag_parts)
    fields = {}
    for part in _split_unescaped(fields_text, ","):
        key, value = part.split("=", 1)
        fields[key] = _field_value(value)
    return table, tags, fields, int(ts_text)


class IlpHttpServer:
    def __init__(self, port: int = 0) -> None:
        self.rows: list[Row] = []
        self.queries: list[str] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._gate = threading.Event()
        self._gate.set()
        self.waiting = threading.Event()  # set while a write is held at the gate
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self.port = port
        self.up()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with outer._lock:
                    outer._connections.add(self.connection)

            def finish(self) -> None:
                with outer._lock:
                    outer._connections.discard(self.connection)
                super().finish()

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, code: int, body: bytes = b"") -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                if body:
                    self.send_header("Content-Type", "application/json")
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path == "/exec":
                    with outer._lock:
                        outer.queries.append(parse_qs(url.query)["query"][0])
                    self._reply(200, b'{"ddl":"OK"}')
                else:
                    self._reply(404, b'{"error":"not found"}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                if not outer._gate.is_set():
                    outer.waiting.set()
                    outer._gate.wait()
                rows = [parse_line(line) for line in body.splitlines() if line.strip()]
                with outer._lock:
                    outer.requests += 1
                    outer.rows.extend(rows)
                self._reply(204)

        return Handler

    def up(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:  # a real outage also drops the clients' keep-alive connections
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def hold(self) -> None:
        self.waiting.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def snapshot(self) -> list[Row]:
        with self._lock:
            return list(self.rows)


class IlpTcpServer:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        pending = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
                *lines, pending = pending.split(b"\n")
                rows = [parse_line(line.decode()) for line in lines if line.strip()]
                with self._lock:
                    self.rows.extend(rows)

    def snapshot(self) -> list[Row]:
        with self._lock:
            return list(self.rows)

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
