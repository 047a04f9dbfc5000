"""Replays of the real Binance captures in ../shared/data/binance-l2 (skipped when absent).

What the data says (each session is one snapshot + ~6.5-9k diffs, replayed in about half a second):

* USDⓈ-M BTCUSDT: 106 bookTicker events carry the update id of the diff just applied; all 106 match
  our best bid/ask prices and sizes. Never crossed, no gap.
* USDⓈ-M ETHUSDT: the README expects "one sequence gap, at the initial sync only". Under Binance's
  documented futures rule (drop ``u < lastUpdateId``; first event ``U <= L <= u``) there is none:
  the buffered diff with ``u == L`` is the first event, and the next has ``pu == L``. The "gap" only
  appears if ``u <= L`` (the spot rule) is used for futures. We assert the documented behaviour.
* Spot BTCUSDT and ETHUSDT: 0 gaps, never crossed (spot diffs are 100 ms aggregates, so no
  bookTicker carries a diff's final id: nothing to cross-check).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from engine.marketdata.binance import ReplayError, replay_session

REPO = Path(__file__).resolve().parents[2]

REPORT_KEYS = {
    "messages",
    "diffs_applied",
    "seq_gaps",
    "resyncs",
    "crossed_states",
    "bookticker_checks",
    "bookticker_matches",
    "best_bid",
    "best_ask",
    "deltas_per_sec",
}


def session(shared_data: Path, market: str, symbol: str) -> list[Path]:
    days = ("20240718", "20240719") if market == "usdm" else ("20240808", "20240809")
    return [shared_data / "binance-l2" / market / f"{symbol}_{day}.gz" for day in days]


def test_replay_usdm_btcusdt_when_replayed_then_106_of_106_bookticker_matches(shared_data: Path) -> None:
    report = replay_session(session(shared_data, "usdm", "btcusdt"))
    assert (report.bookticker_checks, report.bookticker_matches) == (106, 106)
    assert report.crossed_states == 0 and report.seq_gaps == 0 and report.resyncs == 0
    assert report.diffs_applied == 9_017 and report.synced
    assert report.market == "usdm" and report.instrument_id == "BINANCE_USDM:BTCUSDT"
    assert (report.best_bid, report.best_ask) == ("63867.4", "63867.5")


def test_replay_usdm_ethusdt_when_replayed_then_synced_without_gap_under_futures_rule(
    shared_data: Path,
) -> None:
    report = replay_session(session(shared_data, "usdm", "ethusdt"))
    assert report.seq_gaps == 0 and report.resyncs == 0 and report.crossed_states == 0
    assert report.synced and report.diffs_applied == 8_924  # README's 8,923 + the u == L diff
    assert report.bookticker_checks > 0 and report.bookticker_matches == report.bookticker_checks


def test_replay_spot_btcusdt_when_replayed_then_no_gap_never_crossed(shared_data: Path) -> None:
    report = replay_session(session(shared_data, "spot", "btcusdt"))
    assert report.seq_gaps == 0 and report.crossed_states == 0 and report.synced
    assert report.diffs_applied == 6_493
    assert report.instrument_id == "BINANCE:BTCUSDT"
    assert float(report.best_bid) < float(report.best_ask)  # type: ignore[arg-type]


def test_replay_spot_ethusdt_when_replayed_then_no_gap_never_crossed(shared_data: Path) -> None:
    report = replay_session(session(shared_data, "spot", "ethusdt"))
    assert report.seq_gaps == 0 and report.crossed_states == 0 and report.synced
    assert report.diffs_applied == 6_468


def test_replay_when_second_file_only_then_no_snapshot_reported_not_synced(shared_data: Path) -> None:
    report = replay_session(session(shared_data, "spot", "ethusdt")[1:])
    assert report.snapshots == 0 and not report.synced and report.diffs_applied == 0
    assert report.best_bid is None and any("snapshot" in note for note in report.notes)


def test_replay_when_file_is_not_a_capture_then_replay_error_names_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1 {not json}\n")
    with pytest.raises(ReplayError, match=r"bad\.txt"):
        replay_session([bad])


def test_book_replay_cli_when_json_then_one_object_with_report_keys(shared_data: Path) -> None:
    cli = Path(sys.executable).with_name("algotrendy")
    assert cli.exists(), "the algotrendy console script is installed with the package"
    result = subprocess.run(
        [str(cli), "book", "replay", *map(str, session(shared_data, "usdm", "btcusdt")), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    report = orjson.loads(result.stdout)
    assert report.keys() >= REPORT_KEYS
    assert (report["bookticker_checks"], report["bookticker_matches"]) == (106, 106)
    assert report["crossed_states"] == 0 and report["seq_gaps"] == 0
    assert report["best_bid"] == "63867.4" and report["best_ask"] == "63867.5"
    assert report["deltas_per_sec"] > 0
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_book_replay_cli_when_table_then_summary_printed(shared_data: Path) -> None:
    from typer.testing import CliRunner

    from ops.book_cmd import app

    result = CliRunner().invoke(app, ["replay", *map(str, session(shared_data, "spot", "ethusdt"))])
    assert result.exit_code == 0, result.output
    assert "BINANCE:ETHUSDT" in result.output and "sequence gaps" in result.output


def test_book_replay_cli_when_bad_capture_then_exit_1_with_message(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ops.book_cmd import app

    bad = tmp_path / "bad.txt"
    bad.write_text("garbage\n")
    result = CliRunner().invoke(app, ["replay", str(bad), "--json"])
    assert result.exit_code == 1
    assert "bad.txt" in result.output


def test_replay_when_progress_callback_given_then_reaches_total_bytes(shared_data: Path) -> None:
    files = session(shared_data, "spot", "ethusdt")
    calls: list[tuple[int, int, int]] = []
    replay_session(files, progress=lambda *args: calls.append(args))
    total = sum(f.stat().st_size for f in files)
    assert len(calls) > 2 and calls[-1] == (2, total, total)
    assert all(done <= total for _, done, _ in calls)
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)
