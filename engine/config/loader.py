"""Load the configuration: defaults -> TOML file (``--config``) -> environment -> CLI flags.

Each later layer overrides single keys of the earlier ones. Environment variables are
``ALGOTRENDY_<KEY>`` for top-level keys and ``ALGOTRENDY_<SECTION>__<KEY>`` for keys in a section,
e.g. ``ALGOTRENDY_DATA_DIR=/var/lib/algotrendy`` or ``ALGOTRENDY_GRPC__PORT=6000``. A variable that
names a known section with an unknown key is an error (a typo must not be silently ignored);
``ALGOTRENDY_*`` variables without ``__`` that are not top-level keys belong to other tools and are
left alone.

Errors raise ``ConfigError`` with the dotted key, the problem and where the value came from.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pydantic

from engine.config.model import EngineConfig
from engine.core.errors import ConfigError

ENV_PREFIX = "ALGOTRENDY_"

_DEFAULTS = "default"


def load_config(
    config_file: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    override_labels: Mapping[str, str] | None = None,
) -> EngineConfig:
    """Build and validate the effective configuration.

    ``overrides`` maps dotted keys to values (the CLI flags); ``override_labels`` optionally names
    the flag each came from, for error messages (``{"grpc.port": "--grpc-port"}``).
    """
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if config_file is not None:
        path = Path(config_file)
        _merge(merged, sources, _read_toml(path), lambda _key: f"file {path}")
    if env is not None:
        nested, env_vars = _from_env(env)
        _merge(merged, sources, nested, lambda key: f"env {env_vars[key]}")
    if overrides:
        labels = override_labels or {}
        _merge(merged, sources, _unflatten(overrides, "flag"), lambda key: f"flag {labels.get(key, key)}")
    try:
        config = EngineConfig.model_validate(merged)
    except pydantic.ValidationError as exc:
        raise _describe(exc, sources) from None
    if config.metrics.enabled and config.metrics.port and config.metrics.port == config.grpc.port:
        raise ConfigError(
            "metrics.port",
            f"must differ from grpc.port (both are {config.grpc.port})",
            source=_source_of("metrics.port", sources),
        )
    return config.model_copy(update={"data_dir": config.data_dir.expanduser().resolve()})


def redacted(config: EngineConfig) -> dict[str, Any]:
    """The effective config as plain data with every secret replaced by ``**********``."""
    return config.model_dump(mode="json")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("--config", f"file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError("--config", f"is a directory, not a TOML file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"invalid TOML in {path}: {exc}") from None
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc.strerror}") from None


def _from_env(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The nested layer from ``ALGOTRENDY_*`` variables, and which variable set each dotted key."""
    sections = {name for name, field in EngineConfig.model_fields.items() if _is_section(field.annotation)}
    top_level = set(EngineConfig.model_fields) - sections
    flat: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX):
            continue
        name = var[len(ENV_PREFIX) :].lower()
        if "__" in name:
            section, _, key = name.partition("__")
            if section not in sections:
                raise ConfigError(
                    section, f"unknown section (valid: {', '.join(sorted(sections))})", source=f"env {var}"
                )
            flat[f"{section}.{key}"] = value
            origin[f"{section}.{key}"] = var
            origin.setdefault(section, var)
        elif name in top_level:
            flat[name] = value
            origin[name] = var
    return _unflatten(flat, "env"), origin


def _unflatten(flat: Mapping[str, Any], source: str) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        parts = dotted.split(".")
        if not all(parts):
            raise ConfigError(dotted, "is not a valid key", source=source)
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(dotted, f"{part} is not a section", source=source)
        node[parts[-1]] = value
    return nested


def _merge(
    into: dict[str, Any],
    sources: dict[str, str],
    layer: Mapping[str, Any],
    source: Callable[[str], str],
) -> None:
    def walk(dst: dict[str, Any], src: Mapping[str, Any], prefix: str) -> None:
        for key, value in src.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, Mapping) and isinstance(dst.get(key, {}), dict):
                walk(dst.setdefault(key, {}), value, f"{dotted}.")
            else:
                dst[key] = value
            sources[dotted] = source(dotted)

    walk(into, layer, "")


def _describe(exc: pydantic.ValidationError, sources: Mapping[str, str]) -> ConfigError:
    """One line for the first problem: the dotted key, what is wrong, and where it came from."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [str(part) for part in first["loc"]]
    key = ".".join(loc) if loc else "config"
    if first["type"] == "extra_forbidden":
        problem = f"unknown key (valid keys: {', '.join(_valid_keys(loc[:-1]))})"
    elif first["type"] in ("model_type", "model_attributes_type") and loc:
        problem = "must be a section (a TOML table), not a single value"
    else:
        message = first["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        problem = message[0].lower() + message[1:]
        if "input" in first and not isinstance(first["input"], dict) and first["type"] != "value_error":
            problem += f" (got {first['input']!r})"
    if len(errors) > 1:
        problem += f"; and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''}"
    return ConfigError(key, problem, source=_source_of(key, sources))


def _valid_keys(section: list[str]) -> list[str]:
    model: type[pydantic.BaseModel] = EngineConfig
    for part in section:
        annotation = model.model_fields[part].annotation
        if not _is_section(annotation):
            return []
        model = annotation  # type: ignore[assignment]
    return sorted(model.model_fields)


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def _source_of(key: str, sources: Mapping[str, str]) -> str:
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        found = sources.get(".".join(parts[:end]))
        if found:
            return found
    return _DEFAULTS
