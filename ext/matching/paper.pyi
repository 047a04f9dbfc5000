"""Type stubs for the paper venue's compiled order path (``ext/matching/paper.pyx``)."""

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

from engine.ext.book.l2book import L2Book

PAPER_FIELDS: Final[tuple[str, ...]]
ACCEPTED_FIELDS: Final[tuple[str, ...]]
FILLED_FIELDS: Final[tuple[str, ...]]
CANCELED_FIELDS: Final[tuple[str, ...]]
EXPIRED_FIELDS: Final[tuple[str, ...]]
SUBMIT_FIELDS: Final[tuple[str, ...]]
STATUS_NAMES: Final[tuple[str, ...]]

class PaperOrder:
    account: Any
    coid: Any
    iid: Any
    expire: int
    status: Any
    reason: str | None
    fills: list[tuple[str, int, int, int, int, int]]
    state: str
    vid: int
    side: int
    otype: int
    tif: int
    qty: int
    price: int
    trigger: int
    flags: int
    filled: int
    leaves: int
    queue_ahead: int
    seen: int
    ts_last: int
    triggered: bool
    def __init__(self, **values: Any) -> None: ...
    @property
    def post_only(self) -> bool: ...
    @property
    def reduce_only(self) -> bool: ...

class PaperKernel:
    next_vid: int
    next_trade: int
    gtd_seen: bool
    def __init__(
        self,
        orders: dict[Any, PaperOrder],
        live: dict[int, PaperOrder],
        positions: dict[Any, int],
        balances: dict[Any, dict[str, Any]],
        last_trade: dict[Any, int],
        closed_keys: deque[Any],
        retention: int,
        *,
        report_latency_ns: int,
        max_walk_levels: int,
        enums: Mapping[str, int],
        statuses: tuple[Any, ...],
        sides: dict[int, Any],
        liquidity: dict[int, Any],
        events: Mapping[str, tuple[type, tuple[Any, ...]]],
        ids: tuple[type, type],
        money: tuple[type, Any, Any, Any],
        fixed: tuple[type, type, Any, Any],
        submit_fields: tuple[Any, ...],
        reject: Callable[[int, Any, Any, Any, str], Any],
        validation_error: type[BaseException],
        reason_details: Mapping[str, str],
    ) -> None: ...
    def add_market(
        self,
        iid: Any,
        l2: L2Book,
        inst: Any,
        terms: Any,
        *,
        prefix: str,
        price_precision: int,
        price_step: int,
        size_precision: int,
        size_step: int,
        fill_terms: tuple[str, int, int, str | None, int, int],
        zero_fee: Any,
    ) -> None: ...
    def submit(self, cmd: Any, ts: int, out: list[Any]) -> None: ...
    def execute(self, o: PaperOrder, ts: int, out: list[Any]) -> None: ...
    def rest(self, o: PaperOrder) -> None: ...
    def fill(self, o: PaperOrder, ticks: int, lots: int, liq: int, ts: int, out: list[Any]) -> None: ...
    def close(self, o: PaperOrder, ts: int, reason: str, out: list[Any]) -> None: ...
    def reducible(self, o: PaperOrder) -> int: ...
