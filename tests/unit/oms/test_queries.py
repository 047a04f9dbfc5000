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
