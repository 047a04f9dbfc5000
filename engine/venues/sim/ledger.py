"""Account balances at the simulated venue: one exact ``Money`` per asset, moved by fills and fees.

Cash accounting, identical for spot and for quote-settled derivatives: a fill moves
``price * quantity * multiplier`` of the quote (settlement) currency against the position and charges
the fee in the quote currency; for spot the base currency balance moves by the quantity too, for
derivatives the position is the matcher's (netted per account and instrument). There is no margin or
buying-power check here: balances may go negative. Buying power is the risk gate's job (issue 4).
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.core.enums import InstrumentKind, Side
from engine.core.fixed import Money
from engine.venues.sim.terms import InstrumentTerms

__all__ = ["Ledger", "fill_terms"]


class Ledger:
    """Balances per account and asset (``Money``; exact at any precision)."""

    __slots__ = ("_balances", "_fill_terms")

    def __init__(self) -> None:
        self._balances: dict[str, dict[str, Money]] = {}
        #: Per instrument (by id: hashing the terms would hash every field), its terms and what a
        #: fill needs from them as plain values, worked out once: the quote code, the notional
        #: precision and unit, and for spot the base code, size precision and size step.
        self._fill_terms: dict[str, tuple[InstrumentTerms, str, int, int, str | None, int, int]] = {}

    def open(self, account: str, balances: Mapping[str, Money] | None = None) -> None:
        if account in self._balances:
            raise ValueError(f"account {account} is already open")
        self._balances[account] = {}
        for asset, amount in (balances or {}).items():
            if amount.currency != asset.upper():
                raise ValueError(f"balance for {asset} is in {amount.currency}")
            self._balances[account][amount.currency] = amount

    @property
    def table(self) -> dict[str, dict[str, Money]]:
        """Balances by account and asset: one dict for the ledger's life (``restore`` loads into
        it), which the paper venue's compiled order path moves on each fill exactly as
        ``apply_fill`` does. Read it, never change it otherwise."""
        return self._balances

    def has(self, account: str) -> bool:
        return account in self._balances

    def accounts(self) -> list[str]:
        return list(self._balances)

    def balances(self, account: str) -> dict[str, Money]:
        return dict(self._balances[account])

    def apply_fill(
        self, account: str, terms: InstrumentTerms, side: Side, ticks: int, lots: int, fee: Money
    ) -> None:
        """The quote moves by the notional against the fill, spot's base by the quantity with it,
        and the fee is debited. Exact: the same sums as ``Money`` arithmetic (the result keeps the
        larger precision), on the integers directly (a fill is several balance moves)."""
        fill_terms = self._fill_terms.get(terms.instrument.id)
        if fill_terms is None or fill_terms[0] is not terms:
            fill_terms = self._fill_terms[terms.instrument.id] = _fill_terms(terms)
        _, quote, notional_precision, unit, base, size_precision, size_step = fill_terms
        book = self._balances[account]
        sign = 1 if side is Side.BUY else -1
        # The quote move (every fill) is ``_move`` inline when the balance is at the notional's
        # precision already (after the first fill it is, unless deposits came finer).
        raw = -sign * ticks * lots * unit
        current = book.get(quote)
        if current is not None and current._precision == notional_precision:
            m = _new_object(Money)
            m._raw = current._raw + raw
            m._precision = notional_precision
            m._currency = quote
            book[quote] = m
        else:
            _move(book, quote, raw, notional_precision)
        if base is not None:  # spot: the base moves with the fill (``_move`` inline, as the quote)
            raw = sign * lots * size_step
            current = book.get(base)
            if current is not None and current._precision == size_precision:
                m = _new_object(Money)
                m._raw = current._raw + raw
                m._precision = size_precision
                m._currency = base
                book[base] = m
            else:
                _move(book, base, raw, size_precision)
        if fee._raw:
            _move(book, fee._currency, -fee._raw, fee._precision)

    # -- persistence: decimal strings keep the precision, so the round trip is exact -----------
    def snapshot(self) -> dict[str, dict[str, str]]:
        return {
            str(account): {asset: money.amount_str() for asset, money in book.items()}
            for account, book in self._balances.items()
        }

    def restore(self, data: Mapping[str, Mapping[str, str]]) -> None:
        """Replace every balance with ``data``'s (in place: ``table`` stays the same dict)."""
        balances = {
            account: {asset: Money(amount, asset) for asset, amount in book.items()}
            for account, book in data.items()
        }
        self._balances.clear()
        self._balances.update(balances)


_new_object = object.__new__


def fill_terms(terms: InstrumentTerms) -> tuple[str, int, int, str | None, int, int]:
    """What a fill moves, as plain values: the quote code, the notional precision and unit, the
    base code (spot only: None otherwise, the base does not move) and the size precision and step."""
    return _fill_terms(terms)[1:]


def _fill_terms(terms: InstrumentTerms) -> tuple[InstrumentTerms, str, int, int, str | None, int, int]:
    instrument = terms.instrument
    quote = Money.from_raw(0, 0, instrument.quote).currency
    spot = instrument.kind is InstrumentKind.SPOT
    base = Money.from_raw(0, 0, instrument.base).currency if spot else None
    step = instrument.size_increment
    return terms, quote, terms.notional_precision, terms.notional_unit_raw, base, step.precision, step.raw


def _move(book: dict[str, Money], currency: str, raw: int, precision: int) -> None:
    """``book[currency] += Money.from_raw(raw, precision, currency)`` (checked currency code)."""
    current = book.get(currency)
    if current is None:
        total, places = raw, precision
    else:
        places = current._precision
        if places == precision:
            total = current._raw + raw
        elif places > precision:
            total = current._raw + raw * 10 ** (places - precision)
        else:
            total, places = current._raw * 10 ** (precision - places) + raw, precision
    m = _new_object(Money)
    m._raw = total
    m._precision = places
    m._currency = currency
    book[currency] = m
