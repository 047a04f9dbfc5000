"""Live strategies: the ``[[strategies]]`` of the config hosted on the engine's bus.

Construction (``StrategyRuntime(config, ...)``) loads every strategy class and validates its
parameters and bar interval, so a bad entry refuses the start (``ConfigError`` naming
``strategies[i]...``) before any state is touched. ``start(trading)`` then, on the loop, after the
trading core restored and reconciled:

1. (before the trading core starts: ``strategy_ids`` are registered with the risk gate, with the
   ``[risk]`` per-strategy rate limits, before the journal replays their orders);
2. builds the host over an ``OmsOrderRouter`` (intents -> risk gate -> OMS -> venue), the account's
   portfolio and the engine clock;
3. resumes each strategy from the journal (client order numbers continue after the last one, its
   position and open orders come back from its own orders);
4. attaches to the bus (``data.bars|trades|quotes|books.<id>``, ``events.order.<account>``) and
   calls ``on_start``.

Bars come from the bar service (``engine.marketdata.bars``) on ``data.bars.<id>``; each strategy
gets its ``bar_interval`` only. Quarantines are published on ``events.strategy`` and counted in the
metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from engine.config import EngineConfig
from engine.core.clock import Clock
from engine.core.errors import ConfigError, StartupError, ValidationError
from engine.core.ids import StrategyId
from engine.marketdata.bars import parse_interval
from engine.strategy import Strategy, StrategyHost, load_strategy
from engine.strategy.router import OmsOrderRouter
from engine.telemetry import CallbackCollector, EngineMetrics

if TYPE_CHECKING:
    from engine.app.trading import TradingCore

log = structlog.get_logger("engine.app.strategies")


class StrategyRuntime:
    """The configured strategies, validated now and hosted once trading runs."""

    def __init__(
        self, config: EngineConfig, bus: Any, clock: Clock, metrics: EngineMetrics | None = None
    ) -> None:
        self._config = config
        self._bus = bus
        self._clock = clock
        self.host: StrategyHost | None = None
        self.router: OmsOrderRouter | None = None
        intervals = {parse_interval(text): text for text in config.bars.intervals}
        self._entries: list[tuple[type[Strategy], str, list[str], dict[str, Any], int]] = []
        seen: set[str] = set()
        for i, entry in enumerate(config.strategies):
            key = f"strategies[{i}]"
            try:
                cls = load_strategy(entry.strategy)
                params = cls.resolve(entry.params)
            except ValidationError as exc:
                raise ConfigError(f"{key}.{_field(exc)}", _problem(exc)) from None
            sid = entry.id or cls.name or cls.__name__
            if sid in seen:
                raise ConfigError(f"{key}.id", f"strategy id {sid!r} is used twice; give each an id")
            seen.add(sid)
            try:
                interval_ns = parse_interval(entry.bar_interval)
            except ValueError as exc:
                raise ConfigError(f"{key}.bar_interval", str(exc)) from None
            if interval_ns not in intervals:
                raise ConfigError(
                    f"{key}.bar_interval",
                    f"{entry.bar_interval!r} is not built; [bars] intervals: {', '.join(config.bars.intervals)}",
                )
            self._entries.append((cls, sid, list(entry.instruments), params, interval_ns))
        if metrics is not None:
            metrics.register_collector(
                CallbackCollector(
                    counters=[
                        (
                            "algotrendy_strategy_errors",
                            "Strategy callback exceptions caught by the host (isolated).",
                            lambda: self.host.error_count if self.host else 0,
                        ),
                        (
                            "algotrendy_strategy_quarantines",
                            "Strategies quarantined after max_errors exceptions.",
                            lambda: self.host.quarantine_count if self.host else 0,
                        ),
                    ],
                    gauges=[
                        (
                            "algotrendy_strategies_active",
                            "Hosted strategies still receiving callbacks.",
                            lambda: sum(s.active for s in self.host.slots) if self.host else 0,
                        )
                    ],
                )
            )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def strategy_ids(self) -> list[StrategyId]:
        """The ids of the configured strategies (for the risk gate, before trading starts)."""
        return [StrategyId(sid) for _, sid, _, _, _ in self._entries]

    def start(self, trading: TradingCore) -> StrategyHost:
        """Host every configured strategy on the running trading core (see the module docstring)."""
        oms, portfolio, risk = trading.oms, trading.portfolio, trading.risk
        if oms is None or portfolio is None or risk is None:
            raise StartupError("live strategies need the trading core (sim.enabled = true)")
        router = self.router = OmsOrderRouter(oms)
        host = self.host = StrategyHost(
            clock=self._clock,
            router=router,
            portfolio=portfolio,
            instruments=trading.instruments,
            account_id=trading.account,
            max_errors=self._config.strategy_host.max_errors,
        )
        for i, (cls, sid, instruments, params, interval_ns) in enumerate(self._entries):
            try:
                host.add(
                    cls, instruments=instruments, params=params, strategy_id=sid, bar_interval_ns=interval_ns
                )
            except ValidationError as exc:
                raise StartupError(f"config error: strategies[{i}].{_field(exc)}: {_problem(exc)}") from None
        host.resume(oms.orders())
        host.attach(self._bus)
        host.start()
        log.info(
            "strategies.started",
            strategies=[str(s.strategy_id) for s in host.slots],
            quarantined=[str(s.strategy_id) for s in host.slots if s.quarantined],
        )
        return host

    async def stop(self) -> None:
        """``on_stop`` of every active strategy, detach, and let the intents in flight finish."""
        if self.host is not None and self.host.started:
            self.host.stop()
        if self.router is not None:
            await self.router.idle()


def _field(exc: ValidationError) -> str:
    """The field a ValidationError names (its message starts with ``field: ``)."""
    head = str(exc).split(":", 1)[0]
    return head if head.isidentifier() else "strategy"


def _problem(exc: ValidationError) -> str:
    """The message without its leading ``field: ``."""
    head, sep, rest = str(exc).partition(": ")
    return rest if sep and head.isidentifier() else str(exc)
