"""Stale-feed detection reaches the risk gate: the gate's market-data age is the ``ts_init`` of the last
quote the feed published. A live feed keeps orders approved; a venue that goes silent makes the gate
deny (RISK_STALE_MARKET_DATA) until the feed's watchdog reconnects and the book resyncs."""

from __future__ import annotations

from pathlib import Path

from engine.core.clock import LiveClock
from engine.core.commands import SubmitOrder
from engine.core.enums import OrderType, Side, TradingState
from engine.core.events import QuoteTick
from engine.core.fixed import Money, Quantity
from engine.core.ids import AccountId, ClientOrderId, StrategyId
from engine.risk import RiskEngine
from engine.risk.limits import AccountLimits, InstrumentLimits, StrategyLimits
from tests.mockex import venues
from tests.mockex.harness import running_feed, until

ACC = AccountId("acc")
STRAT = StrategyId("s1")
MAX_AGE_MS = 300


def _risk(instrument: object) -> RiskEngine:
    usdt = lambda v: Money(v, "USDT")  # noqa: E731
    # a 0.1 USDT tick x the book's 1e-8 BTC lot: notional in units of 1e-9 USDT
    risk = RiskEngine(quote_currency="USDT", notional_precision=9)
    risk.register_instrument(
        instrument,  # type: ignore[arg-type]
        InstrumentLimits(
            max_order_quantity=Quantity("1"),
            max_order_notional=usdt("100000"),
            max_position=Quantity("10"),
            price_band_bps=500,
            max_data_age_ms=MAX_AGE_MS,
        ),
    )
    risk.register_account(
        ACC,
        AccountLimits(
            max_gross_exposure=usdt("1000000"),
            max_net_exposure=usdt("1000000"),
            max_open_orders=100,
            max_orders_per_second=1000,
            order_burst=1000,
            max_daily_loss=usdt("100000"),
            max_drawdown=usdt("100000"),
            breach_state=TradingState.HALTED,
        ),
    )
    risk.register_strategy(STRAT, StrategyLimits(max_orders_per_second=1000, order_burst=1000))
    return risk


async def test_risk_gate_when_feed_goes_silent_then_denies_stale_data_until_resync(shared_data: Path) -> None:
    vm = venues.okx(shared_data)
    clock = LiveClock()
    async with running_feed(vm, stale_after_ms=600, quote_refresh_ms=50) as (feed, sink):
        instrument = feed.instrument_for("BTC/USDT")
        risk = _risk(instrument)
        counter = iter(range(1, 10_000))

        def check() -> str:
            best = feed.books[instrument.id].best_ask()
            assert best is not None
            cmd = SubmitOrder(
                ts_init=clock.timestamp_ns(),
                account_id=ACC,
                strategy_id=STRAT,
                client_order_id=ClientOrderId(f"c{next(counter)}"),
                instrument_id=instrument.id,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=Quantity("0.001"),
                price=best[0],
            )
            return risk.check_submit(cmd, clock.timestamp_ns()).reason

        original = sink.on_quote

        def on_quote(tick: QuoteTick) -> None:
            original(tick)
            risk.on_quote_tick(tick)  # what the engine's OMS does with every quote

        sink.on_quote = on_quote  # type: ignore[method-assign]
        await until(lambda: any(q.instrument_id == instrument.id for q in sink.quotes), what="first quote")
        assert check() == ""  # fresh data: approved
        await until(vm.mock.replay_done.is_set, what="replay")
        await until(lambda: check() == "RISK_STALE_MARKET_DATA", timeout_s=5, what="stale denial")
        connections = vm.mock.connections
        # the watchdog notices the silence, reconnects; the resubscription replays a fresh snapshot
        await until(lambda: vm.mock.connections > connections, timeout_s=5, what="reconnect")
        assert any(a.kind == "FEED_STALE" for a in sink.alerts)
        await until(lambda: check() == "", timeout_s=5, what="approved again after resync")
