"""Hot backup while a writer process appends, restore into a stopped data dir, and the CLI."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))

from store_writer_process import event_for
from test_store_crash import drain_acks, kill, read_acks, start_writer

from engine.core.errors import StorageError
from engine.store import LmdbStore, recover
from engine.store.audit import verify
from engine.store.backup import backup, restore
from ops import store_cmd


def cli() -> typer.Typer:
    """The registrations the lead adds to ops/cli.py."""
    root = typer.Typer()
    root.add_typer(store_cmd.app, name="audit")
    root.command("backup")(store_cmd.backup_command)
    root.command("restore")(store_cmd.restore_command)
    return root


def _check_restored(data_dir: Path, expected_last: int) -> None:
    store = LmdbStore(data_dir / "lmdb", map_size_mb=256, durability="sync")
    store.open(time.time_ns())
    try:
        report = recover(store)
        assert report.last_seq == expected_last and report.count == expected_last
        assert report.events == [event_for(s) for s in range(1, expected_last + 1)]
        assert verify(store).ok
    finally:
        store.close(time.time_ns())


@pytest.mark.slow
def test_store_backup_when_writer_running_then_restore_gives_consistent_verified_prefix(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    proc = start_writer(data_dir, batch=20)
    try:
        _, acks = read_acks(proc, min_acks=5, seconds=0.2)
        result = backup(data_dir, tmp_path / "bk")
        _, more = read_acks_after(proc)
    finally:
        kill(proc)
    acks += more + drain_acks(proc)
    env_facts = result.manifest["environments"]["lmdb"]
    last = env_facts["last_journal_sequence"]
    assert last >= acks[4]
    assert env_facts["audit_head_seq"] >= 5 and len(env_facts["audit_head_hash"]) == 64
    assert not (tmp_path / "bk" / "engine.lock").exists()
    assert not (tmp_path / "bk" / "lmdb" / "lock.mdb").exists()

    target = tmp_path / "restored"
    restored = restore(tmp_path / "bk", target)
    assert restored.previous is None
    _check_restored(target, last)

    # The source kept growing after the backup: the backup is a prefix of it.
    store = LmdbStore(data_dir / "lmdb", map_size_mb=256, durability="sync")
    store.open(time.time_ns())
    try:
        assert recover(store).last_seq >= max(acks) >= last - 20
    finally:
        store.close(time.time_ns())


def read_acks_after(proc) -> tuple[int, list[int]]:
    """A few more acks after the backup, proving the writer kept going during it."""
    assert proc.stdout is not None
    acks = [int(proc.stdout.readline()) for _ in range(3)]
    return 0, acks


def test_store_restore_when_data_dir_locked_then_refused(tmp_path: Path) -> None:
    source = tmp_path / "data"
    proc = start_writer(source, batch=10)
    try:
        read_acks(proc, min_acks=2, seconds=0)
        backup(source, tmp_path / "bk")
        with pytest.raises(StorageError, match="in use"):
            restore(tmp_path / "bk", source, force=True)
    finally:
        kill(proc)


def test_store_restore_when_target_has_data_then_refused_unless_forced_and_old_kept(tmp_path: Path) -> None:
    source = tmp_path / "data"
    proc = start_writer(source, batch=10)
    try:
        read_acks(proc, min_acks=2, seconds=0)
    finally:
        kill(proc)
    bk = backup(source, tmp_path / "bk")
    with pytest.raises(StorageError, match="already holds data"):
        restore(tmp_path / "bk", source)
    result = restore(tmp_path / "bk", source, force=True)
    assert result.previous is not None and (result.previous / "lmdb" / "data.mdb").exists()
    _check_restored(source, bk.manifest["environments"]["lmdb"]["last_journal_sequence"])


def test_store_restore_when_backup_corrupted_then_refused_and_target_untouched(tmp_path: Path) -> None:
    source = tmp_path / "data"
    proc = start_writer(source, batch=10)
    try:
        read_acks(proc, min_acks=2, seconds=0)
    finally:
        kill(proc)
    backup(source, tmp_path / "bk")
    data = tmp_path / "bk" / "lmdb" / "data.mdb"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(StorageError, match="checksum"):
        restore(tmp_path / "bk", tmp_path / "new")
    assert not (tmp_path / "new" / "lmdb").exists()


def test_store_cli_when_audit_verified_tailed_backed_up_and_restored_then_exit_codes(tmp_path: Path) -> None:
    source = tmp_path / "data"
    proc = start_writer(source, batch=10)
    try:
        read_acks(proc, min_acks=3, seconds=0)
    finally:
        kill(proc)
    runner = CliRunner()
    app = cli()
    ok = runner.invoke(app, ["audit", "verify", "--data-dir", str(source), "--json"])
    assert ok.exit_code == 0, ok.output
    assert orjson.loads(ok.stdout)["ok"] is True
    tail = runner.invoke(app, ["audit", "tail", "-n", "2", "--data-dir", str(source), "--json"])
    assert tail.exit_code == 0 and len(orjson.loads(tail.stdout)) == 2
    assert runner.invoke(app, ["backup", str(tmp_path / "bk"), "--data-dir", str(source)]).exit_code == 0
    refused = runner.invoke(app, ["restore", str(tmp_path / "bk"), "--data-dir", str(source)])
    assert refused.exit_code == 1 and "already holds data" in refused.output
    assert (
        runner.invoke(app, ["restore", str(tmp_path / "bk"), "--data-dir", str(tmp_path / "r")]).exit_code
        == 0
    )

    # Tamper with one audit record: verify exits 1 with a one-line reason.
    import lmdb

    from engine.store.audit import AUDIT_DB

    env = lmdb.open(str(tmp_path / "r" / "lmdb"), max_dbs=32)
    with env.begin(write=True, db=env.open_db(AUDIT_DB)) as txn:
        key, value = next(iter(txn.cursor()))
        txn.put(key, bytes(value).replace(b"crash-test", b"crash-tesT"))
    env.close()
    bad = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path / "r")])
    assert bad.exit_code == 1 and "TAMPERED at seq 1" in bad.output
    missing = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "no AlgoTrendy store" in missing.output
