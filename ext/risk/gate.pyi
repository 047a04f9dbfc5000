"""Type stubs for the compiled pre-trade risk gate (``ext/risk/gate.pyx``; rules in its docstring).

How the owner of trading state drives it (all O(1) unless noted in the module docstring):

* registration: ``register_instrument`` / ``set_instrument_limits`` / ``set_tradable``,
  ``register_account`` / ``set_account_limits``, ``register_strategy`` / ``set_strategy_limits``;
* market data: ``on_trade(inst, last_ticks, ts)``, ``on_quote(inst, bid_ticks, ask_ticks, ts)``
  (0 = side empty), ``on_market(inst, last, bid, ask, ts)``;
* orders (``key`` is any int unique among open orders): after an approval ``on_order_opened``;
  a fill ``on_order_reduced(key, lots)`` + ``on_fill(acc, inst, side, lots, price_ticks)``;
  an applied amend ``on_order_amended``; a stop trigger ``on_order_triggered``; done
  ``on_order_closed``;
* positions: ``on_fill``, ``set_position`` (reconciliation);
* trading state: ``set_trading_state(acc, state)``, ``set_global_trading_state(state)``;
* checks: ``check`` (new order), ``check_amend``, ``check_cancel`` (always 0); return a RiskReason code.
"""

from enum import IntEnum
from typing import Any, Final

class RiskReason(IntEnum):
    APPROVED = 0
    RISK_UNKNOWN_ACCOUNT = 1
    RISK_UNKNOWN_INSTRUMENT = 2
    RISK_UNKNOWN_STRATEGY = 3
    RISK_NO_LIMITS = 4
    RISK_INSTRUMENT_NOT_TRADABLE = 5
    RISK_INVALID_ORDER = 6
    RISK_PRICE_OFF_TICK = 7
    RISK_SIZE_OFF_INCREMENT = 8
    RISK_DUPLICATE_CLIENT_ORDER_ID = 9
    RISK_BELOW_MIN_QUANTITY = 10
    RISK_MAX_ORDER_QUANTITY = 11
    RISK_NO_REFERENCE_PRICE = 12
    RISK_STALE_MARKET_DATA = 13
    RISK_PRICE_BAND = 14
    RISK_BELOW_MIN_NOTIONAL = 15
    RISK_MAX_ORDER_NOTIONAL = 16
    RISK_SELF_CROSS = 17
    RISK_MAX_POSITION = 18
    RISK_MAX_OPEN_ORDERS = 19
    RISK_MAX_GROSS_EXPOSURE = 20
    RISK_MAX_NET_EXPOSURE = 21
    TRADING_HALTED = 22
    RISK_REDUCING_ONLY = 23
    RISK_THROTTLED_ACCOUNT = 24
    RISK_THROTTLED_STRATEGY = 25
    RISK_UNKNOWN_ORDER = 26

BUY: Final[int]
SELL: Final[int]
MARKET: Final[int]
LIMIT: Final[int]
STOP_MARKET: Final[int]
STOP_LIMIT: Final[int]
ACTIVE: Final[int]
REDUCING: Final[int]
HALTED: Final[int]
REF_LAST: Final[int]
REF_MID: Final[int]
#: Token units one order costs (buckets hold ``burst * TOKEN_UNITS``; refill ``rate`` units per ns).
TOKEN_UNITS: Final[int]
#: Largest price (ticks) or quantity (lots) the gate accepts: 2**48.
MAX_TICKS_OR_LOTS: Final[int]
#: Largest notional factor (notional units per tick * lot): 2**24.
MAX_NOTIONAL_FACTOR: Final[int]

class RiskGate:
    max_accounts: int
    max_instruments: int
    max_strategies: int
    global_state: int
    order_count: int
    def __init__(
        self, max_accounts: int, max_instruments: int, max_strategies: int, order_capacity: int = 1024
    ) -> None: ...
    # registration and limits
    def register_instrument(
        self,
        inst: int,
        price_precision: int,
        price_step: int,
        size_precision: int,
        size_step: int,
        factor: int,
        min_lots: int,
        min_notional: int,
        tradable: bool,
    ) -> None: ...
    def set_instrument_limits(
        self,
        inst: int,
        max_order_lots: int,
        max_order_notional: int,
        max_position_lots: int,
        band_bps: int,
        max_age_ns: int,
        ref_kind: int,
    ) -> None: ...
    def set_tradable(self, inst: int, tradable: bool) -> None: ...
    def register_account(self, acc: int) -> None: ...
    def set_account_limits(
        self, acc: int, max_gross: int, max_net: int, max_open_orders: int, orders_per_second: int, burst: int
    ) -> None: ...
    def register_strategy(self, strat: int) -> None: ...
    def set_strategy_limits(self, strat: int, orders_per_second: int, burst: int) -> None: ...
    # trading state
    def set_trading_state(self, acc: int, state: int) -> None: ...
    def set_global_trading_state(self, state: int) -> None: ...
    def account_state(self, acc: int) -> int: ...
    def trading_state(self, acc: int) -> int: ...
    # market data
    def on_trade(self, inst: int, last_ticks: int, ts: int) -> None: ...
    def on_quote(self, inst: int, bid_ticks: int, ask_ticks: int, ts: int) -> None: ...
    def on_quote_fixed(
        self, inst: int, bid_raw: int, bid_precision: int, ask_raw: int, ask_precision: int, ts: int
    ) -> bool: ...
    def on_market(self, inst: int, last_ticks: int, bid_ticks: int, ask_ticks: int, ts: int) -> None: ...
    def market(self, inst: int) -> tuple[int, int, int, int, int]: ...
    # orders and positions
    def on_order_opened(
        self,
        key: int,
        acc: int,
        inst: int,
        strat: int,
        side: int,
        otype: int,
        price_ticks: int,
        trigger_ticks: int,
        lots: int,
    ) -> None: ...
    def open_approved(self, key: int, acc: int, inst: int, coid: str) -> int: ...
    def on_order_reduced(self, key: int, lots: int) -> None: ...
    def on_order_amended(self, key: int, price_ticks: int, trigger_ticks: int, total_lots: int) -> None: ...
    def on_order_triggered(self, key: int) -> None: ...
    def on_order_closed(self, key: int) -> bool: ...
    def order(self, key: int) -> tuple[int, int, int, int, int, int, int, int, int] | None: ...
    def on_fill(self, acc: int, inst: int, side: int, lots: int, price_ticks: int) -> None: ...
    def set_position(self, acc: int, inst: int, lots: int) -> None: ...
    def position(self, acc: int, inst: int) -> int: ...
    def open_lots(self, acc: int, inst: int, side: int) -> int: ...
    def best_resting(self, acc: int, inst: int, side: int) -> int: ...
    def open_orders(self, acc: int) -> int: ...
    def exposure2(self, acc: int) -> tuple[int, int, int]: ...
    def tokens(self, acc: int, strat: int, ts: int) -> tuple[int, int]: ...
    def has_client_order_id(self, acc: int, coid: str) -> bool: ...
    # checks
    def check(
        self,
        acc: int,
        inst: int,
        strat: int,
        side: int,
        otype: int,
        price_raw: int,
        trigger_raw: int,
        qty_raw: int,
        reduce_only: bool,
        coid: str | None,
        ts: int,
    ) -> int: ...
    def check_fixed(
        self,
        acc: int,
        inst: int,
        strat: int,
        side: int,
        otype: int,
        price_raw: int,
        price_precision: int,
        trigger_raw: int,
        trigger_precision: int,
        qty_raw: int,
        qty_precision: int,
        reduce_only: bool,
        coid: str | None,
        ts: int,
    ) -> int: ...
    def check_amend(self, key: int, price_raw: int, trigger_raw: int, qty_raw: int, ts: int) -> int: ...
    def check_cancel(self, key: int) -> int: ...
    # snapshot / restore
    def snapshot(self) -> dict[str, Any]: ...
    @staticmethod
    def from_snapshot(data: dict[str, Any]) -> RiskGate: ...
