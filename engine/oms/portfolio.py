"""Positions, PnL, balances and equity per account, from fills and marks. Exact: integers inside.

* A position is netted per (account, instrument): a signed quantity and a signed cost basis (the
  notional paid for what is open; negative for a short). Fills that add to a position add their
  notional to the cost; fills that reduce it release a proportional share of the cost (rounded
  half-even to the notional's last decimal place; the rounding stays in the remaining cost, so
  nothing is ever lost) and realise ``exit notional - released cost``. A fill through zero closes
  the position and opens the rest the other way (a flip).
* Unrealised PnL is ``quantity * mark * multiplier - cost``; the mark is the mid or the last trade
  (``MarkSource``), and before any mark the last fill price.
* Balances per asset: spot fills move the quote (``-+ notional``) and the base (``+- quantity``);
  derivative fills settle realised PnL in the settlement currency; commissions are debited from
  their own currency.
* Equity per account and currency: the balance of that currency plus, for the instruments quoted
  in it, the market value of spot positions and the unrealised PnL of derivative positions. Base
  assets held before trading are not marked here (they enter through positions once traded).
  With commissions paid in the quote currency this gives, exactly and at every moment,
  ``realised + unrealised - fees == equity - starting equity``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from engine.core.enums import InstrumentKind, Side
from engine.core.errors import ValidationError
from engine.core.events import OrderFilled, QuoteTick, TradeTick
from engine.core.fixed import EXACT, INT64_MAX, MAX_PRECISION, Money, Price, Quantity
from engine.core.ids import AccountId, InstrumentId
from engine.core.instruments import Instrument

__all__ = ["MarkSource", "PnlView", "Portfolio", "PositionView"]

SNAPSHOT_VERSION = 1
EquityHook = Callable[[AccountId, Money, int], None]


class MarkSource(StrEnum):
    MID = "MID"
    LAST = "LAST"


@dataclass(frozen=True, slots=True)
class PositionView:
    account_id: AccountId
    instrument_id: InstrumentId
    #: Signed: positive long, negative short (as a Decimal string-able exact value).
    quantity: Decimal
    #: Exact average entry price (``cost / quantity / multiplier``); None when flat.
    avg_entry_price: Decimal | None
    cost: Money
    realised_pnl: Money
    unrealised_pnl: Money
    mark: Price | None


@dataclass(frozen=True, slots=True)
class PnlView:
    realised: Money
    unrealised: Money
    fees: Money
    equity: Money


class _Terms:
    """Integer terms of one instrument: notionals are ``price.raw * qty_raw * mult_int`` at
    ``price.precision + size_precision + mult_places`` decimal places."""

    __slots__ = (
        "base",
        "instrument",
        "is_spot",
        "mult_int",
        "mult_places",
        "places",
        "quote",
        "size_precision",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.is_spot = instrument.kind is InstrumentKind.SPOT
        # The currency codes as ``Money`` spells them (checked once here, not per fill).
        self.quote = Money.from_raw(0, 0, instrument.quote).currency
        # Only spot fills move a base-currency balance.
        self.base = Money.from_raw(0, 0, instrument.base).currency if self.is_spot else instrument.base
        if not self.is_spot and instrument.settlement != instrument.quote:
            raise ValidationError(
                "settlement",
                f"{instrument.id}: only quote-settled derivatives are supported by the portfolio",
            )
        self.size_precision = instrument.size_precision
        sign, digits, exponent = instrument.multiplier.normalize().as_tuple()
        assert isinstance(exponent, int) and not sign
        mantissa = int("".join(map(str, digits)))
        if exponent >= 0:
            self.mult_int, self.mult_places = mantissa * 10**exponent, 0
        else:
            self.mult_int, self.mult_places = mantissa, -exponent
        #: Decimal places of a notional beyond the price's own: ``price.precision + places``.
        self.places = self.size_precision + self.mult_places

    def qty_raw(self, quantity: Quantity) -> int:
        if quantity._precision == self.size_precision:  # the usual case: already on the grid's scale
            return quantity._raw
        try:
            return quantity.with_precision(self.size_precision).raw
        except ValueError as exc:
            raise ValidationError("last_quantity", str(exc), reason="SIZE_OFF_INCREMENT") from None

    def notional(self, price: Price, qty_raw: int) -> Money:
        return _money(
            price._raw * qty_raw * self.mult_int,
            price._precision + self.size_precision + self.mult_places,
            self.quote,
        )


_new_object = object.__new__


def _money(raw: int, precision: int, currency: str) -> Money:
    """A ``Money`` from parts that are valid by construction (an int product of valid raws, a sum
    of valid precisions, an instrument's checked currency): ``Money.from_raw`` without its checks."""
    m = _new_object(Money)
    m._raw = raw
    m._precision = precision
    m._currency = currency
    return m


def _plus(m: Money, raw: int, precision: int) -> Money:
    """``m + Money.from_raw(raw, precision, m.currency)``: exact, at the larger precision."""
    places = m._precision
    if places == precision:
        return _money(m._raw + raw, places, m._currency)
    if places > precision:
        return _money(m._raw + raw * 10 ** (places - precision), places, m._currency)
    return _money(m._raw * 10 ** (precision - places) + raw, precision, m._currency)


def _credit(assets: dict[str, Money], currency: str, raw: int, precision: int) -> None:
    """``assets[currency] += Money.from_raw(raw, precision, currency)`` (``deposit`` on parts)."""
    current = assets.get(currency)
    assets[currency] = _money(raw, precision, currency) if current is None else _plus(current, raw, precision)


class _Position:
    __slots__ = ("cost", "qty", "realised")

    def __init__(self, currency: str) -> None:
        self.qty = 0  # signed raw at the instrument's size precision
        self.cost = Money.from_raw(0, 0, currency)
        self.realised = Money.from_raw(0, 0, currency)


def _div_half_even(numerator: int, denominator: int) -> int:
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2):
        q += 1
    return q


class Portfolio:
    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        balances: Mapping[AccountId, Mapping[str, Money]] | None = None,
        mark_source: MarkSource = MarkSource.MID,
        on_equity: EquityHook | None = None,
        equity_curve_length: int = 100_000,
    ) -> None:
        self._terms: dict[InstrumentId, _Terms] = {i.id: _Terms(i) for i in instruments}
        self._mark_source = MarkSource(mark_source)
        self._on_equity = on_equity
        self._curve_length = equity_curve_length
        self._positions: dict[tuple[AccountId, InstrumentId], _Position] = {}
        self._holders: dict[InstrumentId, set[AccountId]] = {}
        self._balances: dict[AccountId, dict[str, Money]] = {}
        self._fees: dict[AccountId, dict[str, Money]] = {}
        self._marks: dict[InstrumentId, Price] = {}
        self._curves: dict[tuple[AccountId, str], deque[tuple[int, Money]]] = {}
        for account, assets in (balances or {}).items():
            for money in assets.values():
                self.deposit(account, money)

    # == inputs ====================================================================================
    def add_instrument(self, instrument: Instrument) -> None:
        self._terms[instrument.id] = _Terms(instrument)

    def set_equity_hook(self, on_equity: EquityHook | None) -> None:
        """Call ``on_equity(account, equity, ts_ns)`` after every fill and mark from now on (None:
        no call). A restart replays the journal's fills before it sets the hook: the post-trade
        monitor must not act on history, and valuing the account after each replayed fill would
        cost a valuation per fill for nothing."""
        self._on_equity = on_equity

    def deposit(self, account_id: AccountId, amount: Money) -> None:
        """Credit (or, negative, debit) an asset balance; starting cash comes in this way."""
        assets = self._balances.setdefault(account_id, {})
        current = assets.get(amount.currency)
        assets[amount.currency] = amount if current is None else current + amount

    def on_fill(self, fill: OrderFilled) -> None:
        """Apply one fill. Exact: the same sums as ``Money`` arithmetic (results keep the larger
        precision), done on the integers: a fill moves several amounts, and a ``Money`` per
        intermediate step costs more than the arithmetic. Once per fill on the order path, so the
        usual case (every amount already at the fill's number of places) is written out inline and
        anything else goes through ``_plus`` / ``_credit``."""
        iid = fill.instrument_id
        account = fill.account_id
        terms = self._terms.get(iid) or self._terms_of(iid)
        last = fill.last_quantity
        qty = last._raw if last._precision == terms.size_precision else terms.qty_raw(last)
        if qty <= 0:
            raise ValidationError("last_quantity", "a fill must have a positive quantity")
        key = (account, iid)
        position = self._positions.get(key)
        if position is None:
            position = self._positions[key] = _Position(terms.quote)
            self._holders.setdefault(iid, set()).add(account)
        sign = 1 if fill.side is Side.BUY else -1
        price = fill.last_price
        # price x quantity x multiplier as raw at ``places`` decimals, per unit of raw quantity
        unit = price._raw * terms.mult_int
        places = price._precision + terms.places
        before = position.realised
        held_qty = position.qty
        if held_qty == 0 or (held_qty > 0) == (sign > 0):
            position.qty = held_qty + sign * qty
            cost = position.cost
            at = cost._precision
            if at >= places:
                position.cost = _money(
                    cost._raw + sign * unit * qty * 10 ** (at - places), at, cost._currency
                )
            else:
                position.cost = _plus(cost, sign * unit * qty, places)
        else:
            open_qty = abs(held_qty)
            closed = min(qty, open_qty)
            cost = position.cost
            released = cost._raw if closed == open_qty else _div_half_even(cost._raw * closed, open_qty)
            held = 1 if held_qty > 0 else -1
            # realised + held * notional(closed) - released; cost - released (at the cost's places)
            realised = position.realised
            if realised._precision == places and cost._precision == places:
                position.realised = _money(
                    realised._raw + held * unit * closed - released, places, realised._currency
                )
            else:
                realised = _plus(realised, held * unit * closed, places)
                position.realised = _plus(realised, -released, cost._precision)
            position.cost = _money(cost._raw - released, cost._precision, cost._currency)
            position.qty = held_qty - held * closed
            rest = qty - closed
            if rest:
                position.qty += sign * rest
                position.cost = _plus(position.cost, sign * unit * rest, places)
        assets = self._balances.get(account)
        if assets is None:
            assets = self._balances[account] = {}
        if terms.is_spot:
            # ``_credit`` of the quote (-+ notional) and the base (+- quantity), inlined
            # (``_plus`` at the balance's places when it has at least the amount's: exact)
            currency = terms.quote
            current = assets.get(currency)
            if current is not None and current._precision >= places:
                at = current._precision
                assets[currency] = _money(
                    current._raw - sign * unit * qty * 10 ** (at - places), at, currency
                )
            else:
                _credit(assets, currency, -sign * unit * qty, places)
            currency = terms.base
            current = assets.get(currency)
            size_precision = terms.size_precision
            if current is not None and current._precision >= size_precision:
                at = current._precision
                assets[currency] = _money(
                    current._raw + sign * qty * 10 ** (at - size_precision), at, currency
                )
            else:
                _credit(assets, currency, sign * qty, size_precision)
        else:
            realised = position.realised
            if realised is not before:
                # realised - before: both in the quote currency; ``_plus`` aligns their places
                delta = _plus(realised, -before._raw, before._precision)
                _credit(assets, delta._currency, delta._raw, delta._precision)
            else:  # a zero deposit still aligns the balance to the realised PnL's places
                _credit(assets, realised._currency, 0, realised._precision)
        commission = fill.commission
        currency = commission._currency
        if commission._raw:
            current = assets.get(currency)
            if current is not None and current._precision >= commission._precision:
                at = current._precision
                assets[currency] = _money(
                    current._raw - commission._raw * 10 ** (at - commission._precision), at, currency
                )
            else:
                _credit(assets, currency, -commission._raw, commission._precision)
        fees = self._fees.get(account)
        if fees is None:
            fees = self._fees[account] = {}
        current = fees.get(currency)
        if current is None:
            fees[currency] = commission
        elif current._precision == commission._precision:  # (same currency: keyed by it)
            if commission._raw:  # (a zero fee leaves the same amount at the same precision)
                fees[currency] = _money(current._raw + commission._raw, current._precision, currency)
        else:
            fees[currency] = current + commission
        if iid not in self._marks:
            self._marks[iid] = price
        if self._on_equity is not None:
            self._on_equity(account, self.equity(account, terms.quote), fill.ts_event)

    def mark(self, instrument_id: InstrumentId, price: Price, ts_ns: int) -> None:
        """Mark ``instrument_id`` at ``price``: unrealised PnL moves; each holder's equity is sampled."""
        terms = self._terms_of(instrument_id)
        self._marks[instrument_id] = price
        currency = terms.instrument.quote
        for account in self._holders.get(instrument_id, ()):
            equity = self.equity(account, currency)
            curve = self._curves.get((account, currency))
            if curve is None:
                curve = self._curves[(account, currency)] = deque(maxlen=self._curve_length)
            curve.append((ts_ns, equity))
            if self._on_equity is not None:
                self._on_equity(account, equity, ts_ns)

    def on_quote(self, tick: QuoteTick) -> None:
        if self._mark_source is MarkSource.MID:
            self.mark(tick.instrument_id, mid_price(tick.bid_price, tick.ask_price), tick.ts_event)

    def on_trade(self, tick: TradeTick) -> None:
        if self._mark_source is MarkSource.LAST:
            self.mark(tick.instrument_id, tick.price, tick.ts_event)

    # == queries ===================================================================================
    def position(self, account_id: AccountId, instrument_id: InstrumentId) -> PositionView:
        terms = self._terms_of(instrument_id)
        position = self._positions.get((account_id, instrument_id)) or _Position(terms.instrument.quote)
        quantity = Decimal(position.qty).scaleb(-terms.size_precision, EXACT)
        avg = None
        if position.qty:
            per_unit = EXACT.multiply(quantity, terms.instrument.multiplier)
            avg = position.cost.as_decimal() / per_unit  # display value (28 digits when not exact)
        return PositionView(
            account_id=account_id,
            instrument_id=instrument_id,
            quantity=quantity,
            avg_entry_price=avg,
            cost=position.cost,
            realised_pnl=position.realised,
            unrealised_pnl=self._unrealised(terms, position, instrument_id),
            mark=self._marks.get(instrument_id),
        )

    def positions(self, account_id: AccountId | None = None, *, open_only: bool = True) -> list[PositionView]:
        return [
            self.position(a, i)
            for (a, i), p in self._positions.items()
            if (account_id is None or a == account_id) and (p.qty or not open_only)
        ]

    def balances(self, account_id: AccountId) -> dict[str, Money]:
        return dict(self._balances.get(account_id, {}))

    def fees(self, account_id: AccountId) -> dict[str, Money]:
        return dict(self._fees.get(account_id, {}))

    def equity(self, account_id: AccountId, currency: str) -> Money:
        """The balance of ``currency`` plus, for the instruments quoted in it, the market value of
        spot positions and the unrealised PnL of derivative positions. Runs on every fill and every
        mark of a held instrument (the loss monitor), so the sum is taken on integers: the same value
        and precision as adding the ``Money`` amounts (the larger precision wins)."""
        total = self._balances.get(account_id, {}).get(currency) or Money.from_raw(0, 0, currency)
        raw, places = total._raw, total._precision
        for (account, iid), position in self._positions.items():
            if account != account_id or not position.qty:
                continue
            terms = self._terms[iid]
            if terms.instrument.quote != currency:
                continue
            value_raw, value_places = self._value_parts(terms, position, iid)
            if value_places > places:
                raw, places = raw * 10 ** (value_places - places) + value_raw, value_places
            else:
                raw += value_raw * 10 ** (places - value_places)
        return _money(raw, places, total._currency)

    def realised(self, account_id: AccountId, currency: str) -> Money:
        """Realised PnL of the account over the instruments quoted in ``currency`` (``pnl().realised``
        without the unrealised PnL and equity it also computes)."""
        total = Money.from_raw(0, 0, currency)
        for (account, iid), position in self._positions.items():
            if account == account_id and self._terms[iid].instrument.quote == currency:
                total = total + position.realised
        return total

    def pnl(self, account_id: AccountId, currency: str) -> PnlView:
        zero = Money.from_raw(0, 0, currency)
        realised, unrealised = zero, zero
        for (account, iid), position in self._positions.items():
            terms = self._terms[iid]
            if account == account_id and terms.instrument.quote == currency:
                realised = realised + position.realised
                unrealised = unrealised + self._unrealised(terms, position, iid)
        fees = self._fees.get(account_id, {}).get(currency, zero)
        return PnlView(realised, unrealised, fees, self.equity(account_id, currency))

    def equity_curve(self, account_id: AccountId, currency: str) -> list[tuple[int, Money]]:
        return list(self._curves.get((account_id, currency), ()))

    # == persistence ===============================================================================
    def snapshot(self) -> dict[str, Any]:
        """Everything as JSON-ready data (exact decimal strings)."""

        def money(m: Money) -> list[Any]:
            return [m.raw, m.precision, m.currency]

        return {
            "version": SNAPSHOT_VERSION,
            "mark_source": self._mark_source.value,
            "positions": [
                [str(a), str(i), p.qty, money(p.cost), money(p.realised)]
                for (a, i), p in self._positions.items()
            ],
            "balances": {str(a): [money(m) for m in assets.values()] for a, assets in self._balances.items()},
            "fees": {str(a): [money(m) for m in assets.values()] for a, assets in self._fees.items()},
            "marks": {str(i): [p.raw, p.precision] for i, p in self._marks.items()},
            "curves": {
                f"{a}|{c}": [[ts, money(m)] for ts, m in curve] for (a, c), curve in self._curves.items()
            },
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValidationError("snapshot", f"unsupported version {snapshot.get('version')!r}")

        def money(v: list[Any]) -> Money:
            return Money.from_raw(v[0], v[1], v[2])

        self._mark_source = MarkSource(snapshot["mark_source"])
        self._positions.clear()
        self._holders.clear()
        for account, iid, qty, cost, realised in snapshot["positions"]:
            key = (AccountId(account), InstrumentId(iid))
            self._terms_of(key[1])
            position = self._positions[key] = _Position(cost[2])
            position.qty, position.cost, position.realised = qty, money(cost), money(realised)
            self._holders.setdefault(key[1], set()).add(key[0])
        self._balances = {
            AccountId(a): {m[2]: money(m) for m in assets} for a, assets in snapshot["balances"].items()
        }
        self._fees = {
            AccountId(a): {m[2]: money(m) for m in assets} for a, assets in snapshot["fees"].items()
        }
        self._marks = {InstrumentId(i): Price.from_raw(r, p) for i, (r, p) in snapshot["marks"].items()}
        self._curves = {}
        for name, points in snapshot["curves"].items():
            account, currency = name.split("|")
            self._curves[(AccountId(account), currency)] = deque(
                ((ts, money(m)) for ts, m in points), maxlen=self._curve_length
            )

    # == internals =================================================================================
    def _terms_of(self, instrument_id: InstrumentId) -> _Terms:
        terms = self._terms.get(instrument_id)
        if terms is None:
            raise ValidationError(
                "instrument_id", f"{instrument_id} is not a known instrument", reason="UNKNOWN_INSTRUMENT"
            )
        return terms

    def _market_value(self, terms: _Terms, position: _Position, iid: InstrumentId) -> Money:
        mark = self._marks.get(iid)
        if mark is None or not position.qty:
            return Money.from_raw(0, 0, terms.instrument.quote)
        return terms.notional(mark, position.qty)

    def _value_parts(self, terms: _Terms, position: _Position, iid: InstrumentId) -> tuple[int, int]:
        """What an open position adds to equity as (raw, places): a spot position's market value,
        a derivative's unrealised PnL (``_market_value`` / ``_unrealised`` on integers)."""
        mark = self._marks.get(iid)
        if mark is None:
            value_raw, value_places = 0, 0
        else:
            value_raw = mark._raw * position.qty * terms.mult_int
            value_places = mark._precision + terms.places
        if terms.is_spot:
            return value_raw, value_places
        cost = position.cost
        at = cost._precision
        if at > value_places:
            return value_raw * 10 ** (at - value_places) - cost._raw, at
        return value_raw - cost._raw * 10 ** (value_places - at), value_places

    def _unrealised(self, terms: _Terms, position: _Position, iid: InstrumentId) -> Money:
        if not position.qty:
            return Money.from_raw(0, 0, terms.instrument.quote)
        return self._market_value(terms, position, iid) - position.cost

    def _emit_equity(self, account: AccountId, currency: str, ts_ns: int) -> None:
        if self._on_equity is not None:
            self._on_equity(account, self.equity(account, currency), ts_ns)


def mid_price(bid: Price, ask: Price) -> Price:
    """``(bid + ask) / 2`` exactly (one more decimal place when the sum is odd)."""
    places = bid._precision
    if type(bid) is Price and type(ask) is Price and ask._precision == places and places < MAX_PRECISION:
        # Every quote when marking to the mid: on the raws (both prices on one grid, the usual
        # case), with the range checks the ``Price`` arithmetic below would make.
        summed = bid._raw + ask._raw
        if summed % 2 == 0:
            raw = summed // 2
        else:
            raw, places = summed * 5, places + 1
        if -INT64_MAX <= raw <= INT64_MAX and -INT64_MAX <= summed <= INT64_MAX:
            mid = _new_object(Price)
            mid._raw = raw
            mid._precision = places
            return mid
    total = bid + ask
    if total.raw % 2 == 0:
        return Price.from_raw(total.raw // 2, total.precision)
    return Price.from_raw(total.raw * 5, total.precision + 1)
