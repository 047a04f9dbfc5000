"""What the simulated venues share about forgetting finished orders: reading a snapshot's
``closed_orders`` (the finished orders a venue remembers, oldest first) back, checked.

Both ``SimVenue`` and ``PaperVenue`` keep every open order and only their ``closed_order_retention``
most recently finished ones; their snapshots (version 2) list the remembered finished orders in the
order they finished, so a restored venue forgets exactly what the live one would have.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from engine.core.enums import OrderStatus
from engine.core.errors import ValidationError
from engine.core.ids import AccountId, ClientOrderId

__all__ = ["closed_keys"]


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
