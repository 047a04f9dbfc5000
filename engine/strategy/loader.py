"""Find a strategy class: a built-in by name, ``package.module:Class``, or a ``.py`` file.

* ``sma_cross`` — a built-in (``builtin_names()`` lists them); an unknown name is an error listing
  them.
* ``my_pkg.strategies:Breakout`` — imported from the Python path.
* ``path/to/file.py`` or ``path/to/file.py:Class`` — loaded from the file; without ``:Class`` the file
  must define exactly one ``Strategy`` subclass.

The class must subclass ``engine.strategy.Strategy`` and declare the interface version this engine
implements (``check_interface``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from engine.core.errors import ValidationError
from engine.strategy.api import Strategy, check_interface

__all__ = ["builtin_names", "load_strategy"]


def _builtins() -> dict[str, type[Strategy]]:
    from engine.strategy import builtin

    return dict(builtin.BUILTINS)


def builtin_names() -> tuple[str, ...]:
    """Names of the built-in strategies, sorted."""
    return tuple(sorted(_builtins()))


def load_strategy(spec: str | type[Strategy]) -> type[Strategy]:
    """The strategy class ``spec`` names (see the module docstring); ``ValidationError`` otherwise."""
    if isinstance(spec, type):
        return check_interface(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise ValidationError("strategy", "give a built-in name, a module path (pkg.mod:Class) or a .py file")
    spec = spec.strip()
    builtins = _builtins()
    if spec in builtins:
        return builtins[spec]
    path_part, _, cls_name = spec.partition(":") if not _is_windows_drive(spec) else (spec, "", "")
    if path_part.endswith(".py") or Path(path_part).is_file():
        return _from_file(Path(path_part), cls_name or None)
    if cls_name:
        try:
            module = importlib.import_module(path_part)
        except ImportError as exc:
            raise ValidationError(
                "strategy", f"cannot import module {path_part!r}: {exc}", reason="UNKNOWN_STRATEGY"
            ) from None
        return _pick(module, cls_name, spec)
    raise ValidationError(
        "strategy",
        f"unknown strategy {spec!r}; built-in strategies: {', '.join(sorted(builtins))} "
        "(or give pkg.module:Class or a .py file)",
        reason="UNKNOWN_STRATEGY",
    )


def _is_windows_drive(spec: str) -> bool:
    return len(spec) > 2 and spec[1] == ":" and spec[2] in "\\/"


def _from_file(path: Path, cls_name: str | None) -> type[Strategy]:
    if not path.is_file():
        raise ValidationError("strategy", f"no such strategy file: {path}", reason="UNKNOWN_STRATEGY")
    resolved = path.resolve()
    # A stable module name per file, so pickling (sweeps on all cores) can find it again.
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    name = f"algotrendy_user_strategy_{resolved.stem}_{digest}"
    module = sys.modules.get(name)
    if module is None:
        loader_spec = importlib.util.spec_from_file_location(name, resolved)
        if loader_spec is None or loader_spec.loader is None:
            raise ValidationError("strategy", f"cannot load {path} as Python", reason="INVALID_STRATEGY")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ValidationError(
                "strategy", f"{path} failed to import: {type(exc).__name__}: {exc}", reason="INVALID_STRATEGY"
            ) from exc
    return _pick(module, cls_name, str(path))


def _pick(module: ModuleType, cls_name: str | None, spec: str) -> type[Strategy]:
    if cls_name:
        cls = getattr(module, cls_name, None)
        if cls is None:
            found = ", ".join(_defined(module)) or "none"
            raise ValidationError(
                "strategy",
                f"{spec}: no class {cls_name!r}; Strategy classes defined there: {found}",
                reason="UNKNOWN_STRATEGY",
            )
        return check_interface(cls)
    defined = _defined(module)
    if len(defined) != 1:
        raise ValidationError(
            "strategy",
            f"{spec} defines {len(defined)} Strategy classes ({', '.join(defined) or 'none'}); "
            "name one with FILE.py:Class",
            reason="INVALID_STRATEGY",
        )
    return check_interface(getattr(module, defined[0]))


def _defined(module: ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, Strategy)
        and value is not Strategy
        and value.__module__ == module.__name__
    )
