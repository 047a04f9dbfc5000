"""The durable simulated venue: an input log plus snapshots rebuilds the venue exactly (real LMDB)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.app.durable_venue import LOG_TABLE, DurableSimVenue
from engine.app.trading import register_codec
from engine.core import AccountId, ClientOrderId, InstrumentId, OrderType, Quantity, Side, StrategyId
from engine.core.clock import TestClock
from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.enums import TimeInForce
from engine.core.events import Event, OrderAccepted, OrderEvent, OrderFilled
from engine.core.fixed import Price
from engine.store import LmdbStore
from engine.store.codec import CODEC
from engine.store.persistence import Persistence
from engine.venues.sim import (
    MarketSimulator,
    MarketSimulatorConfig,
    SimVenue,
    SimVenueConfig,
    default_instruments,
)

BTC = InstrumentId("SIM:BTC-USD")
MAIN = AccountId("main")
START_NS = 1_767_225_600_000_000_000
STEP_NS = 100_000_000


def _submit(n: int, side: Side, price: str | None) -> SubmitOrder:
    return SubmitOrder(
        ts_init=START_NS,
        account_id=MAIN,
        strategy_id=StrategyId("manual"),
        client_order_id=ClientOrderId(f"o-{n}"),
        instrument_id=BTC,
        side=side,
        order_type=OrderType.MARKET if price is None else OrderType.LIMIT,
        quantity=Quantity("0.010"),
        price=None if price is None else Price(price),
        time_in_force=TimeInForce.IOC if price is None else TimeInForce.GTC,
    )


class _Run:
    """A venue with the market simulator on a test clock, made durable in a real LMDB store."""

    def __init__(
        self, path: Path, *, snapshot_every: int = 50_000, fresh: bool = True, retention: int = 10_000
    ) -> None:
        register_codec()
        self.clock = TestClock(START_NS)
        self.store = LmdbStore(path, map_size_mb=256, durability="async")
        self.store.open(self.clock.timestamp_ns())
        self.persistence = Persistence(self.store, clock=self.clock.timestamp_ns)
        self.persistence.start()
        saved = DurableSimVenue.saved_state(self.persistence.state)
        self.venue = SimVenue(
            default_instruments(),
            self.clock,
            SimVenueConfig(
                accounts={"main": {"USD": "1000000"}} if saved is None else {},
                closed_order_retention=retention,
            ),
        )
        self.delivered: list[Event] = []
        self.durable = DurableSimVenue(
            self.venue,
            self.persistence.state,
            self.persistence.writer,
            self.delivered.append,
            self.clock.timestamp_ns,
            snapshot_every=snapshot_every,
        )
        self.replayed = self.durable.restore(saved)
        self.simulator = MarketSimulator(self.venue, self.clock, MarketSimulatorConfig(seed=3))
        self.venue.start()

    async def steps(self, n: int) -> None:
        for _ in range(n):
            self.clock.advance(STEP_NS)
            self.simulator.step(self.clock.timestamp_ns())
            await asyncio.sleep(0)  # loop callbacks: deliveries, snapshots, pruning

    async def close(self, *, clean: bool) -> None:
        if clean:
            await self.durable.flush()
        await self.persistence.close()
        self.store.close(self.clock.timestamp_ns())


async def test_durable_venue_when_rebuilt_from_snapshot_and_log_then_state_is_identical(
    tmp_path: Path,
) -> None:
    run = _Run(tmp_path / "lmdb")
    await run.steps(20)
    for n, (side, price) in enumerate([(Side.BUY, "60000.0"), (Side.SELL, None), (Side.BUY, None)]):
        run.venue.send(_submit(n, side, price))
        await run.steps(5)
    run.venue.send(CancelOrder(ts_init=START_NS, account_id=MAIN, client_order_id=ClientOrderId("o-0")))
    await run.steps(20)
    expected = run.venue.snapshot()
    assert run.durable.input_sequence > 100  # the simulator's agent orders are logged inputs
    await run.close(clean=False)  # no final snapshot: everything comes back from the log

    again = _Run(tmp_path / "lmdb")
    assert again.replayed == run.durable.input_sequence
    assert again.venue.snapshot() == expected
    assert again.durable.received == {"main/o-0": 1, "main/o-1": 1, "main/o-2": 1}
    await again.close(clean=True)


async def test_durable_venue_when_reports_produced_then_their_inputs_are_durable_first(
    tmp_path: Path,
) -> None:
    run = _Run(tmp_path / "lmdb")
    await run.steps(5)
    run.venue.send(_submit(1, Side.BUY, None))
    await run.steps(1)
    reports = [e for e in run.delivered if isinstance(e, OrderEvent)]
    assert [type(e) for e in reports][:2] == [OrderAccepted, OrderFilled]
    # Delivered means durable: the committed log holds the command that produced the reports.
    writer = run.persistence.writer
    assert writer.committed_ticket == writer.enqueued_ticket
    logged = [v.command for _, v in run.persistence.state.items(LOG_TABLE) if v.command is not None]
    assert [c.client_order_id for c in logged] == ["o-1"]
    await run.close(clean=True)


async def test_durable_venue_when_snapshots_taken_then_log_is_pruned_and_restart_replays_only_the_tail(
    tmp_path: Path,
) -> None:
    run = _Run(tmp_path / "lmdb", snapshot_every=50)
    await run.steps(60)
    for _ in range(5):
        await asyncio.sleep(0)  # pruning runs a chunk per loop iteration
    await run.persistence.flush()
    remaining = [int(k) for k, _ in run.persistence.state.items(LOG_TABLE)]
    assert run.durable.snapshot_sequence > 50
    tail = run.durable.input_sequence - run.durable.snapshot_sequence
    # Only the inputs after the last snapshot are left in the log.
    assert remaining == list(range(run.durable.snapshot_sequence + 1, run.durable.input_sequence + 1))
    assert len(remaining) == tail
    expected = run.venue.snapshot()
    await run.close(clean=False)

    again = _Run(tmp_path / "lmdb", snapshot_every=50)
    assert again.replayed == tail
    assert again.venue.snapshot() == expected
    await again.close(clean=True)


async def test_durable_venue_when_a_clean_stop_left_its_log_then_restart_decodes_none_of_it_and_prunes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _Run(tmp_path / "lmdb")
    await run.steps(40)
    run.venue.send(_submit(1, Side.BUY, "60000.0"))
    await run.steps(5)
    logged = run.durable.input_sequence
    expected = run.venue.snapshot()
    await run.close(clean=True)  # the final snapshot covers everything; the writer stops unpruned

    decoded: list[bytes] = []
    decode = CODEC.decode
    monkeypatch.setattr(CODEC, "decode", lambda data: decoded.append(data) or decode(data))
    again = _Run(tmp_path / "lmdb")
    monkeypatch.undo()
    assert again.replayed == 0
    assert again.venue.snapshot() == expected
    # One decode: the snapshot document. None of the covered log entries was decoded.
    assert len(decoded) == 1
    assert again.durable.snapshot_sequence == again.durable.input_sequence == logged
    for _ in range(logged // 2_000 + 2):
        await asyncio.sleep(0)  # pruning runs a chunk per loop iteration
    await again.persistence.flush()
    assert again.persistence.state.keys(LOG_TABLE) == []
    assert again.durable.received == {"main/o-1": 1}
    await again.close(clean=True)


async def test_durable_venue_when_log_has_a_gap_then_restore_refuses(tmp_path: Path) -> None:
    run = _Run(tmp_path / "lmdb")
    await run.steps(10)
    sequence = run.durable.input_sequence
    run.persistence.state.delete(LOG_TABLE, f"{sequence - 3:016d}")
    await run.close(clean=False)
    with pytest.raises(Exception, match="input log has a gap"):
        _Run(tmp_path / "lmdb")


async def test_durable_venue_when_orders_forgotten_then_their_receipts_go_at_the_next_snapshot(
    tmp_path: Path,
) -> None:
    run = _Run(tmp_path / "lmdb", retention=2)
    await run.steps(20)
    run.venue.send(_submit(0, Side.BUY, "1000.0"))  # rests far from the market: stays open
    for n in range(1, 6):  # IOC market orders: each finishes at once
        run.venue.send(_submit(n, Side.BUY, None))
        await run.steps(1)
    run.venue.send(_submit(5, Side.BUY, None))  # o-5 again: refused, but it did reach the venue twice
    await run.steps(1)
    assert sorted(key for _, key in run.venue.order_keys()) == ["o-0", "o-4", "o-5"]
    # Until the next snapshot every receipt is still counted.
    assert run.durable.received == {f"main/o-{n}": 1 for n in range(5)} | {"main/o-5": 2}
    await run.durable.flush()  # a snapshot
    # The open order, the two most recently finished ones, and the incident, kept for good.
    expected = {"main/o-0": 1, "main/o-4": 1, "main/o-5": 2}
    assert run.durable.received == expected
    await run.close(clean=True)

    again = _Run(tmp_path / "lmdb", retention=2)
    assert again.durable.received == expected
    await again.close(clean=True)
