from __future__ import annotations

import asyncio
import threading

import pytest

from engine.bus import HandoffClosedError, MessageBus, ThreadHandoff
from engine.core.errors import InvariantViolation


def test_publish_when_topic_subscribed_then_handler_receives_message() -> None:
    bus = MessageBus()
    received: list[object] = []
    bus.subscribe("data.trades.SIM:BTC-USD", received.append)
    assert bus.publish("data.trades.SIM:BTC-USD", "t1") == 1
    assert bus.publish("data.trades.SIM:ETH-USD", "t2") == 0
    assert received == ["t1"]
    assert bus.published_count == 2


def test_publish_when_pattern_subscribed_then_matching_topics_dispatched() -> None:
    bus = MessageBus()
    received: list[tuple[str, object]] = []
    bus.subscribe("data.trades.*", lambda m: received.append(("trades", m)))
    bus.subscribe("data.?uotes.SIM:BTC-USD", lambda m: received.append(("quotes", m)))
    bus.publish("data.trades.SIM:BTC-USD", 1)
    bus.publish("data.trades.BINANCE:ETH/USDT", 2)
    bus.publish("data.quotes.SIM:BTC-USD", 3)
    bus.publish("data.bars.SIM:BTC-USD", 4)
    assert received == [("trades", 1), ("trades", 2), ("quotes", 3)]


def test_publish_when_priorities_differ_then_higher_first_and_ties_in_subscription_order() -> None:
    bus = MessageBus()
    order: list[str] = []
    bus.subscribe("t", lambda m: order.append("low"), priority=-1)
    bus.subscribe("t", lambda m: order.append("first-default"))
    bus.subscribe("t", lambda m: order.append("high"), priority=10)
    bus.subscribe("t", lambda m: order.append("second-default"))
    bus.publish("t", None)
    assert order == ["high", "first-default", "second-default", "low"]


def test_publish_when_handler_raises_then_others_still_run_and_error_counted() -> None:
    bus = MessageBus()
    received: list[object] = []

    def broken(message: object) -> None:
        raise ValueError("boom")

    bus.subscribe("t", broken, priority=1)
    bus.subscribe("t", received.append)
    bus.publish("t", "a")
    bus.publish("t", "b")
    assert received == ["a", "b"]
    assert bus.handler_error_count == 2
    [(name, count)] = bus.handler_errors.items()
    assert name.endswith("broken")
    assert count == 2


def test_publish_when_handler_violates_invariant_then_hook_called_and_dispatch_continues() -> None:
    violations: list[InvariantViolation] = []
    bus = MessageBus(on_invariant_violation=violations.append)
    received: list[object] = []

    def broken(message: object) -> None:
        raise InvariantViolation("position went negative")

    bus.subscribe("t", broken, priority=1)
    bus.subscribe("t", received.append)
    bus.publish("t", "x")
    assert received == ["x"]
    assert [str(v) for v in violations] == ["position went negative"]


def test_subscribe_when_during_dispatch_then_takes_effect_from_next_publish() -> None:
    bus = MessageBus()
    late: list[object] = []

    def subscriber(message: object) -> None:
        if message == 1:
            bus.subscribe("t", late.append)

    bus.subscribe("t", subscriber)
    bus.publish("t", 1)
    bus.publish("t", 2)
    assert late == [2]


def test_unsubscribe_when_subscribed_then_no_longer_called() -> None:
    bus = MessageBus()
    received: list[object] = []
    sub = bus.subscribe("t.*", received.append)
    bus.publish("t.a", 1)
    bus.unsubscribe(sub)
    bus.publish("t.a", 2)
    assert received == [1]
    with pytest.raises(ValueError, match="not subscribed"):
        bus.unsubscribe(sub)


def test_handlers_when_subscriptions_change_then_reflects_dispatch_order_and_nobody_listening() -> None:
    bus = MessageBus()
    assert bus.handlers("events.order.main") == ()
    first: list[object] = []
    second: list[object] = []
    sub = bus.subscribe("events.order.*", first.append)
    bus.subscribe("events.order.main", second.append, priority=5)
    assert bus.handlers("events.order.main") == (second.append, first.append)
    assert bus.handlers("events.order.other") == (first.append,)
    bus.unsubscribe(sub)
    assert bus.handlers("events.order.other") == ()
    assert bus.publish_c("events.order.other", 1) == 0
    assert bus.publish_c("events.order.main", 2) == 1
    assert (first, second) == ([], [2])


def test_subscribe_when_invalid_then_rejected() -> None:
    bus = MessageBus()
    with pytest.raises(ValueError):
        bus.subscribe("", print)
    with pytest.raises(TypeError):
        bus.subscribe("t", "not callable")  # type: ignore[arg-type]
    bus.subscribe("t", print)
    with pytest.raises(ValueError, match="already subscribed"):
        bus.subscribe("t", print)


def test_publish_when_called_from_foreign_thread_then_refused() -> None:
    bus = MessageBus()
    bus.bind_to_current_thread()
    errors: list[BaseException] = []

    def publish_from_thread() -> None:
        try:
            bus.publish("t", 1)
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=publish_from_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert "ThreadHandoff" in str(errors[0])
    assert bus.published_count == 0


async def _wait_until(predicate, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.001)


async def test_handoff_when_threads_submit_then_loop_publishes_everything_in_per_thread_order() -> None:
    bus = MessageBus()
    bus.bind_to_current_thread()
    received: list[tuple[int, int]] = []
    bus.subscribe("work", received.append)
    handoff = ThreadHandoff(bus, asyncio.get_running_loop(), capacity=64, batch_size=8)

    def producer(tid: int) -> None:
        for i in range(500):
            assert handoff.submit("work", (tid, i), timeout_s=5.0)

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    await _wait_until(lambda: len(received) == 2000)
    for t in threads:
        t.join()
    for tid in range(4):
        assert [i for (t, i) in received if t == tid] == list(range(500))
    assert handoff.delivered_count == 2000
    assert handoff.rejected_count == 0
    assert threading.get_ident() == bus.owner_thread


async def test_handoff_when_full_and_no_wait_then_submit_returns_false_and_counts() -> None:
    bus = MessageBus()
    bus.bind_to_current_thread()
    handoff = ThreadHandoff(bus, asyncio.get_running_loop(), capacity=2)
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.extend(handoff.submit("t", i) for i in range(3)))
    thread.start()
    thread.join()  # the loop is not running callbacks while we block here, so nothing drains
    assert results == [True, True, False]
    assert handoff.rejected_count == 1
    assert len(handoff) == 2


async def test_handoff_when_closed_then_queued_messages_published_and_new_ones_refused() -> None:
    bus = MessageBus()
    bus.bind_to_current_thread()
    received: list[object] = []
    bus.subscribe("t", received.append)
    handoff = ThreadHandoff(bus, asyncio.get_running_loop(), capacity=10)
    thread = threading.Thread(target=lambda: [handoff.submit("t", i) for i in range(3)])
    thread.start()
    thread.join()
    assert handoff.close() == 3
    assert received == [0, 1, 2]
    with pytest.raises(HandoffClosedError):
        handoff.submit("t", 4)
