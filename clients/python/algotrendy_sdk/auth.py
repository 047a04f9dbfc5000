"""Credentials: an API key, a user name and password, or a stored session, and where to find them.

Every call carries ``authorization: ApiKey <key>`` or ``authorization: Bearer <access token>``.
Password credentials log in on first use, refresh the short-lived access token shortly before it
expires (and once more when the engine answers UNAUTHENTICATED, e.g. a token that expired in
flight), and log in again if the refresh token is gone. Refresh tokens rotate: every refresh
returns a new one and the old one stops working, so a stored session reports each rotation to
``on_update`` to be persisted.

``resolve`` picks credentials the way the CLI does: explicit values, then the environment
(``ALGOTRENDY_API_KEY``, ``ALGOTRENDY_USER`` + ``ALGOTRENDY_PASSWORD``), then the local engine's
first-start admin file ``<data_dir>/admin-credentials.json``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from algotrendy_sdk.errors import AlgoTrendyError, InvalidArgument, Unauthenticated, from_rpc_error

__all__ = [
    "ADMIN_CREDENTIALS_FILE",
    "ApiKey",
    "Credentials",
    "Password",
    "Session",
    "StoredSession",
    "admin_file_credentials",
    "resolve",
]

ADMIN_CREDENTIALS_FILE = "admin-credentials.json"
DEFAULT_DATA_DIR = ".algotrendy"

#: Refresh an access token when this much of its lifetime (at most ``MAX_REFRESH_MARGIN_NS``) is left.
REFRESH_FRACTION = 0.2
MAX_REFRESH_MARGIN_NS = 30_000_000_000


class Credentials:
    """How a client proves who it is. Subclasses implement ``authorization``."""

    async def authorization(self, auth_stub: Any) -> str | None:
        """The ``authorization`` header value for the next call (None: send no credential)."""
        raise NotImplementedError

    async def renew(self, auth_stub: Any, error: Unauthenticated) -> bool:
        """The engine refused the credential: try to get a fresh one; True if the call may be retried."""
        return False

    async def close(self, auth_stub: Any) -> None:
        """Release what the credential holds on the server (a session); API keys hold nothing."""


@dataclass(repr=False)
class ApiKey(Credentials):
    """``authorization: ApiKey <key>`` (from ``CreateApiKey`` or the admin file); never expires client-side."""

    key: str

    def __post_init__(self) -> None:
        if not self.key or not self.key.strip():
            raise ValueError("API key is empty")
        self.key = self.key.strip()

    async def authorization(self, auth_stub: Any) -> str | None:
        return f"ApiKey {self.key}"

    def __repr__(self) -> str:  # never show the secret
        return f"ApiKey({self.key[:6]}…)"


@dataclass
class StoredSession:
    """Tokens from Login/Refresh; what ``algotrendy login`` keeps (mode 0600) between commands."""

    user: str
    role: str
    access_token: str = field(repr=False)
    access_expires_at_ns: int
    refresh_token: str = field(repr=False)
    refresh_expires_at_ns: int
    received_at_ns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "role": self.role,
            "access_token": self.access_token,
            "access_expires_at_ns": self.access_expires_at_ns,
            "refresh_token": self.refresh_token,
            "refresh_expires_at_ns": self.refresh_expires_at_ns,
            "received_at_ns": self.received_at_ns,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredSession:
        return cls(
            user=str(data["user"]),
            role=str(data.get("role", "")),
            access_token=str(data["access_token"]),
            access_expires_at_ns=int(data["access_expires_at_ns"]),
            refresh_token=str(data["refresh_token"]),
            refresh_expires_at_ns=int(data["refresh_expires_at_ns"]),
            received_at_ns=int(data.get("received_at_ns", 0)),
        )

    @classmethod
    def from_response(cls, response: Any) -> StoredSession:
        from algotrendy.v1 import auth_pb2

        return cls(
            user=response.user,
            role=auth_pb2.Role.Name(response.role).removeprefix("ROLE_"),
            access_token=response.access_token,
            access_expires_at_ns=response.access_expires_at_ns,
            refresh_token=response.refresh_token,
            refresh_expires_at_ns=response.refresh_expires_at_ns,
            received_at_ns=time.time_ns(),
        )

    def access_is_fresh(self, now_ns: int) -> bool:
        """True while the access token is comfortably valid (not within the refresh margin)."""
        lifetime = max(self.access_expires_at_ns - (self.received_at_ns or now_ns), 0)
        margin = min(int(lifetime * REFRESH_FRACTION), MAX_REFRESH_MARGIN_NS)
        return now_ns < self.access_expires_at_ns - margin

    def refresh_is_valid(self, now_ns: int) -> bool:
        return bool(self.refresh_token) and now_ns < self.refresh_expires_at_ns


class Session(Credentials):
    """Bearer tokens from a previous login: refreshed before expiry; no password to log in again.

    ``on_update`` receives every new token pair (refresh tokens rotate) and ``None`` when the
    session ended (logout, or the engine refused the refresh token).
    """

    def __init__(
        self,
        session: StoredSession | None = None,
        *,
        on_update: Callable[[StoredSession | None], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.session = session
        self._on_update = on_update
        self._clock_ns = clock_ns
        self._lock: asyncio.Lock | None = None

    @property
    def user(self) -> str:
        return self.session.user if self.session else ""

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _store(self, session: StoredSession | None) -> None:
        self.session = session
        if self._on_update is not None:
            self._on_update(session)

    async def _login(self, auth_stub: Any) -> None:
        raise Unauthenticated(
            grpc.StatusCode.UNAUTHENTICATED, "the session ended; log in again", reason="SESSION_ENDED"
        )

    async def _refresh(self, auth_stub: Any) -> None:
        from algotrendy.v1 import auth_pb2

        assert self.session is not None
        try:
            response = await auth_stub.Refresh(
                auth_pb2.RefreshRequest(refresh_token=self.session.refresh_token), timeout=10
            )
        except grpc.RpcError as exc:
            error = from_rpc_error(exc, "/algotrendy.v1.AuthService/Refresh")
            if isinstance(error, Unauthenticated | InvalidArgument):
                self._store(None)
                await self._login(auth_stub)
                return
            raise error from None
        self._store(StoredSession.from_response(response))

    async def _ensure(self, auth_stub: Any, *, force: bool) -> str:
        async with self._guard():
            now = self._clock_ns()
            session = self.session
            if session is None:
                await self._login(auth_stub)
            elif force or not session.access_is_fresh(now):
                if session.refresh_is_valid(now):
                    await self._refresh(auth_stub)
                else:
                    self._store(None)
                    await self._login(auth_stub)
            assert self.session is not None
            return self.session.access_token

    async def authorization(self, auth_stub: Any) -> str | None:
        return f"Bearer {await self._ensure(auth_stub, force=False)}"

    async def renew(self, auth_stub: Any, error: Unauthenticated) -> bool:
        try:
            await self._ensure(auth_stub, force=True)
        except AlgoTrendyError:
            return False
        return True

    async def close(self, auth_stub: Any) -> None:
        """Log out: the engine revokes the session (its refresh token and access tokens)."""
        from algotrendy.v1 import auth_pb2

        session = self.session
        if session is None:
            return
        try:
            await auth_stub.Logout(
                auth_pb2.LogoutRequest(refresh_token=session.refresh_token),
                metadata=(("authorization", f"Bearer {session.access_token}"),),
                timeout=10,
            )
        except grpc.RpcError as exc:
            error = from_rpc_error(exc, "/algotrendy.v1.AuthService/Logout")
            if not isinstance(error, Unauthenticated):  # already expired: nothing left to revoke
                raise error from None
        finally:
            self._store(None)


class Password(Session):
    """User name and password: logs in on first use and again whenever the session is gone."""

    def __init__(
        self,
        user: str,
        password: str,
        *,
        on_update: Callable[[StoredSession | None], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(None, on_update=on_update, clock_ns=clock_ns)
        self.login_user = user
        self._password = password

    async def _login(self, auth_stub: Any) -> None:
        from algotrendy.v1 import auth_pb2

        try:
            response = await auth_stub.Login(
                auth_pb2.LoginRequest(user=self.login_user, password=self._password), timeout=10
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, "/algotrendy.v1.AuthService/Login") from None
        self._store(StoredSession.from_response(response))

    def __repr__(self) -> str:
        return f"Password(user={self.login_user!r})"


def admin_file_credentials(data_dir: str | os.PathLike[str] | None = None) -> ApiKey | None:
    """The first-start admin API key of a local engine (``<data_dir>/admin-credentials.json``), if any."""
    path = Path(data_dir if data_dir is not None else DEFAULT_DATA_DIR) / ADMIN_CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable admin credentials file ({exc})") from None
    key = data.get("api_key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key:
        raise ValueError(f"{path}: no api_key in the admin credentials file")
    return ApiKey(key)


def resolve(
    *,
    api_key: str | None = None,
    user: str | None = None,
    password: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials | None:
    """Credentials from explicit values, else the environment, else the local admin file (or None).

    A user without a password (or the reverse) is an error rather than a silent fallback to
    another identity.
    """
    environ = os.environ if env is None else env
    if api_key:
        return ApiKey(api_key)
    if user or password:
        if not (user and password):
            raise ValueError("a user needs a password (and a password a user)")
        return Password(user, password)
    if environ.get("ALGOTRENDY_API_KEY"):
        return ApiKey(environ["ALGOTRENDY_API_KEY"])
    env_user, env_password = environ.get("ALGOTRENDY_USER"), environ.get("ALGOTRENDY_PASSWORD")
    if env_user or env_password:
        if not (env_user and env_password):
            raise ValueError("ALGOTRENDY_USER needs ALGOTRENDY_PASSWORD (and the reverse)")
        return Password(env_user, env_password)
    if data_dir is None:
        data_dir = environ.get("ALGOTRENDY_DATA_DIR") or DEFAULT_DATA_DIR
    return admin_file_credentials(data_dir)
