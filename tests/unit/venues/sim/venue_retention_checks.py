"""Checks both venues' retention tests share (SimVenue and PaperVenue keep finished orders the same
way): an order's status as the venue remembers it, the consistency of its order tables, a snapshot
as written before retention and its restore, and the inconsistent snapshots both refuse."""

from __future__ import annotations

import json
from collections.abc import Callable
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


#: Edits that make a version-2 snapshot's ``closed_orders`` inconsistent, each with the words of its
#: refusal, for a venue that finished four orders around an open one named 'open'.
BAD_CLOSED_ORDERS: list[tuple[Callable[[dict[str, Any]], object], str]] = [
    (lambda s: s.pop("closed_orders"), "closed_orders is missing"),
    (lambda s: s["closed_orders"].append(["main", "open"]), "main/open, which is not a finished order"),
    (lambda s: s["closed_orders"].append(["main", "nope"]), "main/nope, which is not a finished order"),
    (lambda s: s["closed_orders"].append(s["closed_orders"][0]), "twice"),
    (lambda s: s["closed_orders"].pop(), "lists 3 finished orders, the snapshot has 4"),
    (lambda s: s["closed_orders"].append("main/x"), "is not [account, client order id]"),
    (lambda s: s.update(version=3), "unsupported version 3"),
]


def check_version_1_restore(
    source: Any, make: Callable[[int], Any], finish_ioc: Callable[[Any, str], None], middle: str
) -> Any:
    """A version-1 snapshot of ``source`` (which finished 'early' first by insertion, then 'fill',
    ``middle``, 'early' by time, 'ioc', around the open 'open') restores with its finished orders
    ordered by the time they finished, and a venue keeping fewer forgets the oldest at once.
    ``make(retention)`` builds an empty venue; ``finish_ioc(venue, coid)`` finishes one more order.
    Returns the venue that keeps 2, for the caller's own checks."""
    old = as_version_1(source.snapshot())
    assert [o["coid"] for o in old["orders"] if OrderStatus(o["status"]) in FINISHED] == [
        "early",
        "fill",
        middle,
        "ioc",
    ]
    venue = make(4)
    venue.restore(old)
    assert venue.snapshot()["closed_orders"] == [["main", c] for c in ("fill", middle, "early", "ioc")]
    for n in range(2):  # two more finish: the two that finished first go, 'early' stays
        finish_ioc(venue, f"more-{n}")
    assert [order_status(venue, c) for c in ("fill", middle)] == [None, None]
    assert [order_status(venue, c) for c in ("early", "ioc", "more-0", "more-1")] == [
        OrderStatus.CANCELED
    ] * 4
    assert order_status(venue, "open") is OrderStatus.ACCEPTED
    assert_tables_consistent(venue)

    smaller = make(2)  # more finished orders than kept: forgotten oldest first at once
    smaller.restore(as_version_1(source.snapshot()))
    assert smaller.snapshot()["closed_orders"] == [["main", "early"], ["main", "ioc"]]
    assert smaller.order(MAIN, ClientOrderId("fill")) is None
    assert order_status(smaller, "open") is OrderStatus.ACCEPTED
    assert_tables_consistent(smaller)
    return smaller
