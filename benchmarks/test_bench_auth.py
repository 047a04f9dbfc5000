"""What authentication adds to every call: ``AuthStore.authenticate`` for an API key and for a JWT
access token, plus the rate limiter's bucket check, each over a batch of ``BATCH`` calls.

Peers in the same run: SHA-256 of the key's secret (the floor of an API-key check: one hash of 43
bytes) and a bare ``jwt.decode`` of the same token (the floor of a bearer check). A gRPC message
costs ~70 us in Python (DESIGN.md), so the ratio that matters for the SubmitOrder benchmark is
these medians against that.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_auth.py --benchmark-only
--benchmark-json=benchmarks/results/auth.json``.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from engine.api.auth import ApiAuth, CredentialKind, Principal, Role
from engine.api.auth.ratelimit import RateLimiter
from engine.api.auth.roles import MethodClass
from engine.config import RateLimitConfig, load_config
from engine.store import LmdbStore
from engine.store.persistence import Persistence

BATCH = 1_000
ROUNDS = 100


@pytest.fixture(scope="module")
def credentials() -> Iterator[dict[str, Any]]:
    loop = asyncio.new_event_loop()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            env={},
            overrides={"data_dir": tmp, "auth.argon2_time_cost": 1, "auth.argon2_memory_kib": 64},
        )
        lmdb = LmdbStore(Path(tmp) / "lmdb", map_size_mb=64, durability="async")
        lmdb.open(time.time_ns())
        persistence = Persistence(lmdb)
        persistence.start(loop)
        auth = ApiAuth(config.auth, config.rate_limits)
        loop.run_until_complete(auth.start(persistence, Path(tmp), time.time_ns))
        store = auth.store
        assert store is not None
        loop.run_until_complete(store.create_user("bench", "bench-password-1", Role.TRADER))
        principal = Principal("bench", Role.TRADER, CredentialKind.API_KEY)
        _, key = loop.run_until_complete(store.create_api_key(principal, "bench", "b", None, 0))
        tokens = loop.run_until_complete(store.login("bench", "bench-password-1"))
        store.authenticate(f"ApiKey {key}")  # records last use now: no state write during the run
        yield {
            "auth": auth,
            "api_key": f"ApiKey {key}",
            "bearer": f"Bearer {tokens.access_token}",
            "token": tokens.access_token,
            "secret": key.split("_", 2)[2],
            "signing_key": store._tokens._key,  # the peer decodes with the same key
        }
        loop.run_until_complete(persistence.close())
        lmdb.close(time.time_ns())
    loop.close()


def _run(benchmark: Any, call: Callable[[], Any]) -> None:
    def batch() -> None:
        for _ in range(BATCH):
            call()

    benchmark.pedantic(batch, rounds=ROUNDS, warmup_rounds=3)
    benchmark.extra_info["ns_per_op"] = benchmark.stats.stats.median / BATCH * 1e9


def test_bench_authenticate_api_key(benchmark: Any, credentials: dict[str, Any]) -> None:
    store, header = credentials["auth"].store, credentials["api_key"]
    assert store.authenticate(header).user == "bench"
    _run(benchmark, lambda: store.authenticate(header))


def test_bench_authenticate_bearer_jwt(benchmark: Any, credentials: dict[str, Any]) -> None:
    store, header = credentials["auth"].store, credentials["bearer"]
    assert store.authenticate(header).kind is CredentialKind.ACCESS_TOKEN
    _run(benchmark, lambda: store.authenticate(header))


def test_bench_rate_limit_check(benchmark: Any, credentials: dict[str, Any]) -> None:
    limiter = RateLimiter(RateLimitConfig(queries_per_second=1e6, queries_burst=10_000_000))
    _run(benchmark, lambda: limiter.check("bench", MethodClass.QUERIES))


def test_bench_peer_sha256_of_the_secret(benchmark: Any, credentials: dict[str, Any]) -> None:
    secret = credentials["secret"].encode()
    _run(benchmark, lambda: hashlib.sha256(secret).hexdigest())


def test_bench_peer_bare_jwt_decode(benchmark: Any, credentials: dict[str, Any]) -> None:
    token, key = credentials["token"], credentials["signing_key"]
    _run(benchmark, lambda: jwt.decode(token, key, algorithms=["HS256"]))
