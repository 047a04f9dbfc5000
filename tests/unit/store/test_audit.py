"""The hash-chained audit log: appends chain, verify finds every kind of tampering."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import time
from pathlib import Path

import lmdb
import orjson
import pytest
from store_samples import open_store

from engine.core.fixed import Price
from engine.store import LmdbStore, Persistence
from engine.store.audit import AUDIT_DB, AUDIT_HEAD_DB, GENESIS_HASH, REDACTED, tail, verify

_U64 = struct.Struct(">Q")


async def _write_chain(path: Path, n: int = 10) -> None:
    store = open_store(path)
    p = Persistence(store, clock=lambda: 1_700_000_000_000_000_000)
    p.start()
    for i in range(n):
        p.audit.append(
            actor=f"user:{i % 3}",
            action="SubmitOrder",
            summary={"client_order_id": f"c{i}", "price": Price("1.25"), "api_key": "sekret"},
            result="ACCEPTED" if i % 2 else "DENIED:RISK_MAX_NOTIONAL",
        )
    await p.close()
    store.close(time.time_ns())


def _tamper(path: Path, fn) -> None:
    env = lmdb.open(str(path), max_dbs=32)
    db = env.open_db(AUDIT_DB)
    head = env.open_db(AUDIT_HEAD_DB)
    with env.begin(write=True) as txn:
        fn(txn, db, head)
    env.close()


def _verify(path: Path):
    env = lmdb.open(str(path), max_dbs=32, readonly=True)
    try:
        return verify(env)
    finally:
        env.close()


async def test_audit_when_records_appended_then_chained_and_verified(tmp_path: Path) -> None:
    await _write_chain(tmp_path / "lmdb")
    result = _verify(tmp_path / "lmdb")
    assert result.ok and result.records == 10 and result.first_bad_seq is None
    env = lmdb.open(str(tmp_path / "lmdb"), max_dbs=32, readonly=True)
    records = tail(env, 3)
    env.close()
    assert [r.seq for r in records] == [8, 9, 10]
    assert records[0].hash == records[1].prev_hash and records[2].hash == result.head_hash
    assert records[0].summary == {"client_order_id": "c7", "price": "1.25", "api_key": REDACTED}


async def test_audit_when_first_record_then_prev_hash_is_genesis(persistence: Persistence) -> None:
    record = persistence.audit.append(
        actor="ops", action="Start", summary={"password": "x", "nested": {"token": 1}}
    )
    assert record.seq == 1 and record.prev_hash == GENESIS_HASH
    assert record.summary == {"password": REDACTED, "nested": {"token": REDACTED}}
    second = persistence.audit.append(actor="ops", action="Stop")
    assert second.prev_hash == record.hash
    await persistence.audit.durable()
    assert verify(persistence.store).ok


async def test_audit_when_record_modified_then_verify_reports_it(tmp_path: Path) -> None:
    await _write_chain(tmp_path / "lmdb")

    def modify(txn, db, head) -> None:
        value = bytes(txn.get(_U64.pack(4), db=db))
        txn.put(_U64.pack(4), value.replace(b"ACCEPTED", b"REJECTED"), db=db)

    _tamper(tmp_path / "lmdb", modify)
    result = _verify(tmp_path / "lmdb")
    assert not result.ok and result.first_bad_seq == 4 and "modified" in result.problem


async def test_audit_when_record_modified_and_rehashed_then_chain_break_reported(tmp_path: Path) -> None:
    import hashlib

    await _write_chain(tmp_path / "lmdb")

    def modify(txn, db, head) -> None:
        body = bytes(txn.get(_U64.pack(4), db=db))[64:].replace(b"ACCEPTED", b"REJECTED")
        txn.put(_U64.pack(4), hashlib.sha256(body).hexdigest().encode() + body, db=db)

    _tamper(tmp_path / "lmdb", modify)
    result = _verify(tmp_path / "lmdb")
    assert not result.ok and result.first_bad_seq == 5 and "chain broken" in result.problem


async def test_audit_when_record_deleted_then_verify_reports_it(tmp_path: Path) -> None:
    await _write_chain(tmp_path / "lmdb")
    _tamper(tmp_path / "lmdb", lambda txn, db, head: txn.delete(_U64.pack(6), db=db))
    result = _verify(tmp_path / "lmdb")
    assert not result.ok and result.first_bad_seq == 6 and "deleted" in result.problem


async def test_audit_when_last_record_deleted_then_head_mismatch_reported(tmp_path: Path) -> None:
    await _write_chain(tmp_path / "lmdb")
    _tamper(tmp_path / "lmdb", lambda txn, db, head: txn.delete(_U64.pack(10), db=db))
    result = _verify(tmp_path / "lmdb")
    assert not result.ok and result.first_bad_seq == 10 and "end" in result.problem


async def test_audit_when_record_inserted_then_verify_reports_it(tmp_path: Path) -> None:
    await _write_chain(tmp_path / "lmdb")

    def insert(txn, db, head) -> None:
        # Shift 5..10 up by one and put a forged record at 5 (chained to 4's hash).
        import hashlib

        for seq in range(10, 4, -1):
            value = bytes(txn.get(_U64.pack(seq), db=db))
            txn.put(_U64.pack(seq + 1), value, db=db)
        prev = bytes(txn.get(_U64.pack(4), db=db))[:64].decode()
        body = orjson.dumps(
            {
                "seq": 5,
                "ts_ns": 1,
                "actor": "x",
                "action": "Forged",
                "summary": {},
                "result": "OK",
                "prev_hash": prev,
            },
            option=orjson.OPT_SORT_KEYS,
        )
        txn.put(_U64.pack(5), hashlib.sha256(body).hexdigest().encode() + body, db=db)

    _tamper(tmp_path / "lmdb", insert)
    result = _verify(tmp_path / "lmdb")
    assert not result.ok and result.first_bad_seq == 6


async def test_audit_when_records_reordered_then_verify_reports_it(tmp_path: Path) -> None:
    await _write_chain(tmp_path / "lmdb")

    def swap(txn, db, head) -> None:
        a, b = bytes(txn.get(_U64.pack(3), db=db)), bytes(txn.get(_U64.pack(7), db=db))
        txn.put(_U64.pack(3), b, db=db)
        txn.put(_U64.pack(7), a, db=db)

    _tamper(tmp_path / "lmdb", swap)
    result = _verify(tmp_path / "lmdb")
    assert not result.ok and result.first_bad_seq == 3 and "reordered" in result.problem


async def test_audit_when_reopened_then_chain_continues(tmp_path: Path) -> None:
    await _write_chain(tmp_path / "lmdb", 3)
    await _write_chain(tmp_path / "lmdb", 2)
    result = _verify(tmp_path / "lmdb")
    assert result.ok and result.records == 5


def test_audit_when_store_empty_then_verify_ok(store: LmdbStore) -> None:
    result = verify(store)
    assert result.ok and result.records == 0 and result.head_hash == GENESIS_HASH


async def test_audit_when_summary_not_serialisable_then_refused(persistence: Persistence) -> None:
    from engine.core.errors import ValidationError

    with pytest.raises(ValidationError):
        persistence.audit.append(actor="a", action="b", summary={"big": 1 << 70})
    assert persistence.audit.head_seq == 0


_READ_WHILE_WRITING = """
import sys, threading, time
import lmdb
from engine.store.audit import AUDIT_DB, iter_records, tail, verify

env = lmdb.open(sys.argv[1], max_dbs=32)
started = threading.Event()


def writer() -> None:  # a write transaction that needs the GIL before it ends (the writer thread's)
    with env.begin(write=True) as txn:
        started.set()
        until = time.perf_counter() + 1.0
        while time.perf_counter() < until:
            pass
        txn.put(b"x", b"y")


threading.Thread(target=writer, daemon=True).start()
started.wait()
print(len(tail(env, 3)), sum(1 for _ in iter_records(env)), verify(env).ok, flush=True)
"""


async def test_audit_reads_when_another_thread_holds_a_write_transaction_then_answer_without_it(
    tmp_path: Path,
) -> None:
    """``tail``, ``iter_records`` and ``verify`` read a live engine's environment (the API's audit
    verification, a test reading the tail) while its writer thread may be inside a write transaction.
    They open the audit databases in their own read transactions: ``open_db`` without one takes a
    write transaction, which waits for the writer while holding the GIL the writer needs -- a
    deadlock (this subprocess then never answers)."""
    await _write_chain(tmp_path / "lmdb", n=5)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _READ_WHILE_WRITING, str(tmp_path / "lmdb")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "5", "True"]
