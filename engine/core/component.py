"""Component lifecycle: every long-lived part of the engine reports a state, since when, and why."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.core.clock import Clock
from engine.core.enums import ComponentState, EngineState, TradingState


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    state: ComponentState
    detail: str
    since_ns: int


StateListener = Callable[[ComponentStatus, ComponentState], None]


class Component:
    """State holder for one component; ``set_state`` notifies listeners with the previous state."""

    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self._clock = clock
        self._status = ComponentStatus(name, ComponentState.INITIALIZED, "", clock.timestamp_ns())
        self._listeners: list[StateListener] = []

    @property
    def state(self) -> ComponentState:
        return self._status.state

    @property
    def status(self) -> ComponentStatus:
        return self._status

    def on_state_change(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def set_state(self, state: ComponentState, detail: str = "") -> None:
        previous = self._status.state
        if previous == state and self._status.detail == detail:
            return
        self._status = ComponentStatus(self.name, state, detail, self._clock.timestamp_ns())
        for listener in self._listeners:
            listener(self._status, previous)


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """A point-in-time snapshot of the engine for GetStatus and the CLI."""

    version: str
    instance: str
    pid: int
    engine_state: EngineState
    trading_state: TradingState
    started_at_ns: int
    server_time_ns: int
    components: tuple[ComponentStatus, ...]
    loop_lag_p50_ns: int
    loop_lag_p99_ns: int
    loop_lag_max_ns: int
    loop_lag_samples: int
    loop_lag_window_ns: int

    @property
    def uptime_ns(self) -> int:
        return max(self.server_time_ns - self.started_at_ns, 0)
