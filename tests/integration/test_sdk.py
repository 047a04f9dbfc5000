"""The Python SDK (clients/python) against the real engine in this process: typed results with exact
Decimals, typed errors with the engine's reason and field, API-key and password authentication with
token refresh, the sync client, and order-event streams that resume by sequence after the
connection is cut.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sdk_harness import RunningEngine, TcpProxy, running_engine

from algotrendy_sdk import (
    AlreadyExists,
    ApiKey,
    AsyncClient,
    Client,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OrderDenied,
    OrderStatus,
    Password,
    PermissionDenied,
    RateLimited,
    Role,
    Side,
    Unauthenticated,
    Unavailable,
)
from algotrendy_sdk.auth import admin_file_credentials
from algotrendy_sdk.streams import Backoff

BTC = "SIM:BTC-USD"
TRADER_PASSWORD = "trader-password-123"
#: Reconnect quickly after a cut (grpc's own reconnect backoff starts at 1 s by default).
FAST_RECONNECT = (("grpc.initial_reconnect_backoff_ms", 50), ("grpc.max_reconnect_backoff_ms", 200))


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[RunningEngine]:
    async with running_engine(tmp_path / "data") as engine:
        yield engine


@pytest.fixture
async def admin(running: RunningEngine) -> AsyncIterator[AsyncClient]:
    credentials = admin_file_credentials(running.data_dir)
    assert credentials is not None, "the engine wrote no admin-credentials.json"
    async with AsyncClient(running.target, credentials) as client:
        yield client


async def _eventually(predicate, timeout_s: float = 20.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` (sync or async) until it returns something truthy, with a deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _best_bid_ask(client: AsyncClient) -> tuple[Decimal, Decimal]:
    async def quoted():  # type: ignore[no-untyped-def]
        book = await client.order_book(BTC, 1)
        return book if book.bids and book.asks else None

    book = await _eventually(quoted, what="a two-sided book")
    return book.bids[0].price, book.asks[0].price


async def test_sdk_when_reading_then_typed_results_with_exact_decimals(admin: AsyncClient) -> None:
    status = await admin.status()
    assert status.engine_state == "RUNNING"
    assert {c.name for c in status.components} >= {"store", "grpc", "trading"}
    instruments = {i.instrument_id: i for i in await admin.instruments("SIM")}
    assert instruments[BTC].price_increment == Decimal("0.10")
    assert isinstance(instruments[BTC].taker_fee, Decimal)
    bid, ask = await _best_bid_ask(admin)
    assert isinstance(bid, Decimal) and bid < ask
    balances = await admin.balances()
    assert balances["USD"] == Decimal("1000000")
    me = await admin.whoami()
    assert (me.user, me.role, me.credential) == ("admin", Role.ADMIN, "API_KEY")


async def test_submit_when_marketable_then_filled_and_position_in_decimals(admin: AsyncClient) -> None:
    order = await admin.submit_order(BTC, Side.BUY, Decimal("0.01"), client_order_id="sdk-fill-1")
    assert order.status in (OrderStatus.SUBMITTED, OrderStatus.ACCEPTED, OrderStatus.FILLED)

    async def filled():  # type: ignore[no-untyped-def]
        current = await admin.get_order("sdk-fill-1")
        return current if current.status is OrderStatus.FILLED else None

    done = await _eventually(filled, what="the fill")
    assert done.filled_quantity == Decimal("0.01")
    assert isinstance(done.average_fill_price, Decimal)
    positions = {p.instrument_id: p for p in await admin.positions()}
    assert positions[BTC].quantity == Decimal("0.01")
    assert positions[BTC].average_entry_price == done.average_fill_price
    assert [o.client_order_id for o in await admin.list_orders(statuses=["FILLED"])] == ["sdk-fill-1"]


async def test_submit_when_float_amounts_then_refused_before_sending(admin: AsyncClient) -> None:
    with pytest.raises(TypeError, match="not float"):
        await admin.submit_order(BTC, "buy", 0.1, Decimal("65000"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not float"):
        await admin.submit_order(BTC, "buy", Decimal("0.1"), 65000.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a decimal"):
        await admin.submit_order(BTC, "buy", "1e", Decimal("65000"))
    assert await admin.list_orders() == []


async def test_errors_when_engine_refuses_then_typed_with_reason_field_and_orders(admin: AsyncClient) -> None:
    bid, _ = await _best_bid_ask(admin)
    with pytest.raises(InvalidArgument) as invalid:
        await admin.submit_order(BTC, "buy", Decimal("0.01"), bid - Decimal("0.05"))  # off the 0.10 tick
    assert invalid.value.field == "price"
    assert invalid.value.reason == "PRICE_OFF_TICK"

    with pytest.raises(OrderDenied) as denied:
        await admin.submit_order(BTC, "buy", Decimal("500"), bid, client_order_id="too-big")
    assert denied.value.reason == "RISK_MAX_ORDER_QUANTITY"
    assert denied.value.order is not None and denied.value.order.status is OrderStatus.DENIED
    assert (
        "quantity 500" in denied.value.order.detail and "maximum order quantity" in denied.value.order.detail
    )
    assert (await admin.get_order("too-big")).detail == denied.value.order.detail
    assert isinstance(denied.value, FailedPrecondition)

    # The same order again (a retry): the same answer, the denial, from the order it recorded.
    with pytest.raises(OrderDenied) as retried:
        await admin.submit_order(BTC, "buy", Decimal("500.0"), bid, client_order_id="too-big")
    assert retried.value.reason == "RISK_MAX_ORDER_QUANTITY"
    assert retried.value.order is not None and retried.value.order.client_order_id == "too-big"
    # The same id for another order: refused, with the order that holds the id.
    with pytest.raises(AlreadyExists) as again:
        await admin.submit_order(BTC, "buy", Decimal("400"), bid, client_order_id="too-big")
    assert again.value.original is not None
    assert again.value.original.client_order_id == "too-big"
    assert again.value.original.status is OrderStatus.DENIED

    with pytest.raises(NotFound):
        await admin.get_order("never-submitted")
    with pytest.raises(FailedPrecondition) as closed:
        await admin.cancel_order("too-big")
    assert not isinstance(closed.value, OrderDenied)


async def test_errors_when_credentials_wrong_or_role_too_low_then_unauthenticated_or_denied(
    running: RunningEngine, admin: AsyncClient
) -> None:
    async with AsyncClient(running.target, ApiKey("atk_not-a-real-key")) as stranger:
        with pytest.raises(Unauthenticated):
            await stranger.status()
    async with AsyncClient(running.target, None) as anonymous:
        with pytest.raises(Unauthenticated):
            await anonymous.status()
    created = await admin.create_api_key("viewer-key", role="viewer")
    async with AsyncClient(running.target, ApiKey(created.secret)) as viewer:
        assert (await viewer.status()).engine_state == "RUNNING"
        with pytest.raises(PermissionDenied):
            await viewer.halt("viewers cannot halt")
        with pytest.raises(PermissionDenied):
            await viewer.submit_order(BTC, "buy", "0.01")
    assert (await admin.risk_state()).trading_state == "ACTIVE"


async def test_unavailable_when_no_engine_listens() -> None:
    async with AsyncClient("127.0.0.1:1", ApiKey("x"), timeout_s=2) as client:
        with pytest.raises(Unavailable):
            await client.status()


async def test_api_key_when_revoked_then_refused(running: RunningEngine, admin: AsyncClient) -> None:
    created = await admin.create_api_key("ci", role=Role.TRADER)
    assert created.key.role is Role.TRADER and created.secret.startswith(created.key.prefix)
    async with AsyncClient(running.target, ApiKey(created.secret)) as ci:
        assert (await ci.whoami()).key_id == created.key.key_id
        revoked = await admin.revoke_api_key(created.key.key_id)
        assert revoked.revoked
        with pytest.raises(Unauthenticated):
            await ci.whoami()
    listed = await admin.list_api_keys(include_revoked=True)
    assert created.key.key_id in {k.key_id for k in listed if k.revoked}


async def test_password_when_access_token_near_expiry_then_refreshed_before_the_call(
    running: RunningEngine, admin: AsyncClient
) -> None:
    await admin.create_user("tina", TRADER_PASSWORD, "trader")
    now = [time.time_ns()]
    credentials = Password("tina", TRADER_PASSWORD, clock_ns=lambda: now[0])
    async with AsyncClient(running.target, credentials) as client:
        assert (await client.whoami()).credential == "ACCESS_TOKEN"
        first = credentials.session
        assert first is not None
        # The client's clock reaches the refresh margin: the next call refreshes first (rotation).
        now[0] = first.access_expires_at_ns - 1_000_000_000
        me = await client.whoami()
        second = credentials.session
        assert second is not None
        assert me.user == "tina"
        assert second.access_token != first.access_token
        assert second.refresh_token != first.refresh_token
        # The rotated-out refresh token is single-use: presenting it again is refused.
        from algotrendy.v1 import auth_pb2

        with pytest.raises(Exception) as reused:
            await client._auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token), timeout=5)
        assert "UNAUTHENTICATED" in str(reused.value)


async def test_password_when_session_revoked_then_logs_in_again_and_the_call_succeeds(
    running: RunningEngine, admin: AsyncClient
) -> None:
    await admin.create_user("rita", TRADER_PASSWORD, "trader")
    credentials = Password("rita", TRADER_PASSWORD)
    async with AsyncClient(running.target, credentials) as client:
        await client.whoami()
        first = credentials.session
        assert first is not None
        # An admin ends rita's session: her access and refresh tokens stop working at once.
        from algotrendy.v1 import auth_pb2

        await admin._unary(admin._auth, "Logout", auth_pb2.LogoutRequest(refresh_token=first.refresh_token))
        me = await client.whoami()  # UNAUTHENTICATED -> refresh refused -> login -> retried
        assert me.user == "rita"
        assert credentials.session is not None and credentials.session.access_token != first.access_token


async def test_rate_limited_when_queries_exceed_the_bucket_then_retry_after(tmp_path: Path) -> None:
    overrides = {"rate_limits.queries_per_second": 0.01, "rate_limits.queries_burst": 2}
    async with (
        running_engine(tmp_path / "data", quoted=False, **overrides) as running,
        AsyncClient(running.target, admin_file_credentials(running.data_dir)) as client,
    ):
        with pytest.raises(RateLimited) as limited:
            for _ in range(5):
                await client.balances()
    assert limited.value.retry_after > 0
    assert limited.value.retry_after_ms == int(limited.value.metadata["retry-after-ms"])


async def test_sync_client_when_used_from_a_thread_then_same_api(running: RunningEngine) -> None:
    def script() -> tuple[str, Decimal, str]:
        with Client.local(running.target, data_dir=running.data_dir) as client:
            status = client.status()
            book = client.order_book(BTC, 1)
            try:
                client.get_order("missing")
            except NotFound as exc:
                reason = exc.reason
            return status.engine_state, book.bids[0].price if book.bids else Decimal(0), reason

    state, bid, reason = await asyncio.to_thread(script)
    assert state == "RUNNING"
    assert isinstance(bid, Decimal)
    assert reason


async def _place_and_cancel(client: AsyncClient, prefix: str, count: int) -> None:
    """Resting orders below the bid, then cancel them: each produces several order events."""
    bid, _ = await _best_bid_ask(client)
    price = bid - Decimal("20.0")
    for i in range(count):
        await client.submit_order(BTC, "buy", Decimal("0.001"), price, client_order_id=f"{prefix}-{i}")
    await client.cancel_all_orders(instrument_id=BTC)


async def _head(client: AsyncClient) -> int:
    orders = await client.list_orders()
    return max(o.last_sequence for o in orders)


async def test_stream_order_events_when_connection_cut_then_resumes_without_gap_or_duplicate(
    running: RunningEngine, admin: AsyncClient
) -> None:
    proxy = TcpProxy(running.engine.grpc.port)
    await proxy.start()
    received: list = []
    credentials = admin_file_credentials(running.data_dir)
    try:
        async with AsyncClient(proxy.target, credentials, options=FAST_RECONNECT) as through_proxy:

            async def consume() -> None:
                backoff = Backoff(initial_s=0.02, max_s=0.2, max_attempts=None)
                async for event in through_proxy.stream_order_events(from_sequence=1, backoff=backoff):
                    received.append(event)

            consumer = asyncio.create_task(consume())
            await _place_and_cancel(admin, "before", 5)
            head = await _head(admin)
            await _eventually(lambda: received and received[-1].sequence >= head, what="the first events")

            # Break the connection; while the client cannot reconnect, more events happen.
            proxy.refusing = True
            assert proxy.cut() >= 1
            await _place_and_cancel(admin, "during", 5)
            await asyncio.sleep(0.3)
            proxy.refusing = False
            await _place_and_cancel(admin, "after", 5)
            head = await _head(admin)
            await _eventually(lambda: received and received[-1].sequence >= head, what="the resumed events")
            consumer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await consumer
    finally:
        await proxy.close()

    assert proxy.accepted >= 2, "the stream never reconnected"
    sequences = [e.sequence for e in received]
    assert sequences == list(range(1, head + 1)), "a gap or a duplicate after the reconnect"
    # Exactly what an unbroken reader of the journal gets.
    replay = []
    async for event in admin.stream_order_events(from_sequence=1):
        replay.append(event)
        if event.sequence >= head:
            break
    assert replay == received[: len(replay)]
    kinds = {e.kind for e in received if e.client_order_id.startswith("during-")}
    assert {"INITIALIZED", "CANCELED"} <= kinds


async def test_stream_market_data_when_subscribed_then_bbo_and_trades_in_decimals(admin: AsyncClient) -> None:
    from algotrendy_sdk.types import BestBidOffer, Trade

    seen: dict[type, object] = {}
    async for batch in admin.stream_market_data([BTC], ["bbo", "trades"]):
        for event in batch.events:
            seen.setdefault(type(event), event)
        if BestBidOffer in seen and Trade in seen:
            break
    bbo, trade = seen[BestBidOffer], seen[Trade]
    assert isinstance(bbo, BestBidOffer) and isinstance(trade, Trade)
    assert bbo.instrument_id == BTC and bbo.bid_price is not None and bbo.ask_price is not None
    assert bbo.bid_price < bbo.ask_price
    assert isinstance(trade.price, Decimal) and trade.size > 0


async def test_tls_when_engine_serves_a_certificate_then_sdk_connects_with_the_ca(tmp_path: Path) -> None:
    import trustme

    from algotrendy_sdk import TlsConfig

    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    client_cert = ca.issue_cert("sdk-client")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    client_cert.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    client_cert.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    overrides = {
        "tls.cert_file": str(tmp_path / "server.pem"),
        "tls.key_file": str(tmp_path / "server.key"),
        "tls.client_ca_file": str(tmp_path / "ca.pem"),  # mutual TLS
    }
    async with running_engine(tmp_path / "data", quoted=False, **overrides) as running:
        key = admin_file_credentials(running.data_dir)
        tls = TlsConfig.from_files(
            ca=tmp_path / "ca.pem",
            cert=tmp_path / "client.pem",
            key=tmp_path / "client.key",
            server_name="localhost",
        )
        async with AsyncClient(running.target, key, tls=tls) as client:
            assert (await client.status()).engine_state == "RUNNING"
        # Without a client certificate the handshake fails: the engine is unreachable to us.
        no_cert = TlsConfig.from_files(ca=tmp_path / "ca.pem", server_name="localhost")
        async with AsyncClient(running.target, key, tls=no_cert, timeout_s=3) as client:
            with pytest.raises(Unavailable):
                await client.status()
        # Plaintext to a TLS port fails the same way.
        async with AsyncClient(running.target, key, timeout_s=3) as client:
            with pytest.raises(Unavailable):
                await client.status()


async def test_streams_when_engine_restarts_then_resume_from_the_journal_exactly(tmp_path: Path) -> None:
    """The engine goes away mid-stream and comes back on the same port: order events and position
    updates continue from the last sequence each stream saw, read back from the journal."""
    data_dir = tmp_path / "data"
    orders: list = []
    fills: list = []
    async with running_engine(data_dir) as first:
        port = first.engine.grpc.port
        credentials = admin_file_credentials(data_dir)
        client = AsyncClient(first.target, credentials, options=FAST_RECONNECT)
        backoff = dict(initial_s=0.05, max_s=0.3, max_attempts=None)

        async def consume_orders() -> None:
            async for event in client.stream_order_events(from_sequence=1, backoff=Backoff(**backoff)):
                orders.append(event)

        async def consume_positions() -> None:
            async for update in client.stream_positions(from_sequence=1, backoff=Backoff(**backoff)):
                fills.append(update)

        tasks = [asyncio.create_task(consume_orders()), asyncio.create_task(consume_positions())]
        for i in range(3):
            await client.submit_order(BTC, "buy", Decimal("0.001"), client_order_id=f"pre-{i}")
        head = await _head(client)
        await _eventually(lambda: orders and orders[-1].sequence >= head, what="events before the restart")
    # Down: both streams are now reconnecting with backoff.
    async with running_engine(data_dir, **{"grpc.port": port}) as second:
        async with AsyncClient(second.target, credentials) as admin:
            for i in range(3):
                await admin.submit_order(BTC, "sell", Decimal("0.001"), client_order_id=f"post-{i}")

            async def all_filled() -> bool:
                listed = await admin.list_orders(statuses=["FILLED"])
                return len(listed) == 6

            await _eventually(all_filled, what="six fills")
            head = await _head(admin)
            await _eventually(lambda: orders and orders[-1].sequence >= head, what="events after the restart")
            n_fills = sum(1 for e in orders if e.kind == "FILLED")
            await _eventually(lambda: len(fills) == n_fills, what="a position update per fill")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()

    assert [e.sequence for e in orders] == list(range(1, head + 1))
    in_order = list(dict.fromkeys(u.client_order_id for u in fills))
    assert in_order == [f"pre-{i}" for i in range(3)] + [f"post-{i}" for i in range(3)]
    # One update per fill, at the fill's own order-event sequence: ascending, no duplicate, no gap.
    assert [u.sequence for u in fills] == [e.sequence for e in orders if e.kind == "FILLED"]
    last_pre = max(i for i, u in enumerate(fills) if u.client_order_id.startswith("pre-"))
    assert fills[last_pre].position.quantity == Decimal("0.003")
    assert fills[-1].position.quantity == Decimal("0")


async def test_stream_when_consumer_too_slow_then_closed_and_resumed_with_every_event(tmp_path: Path) -> None:
    """The engine closes an order-event subscriber whose queue is full (RESOURCE_EXHAUSTED,
    SLOW_CONSUMER); the SDK reopens it where the engine says it stopped and loses nothing."""
    overrides = {
        "streams.order_queue_max": 5,
        "risk.strategy_max_orders_per_second": 100_000,
        "risk.strategy_order_burst": 100_000,
        "risk.max_orders_per_second": 100_000,
        "risk.order_burst": 100_000,
    }
    async with running_engine(tmp_path / "data", **overrides) as running:
        credentials = admin_file_credentials(running.data_dir)
        # No BDP probing: the receive window stays at 64 KiB instead of growing to megabytes, so a
        # consumer that stops reading backs up into the engine's bounded queue soon.
        async with AsyncClient(running.target, credentials, options=(("grpc.http2.bdp_probe", 0),)) as client:
            reconnects: list = []
            received: list = []
            reading = asyncio.Event()
            reading.set()

            async def consume() -> None:
                async for event in client.stream_order_events(
                    from_sequence=1,
                    backoff=Backoff(initial_s=0.02, max_s=0.2, max_attempts=None),
                    on_reconnect=lambda start, error: reconnects.append((start, error)),
                ):
                    received.append(event)
                    await reading.wait()

            consumer = asyncio.create_task(consume())
            await client.submit_order(BTC, "buy", Decimal("0.001"), client_order_id="slow-0")
            await _eventually(lambda: received, what="the first event")
            reading.clear()  # the consumer stops reading while the engine keeps publishing
            for chunk in range(10):
                await asyncio.gather(
                    *(
                        client.submit_order(BTC, "buy", Decimal("0.001"), client_order_id=f"slow-{chunk}-{i}")
                        for i in range(50)
                    )
                )
            head = await _head(client)
            reading.set()
            await _eventually(lambda: received[-1].sequence >= head, timeout_s=60, what="every event")
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)

    assert [e.sequence for e in received] == list(range(1, head + 1))
    assert reconnects, "the engine never closed the slow consumer"
    start, error = reconnects[0]
    assert isinstance(error, RateLimited) and error.reason == "SLOW_CONSUMER"
    assert 1 < start <= head


async def test_live_only_stream_when_cut_after_a_heartbeat_then_events_of_the_outage_arrive(
    tmp_path: Path,
) -> None:
    """A live-only subscription (from_sequence 0) that has seen no event yet still has a resume
    point after its first heartbeat: nothing published while it was disconnected is lost."""
    async with running_engine(tmp_path / "data", **{"streams.heartbeat_interval_ms": 50}) as running:
        credentials = admin_file_credentials(running.data_dir)
        proxy = TcpProxy(running.engine.grpc.port)
        await proxy.start()
        received: list = []
        reconnects: list = []
        try:
            async with (
                AsyncClient(running.target, credentials) as admin,
                AsyncClient(proxy.target, credentials, options=FAST_RECONNECT) as client,
            ):
                await admin.submit_order(BTC, "buy", Decimal("0.001"), client_order_id="before-subscribing")

                async def settled() -> bool:
                    return (await admin.get_order("before-subscribing")).is_terminal

                await _eventually(settled, what="the first order to settle")
                before = await _head(admin)

                async def consume() -> None:
                    async for event in client.stream_order_events(
                        backoff=Backoff(initial_s=0.02, max_s=0.2, max_attempts=None),
                        on_reconnect=lambda start, error: reconnects.append(start),
                    ):
                        received.append(event)

                consumer = asyncio.create_task(consume())
                await asyncio.sleep(0.5)  # several heartbeats
                proxy.refusing = True
                proxy.cut()
                await admin.submit_order(BTC, "buy", Decimal("0.001"), client_order_id="during-outage")
                head = await _head(admin)
                await asyncio.sleep(0.2)
                proxy.refusing = False
                await _eventually(
                    lambda: received and received[-1].sequence >= head, what="the outage's events"
                )
                consumer.cancel()
                await asyncio.gather(consumer, return_exceptions=True)
        finally:
            await proxy.close()
    assert reconnects and reconnects[0] == before + 1
    assert [e.sequence for e in received] == list(range(before + 1, head + 1))
    assert {e.client_order_id for e in received} == {"during-outage"}


async def test_submit_when_retried_with_same_id_and_terms_then_the_first_order_comes_back(
    admin: AsyncClient,
) -> None:
    bid, _ = await _best_bid_ask(admin)
    price = bid - Decimal("100")
    first = await admin.submit_order(BTC, "buy", Decimal("0.01"), price, client_order_id="retry-1")
    # A retry after a lost answer: same id and terms (written differently), no second order.
    again = await admin.submit_order(
        BTC, "BUY", "0.010", price.quantize(Decimal("0.01")), client_order_id="retry-1", time_in_force="gtc"
    )
    assert again.client_order_id == "retry-1" and again.created_at_ns == first.created_at_ns
    assert [o.client_order_id for o in await admin.list_orders()].count("retry-1") == 1
    for other in (
        {"quantity": Decimal("0.02")},
        {"price": price - Decimal("1")},
        {"side": "sell"},
        {"time_in_force": "ioc"},
        {"post_only": True},
    ):
        terms: dict[str, Any] = {"side": "buy", "quantity": Decimal("0.01"), "price": price, **other}
        with pytest.raises(AlreadyExists) as taken:
            await admin.submit_order(
                BTC,
                terms.pop("side"),
                terms.pop("quantity"),
                terms.pop("price"),
                client_order_id="retry-1",
                **terms,
            )
        assert taken.value.original is not None and taken.value.original.created_at_ns == first.created_at_ns
