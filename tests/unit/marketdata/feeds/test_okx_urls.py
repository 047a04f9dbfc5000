"""OKX endpoints come from ccxt's own URL rule, so the sandbox switch reaches both connections."""

from __future__ import annotations

from engine.marketdata.feeds import Channel, FeedHandler, FeedSettings
from tests.mockex.harness import RecordingSink


async def _urls(sandbox: bool) -> tuple[str, str]:
    feed = FeedHandler(
        FeedSettings(
            venue="okx", symbols=["BTC/USDT"], channels=(Channel.BOOK, Channel.OHLCV), sandbox=sandbox
        ),
        RecordingSink(),
    )
    feed.exchange = feed._make_exchange()  # what start() builds, without connecting anywhere
    try:
        (business,) = feed.protocol.extra_streams()
        return feed.protocol.ws_url(), business.url
    finally:
        await feed.exchange.close()


async def test_okx_sandbox_when_switched_on_then_both_connections_use_the_demo_endpoints() -> None:
    public, business = await _urls(sandbox=True)
    assert public == "wss://wspap.okx.com:443/ws/v5/public?brokerId=9999"
    assert business == "wss://wspap.okx.com:443/ws/v5/business?brokerId=9999"


async def test_okx_production_when_no_sandbox_then_plain_public_endpoint() -> None:
    public, _ = await _urls(sandbox=False)
    assert public == "wss://ws.okx.com:443/ws/v5/public"
