"""Real LMDB stores in tmp dirs for the store tests (no mocks)."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.store import LmdbStore, Persistence

sys.path.insert(0, str(Path(__file__).parent))

from store_samples import open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LmdbStore]:
    s = open_store(tmp_path / "lmdb")
    yield s
    if s.is_open:
        s.close(time.time_ns())


@pytest.fixture
async def persistence(store: LmdbStore) -> AsyncIterator[Persistence]:
    p = Persistence(store)
    p.start()
    yield p
    if p.writer.failure is None:
        await p.close()
    else:
        p.writer.close_blocking(5)
