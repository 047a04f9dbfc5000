"""Users, API keys and sessions: kept in LMDB state tables, cached on the loop, checked per call.

Tables (``engine.store.state``; plain JSON documents):

* ``auth.users``    user -> ``{role, password_hash (argon2id), disabled, created_at_ns, ...}``
* ``auth.keys``     key id -> ``{user, role, name, secret_sha256, prefix, expires_at_ns, ...}``
* ``auth.sessions`` session id -> ``{user, refresh_sha256, expires_at_ns, revoked_at_ns, ...}``

Every change is written through the store's writer and awaited before the method returns, so an
RPC answers only once its change is durable (a created key survives a crash right after the
answer). The loop holds the only copy that ``authenticate`` reads (dict lookups, a SHA-256 or a
JWT check: microseconds, no I/O). Password hashing (argon2id, ~0.1 s by design) runs in a worker
thread: the argon2 C code releases the GIL, the loop keeps serving.

A session is one login: its refresh token (rotated by every Refresh; a stale one presented again
revokes the session, the OAuth reuse rule) and the access tokens issued with it (they carry its
id, so Logout and ResetPassword revoke them at once). A role is checked live: a token or key never
acts above its user's current role, and a disabled user's credentials are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import argon2
import structlog

from engine.api.auth.credentials import (
    API_KEY_PREFIX,
    REFRESH_PREFIX,
    TOKEN_LEEWAY_S,
    AccessClaims,
    TokenCodec,
    new_id,
    new_secret,
    parse_secret,
    secret_hash,
    secret_matches,
)
from engine.api.auth.principal import CredentialKind, Principal
from engine.api.auth.roles import Role
from engine.config import AuthConfig
from engine.core.errors import (
    AuthenticationError,
    DuplicateError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionError,
    ValidationError,
)
from engine.store.state import StateStore
from engine.store.writer import StoreWriter

__all__ = [
    "ADMIN_CREDENTIALS_FILE",
    "AuthStore",
    "IssuedTokens",
    "check_password",
    "check_user_name",
]

log = structlog.get_logger("engine.auth")

USERS = "auth.users"
KEYS = "auth.keys"
SESSIONS = "auth.sessions"
ADMIN_CREDENTIALS_FILE = "admin-credentials.json"
ADMIN_USER = "admin"
_USER_NAME = re.compile(r"[A-Za-z0-9._\-]{1,64}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_KEY_TTL_S = 31_536_000
#: ``last_used_at_ns`` of an API key is written at most this often (it costs a state write).
_LAST_USED_EVERY_NS = 60_000_000_000
_NS = 1_000_000_000
_VERIFIED_MAX = 10_000


def check_user_name(field: str, user: str) -> str:
    if _USER_NAME.fullmatch(user) is None:
        raise ValidationError(field, "must be 1-64 characters of A-Z a-z 0-9 . _ -")
    return user


def check_password(field: str, password: str, *, minimum: int = MIN_PASSWORD) -> str:
    if len(password) < minimum:
        raise ValidationError(field, f"must be at least {minimum} characters")
    if len(password) > MAX_PASSWORD:
        raise ValidationError(field, f"must be at most {MAX_PASSWORD} characters")
    return password


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    user: str
    role: Role
    access_token: str
    access_expires_at_ns: int
    refresh_token: str
    refresh_expires_at_ns: int


class AuthStore:
    """Authentication state of one engine; all methods run on the loop."""

    def __init__(
        self,
        state: StateStore,
        writer: StoreWriter,
        config: AuthConfig,
        signing_key: bytes,
        *,
        clock_ns: Callable[[], int],
    ) -> None:
        self._state = state
        self._writer = writer
        self._config = config
        self._tokens = TokenCodec(signing_key)
        self._clock_ns = clock_ns
        self._hasher = argon2.PasswordHasher(
            time_cost=config.argon2_time_cost,
            memory_cost=config.argon2_memory_kib,
            parallelism=config.argon2_parallelism,
            type=argon2.Type.ID,
        )
        self.users: dict[str, dict[str, Any]] = dict(state.items(USERS))
        self.keys: dict[str, dict[str, Any]] = dict(state.items(KEYS))
        self.sessions: dict[str, dict[str, Any]] = {}
        now = clock_ns()
        expired = []
        for session_id, session in state.items(SESSIONS):
            if session["expires_at_ns"] <= now:
                expired.append(session_id)
            else:
                self.sessions[session_id] = session
        for session_id in expired:  # finished sessions: nothing can use them any more
            state.delete(SESSIONS, session_id)
        #: Compared against when the user does not exist, so timing does not tell users apart.
        self._dummy_hash: str | None = None
        #: Access tokens already verified -> their claims. A client sends the same token on every
        #: call for its lifetime; verifying its HMAC and decoding its JSON once instead of per call
        #: saves ~30-40 us a call. Only the identical token string hits; expiry, the session and the
        #: user are still checked on every call.
        self._verified: dict[str, AccessClaims] = {}
        #: API keys already checked against their hash -> key id (revocation, expiry and the user
        #: are still checked on every call).
        self._verified_keys: dict[str, str] = {}
        #: The principal last built for a session / API key, with the (claims or key record, user
        #: record) it was built from: reused while both are the very same objects (every change to
        #: a key or a user replaces its record), so a call builds no new Principal.
        self._principals: dict[str, tuple[Any, dict[str, Any], Principal]] = {}

    # -- per call (hot path) ------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an ``authorization`` header; ``AuthenticationError`` if none or invalid."""
        if not authorization:
            raise AuthenticationError(
                "no credential: send 'authorization: Bearer <token>' or 'authorization: ApiKey <key>'",
                reason="NO_CREDENTIAL",
            )
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer":
            return self._token_principal(value)
        if scheme == "apikey":
            return self._key_principal(value)
        raise AuthenticationError("unknown authorization scheme (Bearer or ApiKey)", reason="BAD_CREDENTIAL")

    def _token_principal(self, token: str) -> Principal:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._tokens.check(token)
            if len(self._verified) >= _VERIFIED_MAX:
                self._forget_expired_tokens()
            self._verified[token] = claims
        elif claims.expires_at_s + TOKEN_LEEWAY_S <= self._clock_ns() // _NS:
            del self._verified[token]
            raise AuthenticationError("the access token has expired; refresh it", reason="TOKEN_EXPIRED")
        session = self.sessions.get(claims.session_id)
        if session is None or session["revoked_at_ns"] or session["user"] != claims.user:
            raise AuthenticationError("the session of this token was revoked", reason="SESSION_REVOKED")
        user = self._enabled_user(claims.user)
        known = self._principals.get(claims.session_id)
        if known is not None and known[0] is claims and known[1] is user:
            return known[2]
        try:
            token_role = Role.parse(claims.role)
        except KeyError:
            raise AuthenticationError("the access token is not valid", reason="BAD_TOKEN") from None
        principal = Principal(
            claims.user,
            min(token_role, Role.parse(user["role"])),
            CredentialKind.ACCESS_TOKEN,
            session_id=claims.session_id,
            expires_at_ns=claims.expires_at_s * _NS,
        )
        self._remember_principal(claims.session_id, claims, user, principal)
        return principal

    def _key_principal(self, api_key: str) -> Principal:
        key_id = self._verified_keys.get(api_key)
        if key_id is None:
            parsed = parse_secret(API_KEY_PREFIX, api_key)
            found = self.keys.get(parsed[0]) if parsed is not None else None
            if parsed is None or found is None or not secret_matches(parsed[1], found["secret_sha256"]):
                raise AuthenticationError("unknown API key", reason="BAD_API_KEY")
            if len(self._verified_keys) >= _VERIFIED_MAX:
                self._verified_keys.clear()
            key_id = self._verified_keys[api_key] = parsed[0]
        record = self.keys[key_id]
        now = self._clock_ns()
        if record["revoked_at_ns"]:
            raise AuthenticationError("this API key was revoked", reason="API_KEY_REVOKED")
        if record["expires_at_ns"] and record["expires_at_ns"] <= now:
            raise AuthenticationError("this API key has expired", reason="API_KEY_EXPIRED")
        user = self._enabled_user(record["user"])
        if now - record["last_used_at_ns"] >= _LAST_USED_EVERY_NS:
            record = self.keys[record["key_id"]] = {**record, "last_used_at_ns": now}
            self._state.put(KEYS, record["key_id"], record)  # best effort; not awaited
        known = self._principals.get(key_id)
        if known is not None and known[0] is record and known[1] is user:
            return known[2]
        principal = Principal(
            record["user"],
            min(Role.parse(record["role"]), Role.parse(user["role"])),
            CredentialKind.API_KEY,
            key_id=record["key_id"],
            expires_at_ns=record["expires_at_ns"],
        )
        self._remember_principal(key_id, record, user, principal)
        return principal

    def _remember_principal(self, key: str, source: Any, user: dict[str, Any], principal: Principal) -> None:
        if len(self._principals) >= _VERIFIED_MAX:
            self._principals.clear()
        self._principals[key] = (source, user, principal)

    def _forget_expired_tokens(self) -> None:
        now_s = self._clock_ns() // _NS
        expired = [t for t, c in self._verified.items() if c.expires_at_s + TOKEN_LEEWAY_S <= now_s]
        for token in expired:
            del self._verified[token]
        if len(self._verified) >= _VERIFIED_MAX:  # all still valid: start over rather than grow
            self._verified.clear()

    def _enabled_user(self, name: str) -> dict[str, Any]:
        user = self.users.get(name)
        if user is None or user["disabled"]:
            raise AuthenticationError("the user is disabled or no longer exists", reason="USER_DISABLED")
        return user

    # -- sessions -------------------------------------------------------------------------------
    async def login(self, name: str, password: str) -> IssuedTokens:
        """Tokens for a user name and password; ``AuthenticationError`` (one answer for an
        unknown user, a wrong password and a disabled user)."""
        user = self.users.get(name)
        stored = user["password_hash"] if user is not None else await self._dummy()
        ok = await asyncio.to_thread(self._verify, stored, password)
        user = self.users.get(name)  # re-read: the user may have changed during the hash
        if not ok or user is None or user["disabled"] or user["password_hash"] != stored:
            raise AuthenticationError("wrong user name or password", reason="BAD_CREDENTIALS")
        if self._hasher.check_needs_rehash(stored):
            new_hash = await asyncio.to_thread(self._hasher.hash, password)
            user = self.users[name] = {**self.users[name], "password_hash": new_hash}
            self._state.put(USERS, name, user)
        return await self._open_session(name, Role.parse(user["role"]))

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """Rotate a refresh token: new access + refresh tokens, the old refresh token is spent."""
        parsed = parse_secret(REFRESH_PREFIX, refresh_token)
        if parsed is None:
            raise ValidationError("refresh_token", "is not a refresh token (art_<id>_<secret>)")
        session_id, secret = parsed
        session = self.sessions.get(session_id)
        now = self._clock_ns()
        if session is None or session["revoked_at_ns"] or session["expires_at_ns"] <= now:
            raise AuthenticationError(
                "the refresh token is expired or revoked; log in", reason="REFRESH_INVALID"
            )
        if not secret_matches(secret, session["refresh_sha256"]):
            # A spent (or forged) token for a live session: assume theft, end the session.
            await self._revoke_sessions([session_id], now)
            log.warning("auth.refresh_reused", user=session["user"], session=session_id)
            raise AuthenticationError(
                "this refresh token was already used; the session is revoked", reason="REFRESH_REUSED"
            )
        user = self._enabled_user(session["user"])
        role = Role.parse(user["role"])
        new_refresh = new_secret(REFRESH_PREFIX, session_id)
        session = {**session, "refresh_sha256": secret_hash(new_refresh.split("_", 2)[2])}
        self.sessions[session_id] = session
        await self._writer.wait(self._state.put(SESSIONS, session_id, session))
        return self._issue(session, role, new_refresh, now)

    async def logout(self, caller: Principal, refresh_token: str) -> bool:
        if refresh_token:
            parsed = parse_secret(REFRESH_PREFIX, refresh_token)
            if parsed is None:
                raise ValidationError("refresh_token", "is not a refresh token (art_<id>_<secret>)")
            session = self.sessions.get(parsed[0])
            if session is None or not secret_matches(parsed[1], session["refresh_sha256"]):
                return False  # unknown, expired or already rotated: nothing to revoke
            if session["user"] != caller.user and not caller.may(Role.ADMIN):
                raise PermissionDeniedError("this refresh token belongs to another user")
            session_id = parsed[0]
        elif caller.session_id:
            session_id = caller.session_id
        else:
            raise ValidationError("refresh_token", "required when calling with an API key")
        if self.sessions[session_id]["revoked_at_ns"]:
            return False
        await self._revoke_sessions([session_id], self._clock_ns())
        return True

    async def _open_session(self, user: str, role: Role) -> IssuedTokens:
        now = self._clock_ns()
        session_id = new_id()
        while session_id in self.sessions:
            session_id = new_id()
        refresh = new_secret(REFRESH_PREFIX, session_id)
        session = {
            "session_id": session_id,
            "user": user,
            "refresh_sha256": secret_hash(refresh.split("_", 2)[2]),
            "created_at_ns": now,
            "expires_at_ns": now + self._config.refresh_token_ttl_s * _NS,
            "revoked_at_ns": 0,
        }
        self.sessions[session_id] = session
        await self._writer.wait(self._state.put(SESSIONS, session_id, session))
        return self._issue(session, role, refresh, now)

    def _issue(self, session: dict[str, Any], role: Role, refresh: str, now: int) -> IssuedTokens:
        now_s = now // _NS
        expires_s = min(now_s + self._config.access_token_ttl_s, session["expires_at_ns"] // _NS)
        access = self._tokens.issue(session["user"], role.name, session["session_id"], now_s, expires_s)
        return IssuedTokens(session["user"], role, access, expires_s * _NS, refresh, session["expires_at_ns"])

    async def _revoke_sessions(self, session_ids: list[str], now: int) -> None:
        changed = {}
        for session_id in session_ids:
            session = {**self.sessions[session_id], "revoked_at_ns": now}
            self.sessions[session_id] = changed[session_id] = session
        if changed:
            await self._writer.wait(self._state.put_many(SESSIONS, changed))

    # -- API keys -------------------------------------------------------------------------------
    async def create_api_key(
        self, caller: Principal, owner: str, name: str, role: Role | None, expires_in_s: int
    ) -> tuple[dict[str, Any], str]:
        """``(record, full key)``; the key is returned once and stored only as a hash."""
        owner = owner or caller.user
        if owner != caller.user and not caller.may(Role.ADMIN):
            raise PermissionDeniedError("only an admin creates API keys for another user")
        check_user_name("user", owner)
        user = self.users.get(owner)
        if user is None:
            raise NotFoundError(f"user {owner!r} does not exist", reason="UNKNOWN_USER")
        owner_role = Role.parse(user["role"])
        key_role = owner_role if role is None else role
        if key_role > owner_role:
            raise PermissionDeniedError(f"a key cannot have a role above its user's ({owner_role.name})")
        if owner == caller.user and key_role > caller.role:
            raise PermissionDeniedError(f"a key cannot have a role above the caller's ({caller.role.name})")
        now = self._clock_ns()
        key_id = new_id()
        while key_id in self.keys:
            key_id = new_id()
        api_key = new_secret(API_KEY_PREFIX, key_id)
        record = {
            "key_id": key_id,
            "prefix": f"{API_KEY_PREFIX}_{key_id}",
            "name": name,
            "user": owner,
            "role": key_role.name,
            "secret_sha256": secret_hash(api_key.split("_", 2)[2]),
            "created_at_ns": now,
            "expires_at_ns": now + expires_in_s * _NS if expires_in_s else 0,
            "last_used_at_ns": 0,
            "revoked_at_ns": 0,
        }
        self.keys[key_id] = record
        await self._writer.wait(self._state.put(KEYS, key_id, record))
        return record, api_key

    def list_api_keys(self, caller: Principal, owner: str, include_revoked: bool) -> list[dict[str, Any]]:
        if owner and owner != caller.user and not caller.may(Role.ADMIN):
            raise PermissionDeniedError("only an admin lists another user's API keys")
        if not owner and not caller.may(Role.ADMIN):
            owner = caller.user
        keys = [
            k
            for k in self.keys.values()
            if (not owner or k["user"] == owner) and (include_revoked or not k["revoked_at_ns"])
        ]
        return sorted(keys, key=lambda k: (k["created_at_ns"], k["key_id"]))

    async def revoke_api_key(self, caller: Principal, key_id: str) -> dict[str, Any]:
        record = self.keys.get(key_id)
        if record is None or (record["user"] != caller.user and not caller.may(Role.ADMIN)):
            raise NotFoundError(f"no API key {key_id!r}", reason="UNKNOWN_API_KEY")
        if record["revoked_at_ns"]:
            return record
        record = self.keys[key_id] = {**record, "revoked_at_ns": self._clock_ns()}
        await self._writer.wait(self._state.put(KEYS, key_id, record))
        return record

    # -- users ----------------------------------------------------------------------------------
    async def create_user(self, name: str, password: str, role: Role) -> dict[str, Any]:
        if name in self.users:
            raise DuplicateError(f"user {name!r} already exists", reason="USER_EXISTS")
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        if name in self.users:  # created by a concurrent call during the hash
            raise DuplicateError(f"user {name!r} already exists", reason="USER_EXISTS")
        now = self._clock_ns()
        user = {
            "user": name,
            "role": role.name,
            "password_hash": password_hash,
            "disabled": False,
            "created_at_ns": now,
            "password_changed_at_ns": now,
        }
        self.users[name] = user
        await self._writer.wait(self._state.put(USERS, name, user))
        return user

    def user(self, name: str) -> dict[str, Any]:
        user = self.users.get(name)
        if user is None:
            raise NotFoundError(f"user {name!r} does not exist", reason="UNKNOWN_USER")
        return user

    async def set_role(self, name: str, role: Role) -> dict[str, Any]:
        user = self.user(name)
        if role is not Role.ADMIN:
            self._keep_an_admin(name)
        return await self._update_user(name, {**user, "role": role.name})

    async def set_disabled(self, name: str, disabled: bool) -> dict[str, Any]:
        user = self.user(name)
        if disabled:
            self._keep_an_admin(name)
        return await self._update_user(name, {**user, "disabled": disabled})

    async def reset_password(self, name: str, password: str) -> dict[str, Any]:
        self.user(name)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        user = self.user(name)
        now = self._clock_ns()
        updated = {**user, "password_hash": password_hash, "password_changed_at_ns": now}
        live = [s for s, v in self.sessions.items() if v["user"] == name and not v["revoked_at_ns"]]
        await self._revoke_sessions(live, now)
        return await self._update_user(name, updated)

    def _keep_an_admin(self, name: str) -> None:
        admins = [
            u
            for u in self.users.values()
            if u["role"] == Role.ADMIN.name and not u["disabled"] and u["user"] != name
        ]
        if not admins and self.users[name]["role"] == Role.ADMIN.name and not self.users[name]["disabled"]:
            raise PreconditionError(
                "the last enabled admin cannot be demoted or disabled", reason="LAST_ADMIN"
            )

    async def _update_user(self, name: str, user: dict[str, Any]) -> dict[str, Any]:
        self.users[name] = user
        await self._writer.wait(self._state.put(USERS, name, user))
        return user

    # -- first start ----------------------------------------------------------------------------
    async def bootstrap(self, data_dir: Path) -> Path | None:
        """On first start (no users): create ``admin`` with an admin API key written to
        ``<data_dir>/admin-credentials.json`` (0600). Returns that path, or None if users exist.

        The file is written (and fsync'ed) before the user and key commit: a crash in between
        leaves no users, so the next start writes a fresh file; never users without the file.
        The admin's password is random and recorded nowhere; set one with ResetPassword.
        """
        if self.users:
            return None
        now = self._clock_ns()
        password_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(32))
        key_id = new_id()
        api_key = new_secret(API_KEY_PREFIX, key_id)
        path = data_dir / ADMIN_CREDENTIALS_FILE
        created_at = datetime.fromtimestamp(now / _NS, UTC).isoformat()
        _write_private(path, {"user": ADMIN_USER, "api_key": api_key, "created_at": created_at})
        user = {
            "user": ADMIN_USER,
            "role": Role.ADMIN.name,
            "password_hash": password_hash,
            "disabled": False,
            "created_at_ns": now,
            "password_changed_at_ns": now,
        }
        key = {
            "key_id": key_id,
            "prefix": f"{API_KEY_PREFIX}_{key_id}",
            "name": "admin-credentials.json",
            "user": ADMIN_USER,
            "role": Role.ADMIN.name,
            "secret_sha256": secret_hash(api_key.split("_", 2)[2]),
            "created_at_ns": now,
            "expires_at_ns": 0,
            "last_used_at_ns": 0,
            "revoked_at_ns": 0,
        }
        self.users[ADMIN_USER] = user
        self.keys[key_id] = key
        self._state.put(USERS, ADMIN_USER, user)
        await self._writer.wait(self._state.put(KEYS, key_id, key))
        log.info("auth.admin_created", user=ADMIN_USER, credentials_file=str(path), key_id=key_id)
        return path

    # -- helpers --------------------------------------------------------------------------------
    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self._hasher.hash, secrets.token_urlsafe(16))
        return self._dummy_hash


def _write_private(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as JSON to ``path`` with mode 0600 from the first byte, atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
