"""Checks both venues' retention tests share (SimVenue and PaperVenue keep finished orders the same
way): an order's status as the venue remembers it, the consistency of its order tables, and a
snapshot as written before retention."""

from __future__ import annotations

import json
from typing import Any

from engine.core.enums import OrderStatus
from engine.core.ids import AccountId, ClientOrderId

MAIN = AccountId("main")
FINISHED = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)


def order_status(venue: Any, coid: str, account: AccountId = MAIN) -> OrderStatus | None:
    """The status of order ``coid`` the venue remembers, or None for an order it does not know."""
    state = venue.order(account, ClientOrderId(coid))
    return None if state is None else state.status


def assert_tables_consistent(venue: Any) -> None:
    """Every remembered order is open (and live) or listed once in the retention FIFO."""
    live_keys = {(o.account, o.coid) for o in venue._live.values()}
    closed = list(venue._closed)
    assert len(closed) == len(set(closed)) <= venue._closed.retention
    assert set(venue._orders) == live_keys | set(closed)
    assert not live_keys & set(closed)
    assert all(venue._orders[k].status in FINISHED for k in closed)
    assert all(
        o.status not in FINISHED and venue._orders[(o.account, o.coid)] is o for o in venue._live.values()
    )


def as_version_1(snapshot: dict[str, Any]) -> dict[str, Any]:
    """``snapshot`` as written before retention: version 1, no ``closed_orders``."""
    old = json.loads(json.dumps(snapshot))
    old["version"] = 1
    del old["closed_orders"]
    return old
