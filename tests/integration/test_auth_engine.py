"""Auth in the engine process (in this process, real LMDB, real ports): the first-start admin
credential file, users and keys surviving a restart, the audit actor of trading commands, TLS and
mutual TLS with trustme certificates."""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme
from grpc_auth import admin_authorization, aio_channel

from algotrendy.v1 import admin_pb2, admin_pb2_grpc, auth_pb2, auth_pb2_grpc, engine_pb2, engine_pb2_grpc
from engine.api.auth import ADMIN_CREDENTIALS_FILE
from engine.app import Engine
from engine.config import load_config
from engine.core.errors import StartupError

PASSWORD = "engine-password-1"


def config(data_dir: Path, **overrides: Any) -> Any:
    return load_config(
        env={},
        overrides={
            "data_dir": str(data_dir),
            "grpc.port": 0,
            "metrics.enabled": False,
            "store.durability": "async",
            "auth.argon2_time_cost": 1,
            "auth.argon2_memory_kib": 64,
            "auth.argon2_parallelism": 1,
            **overrides,
        },
    )


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    instance = Engine(config(tmp_path / "data"))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


def target(engine: Engine) -> str:
    return f"127.0.0.1:{engine.grpc.port}"


async def test_first_start_when_no_users_then_admin_key_file_0600_that_authenticates(engine: Engine) -> None:
    path = engine.config.data_dir / ADMIN_CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((engine.config.data_dir / "auth-signing.key").stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert set(document) == {"user", "api_key", "created_at"} and document["user"] == "admin"
    assert document["api_key"].startswith("atk_")
    async with aio_channel(target(engine), admin_authorization(engine.config.data_dir)) as channel:
        me = await auth_pb2_grpc.AuthServiceStub(channel).WhoAmI(auth_pb2.WhoAmIRequest())
    assert (me.user, me.role) == ("admin", auth_pb2.ROLE_ADMIN)


async def test_restart_when_users_exist_then_file_kept_and_users_keys_and_tokens_still_work(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = Engine(config(data_dir))
    await first.start()
    try:
        admin = admin_authorization(data_dir)
        async with aio_channel(target(first), admin) as channel:
            await admin_pb2_grpc.AdminServiceStub(channel).CreateUser(
                admin_pb2.CreateUserRequest(user="alice", password=PASSWORD, role=auth_pb2.ROLE_TRADER)
            )
            tokens = await auth_pb2_grpc.AuthServiceStub(channel).Login(
                auth_pb2.LoginRequest(user="alice", password=PASSWORD)
            )
            key = await auth_pb2_grpc.AuthServiceStub(channel).CreateApiKey(
                auth_pb2.CreateApiKeyRequest(name="k")
            )
    finally:
        await first.stop()
    written = (data_dir / ADMIN_CREDENTIALS_FILE).read_text()

    second = Engine(config(data_dir))
    await second.start()
    try:
        assert (data_dir / ADMIN_CREDENTIALS_FILE).read_text() == written  # not rewritten
        for authorization in (admin, f"Bearer {tokens.access_token}", f"ApiKey {key.api_key}"):
            async with aio_channel(target(second), authorization) as channel:
                await auth_pb2_grpc.AuthServiceStub(channel).WhoAmI(auth_pb2.WhoAmIRequest())
        async with aio_channel(target(second), None) as channel:
            refreshed = await auth_pb2_grpc.AuthServiceStub(channel).Refresh(
                auth_pb2.RefreshRequest(refresh_token=tokens.refresh_token)
            )
        assert refreshed.user == "alice"
    finally:
        await second.stop()


async def test_trading_command_when_called_then_audit_log_names_the_principal(engine: Engine) -> None:
    from algotrendy.v1 import risk_pb2, risk_pb2_grpc

    admin = admin_authorization(engine.config.data_dir)
    async with aio_channel(target(engine), admin) as channel:
        await risk_pb2_grpc.RiskServiceStub(channel).SetTradingState(
            risk_pb2.SetTradingStateRequest(state=3, reason="drill")
        )
        records = (
            await admin_pb2_grpc.AdminServiceStub(channel).QueryAudit(
                admin_pb2.QueryAuditRequest(action="SetTradingState")
            )
        ).records
    key_id = admin.split("_")[1]
    assert [(r.actor, r.action, r.result) for r in records] == [
        (f"admin/key:{key_id}", "SetTradingState", "OK")
    ]


# == TLS ==============================================================================================
@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client_ca = trustme.CA()
    client = client_ca.issue_cert("trader@example.com")
    files = {
        "cert": tmp_path / "server.pem",
        "key": tmp_path / "server.key",
        "client_ca": tmp_path / "client-ca.pem",
    }
    server.cert_chain_pems[0].write_to_path(str(files["cert"]))
    for blob in server.cert_chain_pems[1:]:
        blob.write_to_path(str(files["cert"]), append=True)
    server.private_key_pem.write_to_path(str(files["key"]))
    client_ca.cert_pem.write_to_path(str(files["client_ca"]))
    return {
        "files": files,
        "ca_pem": ca.cert_pem.bytes(),
        "client_cert": b"".join(b.bytes() for b in client.cert_chain_pems),
        "client_key": client.private_key_pem.bytes(),
    }


async def _status_over(engine: Engine, credentials: grpc.ChannelCredentials) -> grpc.StatusCode:
    authorization = admin_authorization(engine.config.data_dir)
    async with aio_channel(f"localhost:{engine.grpc.port}", authorization, credentials) as channel:
        try:
            await engine_pb2_grpc.EngineServiceStub(channel).GetStatus(
                engine_pb2.GetStatusRequest(), timeout=5
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def _plaintext_status(engine: Engine) -> grpc.StatusCode:
    async with aio_channel(target(engine), admin_authorization(engine.config.data_dir)) as channel:
        try:
            await engine_pb2_grpc.EngineServiceStub(channel).GetStatus(
                engine_pb2.GetStatusRequest(), timeout=3
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_tls_when_configured_then_trusted_clients_served_and_plaintext_refused(
    tmp_path: Path, pki: dict[str, Any]
) -> None:
    files = pki["files"]
    engine = Engine(
        config(tmp_path / "data", **{"tls.cert_file": str(files["cert"]), "tls.key_file": str(files["key"])})
    )
    await engine.start()
    try:
        assert await _status_over(engine, grpc.ssl_channel_credentials(pki["ca_pem"])) is grpc.StatusCode.OK
        assert await _plaintext_status(engine) is grpc.StatusCode.UNAVAILABLE
        # A client that does not trust the server's CA does not get through either.
        stranger_ca = trustme.CA().cert_pem.bytes()
        assert (
            await _status_over(engine, grpc.ssl_channel_credentials(stranger_ca))
            is grpc.StatusCode.UNAVAILABLE
        )
    finally:
        await engine.stop()


async def test_mutual_tls_when_client_ca_configured_then_only_clients_with_its_certificate_served(
    tmp_path: Path, pki: dict[str, Any]
) -> None:
    files = pki["files"]
    engine = Engine(
        config(
            tmp_path / "data",
            **{
                "tls.cert_file": str(files["cert"]),
                "tls.key_file": str(files["key"]),
                "tls.client_ca_file": str(files["client_ca"]),
            },
        )
    )
    await engine.start()
    try:
        with_cert = grpc.ssl_channel_credentials(pki["ca_pem"], pki["client_key"], pki["client_cert"])
        assert await _status_over(engine, with_cert) is grpc.StatusCode.OK
        without_cert = grpc.ssl_channel_credentials(pki["ca_pem"])
        assert await _status_over(engine, without_cert) is grpc.StatusCode.UNAVAILABLE
    finally:
        await engine.stop()


async def test_tls_when_files_unreadable_then_refuses_to_start_naming_the_key(tmp_path: Path) -> None:
    engine = Engine(
        config(
            tmp_path / "data",
            **{"tls.cert_file": str(tmp_path / "nope.pem"), "tls.key_file": str(tmp_path / "k")},
        )
    )
    with pytest.raises(StartupError, match=r"tls\.cert_file"):
        await engine.start()
    assert not (tmp_path / "data" / "lmdb").exists()  # refused before any state opened


def test_tls_config_when_incomplete_then_config_error() -> None:
    from engine.core.errors import ConfigError

    with pytest.raises(ConfigError, match="cert_file and key_file"):
        load_config(env={}, overrides={"tls.cert_file": "x.pem"})
    with pytest.raises(ConfigError, match="client_ca_file"):
        load_config(env={}, overrides={"tls.client_ca_file": "ca.pem"})


async def test_engine_without_trading_when_started_then_auth_has_its_own_store_writer(tmp_path: Path) -> None:
    engine = Engine(config(tmp_path / "data", **{"sim.enabled": False}))
    await engine.start()
    try:
        async with aio_channel(target(engine), admin_authorization(engine.config.data_dir)) as channel:
            await admin_pb2_grpc.AdminServiceStub(channel).CreateUser(
                admin_pb2.CreateUserRequest(user="alice", password=PASSWORD, role=auth_pb2.ROLE_VIEWER)
            )
            verdict = await admin_pb2_grpc.AdminServiceStub(channel).VerifyAudit(
                admin_pb2.VerifyAuditRequest()
            )
        assert verdict.ok and verdict.records == 1
    finally:
        await engine.stop()
    assert {c.status.state.name for c in engine.components.values()} == {"STOPPED"}
