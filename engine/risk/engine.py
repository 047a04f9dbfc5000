"""``RiskEngine``: the pre-trade gate's Python façade (ids -> indices, domain values -> ticks/lots)
plus the post-trade loss monitor.

The OMS owns the calls, all on the loop thread:

* ``check_submit(cmd, ts_ns)`` before an order leaves the process; if approved, ``on_order_opened(cmd)``
  at once (before the next check) so the order counts in every later projection;
* ``check_amend(cmd, ts_ns)`` before an amend; ``on_order_updated(event)`` once the venue applied it;
* ``check_cancel(cmd)`` always approves (cancels are allowed in every trading state);
* ``on_order_filled(event)`` for every fill (moves the position, reduces the order's leaves);
  ``on_order_triggered(account_id, client_order_id)`` when a stop triggers;
  ``on_order_closed(account_id, client_order_id)`` when an order ends (canceled, expired, rejected,
  denied after opening); a fully filled order closes by itself;
* market data: ``on_trade_tick(tick)`` / ``on_quote_tick(tick)``;
* the portfolio: ``on_equity(account_id, equity, realised_today, ts_ns)``; a returned ``RiskBreached``
  carries the ``TradingStateChanged`` to journal and the ``CancelAllOrders`` to execute.

**One quote currency.** Exposure, notional and loss limits of every account are in the engine's
``quote_currency``; instruments quoted in another currency are refused at registration (converting
exposure between currencies needs a rate source the gate does not have, and a guessed rate is not
"correct or halt"). Notional is held exactly as integer units of ``10**-notional_precision`` of that
currency; a minimum limit is rounded up and a maximum down to that grid (never looser than set).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import structlog

from engine.core.commands import AmendOrder, CancelAllOrders, CancelOrder, SubmitOrder
from engine.core.enums import InstrumentKind, OrderType, Side, TradingState
from engine.core.errors import InvariantViolation, NotFoundError, ValidationError
from engine.core.events import OrderFilled, OrderUpdated, QuoteTick, TradeTick, TradingStateChanged
from engine.core.fixed import EXACT, Money, Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.core.instruments import Instrument
from engine.ext.risk import gate as _gate
from engine.ext.risk.gate import RiskGate, RiskReason
from engine.risk.events import RiskBreached, RiskLimitsChanged
from engine.risk.limits import AccountLimits, InstrumentLimits, PriceReference, StrategyLimits

__all__ = ["RiskDecision", "RiskEngine", "RiskLimits"]

_NS_PER_DAY = 86_400_000_000_000
_INT64_MAX = (1 << 63) - 1
SNAPSHOT_VERSION = 1
_log = structlog.get_logger("engine.risk")


@dataclass(frozen=True, slots=True)
class RiskDecision:
    approved: bool
    #: ``""`` when approved, else the ``RiskReason`` name (``RISK_MAX_POSITION``, ``TRADING_HALTED`` ...).
    reason: str
    detail: str


APPROVED = RiskDecision(True, "", "")

_DETAILS: dict[RiskReason, str] = {
    RiskReason.RISK_UNKNOWN_ACCOUNT: "the account is not registered with the risk engine",
    RiskReason.RISK_UNKNOWN_INSTRUMENT: "the instrument is not registered with the risk engine",
    RiskReason.RISK_UNKNOWN_STRATEGY: "the strategy is not registered with the risk engine",
    RiskReason.RISK_NO_LIMITS: "no risk limits are set for the account, instrument or strategy",
    RiskReason.RISK_INSTRUMENT_NOT_TRADABLE: "the instrument is not tradable",
    RiskReason.RISK_INVALID_ORDER: "the order's side, type, prices or quantity are not valid",
    RiskReason.RISK_PRICE_OFF_TICK: "price or trigger price is not a multiple of the tick size",
    RiskReason.RISK_SIZE_OFF_INCREMENT: "quantity is not a multiple of the size increment",
    RiskReason.RISK_DUPLICATE_CLIENT_ORDER_ID: "client_order_id was already used by this account",
    RiskReason.RISK_BELOW_MIN_QUANTITY: "quantity is below the instrument's minimum",
    RiskReason.RISK_MAX_ORDER_QUANTITY: "quantity is above the maximum order quantity",
    RiskReason.RISK_NO_REFERENCE_PRICE: "no reference price (last trade or mid) for the instrument",
    RiskReason.RISK_STALE_MARKET_DATA: "market data is older than max_data_age_ms",
    RiskReason.RISK_PRICE_BAND: "limit price is outside the price band around the reference price",
    RiskReason.RISK_BELOW_MIN_NOTIONAL: "order notional is below the instrument's minimum",
    RiskReason.RISK_MAX_ORDER_NOTIONAL: "order notional is above the maximum order notional",
    RiskReason.RISK_SELF_CROSS: "the order would trade against one of the account's resting orders",
    RiskReason.RISK_MAX_POSITION: "position with open orders on this side would exceed max_position",
    RiskReason.RISK_MAX_OPEN_ORDERS: "the account has max_open_orders open orders",
    RiskReason.RISK_MAX_GROSS_EXPOSURE: "the order would raise gross exposure above its limit",
    RiskReason.RISK_MAX_NET_EXPOSURE: "the order would raise net exposure above its limit",
    RiskReason.TRADING_HALTED: "trading is halted: only cancels are accepted",
    RiskReason.RISK_REDUCING_ONLY: "only orders that reduce the position without flipping it are accepted",
    RiskReason.RISK_THROTTLED_ACCOUNT: "the account's order rate limit is exhausted",
    RiskReason.RISK_THROTTLED_STRATEGY: "the strategy's order rate limit is exhausted",
    RiskReason.RISK_UNKNOWN_ORDER: "the order is not open",
}
_DENIALS: dict[int, tuple[str, str]] = {int(r): (r.name, text) for r, text in _DETAILS.items()}
#: The denials ``RiskEngine._explain`` puts numbers to (the rest keep their fixed text).
_EXPLAINED = frozenset(
    {
        RiskReason.RISK_DUPLICATE_CLIENT_ORDER_ID,
        RiskReason.RISK_BELOW_MIN_QUANTITY,
        RiskReason.RISK_MAX_ORDER_QUANTITY,
        RiskReason.RISK_NO_REFERENCE_PRICE,
        RiskReason.RISK_STALE_MARKET_DATA,
        RiskReason.RISK_PRICE_BAND,
        RiskReason.RISK_BELOW_MIN_NOTIONAL,
        RiskReason.RISK_MAX_ORDER_NOTIONAL,
        RiskReason.RISK_SELF_CROSS,
        RiskReason.RISK_MAX_POSITION,
        RiskReason.RISK_MAX_OPEN_ORDERS,
        RiskReason.RISK_MAX_GROSS_EXPOSURE,
        RiskReason.RISK_MAX_NET_EXPOSURE,
        RiskReason.TRADING_HALTED,
        RiskReason.RISK_REDUCING_ONLY,
        RiskReason.RISK_THROTTLED_ACCOUNT,
        RiskReason.RISK_THROTTLED_STRATEGY,
    }
)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """All limits currently set (copies; replace them through ``RiskEngine.set_limits``)."""

    accounts: dict[AccountId, AccountLimits]
    instruments: dict[InstrumentId, InstrumentLimits]
    strategies: dict[StrategyId, StrategyLimits]


@dataclass(slots=True)
class _Grid:
    """What the hot path needs of an instrument: its index and price / size precisions."""

    ix: int
    instrument: Instrument
    price_precision: int
    size_precision: int


@dataclass(slots=True)
class _EquityTrack:
    day: int
    day_start: Money
    peak: Money

    def to_data(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "day_start": [self.day_start.amount_str(), self.day_start.currency],
            "peak": [self.peak.amount_str(), self.peak.currency],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> _EquityTrack:
        return cls(data["day"], Money(*data["day_start"]), Money(*data["peak"]))


class _OrderIds(Protocol):
    """What ``RiskEngine.on_closed`` reads of an order (the OMS's ``Order``: risk cannot import it)."""

    @property
    def account_id(self) -> AccountId: ...

    @property
    def client_order_id(self) -> ClientOrderId: ...


@dataclass(frozen=True, slots=True)
class _Intent:
    """What a denial explains: a new order, or an open order with an amend applied."""

    account_id: AccountId
    strategy_id: StrategyId | None  # (None: an amended order whose strategy is not registered)
    side: Side
    order_type: OrderType
    price: Price | None
    trigger: Price | None
    quantity: Quantity
    reduce_only: bool
    client_order_id: ClientOrderId


def _half_ticks_text(instrument: Instrument, half_ticks: int) -> str:
    """A price given in half ticks (the gate's mid), exact: one more decimal when it is odd."""
    if half_ticks % 2 == 0:
        return str(instrument.ticks_to_price(half_ticks // 2))
    step = instrument.price_increment
    return str(Price.from_raw(half_ticks * step.raw * 5, step.precision + 1))


@dataclass(slots=True)
class _OpenOrder:
    """An order open in the gate. ``total`` and ``leaves`` (lots) mirror the gate's, so a fill knows
    whether it closed the order without asking the gate."""

    key: int
    grid: _Grid
    total: int
    leaves: int


@dataclass(slots=True)
class _Registry:
    accounts: dict[AccountId, int] = field(default_factory=dict)
    instruments: dict[InstrumentId, _Grid] = field(default_factory=dict)
    strategies: dict[StrategyId, int] = field(default_factory=dict)


def _rescale(raw: int, precision: int, target: int) -> int:
    """``raw`` at ``precision`` as raw at ``target``; -1 if digits would be lost (off the grid)."""
    if precision <= target:
        return raw * 10 ** (target - precision)
    quotient, remainder = divmod(raw, 10 ** (precision - target))
    return -1 if remainder else quotient


def _below(start: Money, now: Money, limit: Money) -> bool:
    """``start - now < limit``, exact (on the raws aligned to the largest precision), when all three
    are in one currency; False otherwise, which sends the caller to the ``Money`` arithmetic."""
    if not start._currency == now._currency == limit._currency:
        return False
    places = max(start._precision, now._precision, limit._precision)
    return start._raw * 10 ** (places - start._precision) - now._raw * 10 ** (
        places - now._precision
    ) < limit._raw * 10 ** (places - limit._precision)


def _instrument_data(i: Instrument) -> dict[str, Any]:
    return {
        "id": str(i.id),
        "kind": i.kind.name,
        "base": i.base,
        "quote": i.quote,
        "settlement": i.settlement,
        "price_increment": str(i.price_increment),
        "size_increment": str(i.size_increment),
        "min_quantity": str(i.min_quantity),
        "max_quantity": None if i.max_quantity is None else str(i.max_quantity),
        "min_notional": None if i.min_notional is None else i.min_notional.amount_str(),
        "maker_fee": str(i.maker_fee),
        "taker_fee": str(i.taker_fee),
        "multiplier": str(i.multiplier),
        "tradable": i.tradable,
    }


def _instrument_from(d: dict[str, Any]) -> Instrument:
    return Instrument(
        id=InstrumentId(d["id"]),
        kind=InstrumentKind[d["kind"]],
        base=d["base"],
        quote=d["quote"],
        settlement=d["settlement"],
        price_increment=Price(d["price_increment"]),
        size_increment=Quantity(d["size_increment"]),
        min_quantity=Quantity(d["min_quantity"]),
        max_quantity=None if d["max_quantity"] is None else Quantity(d["max_quantity"]),
        min_notional=None if d["min_notional"] is None else Money(d["min_notional"], d["quote"]),
        maker_fee=Decimal(d["maker_fee"]),
        taker_fee=Decimal(d["taker_fee"]),
        multiplier=Decimal(d["multiplier"]),
        tradable=d["tradable"],
    )


class RiskEngine:
    """Pre-trade risk gate + post-trade loss monitor for every account, instrument and strategy."""

    def __init__(
        self,
        *,
        quote_currency: str,
        notional_precision: int = 8,
        max_accounts: int = 64,
        max_instruments: int = 1024,
        max_strategies: int = 256,
        _gate_state: RiskGate | None = None,
    ) -> None:
        if not isinstance(quote_currency, str) or not quote_currency.isalnum():
            raise ValidationError("quote_currency", f"must be a currency code, got {quote_currency!r}")
        if type(notional_precision) is not int or not 0 <= notional_precision <= 18:
            raise ValidationError("notional_precision", "must be an int in [0, 18]")
        self._quote = quote_currency.upper()
        self._precision = notional_precision
        self._gate = _gate_state or RiskGate(max_accounts, max_instruments, max_strategies)
        self._reg = _Registry()
        self._account_limits: dict[AccountId, AccountLimits] = {}
        self._instrument_limits: dict[InstrumentId, InstrumentLimits] = {}
        self._strategy_limits: dict[StrategyId, StrategyLimits] = {}
        self._orders: dict[tuple[AccountId, ClientOrderId], _OpenOrder] = {}
        self._next_key = 1
        self._equity: dict[AccountId, _EquityTrack] = {}
        #: Why each account's own trading state (key None: the global state) was last set; the
        #: denials of a HALTED or REDUCING account quote it.
        self._state_reasons: dict[AccountId | None, str] = {}
        # hot-path aliases
        self._accounts = self._reg.accounts
        self._instruments = self._reg.instruments
        self._strategies = self._reg.strategies
        self._check_fixed = self._gate.check_fixed
        self._open_approved = self._gate.open_approved
        self._on_quote_fixed = self._gate.on_quote_fixed

    # -- properties ----------------------------------------------------------------------------
    @property
    def quote_currency(self) -> str:
        return self._quote

    @property
    def notional_precision(self) -> int:
        return self._precision

    @property
    def gate(self) -> RiskGate:
        """The compiled gate (read-only use: introspection, benchmarks)."""
        return self._gate

    # -- money <-> notional units ----------------------------------------------------------------
    def _units(self, name: str, money: Money, *, round_up: bool) -> int:
        if money.currency != self._quote:
            raise ValidationError(name, f"must be in {self._quote}, got {money.currency}")
        raw, p, target = money.raw, money.precision, self._precision
        if p <= target:
            units = raw * 10 ** (target - p)
        else:
            units, remainder = divmod(raw, 10 ** (p - target))
            if remainder and round_up:
                units += 1
        return min(units, _INT64_MAX)

    def units_to_money(self, units: int) -> Money:
        """Notional units (``10**-notional_precision`` of the quote currency) as Money."""
        return Money.from_raw(units, self._precision, self._quote)

    # -- registration --------------------------------------------------------------------------
    def register_instrument(self, instrument: Instrument, limits: InstrumentLimits | None = None) -> int:
        """Register an instrument (and optionally its limits); returns its gate index."""
        if not isinstance(instrument, Instrument):
            raise ValidationError("instrument", "must be an Instrument")
        if instrument.id in self._instruments:
            raise ValidationError("instrument", f"{instrument.id} is already registered")
        if instrument.quote != self._quote:
            raise ValidationError(
                "instrument",
                f"{instrument.id} is quoted in {instrument.quote}; this risk engine measures "
                f"exposure in {self._quote} only",
            )
        factor = EXACT.multiply(
            EXACT.multiply(instrument.price_increment.as_decimal(), instrument.size_increment.as_decimal()),
            instrument.multiplier,
        ).scaleb(self._precision, EXACT)
        if factor != factor.to_integral_value() or not 0 < factor <= _gate.MAX_NOTIONAL_FACTOR:
            raise ValidationError(
                "instrument",
                f"{instrument.id}: one tick x one lot is {factor} notional units at notional_precision "
                f"{self._precision}; it must be a whole number in [1, 2**24] (change notional_precision)",
            )
        ix = len(self._instruments)
        min_lots = instrument.quantity_to_lots(instrument.min_quantity) if instrument.min_quantity.raw else 1
        min_notional = (
            0
            if instrument.min_notional is None
            else self._units("min_notional", instrument.min_notional, round_up=True)
        )
        self._gate.register_instrument(
            ix,
            instrument.price_precision,
            instrument.price_increment.raw,
            instrument.size_precision,
            instrument.size_increment.raw,
            int(factor),
            max(min_lots, 1),
            min_notional,
            instrument.tradable,
        )
        self._instruments[instrument.id] = _Grid(
            ix, instrument, instrument.price_precision, instrument.size_precision
        )
        if limits is not None:
            self._apply_instrument_limits(instrument.id, limits)
        return ix

    def register_account(self, account_id: AccountId, limits: AccountLimits | None = None) -> int:
        account_id = AccountId(account_id)
        if account_id in self._accounts:
            raise ValidationError("account_id", f"{account_id} is already registered")
        ix = len(self._accounts)
        self._gate.register_account(ix)
        self._accounts[account_id] = ix
        if limits is not None:
            self._apply_account_limits(account_id, limits)
        return ix

    def register_strategy(self, strategy_id: StrategyId, limits: StrategyLimits | None = None) -> int:
        strategy_id = StrategyId(strategy_id)
        if strategy_id in self._strategies:
            raise ValidationError("strategy_id", f"{strategy_id} is already registered")
        ix = len(self._strategies)
        self._gate.register_strategy(ix)
        self._strategies[strategy_id] = ix
        if limits is not None:
            self._apply_strategy_limits(strategy_id, limits)
        return ix

    def set_tradable(self, instrument_id: InstrumentId, tradable: bool) -> None:
        self._gate.set_tradable(self._grid(instrument_id).ix, tradable)

    # -- limits --------------------------------------------------------------------------------
    def set_limits(
        self,
        subject_id: AccountId | InstrumentId | StrategyId,
        limits: AccountLimits | InstrumentLimits | StrategyLimits,
        ts_ns: int,
    ) -> RiskLimitsChanged:
        """Replace one subject's limits (the kind is the type of ``limits``); journal the event."""
        previous: AccountLimits | InstrumentLimits | StrategyLimits | None
        if isinstance(limits, AccountLimits):
            subject, sid = "ACCOUNT", AccountId(subject_id)
            previous = self._account_limits.get(sid)
            self._apply_account_limits(sid, limits)
        elif isinstance(limits, InstrumentLimits):
            subject, sid = "INSTRUMENT", InstrumentId(subject_id)
            previous = self._instrument_limits.get(sid)
            self._apply_instrument_limits(sid, limits)
        elif isinstance(limits, StrategyLimits):
            subject, sid = "STRATEGY", StrategyId(subject_id)
            previous = self._strategy_limits.get(sid)
            self._apply_strategy_limits(sid, limits)
        else:
            raise ValidationError(
                "limits", f"must be Account/Instrument/StrategyLimits, got {type(limits).__name__}"
            )
        return RiskLimitsChanged(
            ts_event=ts_ns,
            ts_init=ts_ns,
            subject=subject,
            subject_id=str(sid),
            previous=previous,
            current=limits,
        )

    def limits(self) -> RiskLimits:
        return RiskLimits(
            dict(self._account_limits), dict(self._instrument_limits), dict(self._strategy_limits)
        )

    def _apply_instrument_limits(self, instrument_id: InstrumentId, limits: InstrumentLimits) -> None:
        grid = self._grid(instrument_id)
        instrument = grid.instrument
        max_lots = instrument.quantity_to_lots(limits.max_order_quantity)
        if instrument.max_quantity is not None:
            max_lots = min(max_lots, instrument.quantity_to_lots(instrument.max_quantity))
        self._gate.set_instrument_limits(
            grid.ix,
            max_lots,
            self._units("max_order_notional", limits.max_order_notional, round_up=False) or 1,
            instrument.quantity_to_lots(limits.max_position),
            limits.price_band_bps,
            limits.max_data_age_ms * 1_000_000,
            int(limits.reference),
        )
        self._instrument_limits[instrument_id] = limits

    def _apply_account_limits(self, account_id: AccountId, limits: AccountLimits) -> None:
        ix = self._account_ix(account_id)
        for name in ("max_daily_loss", "max_drawdown"):
            value = getattr(limits, name)
            if value.currency != self._quote:
                raise ValidationError(name, f"must be in {self._quote}, got {value.currency}")
        self._gate.set_account_limits(
            ix,
            self._units("max_gross_exposure", limits.max_gross_exposure, round_up=False) or 1,
            self._units("max_net_exposure", limits.max_net_exposure, round_up=False) or 1,
            limits.max_open_orders,
            limits.max_orders_per_second,
            limits.order_burst,
        )
        self._account_limits[account_id] = limits

    def _apply_strategy_limits(self, strategy_id: StrategyId, limits: StrategyLimits) -> None:
        ix = self._strategies.get(strategy_id)
        if ix is None:
            raise NotFoundError(f"strategy {strategy_id} is not registered")
        self._gate.set_strategy_limits(ix, limits.max_orders_per_second, limits.order_burst)
        self._strategy_limits[strategy_id] = limits

    def _grid(self, instrument_id: InstrumentId) -> _Grid:
        grid = self._instruments.get(instrument_id)
        if grid is None:
            raise NotFoundError(f"instrument {instrument_id} is not registered")
        return grid

    def _account_ix(self, account_id: AccountId) -> int:
        ix = self._accounts.get(account_id)
        if ix is None:
            raise NotFoundError(f"account {account_id} is not registered")
        return ix

    # -- pre-trade checks ----------------------------------------------------------------------
    def check_submit(self, cmd: SubmitOrder, ts_ns: int) -> RiskDecision:
        """Approve or deny a new order; an approval takes a throttle token and records the id.

        Off-grid prices and sizes are denials (``RISK_PRICE_OFF_TICK`` / ``RISK_SIZE_OFF_INCREMENT``),
        never exceptions. Reads the fixed-point values' ``_raw`` / ``_precision`` slots directly: the
        public properties cost ~50 ns each, a third of the whole check.
        """
        grid = self._instruments.get(cmd.instrument_id)
        price = cmd.price
        trigger = cmd.trigger_price
        qty = cmd.quantity
        code = self._check_fixed(
            self._accounts.get(cmd.account_id, -1),
            -1 if grid is None else grid.ix,
            self._strategies.get(cmd.strategy_id, -1),
            cmd.side,
            cmd.order_type,
            0 if price is None else price._raw,
            0 if price is None else price._precision,
            0 if trigger is None else trigger._raw,
            0 if trigger is None else trigger._precision,
            qty._raw,
            qty._precision,
            cmd.reduce_only,
            cmd.client_order_id,
            ts_ns,
        )
        if code == 0:
            return APPROVED
        if grid is None:
            return self._deny(code, cmd.instrument_id)
        return self._denial(
            code,
            grid,
            _Intent(
                cmd.account_id,
                cmd.strategy_id,
                cmd.side,
                cmd.order_type,
                price,
                trigger,
                qty,
                cmd.reduce_only,
                cmd.client_order_id,
            ),
            ts_ns,
        )

    def check_amend(self, cmd: AmendOrder, ts_ns: int) -> RiskDecision:
        """Approve or deny an amend (new total quantity / price / trigger); the order's own
        contribution is replaced, not added. HALTED denies amends; REDUCING allows reducing ones."""
        order = self._orders.get((cmd.account_id, cmd.client_order_id))
        if order is None:
            return self._deny(RiskReason.RISK_UNKNOWN_ORDER, cmd.client_order_id)
        grid = order.grid
        raws = []
        for value, precision, off in (
            (cmd.price, grid.price_precision, RiskReason.RISK_PRICE_OFF_TICK),
            (cmd.trigger_price, grid.price_precision, RiskReason.RISK_PRICE_OFF_TICK),
            (cmd.quantity, grid.size_precision, RiskReason.RISK_SIZE_OFF_INCREMENT),
        ):
            if value is None:
                raws.append(0)
                continue
            raw = _rescale(value.raw, value.precision, precision)
            if raw < 0:
                return self._deny(off, grid.instrument.id)
            if raw > _INT64_MAX:
                return self._deny(RiskReason.RISK_INVALID_ORDER, grid.instrument.id)
            raws.append(raw)
        code = self._gate.check_amend(order.key, raws[0], raws[1], raws[2], ts_ns)
        if code == 0:
            return APPROVED
        shape = self._gate.order(order.key)
        if shape is None:
            return self._deny(code, grid.instrument.id)
        return self._denial(code, grid, self._amended(cmd, grid, shape), ts_ns, replacing=order)

    def _amended(self, cmd: AmendOrder, grid: _Grid, shape: tuple[int, ...]) -> _Intent:
        """The open order (the gate's ``order(key)``) as the amend would leave it."""
        _acc, _inst, strat, side, otype, price_ticks, trigger_ticks, total, _leaves = shape
        instrument = grid.instrument
        price, trigger = cmd.price, cmd.trigger_price
        if price is None and price_ticks:
            price = instrument.ticks_to_price(price_ticks)
        if trigger is None and trigger_ticks:
            trigger = instrument.ticks_to_price(trigger_ticks)
        return _Intent(
            cmd.account_id,
            next((sid for sid, ix in self._strategies.items() if ix == strat), None),
            Side(side),
            OrderType(otype),
            price,
            trigger,
            cmd.quantity if cmd.quantity is not None else instrument.lots_to_quantity(total),
            False,
            cmd.client_order_id,
        )

    def check_cancel(self, cmd: CancelOrder | CancelAllOrders) -> RiskDecision:
        """Cancels are approved in every trading state."""
        return APPROVED

    @staticmethod
    def _deny(code: int, subject: str) -> RiskDecision:
        name, text = _DENIALS[code]
        return RiskDecision(False, name, f"{subject}: {text}")

    def _denial(
        self, code: int, grid: _Grid, intent: _Intent, ts_ns: int, replacing: _OpenOrder | None = None
    ) -> RiskDecision:
        """The denial of ``intent`` with the numbers that decided it (the limit, the value that
        broke it, the state it was measured against), read back from the gate after the check: a
        denied check changes nothing there. Only denials pay for this."""
        name, text = _DENIALS[code]
        try:
            detail = self._explain(code, grid, intent, ts_ns, replacing)
        except Exception:  # the denial stands; only its numbers are missing
            _log.exception("risk_denial_explain_failed", reason=name)
            detail = None
        return RiskDecision(False, name, f"{grid.instrument.id}: {detail or text}")

    def _explain(
        self, code: int, grid: _Grid, intent: _Intent, ts_ns: int, replacing: _OpenOrder | None
    ) -> str | None:
        reason = RiskReason(code)
        acc = self._accounts.get(intent.account_id)
        if reason not in _EXPLAINED or acc is None:
            return None  # (identity, shape and grid denials: the fixed text says it all)
        gate = self._gate
        inst = grid.instrument
        account = self._account_limits.get(intent.account_id)
        limits = self._instrument_limits.get(inst.id)
        side = intent.side
        lots = inst.quantity_to_lots(intent.quantity)  # (on the grid: the gate checked it first)

        def signed(n: int) -> str:
            return f"-{inst.lots_to_quantity(-n)}" if n < 0 else str(inst.lots_to_quantity(n))

        if reason is RiskReason.RISK_DUPLICATE_CLIENT_ORDER_ID:
            return f"client_order_id {intent.client_order_id} was already used by account {intent.account_id}"
        if reason is RiskReason.RISK_BELOW_MIN_QUANTITY:
            minimum = inst.quantity_to_lots(inst.min_quantity) if inst.min_quantity.raw else 1
            return f"quantity {intent.quantity} is below the instrument's minimum {signed(max(minimum, 1))}"
        if reason is RiskReason.RISK_MAX_OPEN_ORDERS and account is not None:
            return (
                f"account {intent.account_id} has {gate.open_orders(acc)} open orders "
                f"(max_open_orders {account.max_open_orders})"
            )
        if reason in (RiskReason.RISK_THROTTLED_ACCOUNT, RiskReason.RISK_THROTTLED_STRATEGY):
            return self._explain_throttle(reason, acc, intent, ts_ns)
        if reason in (RiskReason.RISK_MAX_GROSS_EXPOSURE, RiskReason.RISK_MAX_NET_EXPOSURE) and account:
            gross, net = self.exposure(intent.account_id)
            if reason is RiskReason.RISK_MAX_GROSS_EXPOSURE:
                return (
                    f"account {intent.account_id}'s gross exposure is {gross}; with this order it would "
                    f"exceed max_gross_exposure {account.max_gross_exposure}"
                )
            return (
                f"account {intent.account_id}'s net exposure is {net}; with this order it would "
                f"exceed max_net_exposure {account.max_net_exposure}"
            )
        if reason in (RiskReason.TRADING_HALTED, RiskReason.RISK_REDUCING_ONLY):
            return self._explain_state(reason, grid, acc, intent, replacing, signed)
        if limits is None:
            return None
        if reason is RiskReason.RISK_MAX_ORDER_QUANTITY:
            maximum = inst.quantity_to_lots(limits.max_order_quantity)
            if inst.max_quantity is not None:
                maximum = min(maximum, inst.quantity_to_lots(inst.max_quantity))
            return f"quantity {intent.quantity} is above the maximum order quantity {signed(maximum)}"
        if reason is RiskReason.RISK_MAX_POSITION:
            position = gate.position(acc, grid.ix)
            working = gate.open_lots(acc, grid.ix, side)
            leaves = lots
            if replacing is not None:
                working -= replacing.leaves
                leaves = lots - (replacing.total - replacing.leaves)
            projected = position + working + leaves if side is Side.BUY else position - working - leaves
            word = side.name.lower()
            return (
                f"position {signed(position)} with open {word} orders {signed(working)} and this "
                f"{word} of {signed(leaves)} would be {signed(projected)}, beyond max_position "
                f"{limits.max_position}"
            )
        last, bid, ask, md_ts, _mark2 = gate.market(grid.ix)
        if reason is RiskReason.RISK_STALE_MARKET_DATA:
            return (
                f"the last market data is {(ts_ns - md_ts) // 1_000_000} ms old "
                f"(max_data_age_ms {limits.max_data_age_ms})"
            )
        if limits.reference is PriceReference.LAST:
            ref2 = 2 * last if last > 0 else 0
            source = "last trade"
        else:
            ref2 = bid + ask if bid > 0 and ask > 0 else 0
            source = "mid"
        if reason is RiskReason.RISK_NO_REFERENCE_PRICE:
            if limits.reference is PriceReference.LAST:
                return "no trade price yet (the reference is the last trade)"
            book = f"bid {inst.ticks_to_price(bid) if bid > 0 else 'none'}, ask {inst.ticks_to_price(ask) if ask > 0 else 'none'}"
            return f"no two-sided quote ({book}; the reference is the mid)"
        reference = _half_ticks_text(inst, ref2)
        if reason is RiskReason.RISK_PRICE_BAND and intent.price is not None:
            bps = limits.price_band_bps
            low = max(-(-ref2 * (10_000 - bps) // 20_000), 1)
            high = ref2 * (10_000 + bps) // 20_000
            return (
                f"limit price {intent.price} is more than {bps} bps from the {source} {reference}: "
                f"the band is {inst.ticks_to_price(low)} to {inst.ticks_to_price(high)}"
            )
        if reason in (RiskReason.RISK_BELOW_MIN_NOTIONAL, RiskReason.RISK_MAX_ORDER_NOTIONAL):
            if intent.price is not None:
                px, at = intent.price.as_decimal(), f"the limit price {intent.price}"
            elif intent.trigger is not None:
                px, at = intent.trigger.as_decimal(), f"the trigger {intent.trigger}"
            else:
                px, at = Decimal(reference), f"the {source} {reference}"
            notional = EXACT.multiply(EXACT.multiply(intent.quantity.as_decimal(), px), inst.multiplier)
            if reason is RiskReason.RISK_MAX_ORDER_NOTIONAL:
                bound = f"above the maximum order notional {limits.max_order_notional}"
            else:
                bound = f"below the instrument's minimum {inst.min_notional}"
            return f"notional {notional.normalize():f} {self._quote} ({intent.quantity} at {at}) is {bound}"
        if reason is RiskReason.RISK_SELF_CROSS:
            other = side.opposite
            resting = gate.best_resting(acc, grid.ix, other)
            what = (
                f"a {side.name} limit at {intent.price}"
                if intent.order_type is OrderType.LIMIT
                else f"a {side.name} market order"
            )
            return (
                f"{what} would trade against account {intent.account_id}'s resting {other.name} at "
                f"{inst.ticks_to_price(resting)}"
            )
        return None

    def _explain_throttle(self, reason: RiskReason, acc: int, intent: _Intent, ts_ns: int) -> str | None:
        strat = None if intent.strategy_id is None else self._strategies.get(intent.strategy_id)
        if strat is None:
            return None
        account_tokens, strategy_tokens = self._gate.tokens(acc, strat, ts_ns)
        if reason is RiskReason.RISK_THROTTLED_ACCOUNT:
            limits: AccountLimits | StrategyLimits | None = self._account_limits.get(intent.account_id)
            who, tokens = f"account {intent.account_id}", account_tokens
        else:
            limits = self._strategy_limits.get(intent.strategy_id)  # type: ignore[arg-type]
            who, tokens = f"strategy {intent.strategy_id}", strategy_tokens
        if limits is None:
            return None
        rate = limits.max_orders_per_second  # token units per ns (one order: TOKEN_UNITS, one second: 1e9 ns)
        wait_ns = -(-(_gate.TOKEN_UNITS - tokens) // rate)
        return (
            f"{who} used up its order rate ({rate}/s, burst {limits.order_burst}); the next order "
            f"fits in {max(-(-wait_ns // 1_000_000), 1)} ms"
        )

    def _explain_state(
        self,
        reason: RiskReason,
        grid: _Grid,
        acc: int,
        intent: _Intent,
        replacing: _OpenOrder | None,
        signed: Callable[[int], str],
    ) -> str:
        own = TradingState(self._gate.account_state(acc))
        overall = TradingState(self._gate.global_state)
        if overall >= own:
            who, why = "every account", self._state_reasons.get(None)
        else:
            who, why = f"account {intent.account_id}", self._state_reasons.get(intent.account_id)
        because = f" ({why})" if why else ""
        if reason is RiskReason.TRADING_HALTED:
            return f"trading is halted for {who}{because}: only cancels are accepted"
        side = intent.side
        position = self._gate.position(acc, grid.ix)
        working = self._gate.open_lots(acc, grid.ix, side)
        if replacing is not None:
            working -= replacing.leaves
        word = side.name.lower()
        if max(own, overall) is TradingState.REDUCING:
            rule = f"{who} is REDUCING{because}"
        else:
            rule = "the order is reduce-only"
        return (
            f"{rule}: only orders that reduce the position without flipping it pass; position "
            f"{signed(position)}, open {word} orders {signed(working)}, this {word} {intent.quantity}"
        )

    # -- order lifecycle (from the OMS) --------------------------------------------------------
    def on_order_opened(self, cmd: SubmitOrder) -> None:
        """An approved order is working (call right after the approval, before the next check).

        Called so, the gate opens it with the ticks and lots its check just derived
        (``RiskGate.open_approved``): the order's terms are not converted and passed a second time
        (~0.7 us per order). Any other order goes through the conversions as before."""
        # Once per order on the submit path: the registry lookups are inlined (the helpers only
        # run to raise their NotFoundError).
        grid = self._instruments.get(cmd.instrument_id) or self._grid(cmd.instrument_id)
        ident = (cmd.account_id, cmd.client_order_id)
        if ident in self._orders:
            raise InvariantViolation(f"order {cmd.client_order_id} of {cmd.account_id} is already open")
        account_ix = self._accounts.get(cmd.account_id)
        if account_ix is None:
            account_ix = self._account_ix(cmd.account_id)
        key = self._next_key
        lots = self._open_approved(key, account_ix, grid.ix, cmd.client_order_id)
        if lots:
            self._next_key = key + 1
            self._orders[ident] = _OpenOrder(key, grid, lots, lots)
            return
        strategy_ix = self._strategies.get(cmd.strategy_id)
        if strategy_ix is None:
            strategy_ix = self._strategy_ix(cmd.strategy_id)
        price, trigger = cmd.price, cmd.trigger_price
        instrument = grid.instrument
        price_ticks = 0 if price is None else instrument.price_to_ticks(price)
        trigger_ticks = 0 if trigger is None else instrument.price_to_ticks(trigger)
        lots = instrument.quantity_to_lots(cmd.quantity)
        self._gate.on_order_opened(
            key, account_ix, grid.ix, strategy_ix, cmd.side, cmd.order_type, price_ticks, trigger_ticks, lots
        )
        self._next_key = key + 1
        self._orders[ident] = _OpenOrder(key, grid, lots, lots)

    def on_order_updated(self, event: OrderUpdated) -> None:
        """The venue applied an amend (``quantity`` is the new total)."""
        order = self._open_order(event.account_id, event.client_order_id)
        instrument = order.grid.instrument
        price_ticks = 0 if event.price is None else instrument.price_to_ticks(event.price)
        trigger_ticks = 0 if event.trigger_price is None else instrument.price_to_ticks(event.trigger_price)
        total = instrument.quantity_to_lots(event.quantity)
        try:
            self._gate.on_order_amended(order.key, price_ticks, trigger_ticks, total)
        except ValueError as exc:
            raise InvariantViolation(str(exc)) from None
        order.leaves = total - (order.total - order.leaves)
        order.total = total

    def on_order_filled(self, event: OrderFilled) -> None:
        """A fill: the position moves; the order's leaves shrink (it closes when none are left).
        A fill of an order the risk engine does not know (placed outside the engine) moves the
        position only."""
        self.on_fill(None, event)

    def on_fill(self, order: object, event: OrderFilled) -> None:
        """``on_order_filled`` with the OMS's ``RiskPort.on_fill`` signature (``order`` is not read:
        the fill names it), so the OMS's risk adapters bind it directly (no adapter frame per fill)."""
        # Once per fill: the registry lookups are inlined (the helpers only run to raise).
        grid = self._instruments.get(event.instrument_id) or self._grid(event.instrument_id)
        instrument = grid.instrument
        lots = instrument.quantity_to_lots(event.last_quantity)
        ticks = instrument.price_to_ticks(event.last_price)
        account_id = event.account_id
        acc = self._accounts.get(account_id)
        if acc is None:
            acc = self._account_ix(account_id)
        ident = (account_id, event.client_order_id)
        order = self._orders.get(ident)
        try:
            if order is not None:
                self._gate.on_order_reduced(order.key, lots)
                order.leaves -= lots
                if not order.leaves:  # the gate closed it (no leaves left)
                    del self._orders[ident]
            self._gate.on_fill(acc, grid.ix, event.side, lots, ticks)
        except ValueError as exc:
            raise InvariantViolation(str(exc)) from None

    def on_order_triggered(self, account_id: AccountId, client_order_id: ClientOrderId) -> None:
        self._gate.on_order_triggered(self._open_order(account_id, client_order_id).key)

    def on_order_closed(self, account_id: AccountId, client_order_id: ClientOrderId) -> bool:
        """The order ended; returns False if it was not open (closing twice is harmless)."""
        order = self._orders.pop((account_id, client_order_id), None)
        return order is not None and self._gate.on_order_closed(order.key)

    def on_closed(self, order: _OrderIds) -> None:
        """``on_order_closed`` with the OMS's ``RiskPort.on_order_closed`` signature (the order
        itself), so the OMS's risk adapters bind it directly (no adapter frame per closed order)."""
        open_order = self._orders.pop((order.account_id, order.client_order_id), None)
        if open_order is not None:
            self._gate.on_order_closed(open_order.key)

    def _open_order(self, account_id: AccountId, client_order_id: ClientOrderId) -> _OpenOrder:
        order = self._orders.get((account_id, client_order_id))
        if order is None:
            raise NotFoundError(f"order {client_order_id} of {account_id} is not open")
        return order

    def _strategy_ix(self, strategy_id: StrategyId) -> int:
        ix = self._strategies.get(strategy_id)
        if ix is None:
            raise NotFoundError(f"strategy {strategy_id} is not registered")
        return ix

    def set_position(
        self, account_id: AccountId, instrument_id: InstrumentId, side: Side, quantity: Quantity
    ) -> None:
        """Overwrite a position (reconciliation with the venue): ``side`` BUY = long, SELL = short."""
        grid = self._grid(instrument_id)
        lots = grid.instrument.quantity_to_lots(quantity)
        self._gate.set_position(self._account_ix(account_id), grid.ix, lots * Side(side).sign)

    def position(self, account_id: AccountId, instrument_id: InstrumentId) -> tuple[Side | None, Quantity]:
        grid = self._grid(instrument_id)
        lots = self._gate.position(self._account_ix(account_id), grid.ix)
        side = None if lots == 0 else (Side.BUY if lots > 0 else Side.SELL)
        return side, grid.instrument.lots_to_quantity(abs(lots))

    def exposure(self, account_id: AccountId) -> tuple[Money, Money]:
        """``(gross, net)`` worst-case exposure of the account (open orders counted as filled)."""
        gross2, up2, lo2 = self._gate.exposure2(self._account_ix(account_id))
        net2 = max(abs(up2), abs(lo2))
        p = self._precision + 1  # half units -> one more decimal place, exact
        return (
            Money.from_raw(gross2 * 5, p, self._quote),
            Money.from_raw(net2 * 5, p, self._quote),
        )

    # -- market data ---------------------------------------------------------------------------
    def on_trade_tick(self, tick: TradeTick) -> bool:
        """Update the last price; False if the instrument is not registered (ignored)."""
        grid = self._instruments.get(tick.instrument_id)
        if grid is None:
            return False
        self._gate.on_trade(grid.ix, grid.instrument.price_to_ticks(tick.price), tick.ts_init)
        return True

    def on_quote_tick(self, tick: QuoteTick) -> bool:
        """Update the best bid / ask; False if the instrument is not registered (ignored)."""
        grid = self._instruments.get(tick.instrument_id)
        if grid is None:
            return False
        # Every quote, inside the tick-to-order path: the gate converts the raw prices itself (an
        # empty side, size 0, is price 0); only a price off the grid or out of range comes back to
        # be converted here, which raises the usual error.
        bid, ask = tick.bid_price, tick.ask_price
        bid_raw, ask_raw = (bid._raw if tick.bid_size._raw else 0), (ask._raw if tick.ask_size._raw else 0)
        if self._on_quote_fixed(grid.ix, bid_raw, bid._precision, ask_raw, ask._precision, tick.ts_init):
            return True
        to_ticks = grid.instrument.price_to_ticks
        bid_ticks = to_ticks(bid) if bid_raw else 0
        ask_ticks = to_ticks(ask) if ask_raw else 0
        self._gate.on_quote(grid.ix, bid_ticks, ask_ticks, tick.ts_init)
        return True

    # -- trading state -------------------------------------------------------------------------
    def trading_state(self, account_id: AccountId | None = None) -> TradingState:
        """The effective state of an account (the more severe of its own and the global), or the
        global state when ``account_id`` is None."""
        if account_id is None:
            return TradingState(self._gate.global_state)
        return TradingState(self._gate.trading_state(self._account_ix(account_id)))

    def set_trading_state(
        self, state: TradingState, reason: str, ts_ns: int, account_id: AccountId | None = None
    ) -> TradingStateChanged:
        """Set an account's own state, or the global one (``account_id`` None: every account is at
        least in this state). Returns the event to journal and publish."""
        state = TradingState(state)
        if not reason.strip():
            raise ValidationError("reason", "must say why the trading state changes")
        if account_id is None:
            previous = TradingState(self._gate.global_state)
            self._gate.set_global_trading_state(state)
        else:
            ix = self._account_ix(account_id)
            previous = TradingState(self._gate.account_state(ix))
            self._gate.set_trading_state(ix, state)
        self._state_reasons[account_id] = reason
        return TradingStateChanged(
            ts_event=ts_ns,
            ts_init=ts_ns,
            account_id=account_id,
            previous=previous,
            current=state,
            reason=reason,
        )

    # -- post-trade monitor --------------------------------------------------------------------
    def on_equity(
        self, account_id: AccountId, equity: Money, realised_today: Money, ts_ns: int
    ) -> RiskBreached | None:
        """Track the UTC-day start equity and the peak; a daily loss or a drawdown at or beyond its
        limit escalates the account to its ``breach_state`` and returns ``RiskBreached`` (journal its
        ``state_change``, execute its ``cancel``). Nothing is returned while the account is already
        at least that severe.

        The day start is the first equity reported at or after 00:00 UTC (from ``ts_ns``); the
        loss since then (day start - equity) covers realised and unrealised PnL and fees.
        """
        ix = self._accounts.get(account_id)
        if ix is None:
            ix = self._account_ix(account_id)  # raises NotFoundError
        quote = self._quote
        if not (
            type(equity) is Money
            and equity._currency == quote
            and type(realised_today) is Money
            and realised_today._currency == quote
        ):
            for name, value in (("equity", equity), ("realised_today", realised_today)):
                if not isinstance(value, Money) or value.currency != quote:
                    raise ValidationError(name, f"must be Money in {quote}")
        day = ts_ns // _NS_PER_DAY
        track = self._equity.get(account_id)
        if track is None:
            track = self._equity[account_id] = _EquityTrack(day, equity, equity)
        elif day > track.day:
            track.day = day
            track.day_start = equity
        track.peak = max(track.peak, equity)
        limits = self._account_limits.get(account_id)
        if limits is None:
            return None
        # Every fill and every mark of a held instrument comes here: the usual answer (no limit
        # reached) is decided on integers, without a Money per difference.
        if _below(track.day_start, equity, limits.max_daily_loss) and _below(
            track.peak, equity, limits.max_drawdown
        ):
            return None
        daily_loss = track.day_start - equity
        drawdown = track.peak - equity
        if daily_loss >= limits.max_daily_loss:
            reason, loss, limit = "RISK_DAILY_LOSS", daily_loss, limits.max_daily_loss
        elif drawdown >= limits.max_drawdown:
            reason, loss, limit = "RISK_MAX_DRAWDOWN", drawdown, limits.max_drawdown
        else:
            return None
        previous = TradingState(self._gate.account_state(ix))
        if previous >= limits.breach_state:
            return None
        change = self.set_trading_state(
            limits.breach_state, f"{reason}: loss {loss} reached the limit {limit}", ts_ns, account_id
        )
        return RiskBreached(
            ts_event=ts_ns,
            ts_init=ts_ns,
            account_id=account_id,
            reason=reason,
            loss=loss,
            limit=limit,
            equity=equity,
            day_start_equity=track.day_start,
            peak_equity=track.peak,
            realised_today=realised_today,
            previous=previous,
            current=limits.breach_state,
            state_change=change,
            cancel=CancelAllOrders(ts_init=ts_ns, account_id=account_id),
        )

    def equity_marks(self, account_id: AccountId) -> tuple[Money, Money] | None:
        """``(day_start_equity, peak_equity)`` of an account, or None before its first equity."""
        track = self._equity.get(account_id)
        return None if track is None else (track.day_start, track.peak)

    def reset_equity_peak(self, account_id: AccountId, equity: Money) -> None:
        """Restart drawdown measurement from ``equity`` (an operator decision after a breach)."""
        track = self._equity.get(account_id)
        if track is None:
            raise NotFoundError(f"no equity reported yet for account {account_id}")
        track.peak = equity

    # -- snapshot / restore --------------------------------------------------------------------
    def equity_tracks(self) -> dict[str, Any]:
        """The loss monitor's day-start and peak equity per account (plain data, for a restart)."""
        return {str(k): v.to_data() for k, v in self._equity.items()}

    def restore_equity_tracks(self, data: dict[str, Any]) -> None:
        """Bring back ``equity_tracks()``; registered accounts only (others are ignored)."""
        for account, track in data.items():
            account_id = AccountId(account)
            if account_id in self._accounts:
                self._equity[account_id] = _EquityTrack.from_data(track)

    def snapshot(self) -> dict[str, Any]:
        """All risk state as plain data (str, int, bool, None, list, dict; JSON-ready)."""
        return {
            "version": SNAPSHOT_VERSION,
            "quote_currency": self._quote,
            "notional_precision": self._precision,
            "gate": self._gate.snapshot(),
            "instruments": [
                {"ix": g.ix, "instrument": _instrument_data(g.instrument)} for g in self._instruments.values()
            ],
            "accounts": [[str(a), ix] for a, ix in self._accounts.items()],
            "strategies": [[str(s), ix] for s, ix in self._strategies.items()],
            "limits": {
                "accounts": {str(k): v.to_data() for k, v in self._account_limits.items()},
                "instruments": {str(k): v.to_data() for k, v in self._instrument_limits.items()},
                "strategies": {str(k): v.to_data() for k, v in self._strategy_limits.items()},
            },
            "orders": [
                [str(a), str(c), o.key, str(o.grid.instrument.id)] for (a, c), o in self._orders.items()
            ],
            "next_key": self._next_key,
            "equity": {str(k): v.to_data() for k, v in self._equity.items()},
            # (key "": the global state's reason; absent in snapshots taken before it was kept)
            "state_reasons": {("" if k is None else str(k)): v for k, v in self._state_reasons.items()},
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> RiskEngine:
        """A risk engine in exactly the state ``snapshot()`` captured."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValidationError("snapshot", f"unsupported risk snapshot version {data.get('version')!r}")
        engine = cls(
            quote_currency=data["quote_currency"],
            notional_precision=data["notional_precision"],
            _gate_state=RiskGate.from_snapshot(data["gate"]),
        )
        for item in data["instruments"]:
            instrument = _instrument_from(item["instrument"])
            engine._instruments[instrument.id] = _Grid(
                item["ix"], instrument, instrument.price_precision, instrument.size_precision
            )
        for account, ix in data["accounts"]:
            engine._accounts[AccountId(account)] = ix
        for strategy, ix in data["strategies"]:
            engine._strategies[StrategyId(strategy)] = ix
        limits = data["limits"]
        engine._account_limits = {
            AccountId(k): AccountLimits.from_data(v) for k, v in limits["accounts"].items()
        }
        engine._instrument_limits = {
            InstrumentId(k): InstrumentLimits.from_data(v) for k, v in limits["instruments"].items()
        }
        engine._strategy_limits = {
            StrategyId(k): StrategyLimits.from_data(v) for k, v in limits["strategies"].items()
        }
        for account, coid, key, instrument_id in data["orders"]:
            state = engine._gate.order(key)
            if state is None:
                raise ValidationError("snapshot", f"order {coid} of {account} is not open in the gate")
            engine._orders[(AccountId(account), ClientOrderId(coid))] = _OpenOrder(
                key, engine._instruments[InstrumentId(instrument_id)], state[7], state[8]
            )
        engine._next_key = data["next_key"]
        engine._equity = {AccountId(k): _EquityTrack.from_data(v) for k, v in data["equity"].items()}
        engine._state_reasons = {
            (AccountId(k) if k else None): v for k, v in data.get("state_reasons", {}).items()
        }
        return engine
