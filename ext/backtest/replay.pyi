from collections.abc import Callable, Collection, Sized
from typing import Any

VIEW_FIELDS: tuple[str, ...]

class BarPusher:
    view: Any
    def __init__(
        self,
        view: Any,
        key: Any,
        handlers_for: Callable[[Any], Collection[tuple[Any, Callable[[Any], None]]]],
        failed: Callable[[Any, str, BaseException], None],
    ) -> None: ...
    def reset(self) -> None: ...
    def __call__(
        self,
        ts_open: int,
        ts_event: int,
        open_: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        trade_count: int = 0,
    ) -> None: ...

def run_bars(
    k: int,
    end: int,
    start: int,
    tso: list[int],
    tsc: list[int],
    o: list[float],
    h: list[float],
    lo: list[float],
    c: list[float],
    v: list[float],
    push: BarPusher,
    clock: Any,
    heap: list[Any],
    working: Sized,
    queue: Sized,
    router: Any,
) -> int: ...
