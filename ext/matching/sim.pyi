"""Type stubs for the simulated venue's compiled submit path (``ext/matching/sim.pyx``)."""

from collections.abc import Callable
from typing import Any, Final

ORDER_FIELDS: Final[tuple[str, ...]]
ACCEPTED_FIELDS: Final[tuple[str, ...]]
SUBMIT_FIELDS: Final[tuple[str, ...]]
MARKET_FIELDS: Final[tuple[str, ...]]

class SimKernel:
    def __init__(
        self,
        orders: dict[Any, Any],
        live: dict[int, Any],
        accounts: dict[Any, int],
        attrs: dict[str, Any],
        vid_key: str,
        *,
        report_latency_ns: int,
        order: tuple[type, tuple[Any, ...]],
        accepted: tuple[type, tuple[Any, ...]],
        submit: tuple[type, tuple[Any, ...]],
        sequence0: int,
        venue_order_id_cls: type[str],
        statuses: tuple[Any, Any],
        no_fills: tuple[()],
        flags: tuple[int, int],
        fixed: tuple[type, type, Any, Any],
        market: tuple[Any, ...],
        dispatch: Callable[[Any, list[Any]], None],
        quote_tick: Callable[[Any, int, int, tuple[int, int, int, int]], Any],
    ) -> None: ...
    def add_market(
        self,
        iid: Any,
        market: Any,
        engine: Any,
        instrument_id: Any,
        tradable: bool,
        *,
        price_precision: int,
        price_step: int,
        size_precision: int,
        size_step: int,
    ) -> None: ...
    def submit(self, cmd: Any, ts: int, out: list[Any]) -> bool: ...
