"""Auth building blocks without a server: token buckets, login lockout, credential formats, JWTs,
the role table's rules, peer addresses."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from engine.api.auth.credentials import (
    API_KEY_PREFIX,
    TokenCodec,
    load_signing_key,
    new_id,
    new_secret,
    parse_secret,
    secret_hash,
    secret_matches,
)
from engine.api.auth.interceptor import peer_address
from engine.api.auth.principal import CredentialKind, Principal
from engine.api.auth.ratelimit import LoginGuard, RateLimiter, TokenBucket
from engine.api.auth.roles import METHODS, MethodClass, Role, is_public, rule_for
from engine.config import AuthConfig, RateLimitConfig
from engine.core.errors import AuthenticationError, ResourceExhaustedError, StartupError


class FakeTime:
    """A settable monotonic clock for the limiter (our own test double, not a mock of our code)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_when_drained_then_waits_exactly_until_the_next_token() -> None:
    bucket = TokenBucket(rate=4.0, burst=2, now=0.0)
    assert bucket.take(0.0) == 0 and bucket.take(0.0) == 0
    assert bucket.take(0.0) == 250  # one token per 250 ms
    assert bucket.take(0.1) == 150
    assert bucket.take(0.25) == 0
    assert bucket.take(100.0) == 0 and bucket.tokens == 1.0  # refills to the burst, not beyond


def test_rate_limiter_when_one_key_exhausted_then_other_keys_and_classes_unaffected() -> None:
    clock = FakeTime()
    limiter = RateLimiter(RateLimitConfig(orders_per_second=1.0, orders_burst=1), clock)
    limiter.check("alice", MethodClass.ORDERS)
    with pytest.raises(ResourceExhaustedError) as info:
        limiter.check("alice", MethodClass.ORDERS)
    assert info.value.reason == "RATE_LIMITED" and info.value.retry_after_ms == 1000
    limiter.check("bob", MethodClass.ORDERS)
    limiter.check("alice", MethodClass.QUERIES)
    clock.now += 1.0
    limiter.check("alice", MethodClass.ORDERS)


def test_login_guard_when_failures_reach_the_limit_then_locked_until_the_lockout_ends() -> None:
    clock = FakeTime()
    guard = LoginGuard(
        AuthConfig(login_max_failures=2, login_max_failures_per_peer=100, login_lockout_s=30), clock
    )
    guard.failed("alice", "ipv4:1.2.3.4")
    guard.check("alice", "ipv4:1.2.3.4")
    guard.failed("alice", "ipv4:1.2.3.4")
    with pytest.raises(ResourceExhaustedError) as info:
        guard.check("alice", "ipv4:9.9.9.9")  # the user is locked, from anywhere
    assert info.value.reason == "LOGIN_LOCKED" and info.value.retry_after_ms == 30_000
    guard.check("bob", "ipv4:1.2.3.4")
    clock.now += 30.0
    guard.check("alice", "ipv4:1.2.3.4")
    guard.failed("alice", "ipv4:1.2.3.4")  # counting starts afresh after a lockout
    guard.check("alice", "ipv4:1.2.3.4")


def test_login_guard_when_success_then_the_users_count_resets() -> None:
    guard = LoginGuard(AuthConfig(login_max_failures=2), FakeTime())
    guard.failed("alice", "p")
    guard.succeeded("alice")
    guard.failed("alice", "p")
    guard.check("alice", "p")  # one failure since the success: not locked (no reset: two, locked)
    guard.failed("alice", "p")
    with pytest.raises(ResourceExhaustedError) as info:
        guard.check("alice", "p")  # the second since the success: counting goes on from the reset
    assert info.value.reason == "LOGIN_LOCKED"


def test_secrets_when_generated_then_parse_back_and_match_only_their_hash() -> None:
    ident = new_id()
    key = new_secret(API_KEY_PREFIX, ident)
    parsed = parse_secret(API_KEY_PREFIX, key)
    assert parsed is not None and parsed[0] == ident
    stored = secret_hash(parsed[1])
    assert secret_matches(parsed[1], stored) and not secret_matches(parsed[1][:-1] + "x", stored)
    for bad in (
        "",
        "atk",
        f"art_{ident}_{parsed[1]}",
        f"atk_{ident}_short",
        f"atk_XYZ_{parsed[1]}",
        key + "!",
    ):
        assert parse_secret(API_KEY_PREFIX, bad) is None


def test_signing_key_when_created_then_0600_and_stable(tmp_path: Path) -> None:
    first = load_signing_key(tmp_path)
    assert len(first) == 32 and load_signing_key(tmp_path) == first
    assert (tmp_path / "auth-signing.key").stat().st_mode & 0o777 == 0o600
    (tmp_path / "auth-signing.key").write_text("short\n")
    with pytest.raises(StartupError):
        load_signing_key(tmp_path)


def test_token_codec_when_expired_forged_or_foreign_then_refused() -> None:
    codec = TokenCodec(b"k" * 32)
    now = int(time.time())
    claims = codec.check(codec.issue("alice", "TRADER", "0123456789ab", now, now + 60))
    assert (claims.user, claims.role, claims.session_id) == ("alice", "TRADER", "0123456789ab")
    with pytest.raises(AuthenticationError) as info:
        codec.check(codec.issue("alice", "TRADER", "s", now - 100, now - 50))
    assert info.value.reason == "TOKEN_EXPIRED"
    other = TokenCodec(b"o" * 32).issue("alice", "ADMIN", "s", now, now + 60)
    unsigned = jwt.encode({"sub": "alice", "role": "ADMIN", "exp": now + 60}, key=None, algorithm="none")
    for token in (other, unsigned, "a.b.c", ""):
        with pytest.raises(AuthenticationError) as info:
            codec.check(token)
        assert info.value.reason == "BAD_TOKEN"


def test_roles_when_ordered_then_each_includes_the_ones_below() -> None:
    trader = Principal("t", Role.TRADER, CredentialKind.API_KEY, key_id="0123456789ab")
    assert trader.may(Role.VIEWER) and trader.may(Role.TRADER) and not trader.may(Role.ADMIN)
    assert trader.actor == "t/key:0123456789ab"
    assert rule_for("/algotrendy.v1.OrderService/SubmitOrder").min_role is Role.TRADER  # type: ignore[union-attr]
    assert rule_for("/algotrendy.v1.RiskService/SetLimits").min_role is Role.ADMIN  # type: ignore[union-attr]
    assert rule_for("/algotrendy.v1.AuthService/Login").min_role is Role.ANONYMOUS  # type: ignore[union-attr]
    assert rule_for("/algotrendy.v1.Nope/Nothing") is None
    assert is_public("/grpc.health.v1.Health/Check") and not is_public(
        "/algotrendy.v1.EngineService/GetStatus"
    )
    # Reads and subscriptions are for viewers; nothing state-changing is.
    for method, rule in METHODS.items():
        if rule.min_role is Role.VIEWER and rule.method_class is MethodClass.ORDERS:
            assert method.startswith("/algotrendy.v1.AuthService/"), method  # self-service only


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:127.0.0.1:51234", "ipv4:127.0.0.1"),
        ("ipv6:[::1]:51234", "ipv6:[::1]"),
        ("unix:/tmp/sock", "unix:/tmp/sock"),
        ("", ""),
    ],
)
def test_peer_address_when_parsed_then_port_dropped(peer: str, address: str) -> None:
    assert peer_address(peer) == address
