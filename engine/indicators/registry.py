"""Indicator registry: build a streaming indicator from a name and parameters, list what exists.

Strategies and the gRPC indicator stream use it::

    from engine.indicators import registry
    rsi = registry.create("rsi", timeperiod=14)
    registry.names()                 # ('adx', 'atr', ...)
    registry.describe("bbands")      # inputs, outputs, parameters with defaults
    again = registry.restore(rsi.snapshot())
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.ext.indicators import stream as _s
from engine.indicators import _batch as _b


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """What one indicator takes and gives: its streaming class, batch function and signature."""

    name: str
    stream_cls: type
    batch: Callable[..., Any]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def describe(self) -> dict[str, Any]:
        """A plain dict (JSON friendly) of the spec, parameters with their defaults."""
        return {
            "name": self.name,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "params": dict(self.params),
        }


def _spec(
    name: str, stream_cls: type, batch: Callable[..., Any], inputs: tuple[str, ...], outputs: tuple[str, ...]
) -> IndicatorSpec:
    sig = inspect.signature(batch)
    params = {k: p.default for k, p in sig.parameters.items() if k not in inputs}
    return IndicatorSpec(name, stream_cls, batch, inputs, outputs, MappingProxyType(params))


_R = ("real",)
_HLC = ("high", "low", "close")

_SPECS: dict[str, IndicatorSpec] = {
    s.name: s
    for s in (
        _spec("sma", _s.SMA, _b.sma, _R, ("real",)),
        _spec("ema", _s.EMA, _b.ema, _R, ("real",)),
        _spec("wma", _s.WMA, _b.wma, _R, ("real",)),
        _spec("dema", _s.DEMA, _b.dema, _R, ("real",)),
        _spec("tema", _s.TEMA, _b.tema, _R, ("real",)),
        _spec("trix", _s.TRIX, _b.trix, _R, ("real",)),
        _spec("rsi", _s.RSI, _b.rsi, _R, ("real",)),
        _spec("macd", _s.MACD, _b.macd, _R, ("macd", "macdsignal", "macdhist")),
        _spec("bbands", _s.BBANDS, _b.bbands, _R, ("upperband", "middleband", "lowerband")),
        _spec("atr", _s.ATR, _b.atr, _HLC, ("real",)),
        _spec("natr", _s.NATR, _b.natr, _HLC, ("real",)),
        _spec("adx", _s.ADX, _b.adx, _HLC, ("real",)),
        _spec("plus_di", _s.PLUS_DI, _b.plus_di, _HLC, ("real",)),
        _spec("minus_di", _s.MINUS_DI, _b.minus_di, _HLC, ("real",)),
        _spec("stoch", _s.STOCH, _b.stoch, _HLC, ("slowk", "slowd")),
        _spec("stochrsi", _s.STOCHRSI, _b.stochrsi, _R, ("fastk", "fastd")),
        _spec("mfi", _s.MFI, _b.mfi, (*_HLC, "volume"), ("real",)),
        _spec("obv", _s.OBV, _b.obv, ("real", "volume"), ("real",)),
        _spec("cci", _s.CCI, _b.cci, _HLC, ("real",)),
        _spec("willr", _s.WILLR, _b.willr, _HLC, ("real",)),
        _spec("roc", _s.ROC, _b.roc, _R, ("real",)),
        _spec("mom", _s.MOM, _b.mom, _R, ("real",)),
        _spec("vwap", _s.VWAP, _b.vwap, (*_HLC, "volume", "ts_ns"), ("real",)),
        _spec("vwap_rolling", _s.VWAP_ROLLING, _b.vwap_rolling, (*_HLC, "volume"), ("real",)),
        _spec("keltner", _s.KELTNER, _b.keltner, _HLC, ("upper", "middle", "lower")),
        _spec("donchian", _s.DONCHIAN, _b.donchian, ("high", "low"), ("upper", "middle", "lower")),
        _spec("supertrend", _s.SUPERTREND, _b.supertrend, _HLC, ("supertrend", "direction")),
    )
}


def names() -> tuple[str, ...]:
    """Every indicator name, sorted."""
    return tuple(sorted(_SPECS))


def spec(name: str) -> IndicatorSpec:
    """The spec of ``name``; ValueError for an unknown name."""
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(f"unknown indicator {name!r}; available: {', '.join(names())}") from None


def describe(name: str | None = None) -> Any:
    """Inputs, outputs and parameters (with defaults) of one indicator, or of all when ``name`` is None."""
    if name is None:
        return {n: _SPECS[n].describe() for n in names()}
    return spec(name).describe()


def create(name: str, **params: Any) -> Any:
    """A new streaming indicator ``name`` built with ``params`` (defaults for those left out).

    ValueError names an unknown indicator, an unknown parameter or an invalid value.
    """
    s = spec(name)
    unknown = sorted(set(params) - set(s.params))
    if unknown:
        raise ValueError(
            f"{name} has no parameter {unknown[0]!r}; parameters: {', '.join(s.params) or 'none'}"
        )
    return s.stream_cls(**params)


def restore(snapshot: dict[str, Any]) -> Any:
    """Rebuild a streaming indicator from its ``snapshot()`` (name, params and state)."""
    if not isinstance(snapshot, dict) or "name" not in snapshot or "params" not in snapshot:
        raise ValueError("snapshot must be a dict with 'name', 'params' and 'state'")
    indicator = create(snapshot["name"], **snapshot["params"])
    indicator.restore(snapshot)
    return indicator
