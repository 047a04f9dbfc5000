"""The engine with [replay] and [questdb]: a recording feeds the bus (books, bars, trades) and the
QuestDB sink receives every trade and bar over ILP on a local server, plus the sim venue's quotes
and the account's equity."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.app import Engine
from engine.config import load_config
from engine.core.enums import ComponentState
from engine.core.events import TradeTick
from engine.core.ids import InstrumentId
from engine.store.recording import RecordingReader, RecordingWriter
from tests.unit.store.ilp_server import IlpHttpServer
from tests.unit.store.market_samples import instrument, market_events

S = 1_000_000_000
#: Not a SIM instrument: the sim venue's own trades must not mix with the replayed ones.
IID = InstrumentId("REPLAY:BTC-USD")


def make_recording(path: Path) -> list[TradeTick]:
    writer = RecordingWriter(path)
    writer.add_instrument(instrument(IID))
    events = market_events(2_000, start=1_700_000_000 * S, step=S // 20, iid=IID)
    for e in events:
        writer.append(e)
    writer.close()
    return [e for e in events if isinstance(e, TradeTick)]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Engine, IlpHttpServer, list[TradeTick]]]:
    server = IlpHttpServer()
    trades = make_recording(tmp_path / "rec")
    config = load_config(
        env={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "grpc.port": 0,
            "metrics.enabled": False,
            "store.durability": "async",
            "auth.argon2_memory_kib": 64,
            "auth.argon2_time_cost": 1,
            "bars.intervals": ["1m"],
            "replay.path": str(tmp_path / "rec"),
            "replay.speed": "max",
            "questdb.enabled": True,
            "questdb.port": server.port,
            "questdb.flush_interval_ms": 20,
            "questdb.equity_interval_ms": 50,
            "questdb.retry_backoff_ms": 20,
            "questdb.retry_backoff_max_ms": 200,
            "recording.enabled": True,
            "recording.path": str(tmp_path / "live"),
            "recording.flush_interval_ms": 50,
        },
    )
    engine = Engine(config)
    await engine.start()
    try:
        yield engine, server, trades
    finally:
        await engine.stop()
        server.down()


async def until(predicate, what=lambda: "", timeout_s: float = 60.0) -> None:
    """Poll with a deadline (a safety net, not a timing assertion); ``what()`` explains a miss."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"not reached before the deadline: {what()}"
        await asyncio.sleep(0.02)


async def test_engine_when_replay_and_questdb_then_every_replayed_trade_reaches_questdb(served) -> None:
    engine, server, trades = served
    assert engine.data.replay is not None
    await until(lambda: engine.components["replay"].state is ComponentState.STOPPED)
    assert engine.components["replay"].status.detail == "finished: 2000 events"
    # The replayed instrument's book is served like a live one.
    snapshot = engine.marketdata.snapshot(str(IID), 5)
    assert snapshot.bids and snapshot.asks
    # Every replayed trade is in QuestDB's trades table, once, in order (plus the sim market's own).
    replay_ids = [str(t.trade_id) for t in trades]

    def replayed_rows() -> list[str]:
        return [
            r[2]["trade_id"] for r in server.snapshot() if r[0] == "trades" and r[1]["instrument"] == str(IID)
        ]

    await until(lambda: len(replayed_rows()) >= len(replay_ids))
    assert replayed_rows() == replay_ids
    # Bars built from the replayed trades reach the bars table; the equity timer reaches equity.
    await until(lambda: any(r[0] == "bars" and r[1]["instrument"] == str(IID) for r in server.snapshot()))
    await until(lambda: any(r[0] == "equity" for r in server.snapshot()))
    assert engine.components["questdb"].state is ComponentState.RUNNING
    assert server.queries[0].startswith("CREATE TABLE IF NOT EXISTS trades")


async def test_engine_when_questdb_down_then_degraded_and_spooling(served) -> None:
    engine, server, _ = served
    await until(lambda: engine.components["replay"].state is ComponentState.STOPPED)
    sink = engine.data.questdb
    assert sink is not None
    await until(lambda: sink.stats.connected, lambda: f"first connection {sink.stats}")
    server.down()
    await until(
        lambda: engine.components["questdb"].state is ComponentState.DEGRADED,
        lambda: f"degraded {sink.stats} {engine.components['questdb'].status}",
    )
    await until(
        lambda: sink.stats.spool_rows > 0, lambda: f"spooling {sink.stats}"
    )  # the sim market keeps trading
    server.up()
    await until(
        lambda: engine.components["questdb"].state is ComponentState.RUNNING, lambda: f"running {sink.stats}"
    )
    await until(lambda: sink.stats.spool_rows == 0, lambda: f"drained {sink.stats}")


async def test_engine_when_recording_then_the_replayed_market_is_recorded(served, tmp_path: Path) -> None:
    engine, _, trades = served
    await until(lambda: engine.components["replay"].state is ComponentState.STOPPED)
    await engine.stop()  # the recorder hands everything to its writer and closes the recording
    assert "events written, 0 dropped" in engine.components["recording"].status.detail
    reader = RecordingReader(tmp_path / "live")
    recorded = [e for e in reader.iter_events(instrument_ids=[str(IID)], kinds=["trades"])]
    assert recorded == trades  # every replayed trade, in order, exact
    assert str(IID) in reader.info().instruments
    # The engine's own 1m bars from those trades were recorded too (the recording's bars are 1s).
    minute_bars = [
        b for b in reader.iter_events(instrument_ids=[str(IID)], kinds=["bars"]) if b.interval_ns == 60 * S
    ]
    assert minute_bars and all(b.volume.raw > 0 for b in minute_bars)
