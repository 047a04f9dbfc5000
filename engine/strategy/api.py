"""The Strategy interface (version 1): the callbacks a strategy may implement and the context it gets.

Modelled on freqtrade's ``IStrategy``: a class attribute ``INTERFACE_VERSION`` says which contract a
strategy was written against; every callback is optional with a safe default (do nothing); user code
runs behind the host's guard (``engine.strategy.host``), so an exception in a strategy is logged and
counted and, after ``max_errors``, the strategy is quarantined while the engine keeps running.

The same class runs live (engine bus, risk gate, OMS, venue) and in the backtester (the same
components in simulated time): a strategy only ever talks to its ``StrategyContext``.

Writing one::

    class SmaCross(Strategy):
        name = "sma_cross"
        fast = IntParam(10, low=2, high=500)
        slow = IntParam(30, low=3, high=2000)

        def on_start(self) -> None:
            self.fast_ma = self.ctx.indicator("sma", timeperiod=self.fast)
            self.slow_ma = self.ctx.indicator("sma", timeperiod=self.slow)

        def on_bar(self, bar: BarView) -> None:
            if self.fast_ma.update(bar.close) > self.slow_ma.update(bar.close): ...

Bars arrive as a ``BarView``: one mutable object per instrument that the host overwrites in place for
every bar (floats for the indicators, no per-bar allocation). Do not keep a reference to it across
bars; copy the fields you need. Exact prices for orders come from ``ctx.price(instrument_id, x)``
(a float on the instrument's tick grid) and quantities from ``ctx.all_in_quantity(...)`` or
``ctx.quantity(...)`` (exact integers inside; never floats in orders).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from engine.core.clock import Clock, TimeEvent
from engine.core.commands import AmendOrder, CancelOrder, SubmitOrder
from engine.core.enums import Side, TimeInForce
from engine.core.errors import ValidationError
from engine.core.events import OrderEvent, OrderFilled, QuoteTick, TradeTick
from engine.core.fixed import Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.core.instruments import Instrument
from engine.strategy.params import declared_params, resolve_params

if TYPE_CHECKING:
    from engine.strategy.context import StrategyPosition

__all__ = [
    "INTERFACE_VERSION",
    "BarView",
    "OrderRouter",
    "Strategy",
    "StrategyContext",
]

#: The interface version this engine implements. A strategy declaring another version is refused
#: at load time (a changed contract must never be guessed at).
INTERFACE_VERSION = 1

#: Callback names a strategy may implement (all optional).
CALLBACKS = (
    "on_start",
    "on_stop",
    "on_bar",
    "on_trade",
    "on_quote",
    "on_book",
    "on_order_event",
    "on_fill",
    "on_timer",
)


#: Attribute names a parameter may not take (the interface's own).
_RESERVED = frozenset(
    {"INTERFACE_VERSION", "ctx", "describe", "log", "name", "params", "resolve", *CALLBACKS}
)


class BarView:
    """The latest closed bar of one instrument, overwritten in place by the host for every bar.

    Prices and volume are floats (indicator inputs; exact ``Price`` values come from
    ``ctx.price(...)``). A bar covers ``[ts_open, ts_event)`` in Unix ns; ``ts_event`` is its close.
    """

    __slots__ = (
        "close",
        "high",
        "instrument_id",
        "interval_ns",
        "low",
        "open",
        "trade_count",
        "ts_event",
        "ts_open",
        "volume",
    )

    def __init__(self, instrument_id: InstrumentId, interval_ns: int = 0) -> None:
        self.instrument_id = instrument_id
        self.interval_ns = interval_ns
        self.ts_open = 0
        self.ts_event = 0
        self.open = self.high = self.low = self.close = self.volume = float("nan")
        self.trade_count = 0

    def __repr__(self) -> str:
        return (
            f"BarView({self.instrument_id} ts_event={self.ts_event} o={self.open} h={self.high} "
            f"l={self.low} c={self.close} v={self.volume})"
        )


class OrderRouter(Protocol):
    """Where a context sends its order intents: the risk gate and the order manager behind them.

    Fire and forget: outcomes (``OrderDenied``, ``OrderAccepted``, fills ...) come back as order
    events. A command that fails before the OMS created the order (e.g. the OMS is halted) is
    reported to ``on_intent_failed`` (set by the host) so the strategy's bookkeeping forgets it.
    Live: ``engine.strategy.router.OmsOrderRouter`` (one task per command on the loop). The
    backtester plugs in its own implementation over the same OMS in simulated time.
    """

    def submit(self, command: SubmitOrder) -> None: ...

    def submit_bracket(
        self, entry: SubmitOrder, take_profit: SubmitOrder, stop_loss: SubmitOrder
    ) -> None: ...

    def amend(self, command: AmendOrder) -> None: ...

    def cancel(self, command: CancelOrder) -> None: ...


class StrategyContext(Protocol):
    """Everything a strategy may use. The host gives each strategy its own context."""

    strategy_id: StrategyId
    account_id: AccountId
    #: The instruments this strategy subscribed to, in configuration order.
    instruments: tuple[InstrumentId, ...]
    #: structlog logger bound with ``strategy_id``.
    log: Any

    # -- time, reference data, indicators ---------------------------------------------------------
    def now_ns(self) -> int: ...

    @property
    def clock(self) -> Clock: ...

    def instrument(self, instrument_id: InstrumentId) -> Instrument: ...

    def indicator(self, name: str, **params: Any) -> Any: ...

    def set_timer(self, name: str, interval_ns: int, *, start_ns: int | None = None) -> None: ...

    def set_alert(self, name: str, at_ns: int) -> None: ...

    def cancel_timer(self, name: str) -> None: ...

    # -- portfolio ---------------------------------------------------------------------------------
    def position(self, instrument_id: InstrumentId) -> StrategyPosition: ...

    def positions(self) -> list[StrategyPosition]: ...

    def cash(self, currency: str | None = None) -> Money: ...

    def balances(self) -> dict[str, Money]: ...

    @property
    def portfolio(self) -> Any: ...

    # -- exact prices and quantities ---------------------------------------------------------------
    def price(
        self, instrument_id: InstrumentId, value: float | str | Decimal, rounding: str = "nearest"
    ) -> Price: ...

    def quantity(self, instrument_id: InstrumentId, value: str | Decimal | int | Quantity) -> Quantity: ...

    def all_in_quantity(
        self, instrument_id: InstrumentId, price: Price, cash: Money | None = None
    ) -> Quantity: ...

    # -- order intents (through the risk gate and the OMS) ---------------------------------------
    def submit_market(self, instrument_id: InstrumentId, side: Side, quantity: Quantity) -> ClientOrderId: ...

    def buy(
        self, instrument_id: InstrumentId, quantity: Quantity, price: Price | None = None
    ) -> ClientOrderId: ...

    def sell(
        self, instrument_id: InstrumentId, quantity: Quantity, price: Price | None = None
    ) -> ClientOrderId: ...

    def submit_limit(
        self,
        instrument_id: InstrumentId,
        side: Side,
        quantity: Quantity,
        price: Price,
        *,
        time_in_force: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        expire_at_ns: int | None = None,
    ) -> ClientOrderId: ...

    def submit_stop(
        self,
        instrument_id: InstrumentId,
        side: Side,
        quantity: Quantity,
        trigger_price: Price,
        price: Price | None = None,
    ) -> ClientOrderId: ...

    def submit_bracket(
        self,
        instrument_id: InstrumentId,
        side: Side,
        quantity: Quantity,
        *,
        take_profit: Price,
        stop_loss: Price,
        entry_price: Price | None = None,
    ) -> ClientOrderId: ...

    def amend(
        self,
        client_order_id: ClientOrderId,
        *,
        quantity: Quantity | None = None,
        price: Price | None = None,
        trigger_price: Price | None = None,
    ) -> None: ...

    def cancel(self, client_order_id: ClientOrderId) -> None: ...

    def cancel_all(self, instrument_id: InstrumentId | None = None) -> int: ...

    def open_orders(self, instrument_id: InstrumentId | None = None) -> list[ClientOrderId]: ...


class Strategy:
    """Base class of every strategy. Override only the callbacks you need.

    Parameters are declared as class attributes (``engine.strategy.params``) and appear as plain
    instance attributes once validated. ``validate_params`` checks relations between them.
    """

    INTERFACE_VERSION: ClassVar[int] = INTERFACE_VERSION
    #: Short name (built-ins are loaded by it); defaults to the class name.
    name: ClassVar[str] = ""

    ctx: StrategyContext

    def __init__(self, ctx: StrategyContext, params: Mapping[str, Any] | None = None) -> None:
        values = self.resolve(params)
        self.__dict__.update(values)
        self.params: dict[str, Any] = values
        self.ctx = ctx
        self.log = ctx.log

    @classmethod
    def resolve(cls, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Validated parameter values (defaults + ``params``); raises ``ValidationError``."""
        values = resolve_params(cls, params)
        cls.validate_params(values)
        return values

    @classmethod
    def validate_params(cls, values: dict[str, Any]) -> None:
        """Check relations between parameters (e.g. ``fast < slow``); raise ``ValidationError``."""

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Name, interface version, first docstring paragraph and declared parameters (JSON friendly)."""
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        return {
            "name": cls.name or cls.__name__,
            "interface_version": cls.INTERFACE_VERSION,
            "doc": " ".join(doc.split()),
            "params": {n: p.describe() for n, p in declared_params(cls).items()},
        }

    # -- lifecycle ---------------------------------------------------------------------------------
    def on_start(self) -> None:
        """Called once before any data: create indicators, set timers."""

    def on_stop(self) -> None:
        """Called once when the host stops (not after a quarantine)."""

    # -- market data -------------------------------------------------------------------------------
    def on_bar(self, bar: BarView) -> None:
        """A bar closed on one of the strategy's instruments (``bar`` is reused: copy what you keep)."""

    def on_trade(self, tick: TradeTick) -> None:
        """A trade printed on one of the strategy's instruments."""

    def on_quote(self, tick: QuoteTick) -> None:
        """The best bid/offer changed on one of the strategy's instruments."""

    def on_book(self, book: Any) -> None:
        """The order book of one of the strategy's instruments changed."""

    # -- orders ------------------------------------------------------------------------------------
    def on_order_event(self, event: OrderEvent) -> None:
        """Every event of this strategy's own orders (denied, accepted, filled, canceled ...).

        The first events of an order (initialized, submitted or denied) may arrive while the
        callback that submitted it is still running (the risk gate and journal run in the submit)."""

    def on_fill(self, fill: OrderFilled) -> None:
        """A fill of one of this strategy's orders (after ``on_order_event`` for the same event)."""

    # -- time --------------------------------------------------------------------------------------
    def on_timer(self, event: TimeEvent) -> None:
        """A timer or alert set with ``ctx.set_timer`` / ``ctx.set_alert`` fired."""


def check_interface(cls: type) -> type[Strategy]:
    """``cls`` if it is a ``Strategy`` subclass written for this interface version, else ValidationError."""
    if not isinstance(cls, type) or not issubclass(cls, Strategy) or cls is Strategy:
        raise ValidationError("strategy", f"{cls!r} is not a Strategy subclass", reason="INVALID_STRATEGY")
    reserved = sorted(set(declared_params(cls)) & _RESERVED)
    if reserved:
        raise ValidationError(
            "strategy",
            f"{cls.__name__} declares a parameter named {reserved[0]!r}, which the interface uses",
            reason="INVALID_STRATEGY",
        )
    version = getattr(cls, "INTERFACE_VERSION", None)
    if version != INTERFACE_VERSION:
        raise ValidationError(
            "strategy",
            f"{cls.__name__} is written for interface version {version!r}; this engine implements "
            f"version {INTERFACE_VERSION}",
            reason="UNSUPPORTED_INTERFACE_VERSION",
        )
    return cls
