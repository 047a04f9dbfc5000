"""Compiled kernels: all required, all present, C APIs exported for cimport."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.errors import StartupError
from engine.core.kernels import REQUIRED_KERNELS, verify_kernels


def test_verify_kernels_when_module_missing_then_startup_refused_with_build_hint() -> None:
    assert verify_kernels() == list(REQUIRED_KERNELS)
    with pytest.raises(StartupError, match="make build"):
        verify_kernels(("engine.ext.core.does_not_exist",))


def test_required_kernels_when_compared_with_ext_sources_then_every_pyx_is_required() -> None:
    repo = Path(__file__).resolve().parents[3]
    compiled = {
        ".".join(("engine", "ext", *p.relative_to(repo / "ext").with_suffix("").parts))
        for p in (repo / "ext").rglob("*.pyx")
    }
    assert compiled == set(REQUIRED_KERNELS)


def test_fixedpoint_when_built_then_exports_its_c_api_for_cimport() -> None:
    from engine.ext.core import fixedpoint

    assert {"parse_fixed_c", "format_fixed_c"} <= set(fixedpoint.__pyx_capi__)


def test_records_when_built_then_exports_descr_set_for_the_replay_kernel() -> None:
    from engine.ext.core import records

    assert "descr_set" in records.__pyx_capi__
