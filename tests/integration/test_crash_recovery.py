"""Kill -9 at random moments while a client trades; after every restart nothing acknowledged is lost.

A real engine subprocess (simulated venue + agent-based market) takes concurrent SubmitOrder /
AmendOrder / CancelOrder calls over gRPC and is killed with SIGKILL mid-flow, over and over, once
with each store durability: ``sync`` (the default: fsync'ed commits on the writer thread) and
``async`` (commits on the loop into the writable map, ``store.writemap``). After each restart, on the
same data directory:

* every order acknowledged to the client exists, in that state or a later one, never with less
  filled than acknowledged;
* positions equal the sum of the journalled fills, and the portfolio's balances equal the
  venue's own durable ledger (checked once our orders are all canceled, so nothing moves);
* the hash-chained audit log verifies;
* no client order id reached the venue more than once (the venue counts receipts durably).
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from engine_process import ALGOTRENDY, EngineProcess, clean_env

from algotrendy.v1 import (
    common_pb2,
    marketdata_pb2,
    marketdata_pb2_grpc,
    orders_pb2,
    orders_pb2_grpc,
    portfolio_pb2,
    portfolio_pb2_grpc,
)
from engine.app.durable_venue import rebuild
from engine.app.trading import register_codec
from engine.core.clock import TestClock
from engine.core.enums import Side
from engine.core.events import OrderFilled
from engine.core.ids import AccountId
from engine.store.codec import CODEC
from engine.store.journal import JOURNAL_DB
from engine.store.offline import open_readonly
from engine.store.state import STATE_DB, _key_bytes, _table_prefix
from engine.venues.sim import SimVenue, default_instruments

pytestmark = pytest.mark.slow

CYCLES = 10
#: GetOrder calls in flight at once when every acknowledged order is checked after a restart.
LOOKUPS_IN_FLIGHT = 32
ACCOUNT = "main"
INSTRUMENT = "SIM:BTC-USD"
TICK = Decimal("0.10")
S = common_pb2
TERMINAL = {
    S.ORDER_STATUS_FILLED,
    S.ORDER_STATUS_CANCELED,
    S.ORDER_STATUS_EXPIRED,
    S.ORDER_STATUS_REJECTED,
    S.ORDER_STATUS_DENIED,
}
#: How far along its life an order is; a restart may only move an order forward.
RANK = {
    S.ORDER_STATUS_SUBMITTED: 1,
    S.ORDER_STATUS_ACCEPTED: 2,
    S.ORDER_STATUS_PENDING_UPDATE: 2,
    S.ORDER_STATUS_PENDING_CANCEL: 2,
    S.ORDER_STATUS_PARTIALLY_FILLED: 3,
    **dict.fromkeys(TERMINAL, 4),
}


class Acknowledged:
    """What the engine told the client, per client order id: the best-known status and fill."""

    def __init__(self) -> None:
        self.orders: dict[str, orders_pb2.Order] = {}

    def record(self, order: orders_pb2.Order) -> None:
        known = self.orders.get(order.client_order_id)
        if known is None or _progress(order) >= _progress(known):
            self.orders[order.client_order_id] = order


def _progress(order: orders_pb2.Order) -> tuple[int, Decimal]:
    return RANK[order.status], Decimal(order.filled_quantity.value or "0")


async def _mid(channel: grpc.aio.Channel) -> Decimal:
    """The simulated mid; right after a fresh start the simulator needs a few steps to quote."""
    stub = marketdata_pb2_grpc.MarketDataServiceStub(channel)
    for _ in range(200):
        book = await stub.GetOrderBook(
            marketdata_pb2.GetOrderBookRequest(instrument_id=INSTRUMENT, depth=1), timeout=5
        )
        if book.bids and book.asks:
            return (Decimal(book.bids[0].price.value) + Decimal(book.asks[0].price.value)) / 2
        await asyncio.sleep(0.02)
    raise AssertionError("the simulated market never quoted both sides")


async def _trader(
    channel: grpc.aio.Channel, worker: int, cycle: int, acked: Acknowledged, rng: random.Random
) -> None:
    """Submit limit orders around the mid (some marketable), amend and cancel some of them."""
    stub = orders_pb2_grpc.OrderServiceStub(channel)
    n = 0
    while True:
        n += 1
        mid = await _mid(channel)
        side = rng.choice((S.SIDE_BUY, S.SIDE_SELL))
        offset = rng.randint(-3, 12) * TICK  # negative offsets cross the spread and fill
        price = (mid - offset if side == S.SIDE_BUY else mid + offset).quantize(TICK)
        coid = f"c{cycle}-w{worker}-{n}"
        try:
            response = await stub.SubmitOrder(
                orders_pb2.SubmitOrderRequest(
                    account_id=ACCOUNT,
                    client_order_id=coid,
                    instrument_id=INSTRUMENT,
                    side=side,
                    order_type=S.ORDER_TYPE_LIMIT,
                    quantity=S.Decimal(value=str(rng.choice(("0.01", "0.02", "0.05")))),
                    price=S.Decimal(value=str(price)),
                    time_in_force=S.TIME_IN_FORCE_GTC,
                ),
                timeout=5,
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.CANCELLED,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            ):
                return  # the engine died under us
            continue  # a risk denial or throttle is an answer, not an acknowledgement of an order
        acked.record(response.order)
        action = rng.random()
        try:
            if action < 0.3:
                amended = await stub.AmendOrder(
                    orders_pb2.AmendOrderRequest(
                        account_id=ACCOUNT,
                        client_order_id=coid,
                        price=S.Decimal(
                            value=str((price - TICK if side == S.SIDE_BUY else price + TICK).quantize(TICK))
                        ),
                    ),
                    timeout=5,
                )
                acked.record(amended.order)
            elif action < 0.6:
                canceled = await stub.CancelOrder(
                    orders_pb2.CancelOrderRequest(account_id=ACCOUNT, client_order_id=coid), timeout=5
                )
                acked.record(canceled.order)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.CANCELLED,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            ):
                return


async def _trade_then_kill(
    engine: EngineProcess, cycle: int, acked: Acknowledged, rng: random.Random
) -> None:
    async with engine.aio_channel() as channel:
        traders = [asyncio.create_task(_trader(channel, w, cycle, acked, rng)) for w in range(4)]
        await asyncio.sleep(rng.uniform(0.4, 1.5))
        engine.proc.send_signal(signal.SIGKILL)  # mid-flow: requests are in flight right now
        await asyncio.to_thread(engine.proc.wait, 10)
        await asyncio.wait_for(asyncio.gather(*traders, return_exceptions=True), 15)


async def _verify_after_restart(engine: EngineProcess, data_dir: Path, acked: Acknowledged) -> None:
    async with engine.aio_channel() as channel:
        orders = orders_pb2_grpc.OrderServiceStub(channel)
        in_flight = asyncio.Semaphore(LOOKUPS_IN_FLIGHT)

        async def check(coid: str, before: orders_pb2.Order) -> None:
            async with in_flight:
                now = (
                    await orders.GetOrder(
                        orders_pb2.GetOrderRequest(account_id=ACCOUNT, client_order_id=coid), timeout=5
                    )
                ).order
            assert _progress(now) >= _progress(before), f"{coid} went back: {before.status} -> {now.status}"
            if before.status in TERMINAL:
                assert now.status == before.status, f"{coid} left its terminal state"

        # Every acknowledged order (hundreds by the last cycle), looked up concurrently.
        await asyncio.gather(*(check(coid, before) for coid, before in acked.orders.items()))

        # Quiesce our side: cancel everything, wait until nothing of ours is open, then compare.
        await orders.CancelAllOrders(orders_pb2.CancelAllOrdersRequest(account_id=ACCOUNT), timeout=5)
        for _ in range(200):
            page = await orders.ListOrders(
                orders_pb2.ListOrdersRequest(account_id=ACCOUNT, open_only=True, page_size=1000), timeout=5
            )
            if not page.orders:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(
                f"orders still open after CancelAllOrders: {[o.client_order_id for o in page.orders]}"
            )
        await asyncio.sleep(0.3)  # the venue's input log is durable before each report; margin
        portfolio = portfolio_pb2_grpc.PortfolioServiceStub(channel)
        positions = await portfolio.ListPositions(
            portfolio_pb2.ListPositionsRequest(account_id=ACCOUNT), timeout=5
        )
        balances = await portfolio.GetBalances(
            portfolio_pb2.GetBalancesRequest(account_id=ACCOUNT), timeout=5
        )

    # The audit chain is verified by the CLI in its own process while this one reads the store.
    audit_run = asyncio.create_task(
        asyncio.to_thread(
            subprocess.run,
            [ALGOTRENDY, "audit", "verify", "--data-dir", str(data_dir), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
            check=False,
        )
    )
    try:
        journal_position, venue_balances, received = await asyncio.to_thread(_read_store, data_dir)
    finally:
        audit = await audit_run
    reported = {
        p.instrument_id: Decimal(p.quantity.value) for p in positions.positions if Decimal(p.quantity.value)
    }
    assert reported == {k: v for k, v in journal_position.items() if v}, (
        "positions differ from the journalled fills"
    )
    ours = {b.asset: Decimal(b.total.value) for b in balances.balances}
    assert {k: v for k, v in ours.items() if v} == {k: v for k, v in venue_balances.items() if v}, (
        "the portfolio's balances differ from the venue's ledger"
    )
    twice = {coid: n for coid, n in received.items() if n != 1}
    assert not twice, f"client order ids that reached the venue more than once: {twice}"
    assert audit.returncode == 0, audit.stdout + audit.stderr


def _read_store(data_dir: Path) -> tuple[dict[str, Decimal], dict[str, Decimal], dict[str, int]]:
    """From another process, read-only: net position per instrument from the journalled fills,
    the venue's durable balances of our account, and its durable receipt counts."""
    register_codec()
    position: dict[str, Decimal] = {}
    with open_readonly(data_dir) as env:
        with env.begin(db=env.open_db(JOURNAL_DB, create=False)) as txn:
            for _, value in txn.cursor():
                record = CODEC.decode(value)
                if isinstance(record, OrderFilled) and record.account_id == ACCOUNT:
                    sign = 1 if record.side is Side.BUY else -1
                    key = str(record.instrument_id)
                    position[key] = position.get(key, Decimal(0)) + sign * record.last_quantity.as_decimal()
        with env.begin(db=env.open_db(STATE_DB, create=False)) as txn:
            saved = CODEC.decode(txn.get(_key_bytes("sim_venue", "state")))
            prefix = _table_prefix("sim_venue_log")
            log = []
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not key.startswith(prefix):
                        break
                    log.append((key[len(prefix) :].decode(), CODEC.decode(value)))
    # The venue's durable state is its snapshot plus the inputs logged after it, replayed.
    venue = SimVenue(default_instruments(), TestClock(0))
    rebuilt = rebuild(venue, saved, log)
    balances = {asset: money.as_decimal() for asset, money in venue.balances(AccountId(ACCOUNT)).items()}
    return position, balances, rebuilt.received


@pytest.mark.parametrize("durability", ["sync", "async"])
async def test_engine_when_killed_repeatedly_mid_flow_then_nothing_acknowledged_is_lost(
    tmp_path: Path, durability: str
) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(20261121)
    acked = Acknowledged()
    journalled = 0
    for cycle in range(CYCLES):
        engine = EngineProcess(data_dir, "--set", "sim.step_ms=20", "--set", f"store.durability={durability}")
        try:
            await asyncio.to_thread(engine.wait_started, 60)
            restored = engine.event("trading.started")["recovered_events"]
            if cycle:
                # Every cycle's trading left durable events behind: the kill really came mid-flow.
                assert restored > journalled, f"cycle {cycle - 1} journalled nothing"
                await _verify_after_restart(engine, data_dir, acked)
            journalled = restored
            before = len(acked.orders)
            await _trade_then_kill(engine, cycle, acked, rng)
            assert len(acked.orders) > before, f"cycle {cycle}: no order was acknowledged before the kill"
        finally:
            engine.kill()
    assert len(acked.orders) > 50, "the load never got going"
    assert any(
        o.status == S.ORDER_STATUS_FILLED or Decimal(o.filled_quantity.value or "0")
        for o in acked.orders.values()
    )
    final = EngineProcess(data_dir, "--set", "sim.step_ms=20", "--set", f"store.durability={durability}")
    try:
        await asyncio.to_thread(final.wait_started, 60)
        await _verify_after_restart(final, data_dir, acked)
        assert await asyncio.to_thread(final.stop) == 0
    finally:
        final.kill()
