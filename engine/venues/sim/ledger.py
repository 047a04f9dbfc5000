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

__all__ = ["Ledger"]


class Ledger:
    """Balances per account and asset (``Money``; exact at any precision)."""

    __slots__ = ("_balances",)

    def __init__(self) -> None:
        self._balances: dict[str, dict[str, Money]] = {}

    def open(self, account: str, balances: Mapping[str, Money] | None = None) -> None:
        if account in self._balances:
            raise ValueError(f"account {account} is already open")
        self._balances[account] = {}
        for asset, amount in (balances or {}).items():
            if amount.currency != asset.upper():
                raise ValueError(f"balance for {asset} is in {amount.currency}")
            self._balances[account][amount.currency] = amount

    def has(self, account: str) -> bool:
        return account in self._balances

    def accounts(self) -> list[str]:
        return list(self._balances)

    def balances(self, account: str) -> dict[str, Money]:
        return dict(self._balances[account])

    def _add(self, account: str, amount: Money) -> None:
        book = self._balances[account]
        current = book.get(amount.currency)
        book[amount.currency] = amount if current is None else current + amount

    def _sub(self, account: str, amount: Money) -> None:
        """``_add(account, -amount)`` without the negated intermediate when the asset is held."""
        book = self._balances[account]
        current = book.get(amount.currency)
        book[amount.currency] = -amount if current is None else current - amount

    def apply_fill(
        self, account: str, terms: InstrumentTerms, side: Side, ticks: int, lots: int, fee: Money
    ) -> None:
        notional = terms.notional(ticks, lots)
        buy = side is Side.BUY
        if buy:
            self._sub(account, notional)
        else:
            self._add(account, notional)
        if terms.instrument.kind is InstrumentKind.SPOT:
            base = terms.base_amount(lots)
            if buy:
                self._add(account, base)
            else:
                self._sub(account, base)
        if fee.raw:
            self._sub(account, fee)

    # -- persistence: decimal strings keep the precision, so the round trip is exact -----------
    def snapshot(self) -> dict[str, dict[str, str]]:
        return {
            str(account): {asset: money.amount_str() for asset, money in book.items()}
            for account, book in self._balances.items()
        }

    def restore(self, data: Mapping[str, Mapping[str, str]]) -> None:
        self._balances = {
            account: {asset: Money(amount, asset) for asset, amount in book.items()}
            for account, book in data.items()
        }
