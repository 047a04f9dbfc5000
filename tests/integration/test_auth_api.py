"""AuthService and AdminService over a real grpc.aio channel (the API harness: real auth store on a
tmp LMDB, the auth interceptor in front of every service): login, refresh rotation, logout, API
keys, lockout, rate limits, user management, audit with the principal, bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson
import pytest
from grpc_auth import aio_channel
from test_orders_api_harness import ROLE_USERS, Api, serve_api, trailers

from algotrendy.v1 import (
    admin_pb2,
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    orders_pb2,
    orders_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
)
from engine.api.auth import Role
from engine.store.audit import AUDIT_DB, tail

PASSWORD = "alice-password-1"


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with serve_api() as api:
        yield api


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def make_user(api: Api, user: str = "alice", role: int = auth_pb2.ROLE_TRADER) -> None:
    await api.admin_api.CreateUser(admin_pb2.CreateUserRequest(user=user, password=PASSWORD, role=role))


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def anonymous(api: Api) -> auth_pb2_grpc.AuthServiceStub:
    return auth_pb2_grpc.AuthServiceStub(await api.channel_as(None))


# == login, tokens, sessions ==========================================================================
async def test_login_when_password_right_then_short_lived_jwt_and_refresh_token_that_authenticate(
    api: Api,
) -> None:
    await make_user(api)
    auth = await anonymous(api)
    tokens = await auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
    assert tokens.user == "alice" and tokens.role == auth_pb2.ROLE_TRADER
    assert tokens.access_token.count(".") == 2  # a JWT
    assert tokens.refresh_token.startswith("art_")
    assert 0 < tokens.access_expires_at_ns < tokens.refresh_expires_at_ns
    me = await auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(tokens.access_token))
    assert (me.user, me.role, me.credential) == (
        "alice",
        auth_pb2.ROLE_TRADER,
        auth_pb2.CREDENTIAL_KIND_ACCESS_TOKEN,
    )
    assert me.expires_at_ns == tokens.access_expires_at_ns


@pytest.mark.parametrize("case", ["wrong password", "unknown user", "disabled user"])
async def test_login_when_credentials_bad_then_one_unauthenticated_answer(api: Api, case: str) -> None:
    await make_user(api)
    if case == "disabled user":
        await api.admin_api.DisableUser(admin_pb2.DisableUserRequest(user="alice"))
    user = "nobody" if case == "unknown user" else "alice"
    password = "wrong-password-1" if case == "wrong password" else PASSWORD
    before = api.auth_state()
    error = await rpc_error((await anonymous(api)).Login(auth_pb2.LoginRequest(user=user, password=password)))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert trailers(error)["algotrendy-reason"] == "BAD_CREDENTIALS"
    assert error.details() == "wrong user name or password"
    assert api.auth_state() == before


async def test_refresh_when_used_then_rotated_and_a_reused_token_revokes_the_session(api: Api) -> None:
    await make_user(api)
    auth = await anonymous(api)
    first = await auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
    second = await auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))
    assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
    await auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(second.access_token))
    # The spent refresh token again: theft assumed, the whole session ends.
    error = await rpc_error(auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token)))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert trailers(error)["algotrendy-reason"] == "REFRESH_REUSED"
    for token in (first.access_token, second.access_token):
        error = await rpc_error(auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(token)))
        assert trailers(error)["algotrendy-reason"] == "SESSION_REVOKED"
    error = await rpc_error(auth.Refresh(auth_pb2.RefreshRequest(refresh_token=second.refresh_token)))
    assert trailers(error)["algotrendy-reason"] == "REFRESH_INVALID"


async def test_logout_when_called_with_the_access_token_then_session_revoked(api: Api) -> None:
    await make_user(api)
    auth = await anonymous(api)
    tokens = await auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
    answer = await auth.Logout(auth_pb2.LogoutRequest(), metadata=bearer(tokens.access_token))
    assert answer.revoked
    error = await rpc_error(auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(tokens.access_token)))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    error = await rpc_error(auth.Refresh(auth_pb2.RefreshRequest(refresh_token=tokens.refresh_token)))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    # Idempotent, with the refresh token too (as admin here).
    assert not (await api.auth_api.Logout(auth_pb2.LogoutRequest(refresh_token=tokens.refresh_token))).revoked


async def test_logout_when_refresh_token_of_another_user_then_permission_denied(api: Api) -> None:
    await make_user(api)
    tokens = await (await anonymous(api)).Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
    viewer = auth_pb2_grpc.AuthServiceStub(await api.channel_as(Role.VIEWER))
    error = await rpc_error(viewer.Logout(auth_pb2.LogoutRequest(refresh_token=tokens.refresh_token)))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    await (await anonymous(api)).Refresh(auth_pb2.RefreshRequest(refresh_token=tokens.refresh_token))


async def test_access_token_when_user_demoted_then_acts_with_the_lower_role_at_once(api: Api) -> None:
    await make_user(api)
    tokens = await (await anonymous(api)).Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
    await api.admin_api.SetUserRole(admin_pb2.SetUserRoleRequest(user="alice", role=auth_pb2.ROLE_VIEWER))
    channel = aio_channel(api.target, f"Bearer {tokens.access_token}")
    try:
        orders = orders_pb2_grpc.OrderServiceStub(channel)
        error = await rpc_error(orders.CancelAllOrders(orders_pb2.CancelAllOrdersRequest(account_id="main")))
        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        assert trailers(error)["algotrendy-reason"] == "ROLE_TOO_LOW"
    finally:
        await channel.close()


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "ApiKey atk_000000000000_" + "A" * 43, "Basic abc", "ApiKey ", "Bearer"],
)
async def test_call_when_credential_invalid_then_unauthenticated_and_nothing_runs(
    api: Api, authorization: str
) -> None:
    channel = aio_channel(api.target, authorization)
    try:
        risk = risk_pb2_grpc.RiskServiceStub(channel)
        before = api.state()
        error = await rpc_error(
            risk.SetTradingState(
                risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_HALTED, reason="x")
            )
        )
    finally:
        await channel.close()
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert api.state() == before and api.audit == []


# == API keys =========================================================================================
async def test_api_key_when_created_then_secret_shown_once_listed_by_prefix_and_revocable(api: Api) -> None:
    trader = auth_pb2_grpc.AuthServiceStub(await api.channel_as(Role.TRADER))
    created = await trader.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="ci", role=auth_pb2.ROLE_VIEWER))
    assert created.api_key.startswith(created.key.prefix + "_")
    assert created.key.role == auth_pb2.ROLE_VIEWER and created.key.user == ROLE_USERS[Role.TRADER]
    listed = await trader.ListApiKeys(auth_pb2.ListApiKeysRequest())
    assert created.key.key_id in [k.key_id for k in listed.keys]
    assert created.api_key not in str(listed)  # never the secret again
    stored = api.auth_store.keys[created.key.key_id]
    assert created.api_key.split("_", 2)[2] not in orjson.dumps(stored).decode()  # hashed at rest

    key_channel = aio_channel(api.target, f"ApiKey {created.api_key}")
    try:
        as_key = auth_pb2_grpc.AuthServiceStub(key_channel)
        me = await as_key.WhoAmI(auth_pb2.WhoAmIRequest())
        assert me.credential == auth_pb2.CREDENTIAL_KIND_API_KEY and me.key_id == created.key.key_id
        assert me.role == auth_pb2.ROLE_VIEWER
        revoked = await trader.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(key_id=created.key.key_id))
        assert revoked.key.revoked and revoked.key.revoked_at_ns > 0
        error = await rpc_error(as_key.WhoAmI(auth_pb2.WhoAmIRequest()))
        assert trailers(error)["algotrendy-reason"] == "API_KEY_REVOKED"
    finally:
        await key_channel.close()
    assert created.key.key_id not in [
        k.key_id for k in (await trader.ListApiKeys(auth_pb2.ListApiKeysRequest())).keys
    ]


async def test_api_key_when_role_above_owner_or_other_user_then_permission_denied(api: Api) -> None:
    viewer = auth_pb2_grpc.AuthServiceStub(await api.channel_as(Role.VIEWER))
    before = api.auth_state()
    error = await rpc_error(
        viewer.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="x", role=auth_pb2.ROLE_TRADER))
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    error = await rpc_error(viewer.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="x", user="admin")))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    error = await rpc_error(viewer.ListApiKeys(auth_pb2.ListApiKeysRequest(user="admin")))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    admin_key = next(k for k in api.auth_store.keys.values() if k["user"] == "admin")
    error = await rpc_error(viewer.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(key_id=admin_key["key_id"])))
    assert error.code() is grpc.StatusCode.NOT_FOUND  # another user's key is not even acknowledged
    assert api.auth_state() == before
    # An admin may create a key for another user.
    created = await api.auth_api.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="for-viewer", user="viewer"))
    assert created.key.user == "viewer" and created.key.role == auth_pb2.ROLE_VIEWER


async def test_api_key_when_expired_then_unauthenticated(api: Api) -> None:
    created = await api.auth_api.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="short", expires_in_s=1))
    api.auth_store.keys[created.key.key_id]["expires_at_ns"] = 1  # as if a second had passed long ago
    channel = aio_channel(api.target, f"ApiKey {created.api_key}")
    try:
        error = await rpc_error(auth_pb2_grpc.AuthServiceStub(channel).WhoAmI(auth_pb2.WhoAmIRequest()))
    finally:
        await channel.close()
    assert trailers(error)["algotrendy-reason"] == "API_KEY_EXPIRED"


# == lockout and rate limits ==========================================================================
async def test_login_when_user_fails_repeatedly_then_locked_out_even_with_the_right_password() -> None:
    async with serve_api(auth_overrides={"auth.login_max_failures": 3, "auth.login_lockout_s": 60}) as api:
        await make_user(api)
        auth = await anonymous(api)
        for _ in range(3):
            error = await rpc_error(
                auth.Login(auth_pb2.LoginRequest(user="alice", password="wrong-password"))
            )
            assert error.code() is grpc.StatusCode.UNAUTHENTICATED
        error = await rpc_error(auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD)))
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        meta = trailers(error)
        assert meta["algotrendy-reason"] == "LOGIN_LOCKED"
        assert 0 < int(meta["retry-after-ms"]) <= 60_000
        # Another user from the same address is not locked (the per-peer limit is higher).
        await make_user(api, "bob")
        await auth.Login(auth_pb2.LoginRequest(user="bob", password=PASSWORD))


async def test_login_when_one_address_fails_for_many_users_then_the_address_is_locked_out() -> None:
    overrides = {"auth.login_max_failures_per_peer": 4, "auth.login_lockout_s": 60}
    async with serve_api(auth_overrides=overrides) as api:
        await make_user(api)
        auth = await anonymous(api)
        for n in range(4):
            await rpc_error(auth.Login(auth_pb2.LoginRequest(user=f"guess{n}", password="wrong-password")))
        error = await rpc_error(auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD)))
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert trailers(error)["algotrendy-reason"] == "LOGIN_LOCKED"


async def test_rate_limit_when_a_principal_exceeds_its_bucket_then_resource_exhausted_and_others_unaffected() -> (
    None
):
    overrides = {"rate_limits.queries_per_second": 0.5, "rate_limits.queries_burst": 3}
    async with serve_api(auth_overrides=overrides) as api:
        viewer = risk_pb2_grpc.RiskServiceStub(await api.channel_as(Role.VIEWER))
        for _ in range(3):
            await viewer.GetLimits(risk_pb2.GetLimitsRequest())
        error = await rpc_error(viewer.GetLimits(risk_pb2.GetLimitsRequest()))
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        meta = trailers(error)
        assert meta["algotrendy-reason"] == "RATE_LIMITED"
        assert 1 <= int(meta["retry-after-ms"]) <= 2_000
        admin_limits = await api.risk_api.GetLimits(risk_pb2.GetLimitsRequest())  # admin: its own bucket
        assert admin_limits.currency
        # Another class of the same principal has its own bucket too.
        trader_orders = orders_pb2_grpc.OrderServiceStub(await api.channel_as(Role.TRADER))
        canceled = await trader_orders.CancelAllOrders(orders_pb2.CancelAllOrdersRequest(account_id="main"))
        assert list(canceled.orders) == []  # answered (nothing open), not refused


async def test_rate_limit_when_login_flooded_from_one_address_then_resource_exhausted() -> None:
    overrides = {"rate_limits.login_per_second": 0.1, "rate_limits.login_burst": 2}
    async with serve_api(auth_overrides=overrides) as api:
        await make_user(api)
        auth = await anonymous(api)
        for _ in range(2):
            await auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
        error = await rpc_error(auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD)))
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert int(trailers(error)["retry-after-ms"]) > 0


# == users ============================================================================================
async def test_users_when_managed_then_listed_disabled_reenabled_and_password_reset(api: Api) -> None:
    created = (
        await api.admin_api.CreateUser(
            admin_pb2.CreateUserRequest(user="alice", password=PASSWORD, role=auth_pb2.ROLE_VIEWER)
        )
    ).user
    assert (created.user, created.role, created.disabled) == ("alice", auth_pb2.ROLE_VIEWER, False)
    error = await rpc_error(
        api.admin_api.CreateUser(admin_pb2.CreateUserRequest(user="alice", password=PASSWORD, role=1))
    )
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    names = [u.user for u in (await api.admin_api.ListUsers(admin_pb2.ListUsersRequest())).users]
    assert names == sorted(names) and {"admin", "alice"} <= set(names)
    assert "argon2" not in str(await api.admin_api.ListUsers(admin_pb2.ListUsersRequest()))

    auth = await anonymous(api)
    tokens = await auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
    await api.admin_api.DisableUser(admin_pb2.DisableUserRequest(user="alice"))
    error = await rpc_error(auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(tokens.access_token)))
    assert trailers(error)["algotrendy-reason"] == "USER_DISABLED"
    await api.admin_api.DisableUser(admin_pb2.DisableUserRequest(user="alice", enable=True))
    await auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(tokens.access_token))

    new_password = "another-password-2"
    await api.admin_api.ResetPassword(admin_pb2.ResetPasswordRequest(user="alice", password=new_password))
    error = await rpc_error(auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(tokens.access_token)))
    assert trailers(error)["algotrendy-reason"] == "SESSION_REVOKED"  # reset ends every session
    await rpc_error(auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD)))
    await auth.Login(auth_pb2.LoginRequest(user="alice", password=new_password))


async def test_users_when_last_admin_demoted_or_disabled_then_failed_precondition(api: Api) -> None:
    for call in (
        api.admin_api.SetUserRole(admin_pb2.SetUserRoleRequest(user="admin", role=auth_pb2.ROLE_TRADER)),
        api.admin_api.DisableUser(admin_pb2.DisableUserRequest(user="admin")),
    ):
        error = await rpc_error(call)
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert trailers(error)["algotrendy-reason"] == "LAST_ADMIN"
    # With a second admin, the first may step down (its key then acts as a trader at once).
    await make_user(api, "admin2", auth_pb2.ROLE_ADMIN)
    await api.admin_api.SetUserRole(admin_pb2.SetUserRoleRequest(user="admin", role=auth_pb2.ROLE_TRADER))
    error = await rpc_error(api.admin_api.ListUsers(admin_pb2.ListUsersRequest()))
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("method", "request_", "field"),
    [
        ("CreateUser", admin_pb2.CreateUserRequest(user="", password=PASSWORD, role=1), "user"),
        ("CreateUser", admin_pb2.CreateUserRequest(user="bad name", password=PASSWORD, role=1), "user"),
        ("CreateUser", admin_pb2.CreateUserRequest(user="x" * 65, password=PASSWORD, role=1), "user"),
        ("CreateUser", admin_pb2.CreateUserRequest(user="bob", password="short", role=1), "password"),
        ("CreateUser", admin_pb2.CreateUserRequest(user="bob", password="p" * 1025, role=1), "password"),
        ("CreateUser", admin_pb2.CreateUserRequest(user="bob", password=PASSWORD), "role"),
        ("CreateUser", admin_pb2.CreateUserRequest(user="bob", password=PASSWORD, role=7), "role"),
        ("SetUserRole", admin_pb2.SetUserRoleRequest(user="admin", role=0), "role"),
        ("SetUserRole", admin_pb2.SetUserRoleRequest(user="", role=1), "user"),
        ("DisableUser", admin_pb2.DisableUserRequest(user="a/b"), "user"),
        ("ResetPassword", admin_pb2.ResetPasswordRequest(user="admin", password=""), "password"),
        ("QueryAudit", admin_pb2.QueryAuditRequest(page_size=1001), "page_size"),
        ("QueryAudit", admin_pb2.QueryAuditRequest(page_token="garbage"), "page_token"),
        ("QueryAudit", admin_pb2.QueryAuditRequest(from_seq=5, to_seq=2), "from_seq"),
        ("QueryAudit", admin_pb2.QueryAuditRequest(since_ns=5, until_ns=2), "since_ns"),
        ("Login", auth_pb2.LoginRequest(user="", password="x"), "user"),
        ("Login", auth_pb2.LoginRequest(user="alice", password=""), "password"),
        ("Login", auth_pb2.LoginRequest(user="a" * 65, password="x"), "user"),
        ("Refresh", auth_pb2.RefreshRequest(refresh_token=""), "refresh_token"),
        ("Refresh", auth_pb2.RefreshRequest(refresh_token="art_zz_yy"), "refresh_token"),
        ("Logout", auth_pb2.LogoutRequest(refresh_token="nope"), "refresh_token"),
        ("Logout", auth_pb2.LogoutRequest(), "refresh_token"),  # an API key has no session
        ("CreateApiKey", auth_pb2.CreateApiKeyRequest(name=""), "name"),
        ("CreateApiKey", auth_pb2.CreateApiKeyRequest(name="n" * 65), "name"),
        ("CreateApiKey", auth_pb2.CreateApiKeyRequest(name="n", role=9), "role"),
        ("CreateApiKey", auth_pb2.CreateApiKeyRequest(name="n", expires_in_s=31_536_001), "expires_in_s"),
        ("RevokeApiKey", auth_pb2.RevokeApiKeyRequest(key_id=""), "key_id"),
        ("RevokeApiKey", auth_pb2.RevokeApiKeyRequest(key_id="XYZ"), "key_id"),
    ],
)
async def test_auth_and_admin_requests_when_a_field_is_bad_then_invalid_argument_naming_it_and_nothing_changes(
    api: Api, method: str, request_: Any, field: str
) -> None:
    stub = api.admin_api if isinstance(request_, tuple(_admin_types())) else api.auth_api
    before = api.auth_state()
    error = await rpc_error(getattr(stub, method)(request_))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert trailers(error)["algotrendy-field"] == field
    assert api.auth_state() == before


def _admin_types() -> list[type]:
    return [
        admin_pb2.CreateUserRequest,
        admin_pb2.SetUserRoleRequest,
        admin_pb2.DisableUserRequest,
        admin_pb2.ResetPasswordRequest,
        admin_pb2.QueryAuditRequest,
    ]


# == audit ============================================================================================
async def test_audit_when_commands_run_then_each_recorded_with_its_principal_and_no_secret(api: Api) -> None:
    await make_user(api)
    auth = await anonymous(api)
    tokens = await auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
    await auth.Refresh(auth_pb2.RefreshRequest(refresh_token=tokens.refresh_token))
    created = await api.auth_api.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="audit-me"))
    trader = orders_pb2_grpc.OrderServiceStub(await api.channel_as(Role.TRADER))
    await trader.CancelAllOrders(orders_pb2.CancelAllOrdersRequest(account_id="main"))
    await api.admin_api.ResetPassword(
        admin_pb2.ResetPasswordRequest(user="alice", password="new-password-33")
    )

    assert [a[0] for a in api.audit] == [
        "CreateUser",
        "Login",
        "Refresh",
        "CreateApiKey",
        "CancelAllOrders",
        "ResetPassword",
    ]
    trader_key = api.auth_store.keys[api.role_keys[Role.TRADER].split("_")[1]]
    admin_key = next(k for k in api.auth_store.keys.values() if k["name"] == "admin-credentials.json")
    assert api.actors == [
        f"admin/key:{admin_key['key_id']}",
        "anonymous",
        "anonymous",
        f"admin/key:{admin_key['key_id']}",
        f"trader/key:{trader_key['key_id']}",
        f"admin/key:{admin_key['key_id']}",
    ]
    assert api.audit[1][1] == {"user": "alice"}
    # The hash-chained log holds the same records, and no secret anywhere in the LMDB file.
    assert api.persistence is not None
    await api.persistence.flush()
    env = api.persistence.store.env
    records = tail(env, 100, db=env.open_db(AUDIT_DB, create=False))
    assert [(r.actor, r.action, r.result) for r in records] == [
        (actor, method, result) for (method, _, result), actor in zip(api.audit, api.actors, strict=True)
    ]
    assert api.data_dir is not None
    raw = (api.data_dir / "lmdb" / "data.mdb").read_bytes()
    for secret in (PASSWORD, "new-password-33", tokens.refresh_token, tokens.access_token, created.api_key):
        assert secret.encode() not in raw


async def test_audit_when_queried_then_filtered_paged_and_verified(api: Api) -> None:
    for n in range(5):
        await make_user(api, f"user{n}")
    admin = api.admin_api
    page = await admin.QueryAudit(admin_pb2.QueryAuditRequest(action="CreateUser", page_size=2))
    seen = [r.seq for r in page.records]
    while page.next_page_token:
        page = await admin.QueryAudit(
            admin_pb2.QueryAuditRequest(action="CreateUser", page_size=2, page_token=page.next_page_token)
        )
        seen += [r.seq for r in page.records]
    assert seen == [1, 2, 3, 4, 5]
    one = (await admin.QueryAudit(admin_pb2.QueryAuditRequest(from_seq=3, to_seq=3))).records
    assert len(one) == 1 and orjson.loads(one[0].summary_json)["user"] == "user2"
    assert one[0].actor.startswith("admin/key:") and one[0].result == "OK" and len(one[0].hash) == 64
    assert not (await admin.QueryAudit(admin_pb2.QueryAuditRequest(actor="nobody"))).records
    verdict = await admin.VerifyAudit(admin_pb2.VerifyAuditRequest())
    last = (await admin.QueryAudit(admin_pb2.QueryAuditRequest(from_seq=5))).records[-1]
    assert (verdict.ok, verdict.records, verdict.head_seq, verdict.head_hash) == (True, 5, 5, last.hash)


async def test_health_and_reflection_when_no_credential_then_served(api: Api) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channel = await api.channel_as(None)
    answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_access_token_when_verified_once_then_still_refused_after_it_expires(api: Api) -> None:
    """Verified tokens are cached (no HMAC per call), but their expiry is checked on every call."""
    import dataclasses

    await make_user(api)
    auth = await anonymous(api)
    tokens = await auth.Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
    await auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(tokens.access_token))
    cached = api.auth_store._verified[tokens.access_token]
    # As if the token's lifetime had passed: its cached claims now say it expired a minute ago.
    expired = dataclasses.replace(cached, expires_at_s=cached.issued_at_s - 60)
    api.auth_store._verified[tokens.access_token] = expired
    error = await rpc_error(auth.WhoAmI(auth_pb2.WhoAmIRequest(), metadata=bearer(tokens.access_token)))
    assert trailers(error)["algotrendy-reason"] == "TOKEN_EXPIRED"


async def test_principal_when_many_callers_interleave_then_each_call_sees_its_own(api: Api) -> None:
    """The principal lives in the call's own task: concurrent calls never see each other's."""
    import asyncio

    stubs = {
        "admin": api.auth_api,
        "viewer": auth_pb2_grpc.AuthServiceStub(await api.channel_as(Role.VIEWER)),
        "trader": auth_pb2_grpc.AuthServiceStub(await api.channel_as(Role.TRADER)),
    }
    callers = [name for _ in range(40) for name in stubs]
    answers = await asyncio.gather(*(stubs[name].WhoAmI(auth_pb2.WhoAmIRequest()) for name in callers))
    assert [a.user for a in answers] == callers


async def test_principal_when_reused_across_calls_then_a_role_change_or_disable_applies_on_the_next_call(
    api: Api,
) -> None:
    """Principals are reused while their key / session and user records are unchanged: a credential
    already used (and its principal cached) must see a demotion, a disable and a re-enable at once."""
    await make_user(api)
    tokens = await (await anonymous(api)).Login(auth_pb2.LoginRequest(user="alice", password=PASSWORD))
    created = await api.auth_api.CreateApiKey(auth_pb2.CreateApiKeyRequest(name="k", user="alice"))
    channels = [
        aio_channel(api.target, f"Bearer {tokens.access_token}"),
        aio_channel(api.target, f"ApiKey {created.api_key}"),
    ]
    try:
        for channel in channels:
            auth = auth_pb2_grpc.AuthServiceStub(channel)
            orders = orders_pb2_grpc.OrderServiceStub(channel)
            cancel_all = orders_pb2.CancelAllOrdersRequest(account_id="main")
            for _ in range(2):  # the second call reuses the cached principal
                assert (await auth.WhoAmI(auth_pb2.WhoAmIRequest())).role == auth_pb2.ROLE_TRADER
                await orders.CancelAllOrders(cancel_all)
            await api.admin_api.SetUserRole(
                admin_pb2.SetUserRoleRequest(user="alice", role=auth_pb2.ROLE_VIEWER)
            )
            assert (await auth.WhoAmI(auth_pb2.WhoAmIRequest())).role == auth_pb2.ROLE_VIEWER
            error = await rpc_error(orders.CancelAllOrders(cancel_all))
            assert trailers(error)["algotrendy-reason"] == "ROLE_TOO_LOW"
            await api.admin_api.DisableUser(admin_pb2.DisableUserRequest(user="alice"))
            error = await rpc_error(auth.WhoAmI(auth_pb2.WhoAmIRequest()))
            assert trailers(error)["algotrendy-reason"] == "USER_DISABLED"
            await api.admin_api.DisableUser(admin_pb2.DisableUserRequest(user="alice", enable=True))
            await api.admin_api.SetUserRole(
                admin_pb2.SetUserRoleRequest(user="alice", role=auth_pb2.ROLE_TRADER)
            )
            await orders.CancelAllOrders(cancel_all)
    finally:
        for channel in channels:
            await channel.close()
