"""The audit log: append-only and hash-chained (named LMDB database ``audit``, key = u64 sequence).

Each record is ``{seq, ts_ns, actor, action, summary, result, prev_hash}`` serialised canonically
(orjson, sorted keys) and stored as ``hash || body`` where ``hash = sha256(body)`` in hex and
``prev_hash`` is the previous record's hash (``GENESIS_HASH`` for seq 1). Hashing the stored bytes
exactly means verification never depends on re-serialising. Secrets never enter ``summary``: keys
that look like credentials (password, token, api_key, secret, ...) are replaced by ``[REDACTED]``.

The head ``(seq, hash)`` is written to ``audit.head`` in the same transaction as the record, so
``verify`` also detects records cut from the end. ``verify`` detects a modified, deleted, inserted
or reordered record. What a hash chain cannot do alone: someone with write access could rewrite the
whole chain from the first changed record on, head included. Anchor the head outside the data
directory to close that: backups record it in their manifest, and ``algotrendy audit verify --json``
prints it for an external log.

Records are written by the store's writer thread (same FIFO and transactions as the journal), so
an audit record appended before a journal event is durable no later than that event.
"""

from __future__ import annotations

import hashlib
import re
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import lmdb
import orjson

from engine.core.errors import ValidationError
from engine.store.lmdb_store import LmdbStore
from engine.store.writer import StoreWriter

__all__ = [
    "AUDIT_DB",
    "AUDIT_HEAD_DB",
    "GENESIS_HASH",
    "AuditLog",
    "AuditRecord",
    "AuditVerification",
    "verify",
]

AUDIT_DB = b"audit"
AUDIT_HEAD_DB = b"audit.head"
_HEAD_KEY = b"head"
GENESIS_HASH = "0" * 64
_U64 = struct.Struct(">Q")
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|private|credential|authori[sz]ation|signature|cookie",
    re.IGNORECASE,
)
REDACTED = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    ts_ns: int
    actor: str
    action: str
    summary: dict[str, Any]
    result: str
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts_ns": self.ts_ns,
            "actor": self.actor,
            "action": self.action,
            "summary": self.summary,
            "result": self.result,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class AuditVerification:
    ok: bool
    records: int
    first_bad_seq: int | None
    problem: str
    head_seq: int
    head_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
        }


#: Whether a summary key looks like a credential, by key: every audited call of a method has the
#: same few keys, so the pattern runs once per key, not once per key per record.
_secret_keys: dict[str, bool] = {}
_SECRET_KEYS_MAX = 4096
_PLAIN = frozenset((str, int, bool, float, type(None)))


def _is_secret(key: str) -> bool:
    secret = _secret_keys.get(key)
    if secret is None:
        secret = _SECRET_KEY.search(key) is not None
        if len(_secret_keys) >= _SECRET_KEYS_MAX:
            _secret_keys.clear()
        _secret_keys[key] = secret
    return secret


def redact(value: Any) -> Any:
    """``value`` with credential-looking keys replaced, recursively (plain values are taken as they
    are, without a call each: an audit summary is mostly strings and numbers)."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Mapping):
        out = {}
        secret_keys = _secret_keys
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            secret = secret_keys.get(key)
            if secret is None:
                secret = _is_secret(key)
            if secret:
                out[key] = REDACTED
            elif type(v) in _PLAIN:
                out[key] = v
            else:
                out[key] = redact(v)
        return out
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _PLAIN else redact(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    # Exact decimals: Price, Quantity, Money, Decimal all print exactly.
    return str(value)


def _canonical(body: Mapping[str, Any]) -> bytes:
    return orjson.dumps(body, default=_json_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


class AuditLog:
    """Appends audit records on the loop thread; the writer thread stores them."""

    def __init__(
        self, store: LmdbStore, writer: StoreWriter, *, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self._store = store
        self._writer = writer
        self._clock = clock
        self._db = store.db(AUDIT_DB)
        self._head_db = store.db(AUDIT_HEAD_DB)
        self._channel = writer.channel(self._db, append_only=True)
        self._head_channel = writer.channel(self._head_db, append_only=False)
        self.head_seq, self.head_hash = _read_head(store.env, self._db)
        self._last_ticket = 0

    def append(
        self,
        *,
        actor: str,
        action: str,
        summary: Mapping[str, Any] | None = None,
        result: str = "OK",
        ts_ns: int | None = None,
    ) -> AuditRecord:
        """Chain and queue one record (loop thread); returns it as ``tail`` will read it back."""
        ts_ns = self._clock() if ts_ns is None else ts_ns
        prev_hash = self.head_hash
        clean = self._chain(actor, action, summary, result, ts_ns)
        return AuditRecord(
            self.head_seq,
            ts_ns,
            actor,
            action,
            orjson.loads(orjson.dumps(clean, default=_json_default)),
            result,
            prev_hash,
            self.head_hash,
        )

    def record(self, *, actor: str, action: str, summary: Mapping[str, Any] | None, result: str) -> None:
        """``append`` for the API's per-call hook, which needs no record back (one JSON round trip
        of the summary less per call)."""
        self._chain(actor, action, summary, result, self._clock())

    def _chain(
        self, actor: str, action: str, summary: Mapping[str, Any] | None, result: str, ts_ns: int
    ) -> dict[str, Any]:
        """Redact, serialise, hash and queue the next record; returns its redacted summary."""
        if not actor or not action:
            raise ValidationError("actor" if not actor else "action", "must not be empty")
        seq = self.head_seq + 1
        clean = redact(summary) if summary else {}
        body = {
            "seq": seq,
            "ts_ns": ts_ns,
            "actor": actor,
            "action": action,
            "summary": clean,
            "result": result,
            "prev_hash": self.head_hash,
        }
        try:
            body_bytes = _canonical(body)
        except TypeError as exc:
            raise ValidationError("summary", f"cannot be serialised: {exc}") from None
        digest = hashlib.sha256(body_bytes).hexdigest()
        hex_digest = digest.encode()
        key = _U64.pack(seq)
        self._last_ticket = self._writer.enqueue_many(
            (
                (self._channel, key, hex_digest + body_bytes),
                (self._head_channel, _HEAD_KEY, key + hex_digest),
            )
        )
        self.head_seq, self.head_hash = seq, digest
        return clean

    def durable(self) -> Any:
        """A future resolved once every record appended so far is committed."""
        return self._writer.wait(self._last_ticket)

    def committed(self) -> Any:
        """Make every record appended so far durable: ``None`` when it is already (with ``async``
        durability the store commits on the loop, so this commits now -- one transaction for
        whatever is queued, no loop round trip), else the future that resolves once it is."""
        if self._last_ticket <= self._writer.committed_ticket or self._writer.commit_pending():
            return None
        return self._writer.wait(self._last_ticket)

    def tail(self, n: int = 20) -> list[AuditRecord]:
        return tail(self._store.env, n, db=self._db)


# -- reading and verification (any process; read-only) ------------------------------------------
def _parse(value: bytes) -> tuple[str, dict[str, Any]]:
    return value[:64].decode("ascii"), orjson.loads(value[64:])


def _record(value: bytes) -> AuditRecord:
    digest, body = _parse(value)
    return AuditRecord(
        body["seq"],
        body["ts_ns"],
        body["actor"],
        body["action"],
        body["summary"],
        body["result"],
        body["prev_hash"],
        digest,
    )


def _read_head(env: lmdb.Environment, db: Any) -> tuple[int, str]:
    """The head of the chain as stored in the audit database itself (last record)."""
    with env.begin(db=db) as txn:
        cursor = txn.cursor()
        if not cursor.last():
            return 0, GENESIS_HASH
        seq = _U64.unpack(cursor.key())[0]
        return seq, bytes(cursor.value()[:64]).decode("ascii")


def _open_db(env: lmdb.Environment, txn: lmdb.Transaction, name: bytes) -> Any | None:
    """An existing named database, opened in the read transaction ``txn`` that will use it (None if
    there is none). Without a transaction, ``open_db`` takes a *write* one: on a running engine's
    environment that waits for the writer thread's transaction while holding the GIL the writer needs
    to finish it -- a deadlock (seen with ``sync`` durability: the API's audit verification, a test
    reading the tail). A handle opened in a read transaction is only good inside it."""
    try:
        return env.open_db(name, txn=txn, create=False)
    except lmdb.NotFoundError:
        return None


def iter_records(env: lmdb.Environment, *, chunk: int = 4096, db: Any = None) -> Iterator[tuple[int, bytes]]:
    """``(key seq, stored bytes)`` in key order, in short read transactions."""
    next_key = _U64.pack(0)
    while True:
        rows: list[tuple[int, bytes]] = []
        with env.begin() as txn:
            handle = db if db is not None else _open_db(env, txn, AUDIT_DB)
            if handle is None:
                return
            cursor = txn.cursor(db=handle)
            if not cursor.set_range(next_key):
                return
            for key, value in cursor:
                rows.append((_U64.unpack(key)[0], bytes(value)))
                if len(rows) >= chunk:
                    break
        if not rows:
            return
        yield from rows
        if rows[-1][0] == (1 << 64) - 1:
            return
        next_key = _U64.pack(rows[-1][0] + 1)


def tail(env: lmdb.Environment, n: int = 20, *, db: Any = None) -> list[AuditRecord]:
    """The last ``n`` records, oldest first."""
    if n <= 0:
        return []
    out: list[AuditRecord] = []
    with env.begin() as txn:
        handle = db if db is not None else _open_db(env, txn, AUDIT_DB)
        if handle is None:
            return []
        cursor = txn.cursor(db=handle)
        if cursor.last():
            out.append(_record(bytes(cursor.value())))
            while len(out) < n and cursor.prev():
                out.append(_record(bytes(cursor.value())))
    return out[::-1]


def verify(source: LmdbStore | lmdb.Environment) -> AuditVerification:
    """Walk the whole chain; the first problem found is reported with its sequence."""
    env = source.env if isinstance(source, LmdbStore) else source
    prev_hash = GENESIS_HASH
    expected = 1
    count = 0

    def bad(seq: int | None, problem: str) -> AuditVerification:
        return AuditVerification(False, count, seq, problem, expected - 1, prev_hash)

    for key_seq, value in iter_records(env):
        if len(value) < 65:
            return bad(key_seq, f"record {key_seq} is truncated ({len(value)} bytes)")
        try:
            digest, body = _parse(value)
        except (UnicodeDecodeError, orjson.JSONDecodeError):
            return bad(key_seq, f"record {key_seq} is not a valid audit record (modified)")
        if hashlib.sha256(value[64:]).hexdigest() != digest:
            return bad(key_seq, f"record {key_seq} was modified: its hash does not match its content")
        if not isinstance(body, dict) or body.get("seq") != key_seq:
            stated = body.get("seq") if isinstance(body, dict) else None
            return bad(
                key_seq, f"record stored at {key_seq} says seq {stated}: records were reordered or moved"
            )
        if key_seq != expected:
            what = "deleted" if key_seq > expected else "inserted"
            return bad(min(key_seq, expected), f"records {what}: expected seq {expected}, found {key_seq}")
        if body.get("prev_hash") != prev_hash:
            return bad(
                key_seq,
                f"chain broken at {key_seq}: prev_hash does not match record {key_seq - 1} "
                "(a record was modified, inserted or removed before it)",
            )
        prev_hash = digest
        expected += 1
        count += 1
    stored_head = None
    with env.begin() as txn:
        head_db = _open_db(env, txn, AUDIT_HEAD_DB)
        if head_db is not None:
            stored_head = txn.get(_HEAD_KEY, db=head_db)
            stored_head = None if stored_head is None else bytes(stored_head)
    if stored_head is None:
        if count:
            return bad(None, "the chain head marker is missing")
    else:
        head_seq = _U64.unpack(stored_head[:8])[0]
        head_hash = bytes(stored_head[8:]).decode("ascii", "replace")
        if head_seq != count or head_hash != prev_hash:
            if head_seq > count:
                return bad(
                    count + 1,
                    f"records deleted from the end: the head says {head_seq}, the chain ends at {count}",
                )
            return bad(
                head_seq or None, f"the chain head ({head_seq}) does not match the last record ({count})"
            )
    return AuditVerification(True, count, None, "", count, prev_hash)
