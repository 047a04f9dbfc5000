"""Risk test fixtures; the builders live in ``risk_builders`` beside this file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from risk_builders import make_engine

from engine.risk import RiskEngine


@pytest.fixture
def risk() -> RiskEngine:
    return make_engine()
