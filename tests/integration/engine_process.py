"""Run the real ``algotrendy serve`` console script as a subprocess and read its JSON logs.

The engine writes an admin API key to ``<data_dir>/admin-credentials.json`` on its first start;
``EngineProcess.authorization`` is that credential, ``channel()`` / ``aio_channel()`` are channels
that send it (or another role's / none, see grpc_auth.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_auth import admin_authorization, aio_channel, sync_channel

ALGOTRENDY = str(Path(sys.executable).with_name("algotrendy"))


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without ALGOTRENDY_* config, so only what a test sets applies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALGOTRENDY_")}
    env.update(extra)
    return env


class EngineProcess:
    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.cmd = [
            ALGOTRENDY,
            "serve",
            "--data-dir",
            str(data_dir),
            "--grpc-port",
            "0",
            "--metrics-port",
            "0",
            "--log-format",
            "json",
            *args,
        ]
        self.proc = subprocess.Popen(
            self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or clean_env(), text=True
        )
        self.logs: list[dict[str, Any]] = []
        self.raw_stderr: list[str] = []
        self._started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw_stderr.append(line)
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            self.logs.append(record)
            if record.get("event") == "engine.started":
                self._started.set()

    def wait_started(self, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while not self._started.wait(0.05):
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise AssertionError(f"engine exited with {self.proc.returncode}: {''.join(self.raw_stderr)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"engine did not start in {timeout_s} s: {''.join(self.raw_stderr)}")
        return self.event("engine.started")

    def event(self, name: str) -> dict[str, Any]:
        return next(r for r in self.logs if r.get("event") == name)

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.event('engine.started')['grpc_port']}"

    @property
    def authorization(self) -> str:
        """``ApiKey <admin key>`` from the engine's admin credential file (after ``wait_started``)."""
        return admin_authorization(self.data_dir)

    def channel(self, authorization: str | bool | None = True) -> grpc.Channel:
        """A blocking channel: as admin by default, ``None`` without credential, or the given one."""
        return sync_channel(
            self.grpc_target, self.authorization if authorization is True else authorization or None
        )

    def aio_channel(self, authorization: str | bool | None = True) -> grpc.aio.Channel:
        """A grpc.aio channel: as admin by default, ``None`` without credential, or the given one."""
        return aio_channel(
            self.grpc_target, self.authorization if authorization is True else authorization or None
        )

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.event('engine.started')['metrics_port']}/metrics"

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 5.0) -> int:
        """Send ``sig`` and wait at most ``timeout_s`` for the process to exit; returns its status."""
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return code

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        code = self.proc.wait(timeout=timeout_s)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
