"""Type stubs for the compiled L3 matching engine (``ext/matching/engine.pyx``)."""

from typing import Final

import numpy as np
import numpy.typing as npt

BUY: Final[int]
SELL: Final[int]
MARKET: Final[int]
LIMIT: Final[int]
STOP_MARKET: Final[int]
STOP_LIMIT: Final[int]
GTC: Final[int]
IOC: Final[int]
FOK: Final[int]
GTD: Final[int]
POST_ONLY: Final[int]
REDUCE_ONLY: Final[int]
MAKER: Final[int]
TAKER: Final[int]
STP_MODES: Final[dict[str, int]]

REPORT_ACCEPTED: Final[int]
REPORT_REJECTED: Final[int]
REPORT_FILLED: Final[int]
REPORT_CANCELED: Final[int]
REPORT_EXPIRED: Final[int]
REPORT_UPDATED: Final[int]
REPORT_TRIGGERED: Final[int]
REPORT_AMEND_REJECTED: Final[int]
REPORT_CANCEL_REJECTED: Final[int]
REPORT_KIND_NAMES: Final[dict[int, str]]

FIELD_KIND: Final[int]
FIELD_ORDER_ID: Final[int]
FIELD_ACCOUNT: Final[int]
FIELD_SIDE: Final[int]
FIELD_PRICE: Final[int]
FIELD_QTY: Final[int]
FIELD_LEAVES: Final[int]
FIELD_TRADE_ID: Final[int]
FIELD_LIQUIDITY: Final[int]
FIELD_FEE: Final[int]
FIELD_TS: Final[int]
FIELD_REASON: Final[int]
FIELD_CONTRA_ID: Final[int]
FIELD_TRIGGER: Final[int]
NUM_FIELDS: Final[int]
FIELD_NAMES: Final[tuple[str, ...]]

REASON_NAMES: Final[dict[int, str]]
REASON_CODES: Final[dict[str, int]]

OP_SUBMIT: Final[int]
OP_CANCEL: Final[int]
OP_AMEND: Final[int]
OP_CANCEL_ALL: Final[int]
OP_ADVANCE: Final[int]
BATCH_COLUMNS: Final[tuple[str, ...]]
ORDER_COLUMNS: Final[tuple[str, ...]]
STATE_RESTING: Final[int]
STATE_STOP: Final[int]

class MatchingEngine:
    order_count: int
    min_lots: int
    max_lots: int
    min_notional: int
    max_notional: int
    maker_fee_num: int
    maker_fee_den: int
    taker_fee_num: int
    taker_fee_den: int
    stp_mode: int
    next_trade_id: int
    next_seq: int
    last_trade_ticks: int
    now: int
    n_reports: int

    def __init__(
        self,
        *,
        min_lots: int = 1,
        max_lots: int = 0,
        min_notional: int = 0,
        maker_fee_num: int = 0,
        maker_fee_den: int = 1,
        taker_fee_num: int = 0,
        taker_fee_den: int = 1,
        stp_mode: int = 1,
        capacity: int = 1024,
    ) -> None: ...
    # commands: return 0 or a reason code; reports of the call are in ``reports``
    def submit(
        self,
        ts: int,
        order_id: int,
        account: int,
        side: int,
        order_type: int,
        tif: int,
        qty: int,
        price: int = 0,
        trigger: int = 0,
        expire_ts: int = 0,
        flags: int = 0,
    ) -> int: ...
    def cancel(self, ts: int, order_id: int) -> int: ...
    def amend(self, ts: int, order_id: int, qty: int = 0, price: int = 0, trigger: int = 0) -> int: ...
    def cancel_all(self, ts: int, account: int, side: int = 0) -> int: ...
    def advance(self, ts: int) -> int: ...
    def process(self, ops: npt.NDArray[np.int64]) -> int: ...
    # reports
    @property
    def reports(self) -> npt.NDArray[np.int64]: ...
    def accepted_only(self, order_id: int) -> bool: ...
    def report_rows(self) -> list[list[int]]: ...
    # book
    def best_bid(self) -> int: ...
    def best_ask(self) -> int: ...
    def best_bid_lots(self) -> int: ...
    def best_ask_lots(self) -> int: ...
    def top(self) -> tuple[int, int, int, int]: ...
    def level_count(self, side: int) -> int: ...
    def depth(
        self, side: int, n: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
    def level_lots(self, side: int, price: int) -> int: ...
    def level_order_ids(self, side: int, price: int) -> list[int]: ...
    def stop_order_ids(self, side: int) -> list[int]: ...
    def order(self, order_id: int) -> dict[str, int] | None: ...
    def position(self, account: int) -> int: ...
    def account_order_ids(self, account: int) -> list[int]: ...
    def next_expiry_ts(self) -> int: ...
    # snapshot / restore
    def orders_array(self) -> npt.NDArray[np.int64]: ...
    def positions_dict(self) -> dict[int, int]: ...
    def state_dict(self) -> dict[str, int]: ...
    def restore_state(
        self, *, next_trade_id: int, next_seq: int, last_trade_ticks: int, now: int = 0
    ) -> None: ...
    def set_position(self, account: int, lots: int) -> None: ...
    def restore_order(
        self,
        order_id: int,
        seq: int,
        account: int,
        side: int,
        order_type: int,
        tif: int,
        flags: int,
        price: int,
        trigger: int,
        qty: int,
        leaves: int,
        expire_ts: int,
        ts: int,
        state: int,
    ) -> None: ...
    def check_invariants(self) -> None: ...
