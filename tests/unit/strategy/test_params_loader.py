"""Parameter declarations and validation; loading strategies by name, module path and file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from engine.core.errors import ValidationError
from engine.strategy import (
    INTERFACE_VERSION,
    FloatParam,
    IntParam,
    Param,
    Strategy,
    load_strategy,
    parse_params_text,
    resolve_params,
)
from engine.strategy.builtin import SmaCross


def test_resolve_when_no_overrides_then_defaults() -> None:
    assert resolve_params(SmaCross) == {"fast": 10, "slow": 30}


def test_resolve_when_strings_then_parsed_by_declared_type() -> None:
    assert SmaCross.resolve(parse_params_text("fast=5, slow=20")) == {"fast": 5, "slow": 20}


def test_resolve_when_unknown_parameter_then_error_lists_valid_ones() -> None:
    with pytest.raises(ValidationError) as err:
        SmaCross.resolve({"fats": 5})
    assert err.value.reason == "UNKNOWN_PARAMETER"
    assert "sma_cross has no parameter 'fats'; valid parameters: fast, slow" in str(err.value)


def test_resolve_when_out_of_range_then_error_names_parameter() -> None:
    with pytest.raises(ValidationError) as err:
        SmaCross.resolve({"fast": 1})
    assert err.value.reason == "PARAMETER_OUT_OF_RANGE"
    assert str(err.value) == "fast: must be between 2 and 500, got 1"


@pytest.mark.parametrize("bad", ["abc", 2.5, True, None])
def test_resolve_when_wrong_type_then_error_names_parameter(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        SmaCross.resolve({"slow": bad})
    assert str(err.value).startswith("slow: must be an integer")


def test_params_text_when_malformed_then_error() -> None:
    with pytest.raises(ValidationError, match="expected k=v"):
        parse_params_text("fast5")
    assert parse_params_text("") == {}


def test_param_grid_and_sample_cover_the_declared_range() -> None:
    p = IntParam(10, low=5, high=20, step=5)
    assert p.grid() == [5, 10, 15, 20]
    f = FloatParam(1.0, low=0.0, high=2.0, steps=3)
    assert f.grid() == [0.0, 1.0, 2.0]
    rng = random.Random(1)
    assert all(p.sample(rng) in (5, 10, 15, 20) for _ in range(50))
    assert all(0.0 <= f.sample(rng) <= 2.0 for _ in range(50))


def test_param_when_default_outside_range_then_declaration_fails() -> None:
    with pytest.raises(ValidationError):
        IntParam(1, low=2, high=3)


def test_instance_sees_params_as_plain_attributes() -> None:
    assert isinstance(vars(SmaCross)["fast"], Param)  # the declaration stays on the class

    class Ctx:
        log = None

    s = SmaCross(Ctx(), {"fast": "3", "slow": 4})  # type: ignore[arg-type]
    assert (s.fast, s.slow) == (3, 4) and vars(s)["fast"] == 3
    assert s.params == {"fast": 3, "slow": 4}


# -- loader ------------------------------------------------------------------------------------


def test_load_when_builtin_name_then_class() -> None:
    assert load_strategy("sma_cross") is SmaCross


def test_load_when_unknown_name_then_error_lists_builtins() -> None:
    with pytest.raises(ValidationError) as err:
        load_strategy("sma_crossover")
    assert err.value.reason == "UNKNOWN_STRATEGY"
    assert (
        "unknown strategy 'sma_crossover'; built-in strategies: bollinger_reversion, bollinger_squeeze"
        in str(err.value)
    )
    assert "vwap_reversion" in str(err.value)


def test_load_when_module_path_then_class() -> None:
    assert load_strategy("engine.strategy.builtin:SmaCross") is SmaCross
    with pytest.raises(ValidationError, match="no class 'Nope'"):
        load_strategy("engine.strategy.builtin:Nope")
    with pytest.raises(ValidationError, match="cannot import module"):
        load_strategy("no_such_pkg_xyz.mod:Cls")


USER = """
from engine.strategy import Strategy, IntParam

class Mine(Strategy):
    name = "mine"
    period = IntParam(3, low=1, high=9)

    def on_bar(self, bar):
        pass
"""


def test_load_when_py_file_then_its_only_strategy(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(USER)
    cls = load_strategy(str(path))
    assert cls.__name__ == "Mine" and cls.resolve({"period": 4}) == {"period": 4}
    assert load_strategy(f"{path}:Mine") is cls


def test_load_when_file_has_two_strategies_then_asks_for_one(tmp_path: Path) -> None:
    path = tmp_path / "two.py"
    path.write_text(USER + "\nclass Other(Mine):\n    pass\n")
    with pytest.raises(ValidationError, match=r"defines 2 Strategy classes \(Mine, Other\)"):
        load_strategy(str(path))
    assert load_strategy(f"{path}:Other").__name__ == "Other"


def test_load_when_file_missing_or_broken_then_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such strategy file"):
        load_strategy(str(tmp_path / "absent.py"))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ValidationError, match="failed to import: RuntimeError: boom"):
        load_strategy(str(broken))


def test_load_when_other_interface_version_then_refused() -> None:
    class Future(Strategy):
        INTERFACE_VERSION = INTERFACE_VERSION + 1

    with pytest.raises(ValidationError) as err:
        load_strategy(Future)
    assert err.value.reason == "UNSUPPORTED_INTERFACE_VERSION"
    with pytest.raises(ValidationError, match="not a Strategy subclass"):
        load_strategy(int)  # type: ignore[arg-type]


def test_load_when_parameter_shadows_the_interface_then_refused() -> None:
    class Clash(Strategy):
        ctx = IntParam(1, low=0, high=2)  # type: ignore[assignment]

    with pytest.raises(ValidationError, match="declares a parameter named 'ctx'"):
        load_strategy(Clash)
