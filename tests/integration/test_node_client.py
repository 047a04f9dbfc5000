"""The Node.js client (clients/node, @grpc/grpc-js) against a real engine subprocess: ``node --test``
logs in as a trader, subscribes to market data, submits an order and receives that order's fill.

``make test`` installs the client's locked npm dependencies first (``npm ci`` in a stamp step); this
test never touches the network. It skips only when ``node`` is not installed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from engine_process import EngineProcess, clean_env

from algotrendy_sdk import AsyncClient
from algotrendy_sdk.auth import admin_file_credentials

NODE_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "node"
NODE = shutil.which("node")
TRADER, PASSWORD = "node-trader", "node-trader-password"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NODE is None, reason="node is not installed (clients/node needs Node.js >= 18)"),
]


async def _create_trader(target: str, data_dir: Path) -> None:
    async with AsyncClient(target, admin_file_credentials(data_dir)) as admin:
        await admin.create_user(TRADER, PASSWORD, "trader")


def test_node_client_when_logged_in_then_market_data_order_and_its_fill(
    tmp_path: Path, engines: list[EngineProcess]
) -> None:
    assert (NODE_CLIENT / "node_modules" / "@grpc" / "grpc-js").is_dir(), (
        "clients/node/node_modules is missing: `make test` runs `npm ci` there first "
        "(or run `cd clients/node && npm ci`)"
    )
    data_dir = tmp_path / "data"
    engine = EngineProcess(
        data_dir,
        "--set",
        "sim.step_ms=20",
        "--set",
        "auth.argon2_memory_kib=64",
        "--set",
        "auth.argon2_time_cost=1",
    )
    engines.append(engine)
    engine.wait_started(timeout_s=120)
    asyncio.run(_create_trader(engine.grpc_target, data_dir))

    env = clean_env(
        ALGOTRENDY_TARGET=engine.grpc_target,
        ALGOTRENDY_USER=TRADER,
        ALGOTRENDY_PASSWORD=PASSWORD,
        NO_COLOR="1",
    )
    env.pop("NODE_OPTIONS", None)
    result = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", "test/"],
        cwd=NODE_CLIENT,
        env={**env, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"^\S*\s*pass (\d+)", output, re.MULTILINE)
    failed = re.search(r"^\S*\s*fail (\d+)", output, re.MULTILINE)
    skipped = re.search(r"^\S*\s*skipped (\d+)", output, re.MULTILINE)
    assert passed and int(passed.group(1)) == 2, output
    assert failed and int(failed.group(1)) == 0, output
    assert skipped and int(skipped.group(1)) == 0, output
