"""Authentication, authorization, rate limits and the audit actor for the gRPC API (issue 6).

The composition root builds one ``ApiAuth`` before the gRPC server (its ``interceptor`` goes into
the server), calls ``start`` once the store is open (signing key, users, first-start admin
credentials), then registers ``services()``. Credentials travel in the ``authorization`` metadata
(``Bearer <JWT>`` or ``ApiKey <key>``); ``roles.py`` is the one table of who may call what.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from algotrendy.v1 import admin_pb2, admin_pb2_grpc, auth_pb2, auth_pb2_grpc
from engine.api.auth.admin_service import AdminServicer
from engine.api.auth.auth_service import AuthServicer
from engine.api.auth.credentials import load_signing_key
from engine.api.auth.interceptor import AuthInterceptor
from engine.api.auth.principal import CURRENT, CredentialKind, Principal, current_principal
from engine.api.auth.ratelimit import LoginGuard, RateLimiter
from engine.api.auth.roles import METHODS, PUBLIC_SERVICES, MethodClass, Role
from engine.api.auth.store import ADMIN_CREDENTIALS_FILE, AuthStore
from engine.api.convert import AuditHook
from engine.config import AuthConfig, RateLimitConfig
from engine.store.audit import AuditLog
from engine.store.lmdb_store import LmdbStore
from engine.store.persistence import Persistence

__all__ = [
    "ADMIN_CREDENTIALS_FILE",
    "ADMIN_SERVICE",
    "AUTH_SERVICE",
    "CURRENT",
    "METHODS",
    "PUBLIC_SERVICES",
    "ApiAuth",
    "AuthInterceptor",
    "AuthStore",
    "CredentialKind",
    "MethodClass",
    "Principal",
    "Role",
    "current_principal",
    "principal_audit",
]

AUTH_SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


def principal_audit(audit: AuditLog) -> AuditHook:
    """The servicers' audit hook: one hash-chained record per state-changing call, whose actor is
    the authenticated principal of that call. It answers what the call must wait for before it
    answers: nothing once the record is durable (``async`` durability commits it right here), else
    the store's commit of it."""

    def record(method: str, summary: dict[str, Any], result: str) -> Awaitable[Any] | None:
        audit.record(actor=current_principal().actor, action=method, summary=summary, result=result)
        return audit.committed()

    return record


class ApiAuth:
    def __init__(self, auth: AuthConfig, rate_limits: RateLimitConfig) -> None:
        self.config = auth
        self.limiter = RateLimiter(rate_limits)
        self.guard = LoginGuard(auth)
        self.interceptor = AuthInterceptor(self.limiter)
        self.store: AuthStore | None = None
        #: Set when this start created the first admin (``<data_dir>/admin-credentials.json``).
        self.admin_credentials: Path | None = None

    async def start(self, persistence: Persistence, data_dir: Path, clock_ns: Callable[[], int]) -> None:
        """Load the signing key and the users; on a first start create the admin credential file."""
        store = self.store = AuthStore(
            persistence.state,
            persistence.writer,
            self.config,
            load_signing_key(data_dir),
            clock_ns=clock_ns,
        )
        self.admin_credentials = await store.bootstrap(data_dir)
        self.interceptor.attach(store)

    def services(
        self, lmdb: LmdbStore, audit: AuditHook, on_internal: Callable[[BaseException], None] | None
    ) -> list[tuple[Callable[[Any, Any], None], Any, str]]:
        """``(add_to_server, servicer, service name)`` for AuthService and AdminService."""
        assert self.store is not None, "start() first"
        return [
            (
                auth_pb2_grpc.add_AuthServiceServicer_to_server,
                AuthServicer(self.store, self.interceptor, self.guard, audit=audit, on_internal=on_internal),
                AUTH_SERVICE,
            ),
            (
                admin_pb2_grpc.add_AdminServiceServicer_to_server,
                AdminServicer(self.store, lmdb, audit=audit, on_internal=on_internal),
                ADMIN_SERVICE,
            ),
        ]
