"""A run raises the cyclic collector's young threshold while it replays (see
``engine.backtest.engine._FewerYoungCollections``) and restores it afterwards, also when it fails."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from engine.backtest import Backtest, BacktestConfig
from engine.strategy.api import BarView, Strategy

T0 = 1_700_000_000


def _csv(path: Path, n: int = 5) -> str:
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{T0 + 60 * i},100.0,101.0,99.0,100.5,10" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


class SeesThreshold(Strategy):
    """Records the collector's thresholds as the strategy sees them during the run."""

    name = "sees_threshold"
    seen: list[tuple[int, int, int]] = []  # noqa: RUF012 - written by the run, read by the test

    def on_bar(self, bar: BarView) -> None:
        type(self).seen.append(gc.get_threshold())


@pytest.fixture
def thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_threshold_raised_during_the_run_and_restored(tmp_path: Path, thresholds: None) -> None:
    SeesThreshold.seen = []
    result = Backtest(SeesThreshold, [_csv(tmp_path / "bars.csv")], BacktestConfig()).run()
    assert result.bars == 5
    assert SeesThreshold.seen and all(t == (100_000, 10, 10) for t in SeesThreshold.seen)
    assert gc.get_threshold() == (700, 10, 10)


def test_threshold_restored_when_the_run_fails(tmp_path: Path, thresholds: None) -> None:
    def progress(done: int, total: int) -> None:
        assert gc.get_threshold() == (100_000, 10, 10)
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        Backtest(SeesThreshold, [_csv(tmp_path / "bars.csv")], BacktestConfig()).run(progress)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_is_kept(tmp_path: Path, thresholds: None) -> None:
    gc.set_threshold(200_000, 10, 10)
    SeesThreshold.seen = []
    Backtest(SeesThreshold, [_csv(tmp_path / "bars.csv")], BacktestConfig()).run()
    assert set(SeesThreshold.seen) == {(200_000, 10, 10)}
    assert gc.get_threshold() == (200_000, 10, 10)


class SeesFrozen(Strategy):
    """Records how many objects the collector holds frozen as the strategy sees it during the run."""

    name = "sees_frozen"
    seen: list[int] = []  # noqa: RUF012 - written by the run, read by the test

    def on_bar(self, bar: BarView) -> None:
        type(self).seen.append(gc.get_freeze_count())


def test_objects_from_before_the_run_frozen_during_it_and_thawed_after(tmp_path: Path) -> None:
    assert gc.get_freeze_count() == 0
    before = [object() for _ in range(10)]  # noqa: F841 - alive (and so frozen) during the run
    SeesFrozen.seen = []
    Backtest(SeesFrozen, [_csv(tmp_path / "bars.csv")], BacktestConfig()).run()
    assert SeesFrozen.seen and all(n > 0 for n in SeesFrozen.seen)
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_itself_keeps_them_frozen(tmp_path: Path) -> None:
    gc.freeze()  # as the live app does at startup
    try:
        frozen = gc.get_freeze_count()
        SeesFrozen.seen = []
        Backtest(SeesFrozen, [_csv(tmp_path / "bars.csv")], BacktestConfig()).run()
        # nothing more frozen by the run (objects freed meanwhile leave the count), nothing thawed
        assert len(SeesFrozen.seen) == 5 and all(0 < n <= frozen for n in SeesFrozen.seen)
        assert 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
