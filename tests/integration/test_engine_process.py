"""A real engine process: start, serve gRPC and metrics, shut down on signals, refuse bad starts."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import grpc
import lmdb
import pytest
from engine_process import ALGOTRENDY, EngineProcess, clean_env
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from algotrendy.v1 import common_pb2, engine_pb2, engine_pb2_grpc

pytestmark = pytest.mark.slow


def _status(engine: EngineProcess) -> engine_pb2.GetStatusResponse:
    """GetStatus as the engine's first-start admin (every AlgoTrendy RPC needs a credential)."""
    with engine.channel() as channel:
        return engine_pb2_grpc.EngineServiceStub(channel).GetStatus(engine_pb2.GetStatusRequest(), timeout=5)


def _reflected_services(target: str) -> set[str]:
    with grpc.insecure_channel(target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        return {s.name for r in responses for s in r.list_services_response.service}


def test_engine_when_started_then_serves_status_health_reflection_and_metrics(
    tmp_path: Path, engines
) -> None:
    engine = EngineProcess(tmp_path / "data")
    engines.append(engine)
    started = engine.wait_started()
    assert started["loop"] == "uvloop"

    # No credential: refused; health and reflection stay open.
    with engine.channel(None) as anonymous, pytest.raises(grpc.RpcError) as refused:
        engine_pb2_grpc.EngineServiceStub(anonymous).GetStatus(engine_pb2.GetStatusRequest(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    status = _status(engine)
    assert status.engine_state == engine_pb2.ENGINE_STATE_RUNNING
    assert status.trading_state == common_pb2.TRADING_STATE_ACTIVE
    assert status.pid == engine.proc.pid
    assert status.uptime_ns >= 0
    assert status.version
    components = {c.name: c for c in status.components}
    assert set(components) >= {"store", "bus", "grpc", "metrics", "loop_lag"}
    assert all(c.state == common_pb2.COMPONENT_STATE_RUNNING for c in components.values())

    with grpc.insecure_channel(engine.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "algotrendy.v1.EngineService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert {"algotrendy.v1.EngineService", "grpc.health.v1.Health"} <= _reflected_services(engine.grpc_target)

    metrics = urllib.request.urlopen(engine.metrics_url, timeout=5).read().decode()
    assert "algotrendy_event_loop_lag_seconds_bucket" in metrics
    assert 'grpc_method="GetStatus"' in metrics
    assert "algotrendy_grpc_server_handling_seconds_bucket" in metrics
    assert "process_resident_memory_bytes" in metrics

    # The CLI finds the local engine's admin credential through the data directory.
    cli_env = clean_env(ALGOTRENDY_DATA_DIR=str(engine.data_dir))
    cli = subprocess.run(
        [ALGOTRENDY, "status", "--target", engine.grpc_target, "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        env=cli_env,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    report = json.loads(cli.stdout)
    assert report["engine_state"] == "RUNNING"
    assert report["trading_state"] == "ACTIVE"
    assert {c["name"] for c in report["components"]} >= {"store", "grpc"}
    human = subprocess.run(
        [ALGOTRENDY, "status", "--target", engine.grpc_target],
        capture_output=True,
        text=True,
        timeout=30,
        env=cli_env,
        check=False,
    )
    assert human.returncode == 0
    assert "RUNNING" in human.stdout
    assert "event-loop lag" in human.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_engine_when_signalled_then_exits_0_within_5s_and_data_dir_reopens(
    tmp_path: Path, engines, sig
) -> None:
    data_dir = tmp_path / "data"
    first = EngineProcess(data_dir)
    engines.append(first)
    first.wait_started()
    _status(first)
    assert first.stop(sig, timeout_s=5.0) == 0
    events = [r["event"] for r in first.logs]
    assert events.index("engine.draining") < events.index("engine.stopped")

    # The data directory is intact: LMDB opens read-only and records a clean stop after the start.
    env = lmdb.open(str(data_dir / "lmdb"), readonly=True, max_dbs=4, lock=False)
    with env.begin(db=env.open_db(b"meta", create=False)) as txn:
        start = int.from_bytes(txn.get(b"last_start_ns"), "big")
        clean = int.from_bytes(txn.get(b"last_clean_stop_ns"), "big")
        assert int.from_bytes(txn.get(b"start_count"), "big") == 1
    env.close()
    assert clean >= start

    # ... and a new engine reopens it (lock released, no unclean-shutdown warning).
    second = EngineProcess(data_dir)
    engines.append(second)
    second.wait_started()
    store = next(c for c in _status(second).components if c.name == "store")
    assert store.state == common_pb2.COMPONENT_STATE_RUNNING
    assert store.detail == ""
    assert second.stop() == 0


def test_engine_when_killed_with_sigkill_then_restart_succeeds_and_reports_unclean_stop(
    tmp_path: Path, engines
) -> None:
    data_dir = tmp_path / "data"
    first = EngineProcess(data_dir)
    engines.append(first)
    first.wait_started()
    first.stop(signal.SIGKILL)
    second = EngineProcess(data_dir)
    engines.append(second)
    second.wait_started()
    store = next(c for c in _status(second).components if c.name == "store")
    assert "did not shut down cleanly" in store.detail
    assert any(r.get("event") == "store.previous_run_crashed" for r in second.logs)
    assert second.stop() == 0


def test_second_engine_when_same_data_dir_then_refused_with_clear_message(tmp_path: Path, engines) -> None:
    first = EngineProcess(tmp_path / "data")
    engines.append(first)
    first.wait_started()
    second = EngineProcess(tmp_path / "data")
    engines.append(second)
    assert second.wait_exit() == 2
    last = second.raw_stderr[-1]
    assert last.startswith("algotrendy: cannot start: data directory")
    assert f"pid {first.proc.pid}" in last
    assert first.proc.poll() is None  # the first engine is unaffected
    assert _status(first).engine_state == engine_pb2.ENGINE_STATE_RUNNING


@pytest.mark.parametrize("flag", ["--grpc-port", "--metrics-port"])
def test_engine_when_port_in_use_then_exit_2_naming_the_port(tmp_path: Path, flag: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [
            ALGOTRENDY,
            "serve",
            "--data-dir",
            str(tmp_path / "d"),
            "--grpc-port",
            "0",
            "--metrics-port",
            "0",
            "--log-format",
            "json",
            flag,
            str(port),
        ]
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=60, env=clean_env(), check=False
        )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("algotrendy: cannot start:")
    assert f"port {port}" in last
    assert "already in use" in last
    # Bad input changes nothing: LMDB was never opened, and the data directory lock was released.
    assert not (tmp_path / "d" / "lmdb").exists()
    after = EngineProcess(tmp_path / "d")
    try:
        after.wait_started()
        assert after.stop() == 0
    finally:
        after.kill()


@pytest.mark.parametrize(
    ("toml", "env", "fragment"),
    [
        ("[grpc\nport = 1\n", {}, "invalid TOML"),
        ("[grpc]\nprot = 1\n", {}, "grpc.prot: unknown key"),
        ("[grpc]\nport = 70000\n", {}, "grpc.port: input should be less than or equal to 65535"),
        ("", {"ALGOTRENDY_STORE__DURABILITY": "sometimes"}, "store.durability:"),
        ("", {"ALGOTRENDY_METRICS__PROT": "1"}, "metrics.prot: unknown key"),
    ],
)
def test_serve_when_config_bad_then_exit_2_with_one_line(
    tmp_path: Path, toml: str, env: dict, fragment: str
) -> None:
    path = tmp_path / "engine.toml"
    path.write_text(toml)
    result = subprocess.run(
        [ALGOTRENDY, "serve", "--config", str(path), "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(**env),
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("algotrendy: config error: ")
    assert fragment in lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "d").exists()  # nothing was created or changed


def test_status_when_engine_unreachable_then_exit_3(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        [ALGOTRENDY, "status", "--target", f"127.0.0.1:{port}", "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert result.returncode == 3
    assert "unreachable" in result.stderr
