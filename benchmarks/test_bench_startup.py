"""Engine start-up: how long ``algotrendy serve`` on the simulated venue takes, in two parts.

1. **import**: a fresh interpreter importing ``engine.app`` (the composition root), against peers in
   the same run: a bare interpreter (``python -c pass``, the floor) and the imports of a crypto-venue
   start (``engine.app`` plus ``engine.app.external_venue``: ccxt, ccxt.pro, the feeds). The simulated
   venue does not import ccxt or Numba: the feeds package, the external venue and the batch indicator
   kernels are imported where they are used (``engine/marketdata/feeds/__init__.py``,
   ``engine/app/trading.py``, ``engine/app/__init__.py``, ``engine/indicators/_batch.py``).
2. **ready**: ``algotrendy serve`` from spawn to its ``engine.started`` log line (gRPC serving,
   trading ACTIVE, health SERVING), then SIGTERM. ``first start`` is a fresh data directory (it also
   creates the admin credential, one Argon2 hash); the peer ``restart`` reuses a data directory.

Every round is a new process, so a round is a few seconds; the medians (and the ratios to the peers
of the same run) are what to compare. Medians of 5 rounds on the shared 2-core machine, 2026-11-21
(benchmarks/results/startup.json): ``import engine.app`` 1.45 s (bare interpreter 0.028 s; the
crypto-venue imports 5.44 s, 3.8x); spawn to ready 1.49 s on a fresh data directory, 1.47 s on a
restart. Before the imports were made lazy the simulated venue paid the crypto-venue imports: the same
machine measured ``import engine.app`` 6.0 s and spawn to ready 6.0 s (4 alternated starts each).

Run: make bench BENCH=benchmarks/test_bench_startup.py
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from engine_process import EngineProcess

ROUNDS = 5
#: Modules a simulated-venue start must not import (they belong to crypto venues and batch indicators).
HEAVY = ("ccxt", "ccxt.pro", "numba", "engine.venues.ccxt", "engine.marketdata.feeds.base")


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


#: Prints which of ``HEAVY`` the import loaded: the precondition of the number is that it is none.
_IMPORT_ENGINE_APP = f"import sys, engine.app; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"


@pytest.mark.benchmark(group="engine start: import in a fresh interpreter")
def test_bench_import_engine_app(benchmark) -> None:
    loaded = benchmark.pedantic(
        _python, args=(_IMPORT_ENGINE_APP,), rounds=ROUNDS, iterations=1, warmup_rounds=1
    )
    assert loaded.split() == []


@pytest.mark.benchmark(group="engine start: import in a fresh interpreter")
def test_bench_import_bare_interpreter_peer(benchmark) -> None:
    benchmark.pedantic(_python, args=("pass",), rounds=ROUNDS, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="engine start: import in a fresh interpreter")
def test_bench_import_crypto_venue_peer(benchmark) -> None:
    benchmark.pedantic(
        _python,
        args=("import engine.app, engine.app.external_venue, engine.marketdata.feeds.service",),
        rounds=ROUNDS,
        iterations=1,
        warmup_rounds=1,
    )


class _Start:
    """One measured start: ``setup`` picks the data directory, the target spawns ``algotrendy serve``
    and waits for ``engine.started``, ``teardown`` (not measured) stops it with SIGTERM."""

    def __init__(self, root: Path, *, fresh: bool) -> None:
        self.root = root
        self.fresh = fresh
        self.starts = 0
        self.engine: EngineProcess | None = None

    def data_dir(self) -> Path:
        return self.root / (f"d{self.starts}" if self.fresh else "d")

    def setup(self) -> tuple[tuple[()], dict[str, object]]:
        self.starts += 1
        return (), {}

    def start(self) -> None:
        self.engine = EngineProcess(self.data_dir())
        self.engine.wait_started(120)

    def teardown(self) -> None:
        assert self.engine is not None
        assert self.engine.stop(signal.SIGTERM, timeout_s=30) == 0


def _bench_ready(benchmark, *, fresh: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-start-"))
    run = _Start(root, fresh=fresh)
    try:
        if not fresh:  # the restart peer's data directory exists before the first measured round
            run.start()
            run.teardown()
        benchmark.pedantic(
            run.start, setup=run.setup, teardown=run.teardown, rounds=ROUNDS, iterations=1, warmup_rounds=1
        )
    finally:
        if run.engine is not None:
            run.engine.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.benchmark(group="engine start: spawn to ready (sim venue)")
def test_bench_ready_first_start(benchmark) -> None:
    _bench_ready(benchmark, fresh=True)


@pytest.mark.benchmark(group="engine start: spawn to ready (sim venue)")
def test_bench_ready_restart_peer(benchmark) -> None:
    _bench_ready(benchmark, fresh=False)
