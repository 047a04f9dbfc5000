"""Built-in strategies. Each is long/flat (no shorting), trades market orders and, on entry, goes
all-in with the account's available cash in the instrument's quote currency (``ctx.all_in_quantity``
at the bar's close: exact integers, rounded down to the lot size, taker fee included). An exit sells
the strategy's whole position. While one of its orders is working a strategy does not trade that
instrument (indicators keep updating on every bar).

Signals are evaluated on each closed bar; the order goes out on that bar. Indicators come from the
streaming registry (TA-Lib definitions, NaN during warm-up; a comparison with NaN is false, so no
signal fires before every indicator a rule reads is warm).

=====================  =============================================================================
name                   rule
=====================  =============================================================================
sma_cross              long while SMA(fast) > SMA(slow), flat otherwise
ema_cross              long while EMA(fast) > EMA(slow), flat otherwise
macd_cross             long while MACD line > signal line, flat otherwise
momentum               long while ROC(period) > threshold (percent), flat otherwise
rsi_reversion          enter when RSI < oversold, exit when RSI > overbought
mfi_reversion          enter when MFI < oversold, exit when MFI > overbought
bollinger_reversion    enter when close < lower band, exit when close >= middle band
bollinger_squeeze      arm when band width <= max_bandwidth; armed and close > upper band: enter;
                       exit when close < middle band
vwap_reversion         enter when close < VWAP * (1 - band_bps / 10^4), exit when close >= VWAP
donchian_breakout      enter when close > highest high of the previous entry_period bars, exit when
                       close < lowest low of the previous exit_period bars
=====================  =============================================================================
"""

from __future__ import annotations

from typing import Any

from engine.core.enums import Side
from engine.core.errors import ValidationError
from engine.core.ids import InstrumentId
from engine.strategy.api import BarView, Strategy
from engine.strategy.context import StrategyPosition
from engine.strategy.params import FloatParam, IntParam

__all__ = [
    "BUILTINS",
    "BollingerReversion",
    "BollingerSqueeze",
    "DonchianBreakout",
    "EmaCross",
    "MacdCross",
    "MfiReversion",
    "Momentum",
    "RsiReversion",
    "SmaCross",
    "VwapReversion",
]

HOLD = -1
FLAT = 0
LONG = 1


class _State:
    """Per-instrument state of a built-in strategy: its position object and its indicators."""

    def __init__(self, position: StrategyPosition) -> None:
        self.pos = position
        self.iid: InstrumentId = position.instrument_id
        self.armed = False
        self.prev: Any = None


class LongFlatStrategy(Strategy):
    """Base of the built-ins: ``signal(state, bar)`` says LONG, FLAT or HOLD; the base trades it."""

    def on_start(self) -> None:
        self.states = {iid: self.make_state(_State(self.ctx.position(iid))) for iid in self.ctx.instruments}

    def make_state(self, state: _State) -> _State:
        """Create the instrument's indicators on ``state``; returns it."""
        return state

    def signal(self, state: _State, bar: BarView) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def on_bar(self, bar: BarView) -> None:
        state = self.states[bar.instrument_id]
        want = self.signal(state, bar)
        pos = state.pos
        if want == HOLD or pos.open_orders:
            return
        if want == LONG:
            if pos.lots == 0:
                self.enter(state.iid, bar.close)
        elif pos.lots > 0:
            self.ctx.submit_market(state.iid, Side.SELL, pos.abs_quantity)

    def enter(self, iid: InstrumentId, close: float) -> None:
        """Buy all-in at market, sized at ``close``."""
        ctx = self.ctx
        quantity = ctx.all_in_quantity(iid, ctx.price(iid, close))
        if quantity.raw:
            ctx.submit_market(iid, Side.BUY, quantity)


def _below(values: dict[str, Any], low: str, high: str) -> None:
    if values[low] >= values[high]:
        raise ValidationError(low, f"must be below {high} ({values[low]} >= {values[high]})")


class SmaCross(LongFlatStrategy):
    """SMA crossover: long while SMA(fast) > SMA(slow) of the close, flat otherwise.

    Parameters: ``fast`` 2..500 (default 10), ``slow`` 3..2000 (default 30), ``fast < slow``.
    All-in with the available cash on entry (rounded down to the lot size); sells everything on exit.
    """

    name = "sma_cross"
    fast = IntParam(10, low=2, high=500, doc="fast SMA period in bars")
    slow = IntParam(30, low=3, high=2000, doc="slow SMA period in bars")

    @classmethod
    def validate_params(cls, values: dict[str, Any]) -> None:
        _below(values, "fast", "slow")

    def make_state(self, state: _State) -> _State:
        state.fast_update = self.ctx.indicator("sma", timeperiod=self.fast).update  # type: ignore[attr-defined]
        state.slow_update = self.ctx.indicator("sma", timeperiod=self.slow).update  # type: ignore[attr-defined]
        return state

    def on_bar(self, bar: BarView) -> None:
        # The hot path of the backtest benchmark: signal inline, no extra call per bar.
        state = self.states[bar.instrument_id]
        close = bar.close
        long = state.fast_update(close) > state.slow_update(close)  # type: ignore[attr-defined]
        pos = state.pos
        if pos.open_orders:
            return
        if long:
            if pos.lots == 0:
                self.enter(state.iid, close)
        elif pos.lots > 0:
            self.ctx.submit_market(state.iid, Side.SELL, pos.abs_quantity)


class EmaCross(LongFlatStrategy):
    """EMA crossover: long while EMA(fast) > EMA(slow) of the close, flat otherwise.

    Parameters: ``fast`` 2..500 (default 12), ``slow`` 3..2000 (default 26), ``fast < slow``.
    """

    name = "ema_cross"
    fast = IntParam(12, low=2, high=500, doc="fast EMA period in bars")
    slow = IntParam(26, low=3, high=2000, doc="slow EMA period in bars")

    @classmethod
    def validate_params(cls, values: dict[str, Any]) -> None:
        _below(values, "fast", "slow")

    def make_state(self, state: _State) -> _State:
        state.fast = self.ctx.indicator("ema", timeperiod=self.fast)  # type: ignore[attr-defined]
        state.slow = self.ctx.indicator("ema", timeperiod=self.slow)  # type: ignore[attr-defined]
        return state

    def signal(self, state: _State, bar: BarView) -> int:
        return LONG if state.fast.update(bar.close) > state.slow.update(bar.close) else FLAT  # type: ignore[attr-defined]


class MacdCross(LongFlatStrategy):
    """MACD crossover: long while the MACD line is above its signal line, flat otherwise.

    Parameters: ``fast`` 2..200 (default 12), ``slow`` 3..500 (default 26), ``fast < slow``,
    ``signal`` 1..200 (default 9) — TA-Lib MACD(fastperiod, slowperiod, signalperiod).
    """

    name = "macd_cross"
    fast = IntParam(12, low=2, high=200, doc="fast EMA period")
    slow = IntParam(26, low=3, high=500, doc="slow EMA period")
    signal_period = IntParam(9, low=1, high=200, doc="signal line EMA period")

    @classmethod
    def validate_params(cls, values: dict[str, Any]) -> None:
        _below(values, "fast", "slow")

    def make_state(self, state: _State) -> _State:
        state.macd = self.ctx.indicator(  # type: ignore[attr-defined]
            "macd", fastperiod=self.fast, slowperiod=self.slow, signalperiod=self.signal_period
        )
        return state

    def signal(self, state: _State, bar: BarView) -> int:
        macd, signal, _ = state.macd.update(bar.close)  # type: ignore[attr-defined]
        return LONG if macd > signal else FLAT


class Momentum(LongFlatStrategy):
    """Momentum: long while the rate of change ROC(period) (percent) is above ``threshold``, flat
    otherwise.

    Parameters: ``period`` 1..1000 (default 10), ``threshold`` -100..100 percent (default 0).
    """

    name = "momentum"
    period = IntParam(10, low=1, high=1000, doc="ROC look-back in bars")
    threshold = FloatParam(0.0, low=-100.0, high=100.0, doc="ROC level (percent) to be long above")

    def make_state(self, state: _State) -> _State:
        state.roc = self.ctx.indicator("roc", timeperiod=self.period)  # type: ignore[attr-defined]
        return state

    def signal(self, state: _State, bar: BarView) -> int:
        return LONG if state.roc.update(bar.close) > self.threshold else FLAT  # type: ignore[attr-defined]


class RsiReversion(LongFlatStrategy):
    """RSI mean reversion: enter when RSI(period) < ``oversold``, exit when RSI > ``overbought``,
    otherwise hold.

    Parameters: ``period`` 2..500 (default 14), ``oversold`` 1..50 (default 30), ``overbought``
    50..99 (default 70), ``oversold < overbought``.
    """

    name = "rsi_reversion"
    period = IntParam(14, low=2, high=500, doc="RSI period")
    oversold = FloatParam(30.0, low=1.0, high=50.0, doc="enter below this RSI")
    overbought = FloatParam(70.0, low=50.0, high=99.0, doc="exit above this RSI")

    @classmethod
    def validate_params(cls, values: dict[str, Any]) -> None:
        _below(values, "oversold", "overbought")

    def make_state(self, state: _State) -> _State:
        state.rsi = self.ctx.indicator("rsi", timeperiod=self.period)  # type: ignore[attr-defined]
        return state

    def signal(self, state: _State, bar: BarView) -> int:
        rsi = state.rsi.update(bar.close)  # type: ignore[attr-defined]
        if rsi < self.oversold:
            return LONG
        if rsi > self.overbought:
            return FLAT
        return HOLD


class MfiReversion(LongFlatStrategy):
    """Money-flow-index reversion: enter when MFI(period) < ``oversold``, exit when MFI >
    ``overbought``, otherwise hold.

    Parameters: ``period`` 2..500 (default 14), ``oversold`` 1..50 (default 20), ``overbought``
    50..99 (default 80), ``oversold < overbought``.
    """

    name = "mfi_reversion"
    period = IntParam(14, low=2, high=500, doc="MFI period")
    oversold = FloatParam(20.0, low=1.0, high=50.0, doc="enter below this MFI")
    overbought = FloatParam(80.0, low=50.0, high=99.0, doc="exit above this MFI")

    @classmethod
    def validate_params(cls, values: dict[str, Any]) -> None:
        _below(values, "oversold", "overbought")

    def make_state(self, state: _State) -> _State:
        state.mfi = self.ctx.indicator("mfi", timeperiod=self.period)  # type: ignore[attr-defined]
        return state

    def signal(self, state: _State, bar: BarView) -> int:
        mfi = state.mfi.update(bar.high, bar.low, bar.close, bar.volume)  # type: ignore[attr-defined]
        if mfi < self.oversold:
            return LONG
        if mfi > self.overbought:
            return FLAT
        return HOLD


class BollingerReversion(LongFlatStrategy):
    """Bollinger-band reversion: enter when the close is below the lower band, exit when it is back
    at or above the middle band (the SMA), otherwise hold.

    Parameters: ``period`` 2..1000 (default 20), ``nbdev`` 0.5..5 standard deviations (default 2).
    """

    name = "bollinger_reversion"
    period = IntParam(20, low=2, high=1000, doc="band SMA period")
    nbdev = FloatParam(2.0, low=0.5, high=5.0, doc="band width in standard deviations")

    def make_state(self, state: _State) -> _State:
        state.bb = self.ctx.indicator(  # type: ignore[attr-defined]
            "bbands", timeperiod=self.period, nbdevup=self.nbdev, nbdevdn=self.nbdev
        )
        return state

    def signal(self, state: _State, bar: BarView) -> int:
        _upper, middle, lower = state.bb.update(bar.close)  # type: ignore[attr-defined]
        close = bar.close
        if close < lower:
            return LONG
        if close >= middle:
            return FLAT
        return HOLD


class BollingerSqueeze(LongFlatStrategy):
    """Bollinger squeeze breakout: a squeeze (band width ``(upper - lower) / middle`` at or below
    ``max_bandwidth``) arms the strategy; an armed close above the upper band enters (and disarms),
    an armed close below the lower band disarms without trading; a close below the middle band exits.

    Parameters: ``period`` 2..1000 (default 20), ``nbdev`` 0.5..5 (default 2), ``max_bandwidth``
    0.0001..1 (default 0.04 = 4 % of the middle band).
    """

    name = "bollinger_squeeze"
    period = IntParam(20, low=2, high=1000, doc="band SMA period")
    nbdev = FloatParam(2.0, low=0.5, high=5.0, doc="band width in standard deviations")
    max_bandwidth = FloatParam(0.04, low=0.0001, high=1.0, doc="relative band width that counts as a squeeze")

    def make_state(self, state: _State) -> _State:
        state.bb = self.ctx.indicator(  # type: ignore[attr-defined]
            "bbands", timeperiod=self.period, nbdevup=self.nbdev, nbdevdn=self.nbdev
        )
        return state

    def signal(self, state: _State, bar: BarView) -> int:
        upper, middle, lower = state.bb.update(bar.close)  # type: ignore[attr-defined]
        close = bar.close
        if middle > 0 and (upper - lower) / middle <= self.max_bandwidth:
            state.armed = True
            return HOLD
        if state.armed:
            if close > upper:
                state.armed = False
                return LONG
            if close < lower:
                state.armed = False
        if close < middle:
            return FLAT
        return HOLD


class VwapReversion(LongFlatStrategy):
    """VWAP reversion: enter when the close is more than ``band_bps`` below the VWAP, exit when it is
    back at or above the VWAP, otherwise hold. ``period`` 0 uses the session VWAP (UTC day, reset at
    midnight), otherwise a rolling VWAP over ``period`` bars (typical price weighted by volume).

    Parameters: ``period`` 0..5000 (default 0), ``band_bps`` 1..5000 (default 50).
    """

    name = "vwap_reversion"
    period = IntParam(0, low=0, high=5000, doc="0 = session VWAP, else rolling bars")
    band_bps = FloatParam(50.0, low=1.0, high=5000.0, doc="entry distance below VWAP in basis points")

    def make_state(self, state: _State) -> _State:
        if self.period:
            state.vwap = self.ctx.indicator("vwap_rolling", timeperiod=self.period)  # type: ignore[attr-defined]
        else:
            state.vwap = self.ctx.indicator("vwap")  # type: ignore[attr-defined]
        state.factor = 1.0 - self.band_bps / 10_000.0  # type: ignore[attr-defined]
        return state

    def signal(self, state: _State, bar: BarView) -> int:
        if self.period:
            vwap = state.vwap.update(bar.high, bar.low, bar.close, bar.volume)  # type: ignore[attr-defined]
        else:
            vwap = state.vwap.update(bar.high, bar.low, bar.close, bar.volume, bar.ts_open)  # type: ignore[attr-defined]
        close = bar.close
        if close < vwap * state.factor:  # type: ignore[attr-defined]
            return LONG
        if close >= vwap:
            return FLAT
        return HOLD


class DonchianBreakout(LongFlatStrategy):
    """Donchian channel breakout (turtle style): enter when the close is above the highest high of
    the previous ``entry_period`` bars, exit when it is below the lowest low of the previous
    ``exit_period`` bars, otherwise hold.

    Parameters: ``entry_period`` 2..1000 (default 20), ``exit_period`` 1..1000 (default 10).
    """

    name = "donchian_breakout"
    entry_period = IntParam(20, low=2, high=1000, doc="breakout channel length in bars")
    exit_period = IntParam(10, low=1, high=1000, doc="exit channel length in bars")

    def make_state(self, state: _State) -> _State:
        state.entry = self.ctx.indicator("donchian", timeperiod=self.entry_period)  # type: ignore[attr-defined]
        state.exit = self.ctx.indicator("donchian", timeperiod=self.exit_period)  # type: ignore[attr-defined]
        state.prev = (float("nan"), float("nan"))
        return state

    def signal(self, state: _State, bar: BarView) -> int:
        prev_upper, prev_lower = state.prev
        upper = state.entry.update(bar.high, bar.low)[0]  # type: ignore[attr-defined]
        lower = state.exit.update(bar.high, bar.low)[2]  # type: ignore[attr-defined]
        state.prev = (upper, lower)
        close = bar.close
        if close > prev_upper:
            return LONG
        if close < prev_lower:
            return FLAT
        return HOLD


BUILTINS: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        SmaCross,
        EmaCross,
        MacdCross,
        Momentum,
        RsiReversion,
        MfiReversion,
        BollingerReversion,
        BollingerSqueeze,
        VwapReversion,
        DonchianBreakout,
    )
}
