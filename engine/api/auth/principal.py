"""Who is calling: the authenticated principal of the current RPC.

The auth interceptor sets ``CURRENT`` around every authenticated call; servicers and the audit
hook read it with ``current_principal()``. Tasks started inside a call copy the context, so a
shielded command task still knows who started it.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from enum import IntEnum

from engine.api.auth.roles import Role

__all__ = ["ANONYMOUS", "CURRENT", "CredentialKind", "Principal", "current_principal"]


class CredentialKind(IntEnum):
    """Values match ``algotrendy.v1.CredentialKind``."""

    NONE = 0
    ACCESS_TOKEN = 1
    API_KEY = 2


@dataclass(frozen=True, slots=True)
class Principal:
    user: str
    role: Role
    kind: CredentialKind
    key_id: str = ""
    session_id: str = ""
    #: The credential's expiry (0 = never).
    expires_at_ns: int = 0

    @property
    def actor(self) -> str:
        """How the audit log names this principal: ``alice`` or ``alice/key:3f9a0c11d2e4``."""
        if self.kind is CredentialKind.API_KEY:
            return f"{self.user}/key:{self.key_id}"
        return self.user

    def may(self, role: Role) -> bool:
        return self.role >= role


ANONYMOUS = Principal("anonymous", Role.ANONYMOUS, CredentialKind.NONE)
CURRENT: contextvars.ContextVar[Principal] = contextvars.ContextVar("algotrendy_principal", default=ANONYMOUS)


def current_principal() -> Principal:
    return CURRENT.get()
