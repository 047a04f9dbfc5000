"""The engine's compiled kernels must all load; there is no pure-Python fallback (DESIGN.md)."""

from __future__ import annotations

import importlib

from engine.core.errors import StartupError

#: Every compiled module the engine needs at run time. Add new kernels here.
REQUIRED_KERNELS: tuple[str, ...] = (
    "engine.ext.core.fixedpoint",
    "engine.ext.core.records",
    "engine.ext.backtest.replay",
    "engine.ext.book.l2book",
    "engine.ext.book.levels",
    "engine.ext.matching.engine",
    "engine.ext.matching.paper",
    "engine.ext.matching.sim",
    "engine.ext.indicators.stream",
    "engine.ext.risk.gate",
)


def verify_kernels(modules: tuple[str, ...] = REQUIRED_KERNELS) -> list[str]:
    """Import each kernel module; raise ``StartupError`` naming the missing ones and how to build them."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    if missing:
        raise StartupError(
            "compiled kernels are missing: " + "; ".join(missing) + " — run `make build` to compile ext/"
        )
    return list(modules)
