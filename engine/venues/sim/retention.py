"""Which finished orders a simulated venue remembers (``SimVenue`` and ``PaperVenue`` alike).

Every open order is kept; of the finished ones (filled, canceled, rejected, expired) only the
``closed_order_retention`` most recently finished, first finished first forgotten
(``FinishedOrders``). A forgotten order is an unknown order, as on an exchange whose order history
expired: ``order()`` answers None, a cancel or amend is rejected ``UNKNOWN_ORDER``, and its client
order id is accepted again. The engine never reuses one: ``OrderManager._check_submit`` refuses a
duplicate client order id among every order it knows, whatever the venue remembers.

Deterministic: the order depends only on the inputs, and a snapshot (version 2) lists the remembered
finished orders in the order they finished, so a venue restored from it and fed the same inputs
forgets exactly what the live one forgot.

Why this cannot hit an order the engine still treats as in flight: at a restart the order manager
reconciles every order its journal shows open (``OrderManager.reconcile``) by asking the venue's
``order()``. Such an order is open at the venue, or finished there with its final report not yet
journalled. Open orders are never forgotten, and a finished order is forgotten only after
``closed_order_retention`` later orders have finished; an order whose final report has not reached
the journal finished within the last report latency plus one durable write of the venue's state and
one journal commit (the durable venues deliver reports only once what produced them is durable), so
it is among the most recent and the retention (10_000 by default) keeps it. A tiny retention
(tests) loses that margin.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from engine.core.enums import OrderStatus
from engine.core.errors import ValidationError
from engine.core.ids import AccountId, ClientOrderId

__all__ = ["FinishedOrders", "closed_keys"]

Key = tuple[AccountId, ClientOrderId]


class FinishedOrders:
    """The finished orders ``orders`` (a venue's order table by key) still holds, oldest first;
    ``add`` forgets the oldest from the table once more than ``retention`` are remembered. On the
    path of every order that ends: a deque append and a length check (and, once full, one delete)."""

    __slots__ = ("_keys", "_orders", "retention")

    def __init__(self, orders: dict[Key, Any], retention: int) -> None:
        self._orders = orders
        self._keys: deque[Key] = deque()
        self.retention = retention

    def add(self, key: Key) -> None:
        """Order ``key`` just finished (every path that ends an order calls this, once)."""
        keys = self._keys
        keys.append(key)
        if len(keys) > self.retention:
            # Every key here is a finished order still in the table: appended once, when its order
            # finished, and its client order id is refused until it is forgotten.
            del self._orders[keys.popleft()]

    @property
    def keys(self) -> deque[Key]:
        """The remembered keys, oldest first: one deque for the table's life (the paper venue's
        compiled order path appends to it as ``add`` does). Read it, never change it otherwise."""
        return self._keys

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def snapshot(self) -> list[list[str]]:
        """The snapshot's ``closed_orders``."""
        return [list(key) for key in self._keys]

    def restore(self, keys: list[Key] | None, open_statuses: Collection[OrderStatus]) -> None:
        """Remember ``keys`` (``closed_keys`` of a version-2 snapshot, checked before anything was
        loaded), or, for a version-1 snapshot (None; written before retention), the table's finished
        orders in the order of their ``ts_last``, then venue order id (then table order, which is
        submission order). Either way, more than ``retention`` are forgotten oldest first."""
        if keys is None:
            finished = sorted(
                (o for o in self._orders.values() if o.status not in open_statuses),
                key=lambda o: (o.ts_last, o.vid),
            )
            keys = [(o.account, o.coid) for o in finished]
        for key in keys:
            self.add(key)


def closed_keys(
    snapshot: Mapping[str, Any], open_statuses: Collection[OrderStatus]
) -> list[tuple[AccountId, ClientOrderId]]:
    """The ``closed_orders`` of a version-2 snapshot, checked: each names a finished order of the
    snapshot (status not in ``open_statuses``) once, and every finished order of the snapshot is
    named. Raises ``ValidationError("snapshot", ...)`` before anything is loaded."""
    rows = snapshot.get("closed_orders")
    if not isinstance(rows, list):
        raise ValidationError("snapshot", "closed_orders is missing or not a list (version 2 lists it)")
    finished = {
        (data["account"], data["coid"])
        for data in snapshot["orders"]
        if OrderStatus(data["status"]) not in open_statuses
    }
    keys: list[tuple[AccountId, ClientOrderId]] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        if not isinstance(row, (list, tuple)) or len(row) != 2 or not all(isinstance(v, str) for v in row):
            raise ValidationError(
                "snapshot", f"closed_orders entry {row!r} is not [account, client order id]"
            )
        account, coid = row
        if (account, coid) not in finished:
            raise ValidationError(
                "snapshot",
                f"closed_orders names {account}/{coid}, which is not a finished order of the snapshot",
            )
        if (account, coid) in seen:
            raise ValidationError("snapshot", f"closed_orders names {account}/{coid} twice")
        seen.add((account, coid))
        keys.append((AccountId(account), ClientOrderId(coid)))
    if len(seen) != len(finished):
        raise ValidationError(
            "snapshot", f"closed_orders lists {len(seen)} finished orders, the snapshot has {len(finished)}"
        )
    return keys
