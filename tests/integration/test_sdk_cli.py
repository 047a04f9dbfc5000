"""The ops CLI on the SDK, driven through typer's CliRunner against a real engine subprocess (its
logs stay out of the captured output), plus the console script itself: after an engine started
with the default data directory, commands need no options at all.
"""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_process import ALGOTRENDY, EngineProcess, clean_env
from sdk_harness import wait_for_quotes
from typer.testing import CliRunner

from ops.cli import app

pytestmark = pytest.mark.slow

FAST = ("--set", "sim.step_ms=20", "--set", "auth.argon2_memory_kib=64", "--set", "auth.argon2_time_cost=1")
BTC = "SIM:BTC-USD"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    process = EngineProcess(tmp_path_factory.mktemp("cli") / "data", *FAST)
    process.wait_started(timeout_s=120)
    asyncio.run(wait_for_quotes(process.grpc_target, process.data_dir))
    yield process
    process.stop()


@pytest.fixture
def cli(engine: EngineProcess, tmp_path: Path) -> Any:
    """``cli(*args)`` -> click Result; target, admin credentials and a private sessions folder set."""
    runner = CliRunner()
    env = {
        "ALGOTRENDY_TARGET": engine.grpc_target,
        "ALGOTRENDY_DATA_DIR": str(engine.data_dir),
        "ALGOTRENDY_CONFIG_DIR": str(tmp_path / "config"),
        "ALGOTRENDY_API_KEY": None,
        "ALGOTRENDY_USER": None,
        "ALGOTRENDY_PASSWORD": None,
        "COLUMNS": "200",
    }

    def invoke(*args: str, **extra_env: str | None) -> Any:
        return runner.invoke(app, list(args), env={**env, **extra_env})

    return invoke


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _ask(cli: Any) -> Decimal:
    book = _json(cli("book", "show", BTC, "--depth", "1", "--json"))
    return Decimal(book["asks"][0]["price"])


def test_status_when_local_admin_file_then_json_and_table(cli: Any) -> None:
    report = _json(cli("status", "--json"))
    assert report["engine_state"] == "RUNNING"
    assert {c["name"] for c in report["components"]} >= {"store", "grpc", "trading"}
    human = cli("status")
    assert human.exit_code == 0
    assert "event-loop lag" in human.stdout and "RUNNING" in human.stdout
    who = _json(cli("whoami", "--json"))
    assert (who["user"], who["role"], who["credential"]) == ("admin", "ADMIN", "API_KEY")


def test_orders_when_submitted_amended_canceled_then_each_step_reported(cli: Any) -> None:
    ask = _ask(cli)
    resting = str(ask - Decimal("30.0"))
    order = _json(
        cli("orders", "submit", BTC, "buy", "0.002", "--price", resting, "--id", "cli-rest-1", "--json")
    )
    assert order["client_order_id"] == "cli-rest-1"
    assert Decimal(order["quantity"]) == Decimal("0.002") and Decimal(order["price"]) == Decimal(resting)
    listed = _json(cli("orders", "list", "--open", "--json"))
    assert "cli-rest-1" in [o["client_order_id"] for o in listed]
    amended = _json(cli("orders", "amend", "cli-rest-1", "--qty", "0.001", "--json"))
    assert Decimal(amended["quantity"]) == Decimal("0.001") or amended["status"] == "PENDING_UPDATE"
    canceled = _json(cli("orders", "cancel", "cli-rest-1", "--json"))
    assert canceled["status"] in ("PENDING_CANCEL", "CANCELED")
    table = cli("orders", "get", "cli-rest-1")
    assert table.exit_code == 0 and "cli-rest-1" in table.stdout
    _json(cli("orders", "submit", BTC, "buy", "0.001", "--price", resting, "--id", "cli-rest-2", "--json"))
    # A retry of the same order (same id and terms) succeeds with that order, nothing new sent.
    retry = _json(
        cli("orders", "submit", BTC, "buy", "0.0010", "--price", resting, "--id", "cli-rest-2", "--json")
    )
    assert retry["client_order_id"] == "cli-rest-2" and retry["status"] in ("SUBMITTED", "ACCEPTED")
    taken = cli("orders", "submit", BTC, "buy", "0.002", "--price", resting, "--id", "cli-rest-2")
    assert taken.exit_code == 1 and "ALREADY_EXISTS" in taken.stderr
    swept = _json(cli("orders", "cancel-all", "--instrument", BTC, "--json"))
    assert "cli-rest-2" in [o["client_order_id"] for o in swept]


def test_orders_when_refused_then_exit_codes_and_one_line_reason(cli: Any, engine: EngineProcess) -> None:
    ask = _ask(cli)
    denied = cli("orders", "submit", BTC, "buy", "100000", "--price", str(ask), "--id", "cli-huge")
    assert denied.exit_code == 1
    assert "RISK_MAX_ORDER_QUANTITY" in denied.stderr
    assert "quantity 100000" in denied.stderr and "maximum order quantity" in denied.stderr
    again = cli("orders", "submit", BTC, "buy", "100000", "--price", str(ask), "--id", "cli-huge")
    assert again.exit_code == 1 and "RISK_MAX_ORDER_QUANTITY" in again.stderr  # the same answer
    shown = cli("orders", "get", "cli-huge")
    assert shown.exit_code == 0 and "RISK_MAX_ORDER_QUANTITY: SIM:BTC-USD: quantity 100000" in shown.stdout
    off_tick = cli("orders", "submit", BTC, "buy", "0.001", "--price", str(ask + Decimal("0.05")))
    assert off_tick.exit_code == 2
    assert "PRICE_OFF_TICK" in off_tick.stderr and "price" in off_tick.stderr
    missing = cli("orders", "get", "no-such-order")
    assert missing.exit_code == 1 and "NOT_FOUND" in missing.stderr
    bad_key = cli("status", "--api-key", "atk_bogus")
    assert bad_key.exit_code == 4 and "UNAUTHENTICATED" in bad_key.stderr
    nobody = cli("status", "--target", "127.0.0.1:1", "--timeout", "2")
    assert nobody.exit_code == 3 and "unreachable" in nobody.stderr
    zero = cli("orders", "submit", BTC, "buy", "0", "--price", str(ask))
    assert zero.exit_code == 2
    assert zero.stderr.strip() == "algotrendy: INVALID_ARGUMENT: quantity: must be positive, got 0"
    bad_side = cli("orders", "submit", BTC, "sideways", "1")
    assert bad_side.exit_code == 2 and "buy" in bad_side.stderr


def test_fill_when_market_order_then_positions_balances_pnl_in_exact_decimals(cli: Any) -> None:
    _json(cli("orders", "submit", BTC, "buy", "0.003", "--id", "cli-fill", "--json"))
    positions = _json(cli("positions", "--json"))
    balances = _json(cli("balances", "--json"))
    pnl = _json(cli("pnl", "--json"))
    assert all(isinstance(p["quantity"], str) for p in positions)
    assert any(b["asset"] == "USD" for b in balances["balances"])
    assert isinstance(pnl["equity"], str) and Decimal(pnl["equity"]) > 0
    assert cli("positions").exit_code == 0
    table = cli("pnl")
    assert table.exit_code == 0
    # The title is one line even though the table is narrower (rich would wrap it).
    title = next(line for line in table.stdout.splitlines() if "account main" in line)
    assert title.strip().endswith("UTC"), table.stdout


def test_risk_when_halted_then_orders_denied_until_resumed(cli: Any) -> None:
    try:
        halted = _json(cli("risk", "halt", "--reason", "cli test", "--json"))
        assert halted["current"] == "HALTED"
        denied = cli("orders", "submit", BTC, "buy", "0.001")
        assert denied.exit_code == 1 and "TRADING_HALTED" in denied.stderr
        assert "HALTED" in cli("risk", "show").stdout
    finally:
        resumed = _json(cli("risk", "resume", "--reason", "cli test over", "--json"))
    assert resumed["current"] == "ACTIVE"
    reducing = _json(cli("risk", "reduce-only", "--account", "main", "--reason", "wind down", "--json"))
    assert reducing["effective"] == "REDUCING"
    assert (
        _json(cli("risk", "resume", "--account", "main", "--reason", "done", "--json"))["effective"]
        == "ACTIVE"
    )
    assert cli("risk", "halt").exit_code == 2  # --reason is required


def test_risk_set_when_some_fields_given_then_others_kept(cli: Any) -> None:
    before = _json(cli("risk", "show", "--json"))["limits"]["instruments"][BTC]
    changed = _json(cli("risk", "set", "instrument", BTC, "price_band_bps=400", "--reason", "cli", "--json"))
    assert changed["current"]["price_band_bps"] == 400
    assert Decimal(changed["current"]["max_position"]) == Decimal(before["max_position"])
    assert Decimal(changed["current"]["max_order_quantity"]) == Decimal(before["max_order_quantity"])
    # A first change of an instrument's limits: its quantities come back on the instrument's grid
    # (10000 -> 10000.00); the table shows both sides alike, so unchanged reads unchanged.
    shown = cli("risk", "set", "instrument", "SIM:SOL-USD", "price_band_bps=450", "--reason", "cli")
    assert shown.exit_code == 0, shown.output
    rows = {line.split()[0]: line.split()[1:] for line in shown.stdout.splitlines() if line.strip()}
    assert rows["price_band_bps"][1:] == ["450", "*"]
    for name in ("max_order_quantity", "max_position"):
        assert len(rows[name]) == 2 and rows[name][0] == rows[name][1], rows[name]
    bad = cli("risk", "set", "instrument", BTC, "price_band_bps=lots")
    assert bad.exit_code == 2
    unknown = cli("risk", "set", "instrument", BTC, "colour=blue")
    assert unknown.exit_code == 2 and "max_order_quantity" in unknown.stderr


def test_users_keys_login_logout_when_managed_from_cli(cli: Any, tmp_path: Path) -> None:
    created = _json(
        cli("users", "create", "carol", "--role", "trader", "--new-password", "carol-password-1", "--json")
    )
    assert (created["user"], created["role"]) == ("carol", "TRADER")
    assert "carol" in [u["user"] for u in _json(cli("users", "list", "--json"))]

    login = cli("login", "--user", "carol", "--password", "carol-password-1")
    assert login.exit_code == 0, login.output
    sessions = tmp_path / "config" / "sessions.json"
    assert stat.S_IMODE(sessions.stat().st_mode) == 0o600
    assert "carol-password-1" not in sessions.read_text()
    who = _json(cli("whoami", "--json"))
    assert (who["user"], who["credential"]) == ("carol", "ACCESS_TOKEN")
    denied = cli("users", "list")
    assert denied.exit_code == 4 and "PERMISSION_DENIED" in denied.stderr
    key = _json(cli("api-keys", "create", "carol-ci", "--role", "viewer", "--json"))
    assert key["api_key"].startswith(key["key"]["prefix"])
    assert cli("logout").exit_code == 0
    assert _json(cli("whoami", "--json"))["user"] == "admin"  # back to the local admin file

    viewer = _json(cli("whoami", "--json", ALGOTRENDY_API_KEY=key["api_key"]))
    assert (viewer["user"], viewer["role"]) == ("carol", "VIEWER")
    listed = _json(cli("api-keys", "list", "--for", "carol", "--json"))
    assert key["key"]["key_id"] in [k["key_id"] for k in listed]
    assert _json(cli("api-keys", "revoke", key["key"]["key_id"], "--json"))["revoked"] is True
    refused = cli("whoami", ALGOTRENDY_API_KEY=key["api_key"])
    assert refused.exit_code == 4
    assert _json(cli("users", "set-role", "carol", "viewer", "--json"))["role"] == "VIEWER"
    assert _json(cli("users", "disable", "carol", "--json"))["disabled"] is True
    assert cli("login", "--user", "carol", "--password", "carol-password-1").exit_code == 4
    assert _json(cli("users", "enable", "carol", "--json"))["disabled"] is False


def test_audit_when_remote_then_same_chain_as_offline(cli: Any, engine: EngineProcess) -> None:
    _json(cli("risk", "resume", "--reason", "audit me", "--json"))
    remote = _json(cli("audit", "verify", "--remote", "--json"))
    assert remote["ok"] is True and remote["records"] >= 1
    offline = _json(cli("audit", "verify", "--data-dir", str(engine.data_dir), "--json"))
    assert offline["ok"] is True and offline["records"] >= remote["records"]
    tail = _json(cli("audit", "tail", "-n", "3", "--remote", "--json"))
    assert len(tail) == 3
    assert [r["seq"] for r in tail] == list(range(tail[0]["seq"], tail[0]["seq"] + 3))
    assert any("SetTradingState" in r["action"] for r in tail)
    offline_tail = _json(cli("audit", "tail", "-n", "50", "--data-dir", str(engine.data_dir), "--json"))
    by_seq = {r["seq"]: r["hash"] for r in offline_tail}
    assert all(by_seq.get(r["seq"]) == r["hash"] for r in tail)


def test_stream_when_json_and_count_then_sequenced_lines(cli: Any) -> None:
    _json(cli("orders", "submit", BTC, "buy", "0.001", "--id", "cli-stream", "--json"))
    result = cli("stream", "orders", "--from-sequence", "1", "--count", "4", "--json")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4]
    market = cli("stream", "market", BTC, "--channel", "bbo", "--count", "2", "--json")
    assert market.exit_code == 0, market.output
    quotes = [json.loads(line) for line in market.stdout.splitlines()]
    assert [q["type"] for q in quotes] == ["BestBidOffer", "BestBidOffer"]
    assert Decimal(quotes[0]["bid_price"]) < Decimal(quotes[0]["ask_price"])
    live = cli("stream", "orders", "--from-sequence", "1", "--count", "3")
    assert live.exit_code == 0 and "order events" in live.stdout
    quiet = cli(
        "stream", "orders", "--account", "main", "--instrument", "SIM:SOL-USD", "--duration", "0.5", "--json"
    )
    assert quiet.exit_code == 0 and quiet.stdout == ""  # a quiet live stream still ends on time


def test_console_script_when_engine_uses_default_data_dir_then_no_options_needed(
    tmp_path: Path, engines: list[EngineProcess]
) -> None:
    """`make run` in a checkout, then CLI commands in another shell of the same folder."""
    local = EngineProcess(tmp_path / ".algotrendy", *FAST)
    engines.append(local)
    local.wait_started(timeout_s=120)
    env = clean_env(ALGOTRENDY_TARGET=local.grpc_target, ALGOTRENDY_CONFIG_DIR=str(tmp_path / "cfg"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ALGOTRENDY, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    who = run("whoami", "--json")
    assert who.returncode == 0, who.stderr
    assert json.loads(who.stdout)["user"] == "admin"
    instruments = run("instruments")
    assert instruments.returncode == 0 and BTC in instruments.stdout


def test_stream_table_when_piped_then_rows_are_not_cut_to_80_columns(cli: Any) -> None:
    long_id = "cli-stream-table-with-a-long-id-0001"
    _json(cli("orders", "submit", BTC, "buy", "0.001", "--id", long_id, "--json"))
    last = _json(cli("orders", "get", long_id, "--json"))["last_sequence"]
    # No $COLUMNS and not a terminal: the live table gets the wide line every other table gets.
    table = cli("stream", "orders", "--from-sequence", str(last), "--count", "1", COLUMNS=None)
    assert table.exit_code == 0, table.output
    assert long_id in table.stdout and BTC in table.stdout and "…" not in table.stdout


def test_orders_list_when_many_then_the_latest_window_oldest_first_and_all_on_request(cli: Any) -> None:
    resting = str(_ask(cli) - Decimal("40.0"))
    for i in range(3):
        _json(
            cli(
                "orders", "submit", BTC, "buy", "0.001", "--price", resting, "--id", f"cli-list-{i}", "--json"
            )
        )
    window = cli("orders", "list", "-n", "2")
    assert window.exit_code == 0, window.output
    assert "the last 2 orders" in window.stdout and "--all" in window.stdout
    assert "cli-list-0" not in window.stdout
    assert window.stdout.index("cli-list-1") < window.stdout.index("cli-list-2")  # the latest at the bottom
    latest = _json(cli("orders", "list", "-n", "2", "--json"))
    assert [o["client_order_id"] for o in latest] == ["cli-list-1", "cli-list-2"]
    every = _json(cli("orders", "list", "--all", "--json"))
    ids = [o["client_order_id"] for o in every]
    assert ids[-3:] == ["cli-list-0", "cli-list-1", "cli-list-2"] and len(ids) == len(set(ids))
    _json(cli("orders", "cancel-all", "--instrument", BTC, "--json"))
