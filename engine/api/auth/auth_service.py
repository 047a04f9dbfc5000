"""AuthService: Login, Refresh, Logout, API keys, WhoAmI over the ``AuthStore``.

Requests are checked field by field (INVALID_ARGUMENT naming the field) before anything changes.
Every state-changing call is audited once with its outcome, the actor being the calling principal
(``anonymous`` for Login and Refresh) and the summary free of secrets: the servicer hands the
audit hook a copy of the request with passwords and tokens removed, and the audit log redacts any
credential-looking key again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from algotrendy.v1 import auth_pb2, auth_pb2_grpc
from engine.api.auth.interceptor import AuthInterceptor, peer_address
from engine.api.auth.principal import current_principal
from engine.api.auth.ratelimit import LoginGuard
from engine.api.auth.roles import Role
from engine.api.auth.store import MAX_KEY_TTL_S, MAX_PASSWORD, AuthStore, IssuedTokens
from engine.api.convert import AuditHook, RpcHooks
from engine.api.errors import grpc_errors
from engine.core.errors import AuthenticationError, ValidationError

__all__ = ["AuthServicer", "api_key_to_proto", "role_of"]


def role_of(field: str, value: int, *, allow_unspecified: bool = False) -> Role | None:
    """``algotrendy.v1.Role`` -> ``Role``; UNSPECIFIED is None when allowed, else rejected."""
    if value == 0 and allow_unspecified:
        return None
    if value not in (Role.VIEWER, Role.TRADER, Role.ADMIN):
        raise ValidationError(field, "must be ROLE_VIEWER, ROLE_TRADER or ROLE_ADMIN")
    return Role(value)


def _text(field: str, value: str, maximum: int) -> str:
    if not value:
        raise ValidationError(field, "is required")
    if len(value) > maximum:
        raise ValidationError(field, f"must be at most {maximum} characters")
    return value


def api_key_to_proto(record: dict[str, Any]) -> auth_pb2.ApiKeyInfo:
    return auth_pb2.ApiKeyInfo(
        key_id=record["key_id"],
        prefix=record["prefix"],
        name=record["name"],
        user=record["user"],
        role=int(Role.parse(record["role"])),  # type: ignore[arg-type]
        created_at_ns=record["created_at_ns"],
        expires_at_ns=record["expires_at_ns"],
        last_used_at_ns=record["last_used_at_ns"],
        revoked=bool(record["revoked_at_ns"]),
        revoked_at_ns=record["revoked_at_ns"],
    )


def _tokens(cls: Any, issued: IssuedTokens) -> Any:
    return cls(
        access_token=issued.access_token,
        access_expires_at_ns=issued.access_expires_at_ns,
        refresh_token=issued.refresh_token,
        refresh_expires_at_ns=issued.refresh_expires_at_ns,
        user=issued.user,
        role=int(issued.role),
    )


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self,
        store: AuthStore,
        gate: AuthInterceptor,
        guard: LoginGuard,
        *,
        audit: AuditHook | None = None,
        on_internal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._store = store
        self._gate = gate
        self._guard = guard
        self._hooks = RpcHooks(audit, on_internal)

    @grpc_errors()
    async def Login(
        self, request: auth_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.LoginResponse:
        safe = auth_pb2.LoginRequest(user=request.user[:64])
        return await self._hooks.run("Login", safe, self._login(request, context.peer()), audited=True)

    async def _login(self, request: auth_pb2.LoginRequest, peer: str) -> auth_pb2.LoginResponse:
        user = _text("user", request.user, 64)
        password = _text("password", request.password, MAX_PASSWORD)
        self._gate.check_login_rate(peer)
        address = peer_address(peer)
        self._guard.check(user, address)
        try:
            issued = await self._store.login(user, password)
        except AuthenticationError:
            self._guard.failed(user, address)
            raise
        self._guard.succeeded(user)
        return _tokens(auth_pb2.LoginResponse, issued)

    @grpc_errors()
    async def Refresh(
        self, request: auth_pb2.RefreshRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RefreshResponse:
        return await self._hooks.run(
            "Refresh", auth_pb2.RefreshRequest(), self._refresh(request, context.peer()), audited=True
        )

    async def _refresh(self, request: auth_pb2.RefreshRequest, peer: str) -> auth_pb2.RefreshResponse:
        _text("refresh_token", request.refresh_token, 200)
        self._gate.check_login_rate(peer)
        return _tokens(auth_pb2.RefreshResponse, await self._store.refresh(request.refresh_token))

    @grpc_errors()
    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.LogoutResponse:
        return await self._hooks.run("Logout", auth_pb2.LogoutRequest(), self._logout(request), audited=True)

    async def _logout(self, request: auth_pb2.LogoutRequest) -> auth_pb2.LogoutResponse:
        if len(request.refresh_token) > 200:
            raise ValidationError("refresh_token", "must be at most 200 characters")
        revoked = await self._store.logout(current_principal(), request.refresh_token)
        return auth_pb2.LogoutResponse(revoked=revoked)

    @grpc_errors()
    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.CreateApiKeyResponse:
        return await self._hooks.run("CreateApiKey", request, self._create_key(request), audited=True)

    async def _create_key(self, request: auth_pb2.CreateApiKeyRequest) -> auth_pb2.CreateApiKeyResponse:
        name = _text("name", request.name, 64)
        role = role_of("role", request.role, allow_unspecified=True)
        if len(request.user) > 64:
            raise ValidationError("user", "must be at most 64 characters")
        if request.expires_in_s > MAX_KEY_TTL_S:
            raise ValidationError("expires_in_s", f"must be at most {MAX_KEY_TTL_S} (one year)")
        record, api_key = await self._store.create_api_key(
            current_principal(), request.user, name, role, request.expires_in_s
        )
        return auth_pb2.CreateApiKeyResponse(key=api_key_to_proto(record), api_key=api_key)

    @grpc_errors()
    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListApiKeysResponse:
        if len(request.user) > 64:
            raise ValidationError("user", "must be at most 64 characters")
        keys = self._store.list_api_keys(current_principal(), request.user, request.include_revoked)
        return auth_pb2.ListApiKeysResponse(keys=[api_key_to_proto(k) for k in keys])

    @grpc_errors()
    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RevokeApiKeyResponse:
        return await self._hooks.run("RevokeApiKey", request, self._revoke_key(request), audited=True)

    async def _revoke_key(self, request: auth_pb2.RevokeApiKeyRequest) -> auth_pb2.RevokeApiKeyResponse:
        key_id = _text("key_id", request.key_id, 64)
        if key_id.startswith("atk_"):  # the prefix as listed is accepted too
            key_id = key_id[4:]
        if len(key_id) != 12 or any(c not in "0123456789abcdef" for c in key_id):
            raise ValidationError("key_id", "must be a key id as listed (12 hex characters)")
        record = await self._store.revoke_api_key(current_principal(), key_id)
        return auth_pb2.RevokeApiKeyResponse(key=api_key_to_proto(record))

    @grpc_errors()
    async def WhoAmI(
        self, request: auth_pb2.WhoAmIRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.WhoAmIResponse:
        principal = current_principal()
        return auth_pb2.WhoAmIResponse(
            user=principal.user,
            role=int(principal.role),  # type: ignore[arg-type]
            credential=int(principal.kind),  # type: ignore[arg-type]
            key_id=principal.key_id,
            expires_at_ns=principal.expires_at_ns,
        )
