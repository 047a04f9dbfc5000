"""``algotrendy data import | info | replay`` as real subprocesses on the real files in ../shared/data."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from engine.marketdata.binance import replay_session

CLI = str(Path(sys.executable).with_name("algotrendy"))


def run(*args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [CLI, "data", *map(str, args)], check=False, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == expect, proc.stderr + proc.stdout
    return proc


def test_data_import_then_info_then_replay_when_tardis_and_bars(shared_data: Path, tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    out = orjson.loads(
        run(
            "import",
            shared_data / "trades/tardis_trades.csv.gz",
            shared_data / "trades/tardis_quotes.csv",
            "--out",
            rec,
            "--json",
        ).stdout
    )
    assert out["imported"] == {"TradeTick": 137_988, "QuoteTick": 9_999}
    assert out["recording_events"] == 147_987 and out["compression_ratio"] > 3
    info = orjson.loads(run("info", rec, "--json").stdout)
    assert info["kinds"] == {"trades": 137_988, "quotes": 9_999}
    assert info["instruments"] == ["BINANCE_USDM:BTCUSDT"] and info["first"].startswith("2020-02-22")
    replay = orjson.loads(run("replay", rec, "--speed", "max", "--bars", "1m,1h", "--json").stdout)
    assert replay["finished"] and replay["events"] == 147_987 and replay["waits"] == 0
    assert replay["trades"] == 137_988 and replay["quotes"] == 9_999
    # One full day of trades: 24 hourly bars; every minute of the day traded.
    assert replay["bars_built"]["1h"] == 24 and replay["bars_built"]["1m"] == 1_440


def test_data_import_when_binance_sessions_then_books_equal_the_depth_replay(
    shared_data: Path, tmp_path: Path
) -> None:
    rec = tmp_path / "rec"
    files = sorted((shared_data / "binance-l2/usdm").glob("*.gz"))
    out = orjson.loads(run("import", *files, "--out", rec, "--json").stdout)
    assert set(out["instruments"]) == {"BINANCE_USDM:BTCUSDT", "BINANCE_USDM:ETHUSDT"}
    replay = orjson.loads(run("replay", rec, "--json").stdout)
    for symbol in ("btcusdt", "ethusdt"):
        report = replay_session(sorted((shared_data / "binance-l2/usdm").glob(f"{symbol}_*.gz")))
        book = replay["books"][report.instrument_id]
        assert book["best_bid"] == f"{report.best_bid} x {report.best_bid_size}"
        assert book["best_ask"] == f"{report.best_ask} x {report.best_ask_size}"
        assert book["levels"] == report.bid_levels + report.ask_levels


def test_data_import_when_feather_and_klines_then_bars_recorded(shared_data: Path, tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    run(
        "import",
        shared_data / "candles/freqtrade/ETH_BTC-5m.feather",
        "--instrument-id",
        "BINANCE:ETHBTC",
        "--out",
        rec,
    )
    run("import", shared_data / "candles/ADABTC-1m-2021-11-27.csv", "--out", rec)  # appends
    info = orjson.loads(run("info", rec, "--json").stdout)
    assert info["kinds"] == {"bars": 5_760 + 1_440}
    assert sorted(info["instruments"]) == ["BINANCE:ETHBTC", "FILE:ADABTC-1m-2021-11-27"]


def test_data_import_when_bad_file_then_exit_1_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(
        gzip.compress(
            b"exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
            b"binance,BTCUSDT,1000,1001,1,buy,100.5,0.1\n"
            b"binance,BTCUSDT,1002,1003,2,buy,not-a-price,0.1\n"
        )
    )
    proc = run("import", bad, "--out", tmp_path / "rec", expect=1)
    assert f"{bad}, line 3" in proc.stderr
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n1,1,1,1,1,1\n3,1,1,1,1,1\n2,1,1,1,1,1\n")
    proc = run("import", bars, "--out", tmp_path / "rec2", expect=1)
    assert f"{bars}, row 3 (line 4)" in proc.stderr and "out of order" in proc.stderr


def test_data_replay_when_bad_speed_then_usage_error(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    proc = run("replay", rec, "--speed", "fast", expect=2)
    assert "speed" in proc.stderr


@pytest.mark.parametrize("speed", ["1x", "10x"])
def test_data_replay_when_paced_then_takes_the_recorded_span(tmp_path: Path, speed: str) -> None:
    """A short recording (0.4 s of data) replayed in real time: the waits add up to span / speed."""
    from engine.store.recording import RecordingWriter
    from tests.unit.store.market_samples import instrument, market_events

    rec = tmp_path / "rec"
    writer = RecordingWriter(rec)
    writer.add_instrument(instrument())
    for e in market_events(41, start=10**18, step=10_000_000):  # 41 events, 0.4 s apart in total
        writer.append(e)
    writer.close()
    replay = orjson.loads(run("replay", rec, "--speed", speed, "--json").stdout)
    factor = 1.0 if speed == "1x" else 10.0
    assert replay["finished"] and replay["events"] == 41
    assert replay["waits"] > 0 and replay["waited_s"] <= 0.4 / factor + 0.05


def test_data_replay_serve_when_recording_then_engine_runs_on_it(tmp_path: Path) -> None:
    """``data replay REC --serve``: a real engine process fed by the recording (its [replay] section)."""
    import signal
    import threading
    import time

    from engine.core.ids import InstrumentId
    from engine.store.recording import RecordingWriter
    from tests.unit.store.market_samples import instrument, market_events

    iid = InstrumentId("REPLAY:BTC-USD")
    rec = tmp_path / "rec"
    writer = RecordingWriter(rec)
    writer.add_instrument(instrument(iid))
    for e in market_events(1_000, start=10**18, iid=iid):
        writer.append(e)
    writer.close()
    sets = {
        "data_dir": str(tmp_path / "data"),
        "grpc.port": "0",
        "metrics.enabled": "false",
        "log.format": "json",
        "log.level": "debug",
        "auth.argon2_memory_kib": "64",
        "auth.argon2_time_cost": "1",
    }
    args = [CLI, "data", "replay", str(rec), "--speed", "max", "--serve"]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finished = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if record.get("component") == "replay" and record.get("detail") == "finished: 1000 events":
                finished.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not finished.wait(0.1):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines[-20:])
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        reader.join(5)
    assert code == 0, "".join(lines[-20:])
