"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_path() -> Path:
    """``../shared/data`` next to the clone, or ``$ALGOTRENDY_SHARED_DATA`` when set."""
    override = os.environ.get("ALGOTRENDY_SHARED_DATA")
    return Path(override) if override else (REPO_ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real market data folder; tests that need it are skipped with a reason when it is absent."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(f"real market data not found at {path} (set ALGOTRENDY_SHARED_DATA to its location)")
    return path
