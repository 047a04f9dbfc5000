"""Order queries: filters and opaque, bounded pagination."""

from __future__ import annotations

import pytest

from engine.core.enums import OrderStatus, Side
from engine.core.errors import ValidationError


async def test_list_orders_when_filtered_and_paged_then_all_matches_once_in_creation_order(h, kit):
    for i in range(7):
        await h.oms.submit(
            kit.order(f"b{i}", Side.BUY, "0.1", "60000.0", strategy="alpha" if i % 2 else "beta")
        )
    await h.oms.submit(kit.order("e1", Side.BUY, "0.1", "3000.00", instrument=kit.ETH))
    await h.oms.submit(kit.order("m1", Side.BUY, "0.1", "60000.0", account=kit.MM))
    await h.settle()
    await h.oms.cancel(kit.cancel("b0"))
    await h.settle()

    seen, token = [], ""
    while True:
        page = h.oms.list_orders(account_id=kit.MAIN, instrument_id=kit.BTC, page_size=3, page_token=token)
        seen += [o.client_order_id for o in page.orders]
        assert len(page.orders) <= 3
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"b{i}" for i in range(7)]
    assert [o.client_order_id for o in h.oms.list_orders(strategy_id="alpha").orders] == ["b1", "b3", "b5"]
    open_main = h.oms.list_orders(account_id=kit.MAIN, open_only=True).orders
    assert "b0" not in {o.client_order_id for o in open_main} and len(open_main) == 7
    canceled = h.oms.list_orders(statuses={OrderStatus.CANCELED}).orders
    assert [o.client_order_id for o in canceled] == ["b0"]


@pytest.mark.parametrize("size", [0, 1001, -1])
def test_list_orders_when_page_size_out_of_bounds_then_validation_error(h, size):
    with pytest.raises(ValidationError) as err:
        h.oms.list_orders(page_size=size)
    assert err.value.field == "page_size"


def test_list_orders_when_token_forged_then_validation_error(h):
    with pytest.raises(ValidationError) as err:
        h.oms.list_orders(page_token="not-a-token")
    assert err.value.field == "page_token"


async def test_list_orders_when_newest_first_then_pages_walk_back_and_tokens_keep_their_direction(h, kit):
    assert h.oms.list_orders(newest_first=True).orders == []
    for i in range(5):
        await h.oms.submit(
            kit.order(f"n{i}", Side.BUY, "0.1", "60000.0", strategy="alpha" if i % 2 else "beta")
        )
    await h.oms.submit(kit.order("e1", Side.BUY, "0.1", "3000.00", instrument=kit.ETH))
    await h.settle()

    seen, token = [], ""
    while True:
        page = h.oms.list_orders(instrument_id=kit.BTC, page_size=2, page_token=token, newest_first=True)
        seen.append([o.client_order_id for o in page.orders])
        token = page.next_page_token
        if not token:
            break
    assert seen == [["n4", "n3"], ["n2", "n1"], ["n0"]]
    latest_beta = h.oms.list_orders(strategy_id="beta", page_size=1, newest_first=True)
    assert [o.client_order_id for o in latest_beta.orders] == ["n4"]

    forward = h.oms.list_orders(page_size=2).next_page_token
    backward = h.oms.list_orders(page_size=2, newest_first=True).next_page_token
    for token, newest_first in ((forward, True), (backward, False)):
        with pytest.raises(ValidationError) as err:
            h.oms.list_orders(page_size=2, page_token=token, newest_first=newest_first)
        assert err.value.field == "page_token"


async def test_open_orders_when_many_ended_then_paged_listing_cancel_all_and_restore_agree(kit):
    """Open-order queries walk only the orders not ended yet; they answer exactly what a filter
    over every order answers, in both directions, across pages, and after a restore."""
    from engine.core.commands import CancelAllOrders
    from engine.core.fixed import Quantity
    from engine.oms import OrderManager
    from engine.venues.sim import default_instruments

    h = kit.make(max_quantity=Quantity("100"))
    for i in range(12):
        await h.oms.submit(kit.order(f"r{i}", Side.BUY, "0.1", "60000.0"))  # resting
    await h.oms.submit(kit.order("big", Side.BUY, "5000", "60000.0"))  # denied: ends at once
    await h.settle()
    for i in (0, 3, 4, 7, 11):
        await h.oms.cancel(kit.cancel(f"r{i}"))
    await h.settle()

    def paged(oms: OrderManager, newest_first: bool) -> list[str]:
        seen, token = [], ""
        while True:
            page = oms.list_orders(open_only=True, page_size=2, page_token=token, newest_first=newest_first)
            seen += [str(o.client_order_id) for o in page.orders]
            token = page.next_page_token
            if not token:
                return seen

    assert h.oms.get(kit.MAIN, "big").status is OrderStatus.DENIED
    expected = [str(o.client_order_id) for o in h.oms.orders() if o.is_open]
    assert expected == [f"r{i}" for i in (1, 2, 5, 6, 8, 9, 10)]
    assert paged(h.oms, False) == expected and paged(h.oms, True) == expected[::-1]

    restored = OrderManager(
        clock=h.clock,
        venue=h.port,
        risk=kit.RuleRisk(),
        journal=kit.MemoryJournal(),
        instruments=default_instruments(),
    )
    restored.restore(h.journal.records)
    assert paged(restored, False) == expected and paged(restored, True) == expected[::-1]

    canceled = await h.oms.cancel_all(CancelAllOrders(ts_init=0, account_id=kit.MAIN))
    assert sorted(str(o.client_order_id) for o in canceled) == sorted(expected)
    await h.settle()
    assert paged(h.oms, False) == [] and h.oms.list_orders(open_only=True, newest_first=True).orders == []
