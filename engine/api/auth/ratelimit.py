"""Token buckets (per principal and method class) and the login lockout.

Both run on the loop and hold only small dicts; time is ``time.monotonic`` (wall-clock jumps must
not refill or drain a bucket). A refusal carries how long until a retry can succeed, which the
API sends as ``retry-after-ms``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.api.auth.roles import MethodClass
from engine.config import AuthConfig, RateLimitConfig
from engine.core.errors import ResourceExhaustedError

__all__ = ["LoginGuard", "RateLimiter", "TokenBucket"]

#: Buckets idle this long are full again and are dropped, so the dict cannot grow without bound.
_IDLE_DROP_S = 600.0


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; ``take`` answers 0 (taken) or the ms to wait."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> int:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self.tokens) / self.rate * 1000))


class RateLimiter:
    """One bucket per (key, method class); ``check`` raises ``ResourceExhaustedError`` when empty."""

    def __init__(self, config: RateLimitConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = {
            MethodClass.ORDERS: (config.orders_per_second, config.orders_burst),
            MethodClass.QUERIES: (config.queries_per_second, config.queries_burst),
            MethodClass.STREAMS: (config.streams_per_second, config.streams_burst),
            MethodClass.LOGIN: (config.login_per_second, config.login_burst),
        }
        self._clock = clock
        self._buckets: dict[tuple[str, MethodClass], TokenBucket] = {}
        self._swept = clock()

    def check(self, key: str, method_class: MethodClass) -> None:
        now = self._clock()
        bucket = self._buckets.get((key, method_class))
        if bucket is None:
            if now - self._swept > _IDLE_DROP_S:
                self._sweep(now)
            rate, burst = self._limits[method_class]
            bucket = self._buckets[(key, method_class)] = TokenBucket(rate, burst, now)
        wait_ms = bucket.take(now)
        if wait_ms:
            raise ResourceExhaustedError(
                f"rate limit for {method_class.value} exceeded; retry in {wait_ms} ms",
                retry_after_ms=wait_ms,
                reason="RATE_LIMITED",
            )

    def _sweep(self, now: float) -> None:
        self._swept = now
        idle = [k for k, b in self._buckets.items() if now - b.updated > _IDLE_DROP_S]
        for k in idle:
            del self._buckets[k]


@dataclass(slots=True)
class _Failures:
    count: int = 0
    locked_until: float = 0.0


class LoginGuard:
    """Locks a user out after ``login_max_failures`` consecutive failed logins, and a peer address
    after ``login_max_failures_per_peer`` failures (any user), for ``login_lockout_s``.

    While locked, even the right password is refused (else guessing could continue); a success
    resets the user's count. Kept in memory: a restart forgets the counts, which only helps an
    attacker who can restart the engine.
    """

    def __init__(self, config: AuthConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_user = config.login_max_failures
        self._max_peer = config.login_max_failures_per_peer
        self._lockout_s = float(config.login_lockout_s)
        self._clock = clock
        self._users: dict[str, _Failures] = {}
        self._peers: dict[str, _Failures] = {}

    def check(self, user: str, peer: str) -> None:
        """Raise ``ResourceExhaustedError`` (LOGIN_LOCKED) while the user or the peer is locked."""
        now = self._clock()
        for table, key in ((self._users, user), (self._peers, peer)):
            entry = table.get(key)
            if entry is not None and entry.locked_until > now:
                wait_ms = max(1, math.ceil((entry.locked_until - now) * 1000))
                raise ResourceExhaustedError(
                    f"too many failed logins; retry in {wait_ms // 1000 + 1} s",
                    retry_after_ms=wait_ms,
                    reason="LOGIN_LOCKED",
                )

    def failed(self, user: str, peer: str) -> None:
        now = self._clock()
        for table, key, limit in ((self._users, user, self._max_user), (self._peers, peer, self._max_peer)):
            entry = table.setdefault(key, _Failures())
            if entry.locked_until and entry.locked_until <= now:
                entry.count = 0  # the lockout is over: start counting afresh
                entry.locked_until = 0.0
            entry.count += 1
            if entry.count >= limit:
                entry.locked_until = now + self._lockout_s
        if len(self._peers) > 100_000 or len(self._users) > 100_000:
            self._sweep(now)

    def succeeded(self, user: str) -> None:
        self._users.pop(user, None)

    def _sweep(self, now: float) -> None:
        for table in (self._users, self._peers):
            for key in [k for k, e in table.items() if e.locked_until <= now]:
                del table[key]
