from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from engine_process import EngineProcess


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[list[EngineProcess]]:
    """Collects the engines a test starts and kills any still running at the end."""
    started: list[EngineProcess] = []
    yield started
    for engine in started:
        engine.kill()
