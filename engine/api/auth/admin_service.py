"""AdminService: the audit log (query, verify) and user management over the ``AuthStore``.

Audit reads run in a worker thread (never on the loop), in short LMDB read transactions, and see
committed records; a query page scans at most ``SCAN_LIMIT`` records (a filter matching little
comes back with a short page and a ``next_page_token``). VerifyAudit walks the whole chain there too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import struct
from collections.abc import Callable
from typing import Any

import grpc
import orjson

from algotrendy.v1 import admin_pb2, admin_pb2_grpc
from engine.api.auth.auth_service import role_of
from engine.api.auth.roles import Role
from engine.api.auth.store import AuthStore, check_password, check_user_name
from engine.api.convert import AuditHook, RpcHooks
from engine.api.errors import grpc_errors
from engine.core.errors import ValidationError
from engine.store.audit import AUDIT_DB, verify
from engine.store.lmdb_store import LmdbStore

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "SCAN_LIMIT", "AdminServicer"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
SCAN_LIMIT = 20_000
_U64 = struct.Struct(">Q")
_TOKEN_PREFIX = b"audit:"


def user_to_proto(user: dict[str, Any]) -> admin_pb2.User:
    return admin_pb2.User(
        user=user["user"],
        role=int(Role.parse(user["role"])),  # type: ignore[arg-type]
        disabled=user["disabled"],
        created_at_ns=user["created_at_ns"],
        password_changed_at_ns=user["password_changed_at_ns"],
    )


def _page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(_TOKEN_PREFIX + str(seq).encode()).decode().rstrip("=")


def _parse_page_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.startswith(_TOKEN_PREFIX) or not raw[len(_TOKEN_PREFIX) :].isdigit() or len(raw) > 40:
        raise ValidationError("page_token", "is not a token from a previous QueryAudit answer")
    seq = int(raw[len(_TOKEN_PREFIX) :])
    if not 1 <= seq < 2**63:
        raise ValidationError("page_token", "is not a token from a previous QueryAudit answer")
    return seq


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        store: AuthStore,
        lmdb: LmdbStore,
        *,
        audit: AuditHook | None = None,
        on_internal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._store = store
        self._lmdb = lmdb
        self._audit_db = lmdb.db(AUDIT_DB)
        self._hooks = RpcHooks(audit, on_internal)

    # == audit ======================================================================================
    @grpc_errors()
    async def QueryAudit(
        self, request: admin_pb2.QueryAuditRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.QueryAuditResponse:
        page_size = request.page_size or DEFAULT_PAGE_SIZE
        if page_size > MAX_PAGE_SIZE:
            raise ValidationError("page_size", f"must be at most {MAX_PAGE_SIZE}")
        if request.to_seq and request.from_seq > request.to_seq:
            raise ValidationError("from_seq", "must not be above to_seq")
        if request.until_ns and request.since_ns > request.until_ns:
            raise ValidationError("since_ns", "must not be above until_ns")
        if len(request.actor) > 200:
            raise ValidationError("actor", "must be at most 200 characters")
        if len(request.action) > 200:
            raise ValidationError("action", "must be at most 200 characters")
        start = max(request.from_seq, 1, _parse_page_token(request.page_token) if request.page_token else 0)
        records, next_seq = await asyncio.to_thread(self._scan, request, start, page_size)
        return admin_pb2.QueryAuditResponse(
            records=records, next_page_token=_page_token(next_seq) if next_seq else ""
        )

    def _scan(
        self, request: admin_pb2.QueryAuditRequest, start: int, page_size: int
    ) -> tuple[list[admin_pb2.AuditRecord], int]:
        """One page from ``start`` (a worker thread, one short read transaction): the matching
        records and the sequence to continue from (0: nothing left)."""
        last = request.to_seq or (1 << 64) - 1
        records: list[admin_pb2.AuditRecord] = []
        next_seq = 0
        scanned = 0
        with self._lmdb.env.begin(db=self._audit_db) as txn:
            cursor = txn.cursor()
            found = cursor.set_range(_U64.pack(min(start, (1 << 64) - 1)))
            while found:
                seq = _U64.unpack(cursor.key())[0]
                if seq > last:
                    break
                if len(records) >= page_size or scanned >= SCAN_LIMIT:
                    next_seq = seq
                    break
                scanned += 1
                value = bytes(cursor.value())
                body = orjson.loads(value[64:])
                if self._matches(request, body):
                    records.append(
                        admin_pb2.AuditRecord(
                            seq=body["seq"],
                            ts_ns=body["ts_ns"],
                            actor=body["actor"],
                            action=body["action"],
                            summary_json=orjson.dumps(body["summary"], option=orjson.OPT_SORT_KEYS).decode(),
                            result=body["result"],
                            prev_hash=body["prev_hash"],
                            hash=value[:64].decode("ascii"),
                        )
                    )
                found = cursor.next()
        return records, next_seq

    @staticmethod
    def _matches(request: admin_pb2.QueryAuditRequest, body: dict[str, Any]) -> bool:
        ts = body["ts_ns"]
        return (
            (not request.since_ns or ts >= request.since_ns)
            and (not request.until_ns or ts < request.until_ns)
            and (not request.actor or body["actor"] == request.actor)
            and (not request.action or request.action in body["action"])
        )

    @grpc_errors()
    async def VerifyAudit(
        self, request: admin_pb2.VerifyAuditRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.VerifyAuditResponse:
        result = await asyncio.to_thread(verify, self._lmdb.env)
        return admin_pb2.VerifyAuditResponse(
            ok=result.ok,
            records=result.records,
            first_bad_seq=result.first_bad_seq or 0,
            problem=result.problem,
            head_seq=result.head_seq,
            head_hash=result.head_hash,
        )

    # == users ======================================================================================
    @grpc_errors()
    async def CreateUser(
        self, request: admin_pb2.CreateUserRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.CreateUserResponse:
        safe = admin_pb2.CreateUserRequest(user=request.user[:64], role=request.role)
        return await self._hooks.run("CreateUser", safe, self._create_user(request), audited=True)

    async def _create_user(self, request: admin_pb2.CreateUserRequest) -> admin_pb2.CreateUserResponse:
        name = check_user_name("user", request.user)
        password = check_password("password", request.password)
        role = role_of("role", request.role)
        assert role is not None
        user = await self._store.create_user(name, password, role)
        return admin_pb2.CreateUserResponse(user=user_to_proto(user))

    @grpc_errors()
    async def ListUsers(
        self, request: admin_pb2.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ListUsersResponse:
        users = sorted(self._store.users.values(), key=lambda u: u["user"])
        return admin_pb2.ListUsersResponse(users=[user_to_proto(u) for u in users])

    @grpc_errors()
    async def SetUserRole(
        self, request: admin_pb2.SetUserRoleRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.SetUserRoleResponse:
        return await self._hooks.run("SetUserRole", request, self._set_role(request), audited=True)

    async def _set_role(self, request: admin_pb2.SetUserRoleRequest) -> admin_pb2.SetUserRoleResponse:
        name = check_user_name("user", request.user)
        role = role_of("role", request.role)
        assert role is not None
        return admin_pb2.SetUserRoleResponse(user=user_to_proto(await self._store.set_role(name, role)))

    @grpc_errors()
    async def DisableUser(
        self, request: admin_pb2.DisableUserRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.DisableUserResponse:
        return await self._hooks.run("DisableUser", request, self._disable(request), audited=True)

    async def _disable(self, request: admin_pb2.DisableUserRequest) -> admin_pb2.DisableUserResponse:
        name = check_user_name("user", request.user)
        user = await self._store.set_disabled(name, not request.enable)
        return admin_pb2.DisableUserResponse(user=user_to_proto(user))

    @grpc_errors()
    async def ResetPassword(
        self, request: admin_pb2.ResetPasswordRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb2.ResetPasswordResponse:
        safe = admin_pb2.ResetPasswordRequest(user=request.user[:64])
        return await self._hooks.run("ResetPassword", safe, self._reset(request), audited=True)

    async def _reset(self, request: admin_pb2.ResetPasswordRequest) -> admin_pb2.ResetPasswordResponse:
        name = check_user_name("user", request.user)
        password = check_password("password", request.password)
        return admin_pb2.ResetPasswordResponse(
            user=user_to_proto(await self._store.reset_password(name, password))
        )
