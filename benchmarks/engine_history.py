"""A data directory with a real trading history, written by the engine itself.

``build(root, events)`` starts a ``TradingCore`` (simulated venue, market simulator, ``async``
durability) on an empty data directory and trades through its order manager until the journal holds
``events`` records, then stops it cleanly. The history is what the engine writes when it trades:

* two orders in three are market orders (IOC) that fill, buys and sells alternating, so the position
  stays small: OrderInitialized, OrderSubmitted, OrderAccepted, one OrderFilled or more;
* every third order is a limit buy resting 1% below the bid, canceled before the next order:
  OrderInitialized, OrderSubmitted, OrderAccepted, OrderPendingCancel, OrderCanceled; one in
  ``KEEP_EVERY`` stays open (and may fill later, as the market moves);
* the market simulator steps between orders (its agents replenish the book), so the venue's input
  log and snapshots grow as they do live.

About 4.3 journal records per order: a 1M-record journal is ~231,000 orders. A restart of this
directory rebuilds every order, the positions, balances and risk state from the journal and the
venue from its snapshot (``test_bench_restart.py``).

Standalone: ``.venv/bin/python benchmarks/engine_history.py DIR [EVENTS]`` (prints progress).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from engine.app.trading import MANUAL_STRATEGY, TradingCore
from engine.bus import MessageBus
from engine.config import load_config
from engine.core import ClientOrderId, InstrumentId, OrderType, Price, Quantity, Side, TimeInForce
from engine.core.clock import LiveClock
from engine.core.commands import CancelOrder, SubmitOrder
from engine.core.events import QuoteTick
from engine.store import LmdbStore
from engine.store.recovery import gc_paused

BTC = InstrumentId("SIM:BTC-USD")
#: The order-rate and open-order limits are the only ones raised: the history is written as fast as
#: the engine takes orders; every other check of the gate runs as configured by default.
OVERRIDES = {
    "risk.max_orders_per_second": 1_000_000,
    "risk.order_burst": 1_000_000,
    "risk.strategy_max_orders_per_second": 1_000_000,
    "risk.strategy_order_burst": 1_000_000,
    "risk.max_open_orders": 1_000_000,
}
#: Orders between two market-simulator steps.
STEP_EVERY = 20
#: One limit order in this many stays open (the rest are canceled): a restart has orders to
#: reconcile with the venue, as a market maker's would (~770 in a 1M-record history).
KEEP_EVERY = 300


def open_core(root: Path) -> tuple[TradingCore, LmdbStore, LiveClock, MessageBus]:
    """A trading core over the data directory ``root`` (the store opened, the core not started)."""
    config = load_config(env={}, overrides=OVERRIDES)
    clock = LiveClock()
    bus = MessageBus()
    bus.bind_to_current_thread()
    # The default map size and write mode; ``async`` durability (the history is written fast; a
    # restart only reads).
    store = LmdbStore(
        root / "lmdb",
        map_size_mb=config.store.map_size_mb,
        durability="async",
        writemap=config.store.writemap,
    )
    store.open(clock.timestamp_ns())

    def violation(exc: Exception) -> None:
        raise AssertionError(f"invariant violation while building the history: {exc}")

    return TradingCore(config, store, bus, clock, on_invariant_violation=violation), store, clock, bus


async def _trade(root: Path, events: int, progress: bool) -> int:
    core, store, clock, bus = open_core(root)
    await core.start()
    assert core.oms is not None and core.simulator is not None and core.persistence is not None
    core.simulator.stop()  # stepped here, between orders, instead of on its timer
    oms, simulator, journal = core.oms, core.simulator, core.persistence.journal
    bid: list[Price] = []

    def on_quote(quote: QuoteTick) -> None:
        bid[:] = [quote.bid_price]

    bus.subscribe(f"data.quotes.{BTC}", on_quote)
    simulator.step(clock.timestamp_ns())
    size = Quantity("0.001")
    n = 0
    started = time.perf_counter()
    while journal.last_sequence < events:
        n += 1
        coid = ClientOrderId(f"h-{n}")
        if n % 3 == 0:
            limit = Price.from_raw(bid[0].raw * 99 // 1000 * 10, bid[0].precision)  # 1% below, on the tick
            order = await oms.submit(
                _submit(clock, core, coid, Side.BUY, OrderType.LIMIT, size, limit, TimeInForce.GTC)
            )
            await oms.idle()
            if order.is_open and n % KEEP_EVERY:
                await oms.cancel(
                    CancelOrder(ts_init=clock.timestamp_ns(), account_id=core.account, client_order_id=coid)
                )
        else:
            side = Side.BUY if n % 2 else Side.SELL
            await oms.submit(_submit(clock, core, coid, side, OrderType.MARKET, size, None, TimeInForce.IOC))
        await asyncio.sleep(0)  # the loop turns between orders, as between a running engine's calls
        if n % STEP_EVERY == 0:
            simulator.step(clock.timestamp_ns())
        if progress and n % 20_000 == 0:
            rate = journal.last_sequence / (time.perf_counter() - started)
            print(f"{journal.last_sequence:>9,} records, {n:,} orders, {rate:,.0f} records/s", flush=True)
    await oms.idle()
    written = journal.last_sequence
    await core.stop()
    store.close(clock.timestamp_ns())
    return written


def _submit(
    clock: LiveClock,
    core: TradingCore,
    coid: ClientOrderId,
    side: Side,
    order_type: OrderType,
    quantity: Quantity,
    price: Price | None,
    tif: TimeInForce,
) -> SubmitOrder:
    return SubmitOrder(
        ts_init=clock.timestamp_ns(),
        account_id=core.account,
        strategy_id=MANUAL_STRATEGY,
        client_order_id=coid,
        instrument_id=BTC,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price,
        time_in_force=tif,
    )


def build(root: Path, events: int, *, progress: bool = False) -> int:
    """Trade until the journal of the data directory ``root`` holds ``events`` records (a few more:
    the last order's records); returns the number written."""
    return uvloop.run(_trade(root, events, progress))


class Restarted:
    """A trading core started on a history (``start``), as ``algotrendy serve`` starts it: the
    collector paused over the start and what it built frozen after it (``engine.app._serve``).
    The app's ``gc.collect()`` before the start finds little in a fresh process: a process that
    built or ran engines before should collect their remains first (untimed)."""

    def __init__(self, root: Path) -> None:
        self.core, self._store, self._clock, _bus = open_core(root)
        self.start_s = 0.0

    async def start(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        gc.collect()
        with gc_paused(freeze=True):
            await self.core.start()
        self.start_s = time.perf_counter() - t0
        oms = self.core.oms
        assert oms is not None
        return {
            "restart_s": self.start_s,
            "records": self.core.recovered_events,
            "orders": len(oms.orders()),
            "open_orders": sum(1 for o in oms.orders() if o.is_open),
        }

    async def stop(self) -> None:
        await self.core.stop()
        self._store.close(self._clock.timestamp_ns())
        gc.unfreeze()  # (a next start in this process begins from the same collector state)


async def restart(root: Path) -> dict[str, Any]:
    """Start a trading core on ``root`` as the app does, then stop it; the start's figures."""
    restarted = Restarted(root)
    figures = await restarted.start()
    await restarted.stop()
    return figures


if __name__ == "__main__":
    target = Path(sys.argv[1])
    written = build(target, int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000, progress=True)
    print(f"{written:,} journal records in {target}")
