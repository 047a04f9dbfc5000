"""kill -9 while appending with sync durability: every acknowledged sequence survives the restart."""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from store_writer_process import event_for

from engine.store import LmdbStore, recover
from engine.store.audit import verify

SCRIPT = Path(__file__).with_name("store_writer_process.py")
REPO = Path(__file__).resolve().parents[2]


def start_writer(data_dir: Path, durability: str = "sync", batch: int = 50) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(data_dir), durability, str(batch)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def read_acks(proc: subprocess.Popen[str], *, min_acks: int, seconds: float) -> tuple[int, list[int]]:
    """Read stdout until READY, then acks for at least ``seconds`` and ``min_acks``; returns (start, acks)."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    start = None
    acks: list[int] = []
    began = time.monotonic()
    deadline = began + 15
    while time.monotonic() < deadline:
        if start is not None and len(acks) >= min_acks and time.monotonic() - began >= seconds:
            break
        if not selector.select(timeout=0.5):
            if proc.poll() is not None:
                raise AssertionError(f"writer exited: {proc.stderr.read() if proc.stderr else ''}")
            continue
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"writer exited: {proc.stderr.read() if proc.stderr else ''}")
        if line.startswith("READY"):
            start = int(line.split()[1])
        else:
            acks.append(int(line))
    assert start is not None, "writer never became ready"
    return start, acks


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    # Anything the writer printed before dying was acknowledged too.


def drain_acks(proc: subprocess.Popen[str]) -> list[int]:
    assert proc.stdout is not None
    return [int(line) for line in proc.stdout.read().splitlines() if line.strip().isdigit()]


@pytest.mark.slow
def test_store_crash_when_killed_with_sigkill_then_every_acknowledged_sequence_survives(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(4)
    highest_ack = 0
    for cycle in range(6):
        proc = start_writer(data_dir)
        try:
            start, acks = read_acks(proc, min_acks=3, seconds=rng.uniform(0.05, 0.4))
        finally:
            kill(proc)
        acks += drain_acks(proc)
        assert start >= highest_ack, f"cycle {cycle}: restarted at {start} below acknowledged {highest_ack}"
        assert acks == sorted(acks)
        highest_ack = max([highest_ack, *acks])

        store = LmdbStore(data_dir / "lmdb", map_size_mb=256, durability="sync")
        store.open(time.time_ns())
        try:
            assert store.previous_run_crashed
            report = recover(store)
            assert report.last_seq >= highest_ack, (
                f"cycle {cycle}: acknowledged {highest_ack}, journal ends at {report.last_seq}"
            )
            assert report.first_seq == 1 and report.count == report.last_seq
            assert report.events == [event_for(seq) for seq in range(1, report.last_seq + 1)]
            chain = verify(store)
            assert chain.ok, chain.problem
        finally:
            store.close(time.time_ns())
    assert highest_ack > 0
