"""OCO, bracket and trailing-stop orders driven by real venue fills and market data."""

from __future__ import annotations

from engine.core.enums import OrderStatus, OrderType, Side
from engine.core.events import QuoteTick, TradeTick
from engine.core.fixed import Price, Quantity
from engine.core.ids import ClientOrderId, TradeId
from engine.oms.contingency import trailing_trigger_ticks
from engine.venues.sim import default_instruments


def get(h, kit, coid):
    return h.oms.get(kit.MAIN, ClientOrderId(coid))


async def test_oco_when_one_fills_then_other_canceled(h, kit):
    first = kit.order("tp", Side.SELL, "0.5", "66000.0")
    second = kit.order("sl", Side.SELL, "0.5", order_type=OrderType.STOP_MARKET, trigger="64000.0")
    a, b = await h.oms.submit_oco(first, second)
    await h.settle()
    assert (a.status, b.status) == (OrderStatus.ACCEPTED, OrderStatus.ACCEPTED)
    h.market(kit.order("t1", Side.BUY, "0.5", account=kit.TK))
    await h.settle()
    assert a.status is OrderStatus.FILLED
    assert b.status is OrderStatus.CANCELED
    assert h.venue.order(kit.MAIN, ClientOrderId("sl")).status is OrderStatus.CANCELED


async def test_oco_when_one_canceled_then_other_canceled(h, kit):
    a, b = await h.oms.submit_oco(
        kit.order("a", Side.BUY, "0.1", "60000.0"), kit.order("b", Side.SELL, "0.1", "70000.0")
    )
    await h.settle()
    await h.oms.cancel(kit.cancel("a"))
    await h.settle()
    assert (a.status, b.status) == (OrderStatus.CANCELED, OrderStatus.CANCELED)
    assert h.oms.order_list(kit.MAIN, ClientOrderId("b")).list_id == "a"


async def _bracket(h, kit, qty="1.0"):
    entry = await h.oms.submit_bracket(
        kit.order("entry", Side.BUY, qty, "65000.0"),
        kit.order("tp", Side.SELL, qty, "67000.0"),
        kit.order("sl", Side.SELL, qty, order_type=OrderType.STOP_MARKET, trigger="63000.0"),
    )
    await h.settle()
    return entry


async def test_bracket_when_entry_not_filled_then_children_not_released(h, kit):
    entry = await _bracket(h, kit)
    assert entry.status is OrderStatus.ACCEPTED
    assert h.oms.find(kit.MAIN, ClientOrderId("tp")) is None
    assert [c.client_order_id for c in h.port.sent] == ["entry"]


async def test_bracket_when_entry_fills_in_parts_then_children_follow_the_fills(h, kit):
    entry = await _bracket(h, kit)
    h.market(kit.order("t1", Side.SELL, "0.3", account=kit.TK))
    await h.settle()
    tp, sl = get(h, kit, "tp"), get(h, kit, "sl")
    assert entry.filled_quantity == Quantity("0.3")
    assert (tp.status, tp.quantity) == (OrderStatus.ACCEPTED, Quantity("0.3"))
    assert (sl.status, sl.quantity) == (OrderStatus.ACCEPTED, Quantity("0.3"))
    h.market(kit.order("t2", Side.SELL, "0.7", account=kit.TK))
    await h.settle()
    assert entry.status is OrderStatus.FILLED
    assert (tp.quantity, sl.quantity) == (Quantity("1.0"), Quantity("1.0"))
    assert h.venue.order(kit.MAIN, ClientOrderId("tp")).quantity == Quantity("1.0")


async def test_bracket_when_take_profit_fills_then_stop_loss_canceled(h, kit):
    await _bracket(h, kit)
    h.market(kit.order("t1", Side.SELL, "1.0", account=kit.TK))
    await h.settle()
    h.market(kit.order("t2", Side.BUY, "0.4", account=kit.TK))
    await h.settle()
    tp, sl = get(h, kit, "tp"), get(h, kit, "sl")
    assert tp.status is OrderStatus.PARTIALLY_FILLED
    assert (sl.status, sl.quantity) == (OrderStatus.ACCEPTED, Quantity("0.6"))  # resized to the rest
    h.market(kit.order("t3", Side.BUY, "0.6", account=kit.TK))
    await h.settle()
    assert tp.status is OrderStatus.FILLED
    assert sl.status is OrderStatus.CANCELED


async def test_bracket_when_stop_loss_canceled_then_take_profit_and_entry_canceled(h, kit):
    entry = await _bracket(h, kit)
    h.market(kit.order("t1", Side.SELL, "0.5", account=kit.TK))
    await h.settle()
    await h.oms.cancel(kit.cancel("sl"))
    await h.settle()
    assert get(h, kit, "sl").status is OrderStatus.CANCELED
    assert get(h, kit, "tp").status is OrderStatus.CANCELED
    assert entry.status is OrderStatus.CANCELED
    assert entry.filled_quantity == Quantity("0.5")


async def test_trailing_stop_when_price_rises_then_trigger_follows_and_never_loosens(h, kit):
    stop = await h.oms.submit_trailing_stop(
        kit.order("trail", Side.SELL, "0.5", order_type=OrderType.STOP_MARKET, trigger="64000.0"),
        offset_ticks=100,
    )
    await h.settle()

    def trade(price: str, n: int) -> None:
        h.oms.on_trade(
            TradeTick(
                ts_event=h.clock.timestamp_ns(),
                ts_init=h.clock.timestamp_ns(),
                instrument_id=kit.BTC,
                price=Price(price),
                size=Quantity("0.1"),
                aggressor_side=Side.BUY,
                trade_id=TradeId(f"x{n}"),
            )
        )

    trade("65000.0", 1)
    await h.settle()
    assert stop.trigger_price == Price("64990.0")  # 100 ticks of 0.10 below
    assert h.venue.order(kit.MAIN, ClientOrderId("trail")).trigger_price == Price("64990.0")
    trade("64500.0", 2)  # falling: the stop stays
    await h.settle()
    assert stop.trigger_price == Price("64990.0")
    h.oms.on_quote(
        QuoteTick(
            ts_event=h.clock.timestamp_ns(),
            ts_init=h.clock.timestamp_ns(),
            instrument_id=kit.BTC,
            bid_price=Price("65100.0"),
            bid_size=Quantity("1"),
            ask_price=Price("65101.0"),
            ask_size=Quantity("1"),
        )
    )
    await h.settle()
    assert stop.trigger_price == Price("65090.0")
    assert stop.status is OrderStatus.ACCEPTED
    assert h.risk.trades == 2 and h.risk.quotes == 1


def test_trailing_trigger_when_bps_offset_then_rounded_away_from_the_price():
    btc = default_instruments()[0]
    assert trailing_trigger_ticks(Side.SELL, btc, Price("65000.0"), offset_ticks=0, offset_bps=10) == 649350
    assert trailing_trigger_ticks(Side.BUY, btc, Price("65000.0"), offset_ticks=0, offset_bps=10) == 650650
    # a mid with an extra digit: sell rounds down, buy rounds up
    assert trailing_trigger_ticks(Side.SELL, btc, Price("65000.05"), offset_ticks=1, offset_bps=0) == 649999
    assert trailing_trigger_ticks(Side.BUY, btc, Price("65000.05"), offset_ticks=1, offset_bps=0) == 650002
