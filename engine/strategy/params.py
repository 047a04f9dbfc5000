"""Strategy parameters: declared on the class with a type, a default and a range; validated once.

A strategy declares its parameters as class attributes::

    class SmaCross(Strategy):
        fast = IntParam(10, low=2, high=500, doc="fast SMA period (bars)")
        slow = IntParam(30, low=3, high=2000, doc="slow SMA period (bars)")

``resolve_params(cls, given)`` checks a mapping of overrides against the declarations: an unknown
name is an error listing the valid ones, a value of the wrong type or outside its range is an error
naming the parameter. Values may be given as strings (``--params fast=5,slow=20`` on the CLI,
``params = {fast = "5"}`` in TOML) and are parsed by the declared type. The strategy then sees
plain attributes (``self.fast`` is an ``int`` in the instance ``__dict__``, no descriptor cost in
``on_bar``).

The declared range is also the search space of a parameter sweep: ``grid()`` enumerates it (ints by
``step``; floats in ``steps`` evenly spaced values) and ``sample(rng)`` draws from it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.core.errors import ValidationError

__all__ = [
    "BoolParam",
    "ChoiceParam",
    "FloatParam",
    "IntParam",
    "Param",
    "declared_params",
    "parse_params_text",
    "resolve_params",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter. Use the ``IntParam`` / ``FloatParam`` / ``BoolParam`` / ``ChoiceParam``
    helpers rather than this class directly."""

    kind: type
    default: Any
    low: float | int | None = None
    high: float | int | None = None
    #: Sweep spacing: the int step of ``grid()`` (ints) or the number of grid points (floats).
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def coerce(self, name: str, value: Any) -> Any:
        """``value`` converted to the declared type and checked against the range or choices."""
        kind = self.kind
        if kind is bool:
            if isinstance(value, bool):
                out: Any = value
            elif isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                out = value.strip().lower() in _TRUE
            else:
                raise ValidationError(name, f"must be a boolean, got {value!r}", reason="INVALID_PARAMETER")
        elif kind is int:
            if isinstance(value, bool):
                raise ValidationError(name, f"must be an integer, got {value!r}", reason="INVALID_PARAMETER")
            if isinstance(value, str):
                try:
                    value = int(value.strip())
                except ValueError:
                    raise ValidationError(
                        name, f"must be an integer, got {value!r}", reason="INVALID_PARAMETER"
                    ) from None
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise ValidationError(name, f"must be an integer, got {value!r}", reason="INVALID_PARAMETER")
            out = int(value)
        elif kind is float:
            if isinstance(value, bool):
                raise ValidationError(name, f"must be a number, got {value!r}", reason="INVALID_PARAMETER")
            try:
                out = float(value.strip() if isinstance(value, str) else value)
            except (TypeError, ValueError):
                raise ValidationError(
                    name, f"must be a number, got {value!r}", reason="INVALID_PARAMETER"
                ) from None
            if not math.isfinite(out):
                raise ValidationError(name, f"must be finite, got {value!r}", reason="INVALID_PARAMETER")
        else:
            out = value.strip() if isinstance(value, str) else value
        if self.choices is not None and out not in self.choices:
            valid = ", ".join(map(str, self.choices))
            raise ValidationError(
                name, f"must be one of {valid}, got {out!r}", reason="PARAMETER_OUT_OF_RANGE"
            )
        if (self.low is not None and out < self.low) or (self.high is not None and out > self.high):
            raise ValidationError(
                name,
                f"must be between {self.low} and {self.high}, got {out!r}",
                reason="PARAMETER_OUT_OF_RANGE",
            )
        return out

    def grid(self) -> list[Any]:
        """Every value a grid sweep tries: the choices, both booleans, ints ``low..high`` by
        ``step``, or ``step`` (default 5) evenly spaced floats from ``low`` to ``high``."""
        if self.choices is not None:
            return list(self.choices)
        if self.kind is bool:
            return [False, True]
        if self.low is None or self.high is None:
            return [self.default]
        if self.kind is int:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        n = int(self.step or 5)
        if n <= 1:
            return [float(self.low)]
        span = float(self.high) - float(self.low)
        return [float(self.low) + span * i / (n - 1) for i in range(n)]

    def sample(self, rng: random.Random) -> Any:
        """One value drawn uniformly from the declared range (random search)."""
        if self.choices is not None:
            return rng.choice(self.choices)
        if self.kind is bool:
            return rng.random() < 0.5
        if self.low is None or self.high is None:
            return self.default
        if self.kind is int:
            step = int(self.step or 1)
            return int(self.low) + step * rng.randrange((int(self.high) - int(self.low)) // step + 1)
        return rng.uniform(float(self.low), float(self.high))

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (type, default, range, choices, doc)."""
        out: dict[str, Any] = {"type": self.kind.__name__, "default": self.default}
        if self.low is not None:
            out["low"] = self.low
        if self.high is not None:
            out["high"] = self.high
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.doc:
            out["doc"] = self.doc
        return out


def _checked_default(p: Param) -> Param:
    p.coerce("default", p.default)
    return p


def IntParam(
    default: int, *, low: int | None = None, high: int | None = None, step: int = 1, doc: str = ""
) -> Param:
    """An integer parameter in ``[low, high]``; a grid sweep steps by ``step``."""
    return _checked_default(Param(int, default, low, high, step, None, doc))


def FloatParam(
    default: float, *, low: float | None = None, high: float | None = None, steps: int = 5, doc: str = ""
) -> Param:
    """A float parameter in ``[low, high]``; a grid sweep tries ``steps`` evenly spaced values."""
    return _checked_default(Param(float, float(default), low, high, steps, None, doc))


def BoolParam(default: bool, *, doc: str = "") -> Param:
    return _checked_default(Param(bool, default, doc=doc))


def ChoiceParam(default: Any, choices: Sequence[Any], *, doc: str = "") -> Param:
    return _checked_default(Param(type(default), default, choices=tuple(choices), doc=doc))


def declared_params(cls: type) -> dict[str, Param]:
    """The parameters ``cls`` declares (including inherited ones), in declaration order."""
    out: dict[str, Param] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Param):
                out[name] = value
    return out


def resolve_params(cls: type, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults of ``cls``'s declared parameters overridden by ``given``, each one validated.

    ``ValidationError`` (reason ``UNKNOWN_PARAMETER``) for a name ``cls`` does not declare, listing the
    valid ones; ``INVALID_PARAMETER`` / ``PARAMETER_OUT_OF_RANGE`` naming the parameter otherwise.
    """
    declared = declared_params(cls)
    given = dict(given or {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        valid = ", ".join(declared) or "none"
        name = getattr(cls, "name", cls.__name__)
        raise ValidationError(
            unknown[0],
            f"{name} has no parameter {unknown[0]!r}; valid parameters: {valid}",
            reason="UNKNOWN_PARAMETER",
        )
    return {name: p.coerce(name, given[name]) if name in given else p.default for name, p in declared.items()}


def parse_params_text(text: str) -> dict[str, str]:
    """``"fast=5,slow=20"`` -> ``{"fast": "5", "slow": "20"}`` (values stay strings; the declared
    types parse them). Empty text is no overrides."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValidationError(
                "params", f"expected k=v[,k=v...], got {item!r}", reason="INVALID_PARAMETER"
            )
        out[key.strip()] = value.strip()
    return out
