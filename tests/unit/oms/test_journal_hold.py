"""The order manager brackets a venue report with the journal's optional ``hold_commit`` /
``release_commit``: the report's record reaches the subscribers inside the bracket, so a journal that
schedules its commits schedules the report's after the subscribers had it. A submit is not
bracketed: its intent is committed (``commit_pending``) before it is sent."""

from __future__ import annotations

import asyncio
from typing import Any

from engine.core.clock import TestClock
from engine.core.enums import OrderStatus, Side
from engine.core.events import OrderEvent
from engine.oms import OrderManager
from engine.venues.sim import SimVenue, SimVenueConfig, default_instruments


def _holding_journal(base: type, log: list[str]) -> Any:
    """The tests' in-memory journal with the bracket, logging every call in order."""

    class HoldingJournal(base):  # type: ignore[misc,valid-type]
        def append(self, record: Any) -> asyncio.Future[None]:
            log.append(f"append {type(record).__name__}")
            return super().append(record)

        def commit_pending(self) -> bool:
            log.append("commit")
            return super().commit_pending()

        def hold_commit(self) -> None:
            log.append("hold")

        def release_commit(self) -> None:
            log.append("release")

    return HoldingJournal()


async def test_submit_and_report_when_the_journal_holds_commits_then_bracketed_in_order(kit) -> None:
    log: list[str] = []
    clock = TestClock(kit.START_NS)
    venue = SimVenue(default_instruments(), clock, SimVenueConfig(accounts={"main": {"USD": "10000000"}}))
    journal = _holding_journal(kit.MemoryJournal, log)
    oms = OrderManager(
        clock=clock, venue=venue, risk=kit.RuleRisk(), journal=journal, instruments=default_instruments()
    )
    venue.set_event_handler(lambda e: oms.on_order_event(e) if isinstance(e, OrderEvent) else None)
    venue.start()
    oms.subscribe(lambda e: log.append(f"subscriber {type(e).__name__}"))
    sent = venue.send

    def send(command: Any) -> None:
        log.append("send")
        sent(command)

    venue.send = send  # type: ignore[method-assign]
    order = oms.submit_nowait(kit.order("h-1", Side.BUY, "0.5", "64000.0"))
    assert log == [
        "append OrderInitialized",
        "subscriber OrderInitialized",
        "append OrderSubmitted",
        "subscriber OrderSubmitted",
        "commit",
        "send",
    ]
    log.clear()
    clock.advance(1)  # the venue's delay line runs the order: its acknowledgement comes back
    assert order.status is OrderStatus.ACCEPTED and order.account_id == kit.MAIN
    accepted = log.index("append OrderAccepted")
    assert log[accepted - 1 : accepted + 3] == [
        "hold",
        "append OrderAccepted",
        "subscriber OrderAccepted",
        "release",
    ]
    assert [r.client_order_id for r in journal.records] == ["h-1"] * 3
    venue.stop()
