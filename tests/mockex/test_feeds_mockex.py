"""Real ccxt.pro clients (our ``FeedHandler``) against local mock exchanges replaying recorded sessions.

Every venue: subscribe, build books, drop the connection mid-stream, reconnect, resync — and the
book after the drop is exactly the book of an undisturbed run, with no crossed quote on the way.
Plus: rate-limit answers followed by backoff, checksum mismatch -> resubscribe -> resync, a missing
update -> gap -> resync, the REST polling fallback, the stale-feed watchdog and the circuit breaker.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from engine.core.fixed import Price
from engine.marketdata.feeds import FeedState
from tests.mockex import venues
from tests.mockex.harness import book_ids, book_state, drained, running_feed, synced, until

VENUES = ["binance", "binanceusdm", "okx", "kraken", "coinbase", "bybit"]


async def _clean_run(shared_data: Path, venue: str) -> dict[str, object]:
    vm = venues.ALL[venue](shared_data)
    async with running_feed(vm) as (feed, _sink):
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="replay + sync")
        await until(lambda: not feed.protocol.__dict__.get("_fetching"), what="snapshot fetches")
        return book_state(feed, vm)


@pytest.mark.parametrize("venue", VENUES)
async def test_feed_when_session_replayed_then_books_built_and_never_crossed(
    shared_data: Path, venue: str
) -> None:
    vm = venues.ALL[venue](shared_data)
    async with running_feed(vm) as (feed, sink):
        await until(lambda: drained(feed, vm) and synced(feed, vm) and sink.trades, what="replay")
        stats = feed.stats
        assert feed.state is FeedState.LIVE
        assert stats.parse_errors == 0
        assert stats.checksum_mismatches == 0 and stats.gaps == 0 and stats.crossed == 0
        assert sink.crossed_quotes == 0 and sink.quotes_from_invalid_books == 0
        assert sink.trades and sink.quotes and sink.books
        ids = set(book_ids(feed, vm))
        assert ids <= {q.instrument_id for q in sink.quotes}
        for quote in sink.quotes:
            assert isinstance(quote.bid_price, Price) and quote.bid_price < quote.ask_price
            assert quote.ts_event > 1_500_000_000 * 10**9  # venue time (2017+), in ns
        for iid in ids:
            book = feed.books[iid]
            assert not book.is_crossed() and book.best_bid() is not None and book.best_ask() is not None
        # the subscription named every symbol
        subscribed = " ".join(text for _, text in vm.mock.ws_log)
        for symbol in vm.symbols:
            assert feed.instrument_for(symbol).id.symbol.lower().split("/")[0] in subscribed.lower()
        if venue in ("okx", "kraken"):
            # every applied update was checked against the venue's CRC-32 of its top levels
            assert stats.book_updates > 100


@pytest.mark.parametrize("venue", VENUES)
async def test_feed_when_connection_dropped_mid_stream_then_reconnects_and_resyncs_exactly(
    shared_data: Path, venue: str
) -> None:
    expected = await _clean_run(shared_data, venue)
    vm = venues.ALL[venue](shared_data)
    vm.mock.drop_after = len(vm.mock.ws_messages) // 2
    async with running_feed(vm) as (feed, sink):
        await until(lambda: vm.mock.connections >= 2, what="reconnect")
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="replay + resync")
        await until(lambda: not feed.protocol.__dict__.get("_fetching"), what="snapshot fetches")
        assert feed.stats.disconnects == 1 and feed.stats.connects == 2
        subscribes = [t for _, t in vm.mock.ws_log if "subscribe" in t.lower()]
        assert len(subscribes) >= 2  # resubscribed on the new connection
        assert sink.crossed_quotes == 0 and sink.quotes_from_invalid_books == 0
        assert book_state(feed, vm) == expected


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, '{"code":-1003,"msg":"Too many requests; current limit is 1200 request weight per 1 MINUTE."}'),
        (418, '{"code":-1003,"msg":"Way too many requests; IP banned until 1633998600000."}'),
    ],
)
async def test_binance_when_depth_snapshot_rate_limited_then_backs_off_and_syncs(
    shared_data: Path, status: int, body: str
) -> None:
    vm = venues.binance(shared_data)
    vm.mock.fail_rest("/api/v3/depth", status, count=3, body=body)
    async with running_feed(vm, backoff_base_ms=30) as (feed, sink):
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="sync after backoff")
        log = [(t, code) for t, path, code in vm.mock.rest_log if path == "/api/v3/depth"]
        assert [code for _, code in log[:4]] == [status, status, status, 200]
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(log[:4])]
        # exponential: >= 30 ms, 60 ms, 120 ms (jitter 0 in tests; the rate limiter adds, never removes)
        assert gaps[0] >= 0.030 and gaps[1] >= 0.060 and gaps[2] >= 0.120
        assert feed.stats.rate_limited == 3
        assert sink.quotes and sink.crossed_quotes == 0


async def test_okx_when_markets_rate_limited_then_backs_off_and_starts(shared_data: Path) -> None:
    vm = venues.okx(shared_data)
    vm.mock.fail_rest(
        "/api/v5/public/instruments", 429, count=2, body='{"code":"50011","msg":"Too Many Requests"}'
    )
    async with running_feed(vm) as (feed, _sink):
        await until(lambda: synced(feed, vm), what="sync")
        log = [(t, code) for t, path, code in vm.mock.rest_log if path == "/api/v5/public/instruments"]
        codes = [code for _, code in log]
        # ccxt loads spot/swap/futures in parallel: one attempt (2 of 3 answered 429), a backoff of
        # >= 20 ms, then a second attempt that loads all three
        assert codes == [429, 429, 200, 200, 200, 200]
        assert feed.stats.rate_limited == 1
        assert log[3][0] - log[1][0] >= 0.020


def _corrupt_once(match: str, edit: object) -> object:
    """A one-shot ``MockExchange.mutate``: rewrite the first message containing ``match``."""
    done = [False]

    def mutate(index: int, text: str) -> str:
        if done[0] or match not in text:
            return text
        done[0] = True
        return edit(text)  # type: ignore[operator]

    return mutate


def _okx_bad_checksum(text: str) -> str:
    message = json.loads(text)
    message["data"][0]["checksum"] += 1
    return json.dumps(message)


def _kraken_bad_checksum(text: str) -> str:
    message = json.loads(text)
    for payload in message[1:-2]:
        if "c" in payload:
            payload["c"] = str((int(payload["c"]) + 1) % 2**32)
    return json.dumps(message)


@pytest.mark.parametrize(
    ("venue", "match", "edit"),
    [
        ("okx", '"action":"update","data":[{"asks"', _okx_bad_checksum),
        ("kraken", '"c":"', _kraken_bad_checksum),
    ],
)
async def test_feed_when_checksum_mismatches_then_resubscribes_and_resyncs(
    shared_data: Path, venue: str, match: str, edit: object
) -> None:
    expected = await _clean_run(shared_data, venue)
    vm = venues.ALL[venue](shared_data)
    vm.mock.mutate = _corrupt_once(match, edit)  # type: ignore[assignment]
    async with running_feed(vm) as (feed, sink):
        await until(lambda: feed.stats.checksum_mismatches == 1, what="checksum mismatch")
        await until(lambda: any("unsubscribe" in t for _, t in vm.mock.ws_log), what="resubscription")
        vm.mock.replay_done.clear()
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="resync")
        assert [a.kind for a in sink.alerts].count("BOOK_RESYNC") == 1
        assert "CHECKSUM_MISMATCH" in sink.alerts[0].detail
        assert sink.crossed_quotes == 0 and sink.quotes_from_invalid_books == 0
        assert book_state(feed, vm) == expected


async def test_coinbase_when_an_update_has_an_unreadable_level_then_resync_not_a_skipped_diff(
    shared_data: Path,
) -> None:
    """Coinbase level2 has no sequence numbers: a diff we cannot read exactly must not be skipped
    silently (the book would be wrong with nothing to notice it) — it invalidates and resubscribes."""
    expected = await _clean_run(shared_data, "coinbase")
    vm = venues.coinbase(shared_data)

    def off_grid(text: str) -> str:
        message = json.loads(text)
        side, price, size = message["changes"][0]
        message["changes"][0] = [side, price + "5", size]  # one more decimal than SKL-USD's tick
        return json.dumps(message)

    vm.mock.mutate = _corrupt_once('"type":"l2update","product_id":"SKL-USD"', off_grid)  # type: ignore[assignment]
    async with running_feed(vm) as (feed, sink):
        await until(lambda: feed.stats.parse_errors == 1, what="parse error")
        await until(lambda: any("unsubscribe" in t for _, t in vm.mock.ws_log), what="resubscription")
        vm.mock.replay_done.clear()
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="resync")
        assert [a.detail.split(":")[0] for a in sink.alerts if a.kind == "BOOK_RESYNC"] == ["PARSE_ERROR"]
        assert sink.quotes_from_invalid_books == 0 and sink.crossed_quotes == 0
        assert book_state(feed, vm) == expected


async def test_bybit_when_a_delta_is_lost_then_gap_resubscribe_and_resync(shared_data: Path) -> None:
    expected = await _clean_run(shared_data, "bybit")
    vm = venues.bybit(shared_data)
    vm.mock.mutate = _corrupt_once('"u":20254880', lambda _text: '{"op":"pong","success":true}')  # type: ignore[assignment]
    async with running_feed(vm) as (feed, sink):
        await until(lambda: feed.stats.gaps == 1, what="gap")
        await until(lambda: any("unsubscribe" in t for _, t in vm.mock.ws_log), what="resubscription")
        vm.mock.replay_done.clear()
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="resync")
        assert sink.quotes_from_invalid_books == 0 and sink.crossed_quotes == 0
        assert book_state(feed, vm) == expected


async def test_binance_when_a_diff_is_lost_then_book_invalid_until_a_consistent_snapshot(
    shared_data: Path,
) -> None:
    """The recorded REST snapshot predates the gap, so no resync can succeed: the book must stay
    invalid (no quotes from it) rather than continue from a wrong state — correct or halt."""
    vm = venues.binance(shared_data)
    vm.mock.mutate = _corrupt_once('"U":499869776', lambda _text: '{"result":null,"id":99}')  # type: ignore[assignment]
    async with running_feed(vm) as (feed, sink):
        await until(lambda: feed.stats.gaps >= 1 and vm.mock.replay_done.is_set(), what="gap")
        nkn = feed.instrument_for("NKN/USDT").id
        await until(lambda: feed.books[nkn].l2.needs_snapshot, what="invalidated book")
        quotes_at_gap = len([q for q in sink.quotes if q.instrument_id == nkn])
        await until(
            lambda: sum(1 for _, p, _c in vm.mock.rest_log if p == "/api/v3/depth") >= 5,
            what="resync attempts",
        )
        assert feed.books[nkn].l2.needs_snapshot
        assert len([q for q in sink.quotes if q.instrument_id == nkn]) == quotes_at_gap
        assert sink.quotes_from_invalid_books == 0
        assert any(a.kind == "BOOK_RESYNC" and a.instrument_id == nkn for a in sink.alerts)


async def test_feed_when_websocket_down_then_rest_polling_then_back_to_live(shared_data: Path) -> None:
    vm = venues.binance(shared_data)
    vm.mock.ws_enabled = False
    async with running_feed(vm, rest_poll_ms=20) as (feed, sink):
        await until(lambda: feed.stats.rest_polls >= 4, what="REST polls")
        assert feed.state in (FeedState.BACKOFF, FeedState.CONNECTING)
        polled = list(sink.quotes)
        assert polled and all(q.bid_price < q.ask_price for q in polled)
        assert {q.instrument_id for q in polled} == set(feed.books)
        vm.mock.ws_enabled = True
        await until(lambda: feed.state is FeedState.LIVE, what="websocket back")
        polls = feed.stats.rest_polls
        await until(lambda: drained(feed, vm) and synced(feed, vm), what="sync")
        assert feed.stats.rest_polls <= polls + len(feed.books)  # polling stopped once live


async def test_feed_when_venue_goes_silent_then_stale_alert_and_reconnect(shared_data: Path) -> None:
    vm = venues.okx(shared_data)
    async with running_feed(vm, stale_after_ms=200) as (_feed, sink):
        await until(vm.mock.replay_done.is_set, what="replay")
        await until(lambda: any(a.kind == "FEED_STALE" for a in sink.alerts), what="stale alert")
        await until(lambda: vm.mock.connections >= 2, what="reconnect after stale")
        assert [a.kind for a in sink.alerts].count("FEED_STALE") >= 1 and vm.mock.connections >= 2


async def test_feed_when_connects_keep_failing_then_circuit_opens_and_rest_polls(shared_data: Path) -> None:
    vm = venues.binance(shared_data)
    vm.mock.ws_enabled = False
    async with running_feed(vm, breaker_failures=3, breaker_open_ms=300, rest_poll_ms=20) as (feed, sink):
        await until(lambda: any(a.kind == "CIRCUIT_OPEN" for a in sink.alerts), what="circuit open")
        refused = sum(1 for _, t in vm.mock.ws_log if t == "<refused>")
        assert refused == 3  # no connect attempts while open
        assert feed.state is FeedState.POLLING
        vm.mock.ws_enabled = True
        await until(lambda: feed.state is FeedState.LIVE, what="half-open probe connects")
        await until(lambda: feed.breaker.state.name == "CLOSED", what="circuit closed")
        kinds = [a.kind for a in sink.alerts if a.kind.startswith("CIRCUIT")]
        assert kinds[0] == "CIRCUIT_OPEN" and kinds[-1] == "CIRCUIT_CLOSED" and "CIRCUIT_HALF_OPEN" in kinds
