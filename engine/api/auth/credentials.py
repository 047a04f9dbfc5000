"""Credential formats and their cryptography: API keys, refresh tokens, JWT access tokens.

* API key ``atk_<key_id>_<secret>`` and refresh token ``art_<session_id>_<secret>``: the id (12
  hex) finds the record, the secret (32 random bytes, url-safe base64) is checked against its
  stored SHA-256 in constant time. A fast hash is right here: the secrets are random 256-bit
  values, not guessable passwords, and an API key is checked on every call (argon2 is for
  passwords only).
* Access token: a JWT signed HS256 with the engine's key, claims ``sub`` (user), ``role``,
  ``sid`` (the session it came from, so Logout revokes it), ``jti``, ``iat``, ``exp``, ``iss``.
* The signing key: 32 random bytes generated on first start into ``<data_dir>/auth-signing.key``
  (0600). Deleting it invalidates every access token (refresh tokens and API keys still work).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt

from engine.core.errors import AuthenticationError, StartupError

__all__ = [
    "API_KEY_PREFIX",
    "REFRESH_PREFIX",
    "TOKEN_LEEWAY_S",
    "AccessClaims",
    "TokenCodec",
    "load_signing_key",
    "new_id",
    "new_secret",
    "parse_secret",
    "secret_hash",
    "secret_matches",
]

API_KEY_PREFIX = "atk"
REFRESH_PREFIX = "art"
SIGNING_KEY_FILE = "auth-signing.key"
#: Clock skew tolerated on ``exp`` / ``iat``.
TOKEN_LEEWAY_S = 5
_ISSUER = "algotrendy"
_ID = re.compile(r"[0-9a-f]{12}")
_SECRET = re.compile(r"[A-Za-z0-9_\-]{43}")


def new_id() -> str:
    return secrets.token_hex(6)


def new_secret(prefix: str, ident: str) -> str:
    """``<prefix>_<id>_<43 url-safe characters>`` (256 random bits)."""
    return f"{prefix}_{ident}_{secrets.token_urlsafe(32)}"


def parse_secret(prefix: str, value: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed credential of this kind, else None."""
    parts = value.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix:
        return None
    ident, secret = parts[1], parts[2]
    if _ID.fullmatch(ident) is None or _SECRET.fullmatch(secret) is None:
        return None
    return ident, secret


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), stored_hash)


def load_signing_key(data_dir: Path) -> bytes:
    """The HS256 key from ``<data_dir>/auth-signing.key``, created (0600) on first use."""
    path = data_dir / SIGNING_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text().strip()
        try:
            key = base64.urlsafe_b64decode(text.encode())
        except ValueError:
            key = b""
        if len(key) < 32:
            raise StartupError(
                f"{path} is not a valid signing key (delete it to generate a new one)"
            ) from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as out:
        out.write(base64.urlsafe_b64encode(key).decode() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return key


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user: str
    role: str
    session_id: str
    token_id: str
    issued_at_s: int
    expires_at_s: int


class TokenCodec:
    """Issues and checks JWT access tokens (HS256)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, user: str, role: str, session_id: str, now_s: int, expires_at_s: int) -> str:
        claims = {
            "iss": _ISSUER,
            "sub": user,
            "role": role,
            "sid": session_id,
            "jti": uuid.uuid4().hex,
            "iat": now_s,
            "exp": expires_at_s,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def check(self, token: str) -> AccessClaims:
        """The claims of a valid, unexpired token; ``AuthenticationError`` otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "sid", "jti", "role", "iss"]},
                leeway=TOKEN_LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError(
                "the access token has expired; refresh it", reason="TOKEN_EXPIRED"
            ) from None
        except jwt.PyJWTError:
            raise AuthenticationError("the access token is not valid", reason="BAD_TOKEN") from None
        try:
            return AccessClaims(
                str(claims["sub"]),
                str(claims["role"]),
                str(claims["sid"]),
                str(claims["jti"]),
                int(claims["iat"]),
                int(claims["exp"]),
            )
        except (TypeError, ValueError):
            raise AuthenticationError("the access token is not valid", reason="BAD_TOKEN") from None
