"""Strategies: the versioned Strategy API, its context, the built-ins, the loader and the host.

* ``Strategy`` (``api``): callbacks ``on_start``, ``on_stop``, ``on_bar``, ``on_trade``, ``on_quote``,
  ``on_book``, ``on_order_event``, ``on_fill``, ``on_timer`` — all optional; ``INTERFACE_VERSION``.
* ``StrategyContext`` (``api``) / ``Context`` (``context``): indicators, portfolio, clock, logger,
  order intents through the risk gate and the OMS, deterministic client order ids.
* Parameters (``params``): ``IntParam``, ``FloatParam``, ``BoolParam``, ``ChoiceParam``.
* ``load_strategy`` (``loader``): a built-in name, ``pkg.mod:Class`` or ``file.py[:Class]``.
* ``StrategyHost`` (``host``): several strategies, several instruments, guarded callbacks, quarantine.
"""

from engine.strategy.api import INTERFACE_VERSION, BarView, OrderRouter, Strategy, StrategyContext
from engine.strategy.context import Context, StrategyPosition
from engine.strategy.events import StrategyQuarantined
from engine.strategy.host import StrategyHost, StrategySlot
from engine.strategy.loader import builtin_names, load_strategy
from engine.strategy.params import (
    BoolParam,
    ChoiceParam,
    FloatParam,
    IntParam,
    Param,
    declared_params,
    parse_params_text,
    resolve_params,
)

__all__ = [
    "INTERFACE_VERSION",
    "BarView",
    "BoolParam",
    "ChoiceParam",
    "Context",
    "FloatParam",
    "IntParam",
    "OrderRouter",
    "Param",
    "Strategy",
    "StrategyContext",
    "StrategyHost",
    "StrategyPosition",
    "StrategyQuarantined",
    "StrategySlot",
    "builtin_names",
    "declared_params",
    "load_strategy",
    "parse_params_text",
    "resolve_params",
]
