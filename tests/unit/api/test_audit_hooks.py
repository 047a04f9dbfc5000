"""The servicers' shared call hooks (``RpcHooks``) and the audit hook (``principal_audit``): a call
answers only once its audit record is durable; it runs eagerly when it does not wait, and a call
that waits is still finished and audited when its caller goes away."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from algotrendy.v1 import common_pb2, orders_pb2, risk_pb2
from engine.api.auth import CURRENT, principal_audit
from engine.api.auth.principal import ANONYMOUS
from engine.api.convert import SUMMARY_MAX_CHARS, SUMMARY_MAX_ITEMS, RpcHooks, request_summary
from engine.store import LmdbStore, Persistence
from engine.store.audit import REDACTED, redact, tail, verify

REQUEST = orders_pb2.SubmitOrderRequest(
    account_id="main",
    client_order_id="c-1",
    instrument_id="SIM:BTC-USD",
    side=common_pb2.SIDE_BUY,
    quantity=common_pb2.Decimal(value="0.5"),
)


class _Recorder:
    """An audit hook that records its calls and answers what the test tells it to wait for."""

    def __init__(self, wait_for: Awaitable[Any] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []
        self._wait_for = wait_for

    def __call__(self, method: str, summary: dict[str, Any], result: str) -> Awaitable[Any] | None:
        self.calls.append((method, summary, result))
        return self._wait_for


async def _answer(value: str) -> str:
    return value


async def test_hooks_when_call_does_not_wait_then_answered_in_the_callers_task_and_audited() -> None:
    audit = _Recorder()
    hooks = RpcHooks(audit)
    caller = asyncio.current_task()
    ran_in: list[asyncio.Task[Any] | None] = []

    async def call() -> str:
        ran_in.append(asyncio.current_task())
        return "done"

    assert await hooks.run("SubmitOrder", REQUEST, call(), audited=True) == "done"
    assert ran_in == [caller]  # no task of its own
    assert audit.calls == [
        (
            "SubmitOrder",
            {
                "account_id": "main",
                "client_order_id": "c-1",
                "instrument_id": "SIM:BTC-USD",
                "side": "SIDE_BUY",
                "quantity": "0.5",
            },
            "OK",
        )
    ]


async def test_hooks_when_call_waits_and_caller_cancelled_then_call_finishes_and_is_audited() -> None:
    audit = _Recorder()
    hooks = RpcHooks(audit)
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    finished: list[str] = []

    async def call() -> str:
        value = await gate
        finished.append(value)
        return value

    caller = asyncio.ensure_future(hooks.run("CancelOrder", REQUEST, call(), audited=True))
    await asyncio.sleep(0)
    assert not caller.done() and audit.calls == []
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert not gate.cancelled()  # the command's own wait was shielded from the caller
    gate.set_result("filled")
    for _ in range(5):
        await asyncio.sleep(0)
    assert finished == ["filled"]
    assert [(m, r) for m, _, r in audit.calls] == [("CancelOrder", "OK")]


async def test_hooks_when_call_waits_then_value_and_errors_pass_through() -> None:
    hooks = RpcHooks(_Recorder())
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()

    async def twice() -> str:
        return await first + await second

    running = asyncio.ensure_future(hooks.run("AmendOrder", REQUEST, twice(), audited=True))
    await asyncio.sleep(0)
    first.set_result("a")
    await asyncio.sleep(0)
    second.set_result("b")
    assert await running == "ab"

    failing = loop.create_future()

    async def fails() -> str:
        return await failing

    running = asyncio.ensure_future(hooks.run("AmendOrder", REQUEST, fails(), audited=False))
    await asyncio.sleep(0)
    failing.set_exception(KeyError("gone"))
    with pytest.raises(KeyError):
        await running


async def test_hooks_when_audit_not_yet_durable_then_answer_waits_for_it() -> None:
    durable: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    audit = _Recorder(wait_for=durable)
    hooks = RpcHooks(audit)
    answering = asyncio.ensure_future(hooks.run("SubmitOrder", REQUEST, _answer("ok"), audited=True))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(audit.calls) == 1 and not answering.done()
    durable.set_result(1)
    assert await answering == "ok"


async def test_hooks_when_audit_not_yet_durable_and_call_failed_then_error_after_it() -> None:
    durable: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    audit = _Recorder(wait_for=durable)
    hooks = RpcHooks(audit)

    async def refused() -> str:
        raise ValueError("bad")

    answering = asyncio.ensure_future(hooks.run("SubmitOrder", REQUEST, refused(), audited=True))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not answering.done()
    durable.set_result(1)
    with pytest.raises(ValueError, match="bad"):
        await answering
    assert audit.calls[0][2] == "INTERNAL:INTERNAL"


@pytest.fixture(params=["async", "sync"])
async def persistence(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Persistence]:
    store = LmdbStore(tmp_path / "lmdb", map_size_mb=64, durability=request.param)
    store.open(time.time_ns())
    p = Persistence(store)
    p.start()
    yield p
    await p.close()
    store.close(time.time_ns())


async def test_principal_audit_when_hook_done_then_record_committed(persistence: Persistence) -> None:
    hook = principal_audit(persistence.audit)
    CURRENT.set(ANONYMOUS)
    writer = persistence.writer
    pending = hook("SubmitOrder", {"client_order_id": "c-1", "api_key": "k"}, "OK")
    if writer.on_loop:
        assert pending is None  # committed in the call: nothing to wait for
    else:
        assert pending is not None
        await pending
    assert writer.committed_ticket == writer.enqueued_ticket
    (record,) = tail(persistence.store.env, 5)  # a fresh read transaction sees it
    assert (record.action, record.result, record.actor) == ("SubmitOrder", "OK", ANONYMOUS.actor)
    assert record.summary == {"client_order_id": "c-1", "api_key": REDACTED}
    assert verify(persistence.store).ok


def test_redact_when_keys_repeat_then_every_secret_replaced_every_time() -> None:
    summary = {"user": "ann", "Password": "p", "nested": {"refresh_token": "t", "n": [1, {"secret": 2}]}}
    for _ in range(3):
        assert redact(summary) == {
            "user": "ann",
            "Password": REDACTED,
            "nested": {"refresh_token": REDACTED, "n": [1, {"secret": REDACTED}]},
        }
    assert redact({1: "x"}) == {"1": "x"}


def test_request_summary_when_fields_long_repeated_or_unset_then_plain_bounded_data() -> None:
    reason = "r" * 300
    summary = request_summary(
        risk_pb2.SetTradingStateRequest(state=common_pb2.TRADING_STATE_HALTED, reason=reason)
    )
    assert summary == {
        "state": "TRADING_STATE_HALTED",
        "reason": f"{reason[:SUMMARY_MAX_CHARS]}... (300 chars)",
    }
    statuses = [common_pb2.ORDER_STATUS_ACCEPTED] * (SUMMARY_MAX_ITEMS + 3)
    listed = request_summary(orders_pb2.ListOrdersRequest(statuses=statuses, open_only=True, page_size=7))
    assert listed["statuses"] == ["ORDER_STATUS_ACCEPTED"] * SUMMARY_MAX_ITEMS + ["... 3 more"]
    assert (listed["open_only"], listed["page_size"]) == (True, 7)
    assert request_summary(REQUEST)["quantity"] == "0.5"  # a Decimal message: its string
    assert request_summary(orders_pb2.SubmitOrderRequest()) == {}  # nothing set, nothing summarised
