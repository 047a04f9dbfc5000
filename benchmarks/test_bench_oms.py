"""Order manager hot paths: one venue report applied (state machine + sequence + journal append +
publish), a submit through risk, journal and the real SimVenue, and journal replay (restore).

Peer in the same run: a bare ``dict`` status update (the floor any order book of record pays).
Run: make bench PYTEST_ARGS="benchmarks/test_bench_oms.py"
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

import pytest

from engine.core.clock import TestClock
from engine.core.commands import SubmitOrder
from engine.core.enums import OrderStatus, OrderType, Side
from engine.core.events import OrderEvent, OrderUpdated
from engine.core.fixed import Price, Quantity
from engine.core.ids import AccountId, ClientOrderId, InstrumentId, StrategyId
from engine.oms import OrderManager
from engine.venues.sim import SimVenue, SimVenueConfig, default_instruments

BTC = InstrumentId("SIM:BTC-USD")
MAIN = AccountId("main")


@dataclass(frozen=True)
class _Ok:
    approved: bool = True
    reason: str = ""
    detail: str = ""


class _Risk:
    ok = _Ok()

    def check_submit(self, *_):
        return self.ok

    check_amend = check_cancel = check_submit

    def on_order_opened(self, *_) -> None:
        pass

    on_order_updated = on_order_closed = on_fill = on_trade = on_quote = on_order_opened


class _Journal:
    def __init__(self) -> None:
        self.records: list[OrderEvent] = []
        self._done: asyncio.Future[None] | None = None

    def append(self, record: OrderEvent) -> asyncio.Future[None]:
        self.records.append(record)
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            self._done.set_result(None)
        return self._done

    def commit_pending(self) -> bool:
        return True


def _manager() -> tuple[OrderManager, TestClock, SimVenue, _Journal]:
    clock = TestClock(1_700_000_000_000_000_000)
    venue = SimVenue(default_instruments(), clock, SimVenueConfig(accounts={"main": {"USD": "1000000000"}}))
    journal = _Journal()
    oms = OrderManager(
        clock=clock, venue=venue, risk=_Risk(), journal=journal, instruments=default_instruments()
    )
    venue.set_event_handler(lambda e: oms.on_order_event(e) if isinstance(e, OrderEvent) else None)
    venue.start()
    return oms, clock, venue, journal


_ids = itertools.count()


def _cmd() -> SubmitOrder:
    return SubmitOrder(
        ts_init=0,
        account_id=MAIN,
        strategy_id=StrategyId("bench"),
        client_order_id=ClientOrderId(f"o{next(_ids)}"),
        instrument_id=BTC,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Quantity("0.01"),
        price=Price("60000.0"),
    )


@pytest.mark.benchmark(group="oms submit -> durable -> SimVenue ack (one order)")
def test_bench_oms_submit_to_ack(benchmark) -> None:
    async def run() -> None:
        oms, clock, _, _ = _manager()

        async def one() -> None:
            order = await oms.submit(_cmd())
            clock.advance(1)
            assert order.status is OrderStatus.ACCEPTED

        for _ in range(50):  # warm-up
            await one()
        timings = []
        for _ in range(2000):
            t0 = time.perf_counter_ns()
            await one()
            timings.append(time.perf_counter_ns() - t0)
        timings.sort()
        benchmark.extra_info["p50_us"] = timings[len(timings) // 2] / 1e3
        benchmark.extra_info["p99_us"] = timings[len(timings) * 99 // 100] / 1e3
        print(
            f"submit->ack p50 {timings[len(timings) // 2] / 1e3:.1f} us, p99 {timings[len(timings) * 99 // 100] / 1e3:.1f} us"
        )

    benchmark.pedantic(lambda: asyncio.run(run()), rounds=1)


@pytest.mark.benchmark(group="oms apply one venue report")
def test_bench_oms_apply_report(benchmark) -> None:
    async def setup() -> tuple[OrderManager, OrderUpdated]:
        oms, clock, _, _ = _manager()
        order = await oms.submit(_cmd())
        clock.advance(1)
        return oms, OrderUpdated(
            ts_event=1,
            ts_init=1,
            account_id=MAIN,
            client_order_id=order.client_order_id,
            instrument_id=BTC,
            quantity=Quantity("0.01"),
            price=Price("60000.0"),
            trigger_price=None,
        )

    loop = asyncio.new_event_loop()
    try:
        oms, report = loop.run_until_complete(setup())
        benchmark(oms.on_order_event, report)
    finally:
        loop.close()


@pytest.mark.benchmark(group="oms apply one venue report")
def test_bench_dict_update_peer(benchmark) -> None:
    orders = {("main", "o1"): OrderStatus.ACCEPTED}

    def update() -> None:
        orders[("main", "o1")] = OrderStatus.ACCEPTED

    benchmark(update)


@pytest.mark.benchmark(group="oms restore (replay) 30k events")
def test_bench_oms_restore(benchmark) -> None:
    async def record() -> list[OrderEvent]:
        oms, clock, _, journal = _manager()
        for _ in range(10_000):
            await oms.submit(_cmd())
        clock.advance(1)
        return journal.records

    records = asyncio.run(record())
    assert len(records) == 30_000

    def replay() -> int:
        oms = OrderManager(
            clock=TestClock(0),
            venue=None,
            risk=_Risk(),
            journal=_Journal(),
            instruments=default_instruments(),
        )  # type: ignore[arg-type]
        oms.restore(records)
        return oms.sequence

    assert benchmark.pedantic(replay, rounds=3) == 30_000
