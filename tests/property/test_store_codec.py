"""Hypothesis: every class registered with the store codec round-trips exactly."""

from __future__ import annotations

import dataclasses
import enum
import typing
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.core.errors import ValidationError
from engine.core.fixed import INT64_MAX, Money, Price, Quantity
from engine.store.codec import CODEC, CORE_COMMAND_TAGS, CORE_EVENT_TAGS

_ID_ALPHABET = "ABCXYZabcxyz0189._-"


def _strategy(tp: Any, name: str) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, __import__("types").UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return st.none() | _strategy(inner, name)
    if tp is Price:
        return st.builds(Price.from_raw, st.integers(-INT64_MAX, INT64_MAX), st.integers(0, 18))
    if tp is Quantity:
        return st.builds(Quantity.from_raw, st.integers(0, INT64_MAX), st.integers(0, 18))
    if tp is Money:
        return st.builds(
            Money.from_raw,
            st.integers(-(10**45), 10**45),
            st.integers(0, 36),
            st.sampled_from(["USDT", "BTC"]),
        )
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        return st.sampled_from(list(tp))
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**63), 2**63 - 1)
    if tp is str:
        return st.text(max_size=20)
    if isinstance(tp, type) and issubclass(tp, str):
        if tp.__name__ == "InstrumentId":
            return st.builds(
                lambda v, s: tp(f"{v}:{s}"),
                st.sampled_from(["SIM", "BINANCE"]),
                st.text(_ID_ALPHABET, min_size=1, max_size=12),
            )
        return st.text(_ID_ALPHABET, min_size=1, max_size=30).map(tp)
    raise AssertionError(f"{name}: no strategy for {tp!r}")


@st.composite
def registered_objects(draw: st.DrawFn) -> Any:
    # The core's records (generic strategies); the risk/OMS records the app registers have their own
    # round-trip test with concrete values (tests/unit/app/test_codec_registrations.py), so this test
    # does not depend on which other tests ran first.
    core = CORE_EVENT_TAGS | CORE_COMMAND_TAGS
    cls = draw(st.sampled_from(sorted(core, key=lambda c: c.__name__)))
    hints = typing.get_type_hints(cls)
    kwargs = {f.name: draw(_strategy(hints[f.name], f.name)) for f in dataclasses.fields(cls) if f.init}
    try:
        return cls(**kwargs)
    except ValidationError:
        assume(False)


def _exact(a: Any, b: Any) -> None:
    assert type(a) is type(b)
    if isinstance(a, (Price, Quantity)):
        assert (a.raw, a.precision) == (b.raw, b.precision)
    elif isinstance(a, Money):
        assert (a.raw, a.precision, a.currency) == (b.raw, b.precision, b.currency)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _exact(getattr(a, f.name), getattr(b, f.name))
    else:
        assert a == b


@settings(
    max_examples=400, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow], deadline=None
)
@given(registered_objects())
def test_store_codec_when_any_registered_object_round_trips_then_exact(obj: Any) -> None:
    data = CODEC.encode(obj)
    _exact(obj, CODEC.decode(data))
    _exact(obj, CODEC.decode_many([data])[0])
