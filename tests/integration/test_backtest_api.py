"""``BacktestService.RunBacktest`` on the real engine (in this process, port 0, real grpc.aio channel):
progress then exactly one result equal to the same backtest run locally; bad input answers
INVALID_ARGUMENT with the field and reason in the trailers; a viewer may not run backtests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from grpc_auth import admin_authorization

from algotrendy.v1 import backtest_pb2, backtest_pb2_grpc, common_pb2
from engine.app import Engine
from engine.backtest import Backtest, BacktestConfig
from engine.config import load_config

T0 = 1_700_000_000


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    config = load_config(
        env={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "grpc.port": 0,
            "metrics.port": 0,
            "sim.step_ms": 50,
            "store.durability": "async",
            "auth.argon2_memory_kib": 64,
            "auth.argon2_time_cost": 1,
        },
    )
    instance = Engine(config)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


def _bars(path: Path, n: int = 200) -> str:
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(n):
        price = 100 + (i % 11) - (i % 4) + i * 0.05
        lines.append(f"{T0 + 60 * i},{price:.2f},{price + 1:.2f},{price - 1:.2f},{price + 0.25:.2f},3")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class _Client:
    """Server-streaming calls carry the credential as call metadata (the channel interceptor does
    not reach unary-stream calls in grpc.aio)."""

    def __init__(self, channel: grpc.aio.Channel, authorization: str) -> None:
        self._stub = backtest_pb2_grpc.BacktestServiceStub(channel)
        self._metadata = (("authorization", authorization),)

    def RunBacktest(self, request: backtest_pb2.RunBacktestRequest, timeout: float):
        return self._stub.RunBacktest(request, timeout=timeout, metadata=self._metadata)


def _stub(engine: Engine) -> tuple[grpc.aio.Channel, _Client]:
    authorization = admin_authorization(engine.config.data_dir)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{engine.grpc.port}")
    return channel, _Client(channel, authorization)


async def test_run_backtest_streams_progress_then_the_result_of_a_local_run(
    engine: Engine, tmp_path: Path
) -> None:
    data = _bars(tmp_path / "eth-1m.csv")
    request = backtest_pb2.RunBacktestRequest(
        strategy="sma_cross",
        params={"fast": "3", "slow": "8"},
        data_files=[data],
        cash=common_pb2.Decimal(value="25000"),
        fill=backtest_pb2.FILL_MODEL_CLOSE,
        fees_bps=common_pb2.Decimal(value="4"),
        slippage_bps=common_pb2.Decimal(value="1"),
        include_details=True,
    )
    channel, stub = _stub(engine)
    async with channel:
        replies = [reply async for reply in stub.RunBacktest(request, timeout=120)]
    assert [r.sequence for r in replies] == list(range(1, len(replies) + 1))
    assert replies[0].WhichOneof("event") == "progress" and replies[0].progress.bars_total == 200
    assert [r.WhichOneof("event") for r in replies[:-1]] == ["progress"] * (len(replies) - 1)
    result = replies[-1].result
    local = await Backtest(
        "sma_cross",
        [data],
        BacktestConfig(cash=Decimal(25000), fill="close", fees_bps=Decimal(4), slippage_bps=Decimal(1)),
        params={"fast": 3, "slow": 8},
    ).run_async()
    assert result.final_equity.value == local.metrics["final_equity"]
    assert result.trades == local.metrics["trades"] > 0
    assert result.bars == 200 and result.currency == "USD"
    assert dict(result.params) == {"fast": "3", "slow": "8"}
    assert json.loads(result.metrics_json) == json.loads(json.dumps(local.summary()))
    assert result.sharpe == pytest.approx(local.metrics["sharpe"])
    details = json.loads(result.details_json)
    assert len(details["fills"]) == local.metrics["fills"]


async def test_run_backtest_bad_input_is_invalid_argument_with_field_and_reason(
    engine: Engine, tmp_path: Path
) -> None:
    data = _bars(tmp_path / "x.csv", 40)
    channel, stub = _stub(engine)
    async with channel:
        cases = [
            (
                dict(strategy="nope", data_files=[data], fill=backtest_pb2.FILL_MODEL_CLOSE),
                "strategy",
                "sma_cross",
            ),
            (
                dict(
                    strategy="sma_cross",
                    params={"speed": "3"},
                    data_files=[data],
                    fill=backtest_pb2.FILL_MODEL_CLOSE,
                ),
                "speed",
                "valid parameters: fast, slow",
            ),
            (dict(strategy="sma_cross", data_files=[data]), "fill", "FILL_MODEL"),
            (dict(strategy="sma_cross", fill=backtest_pb2.FILL_MODEL_CLOSE), "data_files", "bar file"),
        ]
        for fields, field, text in cases:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                _ = [r async for r in stub.RunBacktest(backtest_pb2.RunBacktestRequest(**fields), timeout=60)]
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, fields
            trailers = dict(info.value.trailing_metadata() or ())
            assert trailers.get("algotrendy-field") == field
            assert text in info.value.details()
        bad = tmp_path / "bad.csv"
        bad.write_text(
            "timestamp,open,high,low,close,volume\n1700000000,1,2,0.5,1.5,3\n1700000000,1,2,0.5,1.5,3\n"
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            _ = [
                r
                async for r in stub.RunBacktest(
                    backtest_pb2.RunBacktestRequest(
                        strategy="sma_cross", data_files=[str(bad)], fill=backtest_pb2.FILL_MODEL_NEXT_OPEN
                    ),
                    timeout=60,
                )
            ]
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert str(bad) in info.value.details() and "row 2" in info.value.details()
