"""Hot backup and cold restore of a data directory.

``backup(data_dir, dest)`` runs while the engine runs. Each LMDB environment under the data
directory is copied with ``env.copy(compact=True, txn=...)`` inside ONE read transaction, so the
copy is a consistent snapshot, and the manifest facts (last journal sequence, audit head) come from
that same snapshot. Other regular files are copied as they are; lock files (``engine.lock``,
``lock.mdb``) are not. Everything is written to ``dest.partial-<pid>`` and renamed to ``dest`` only
when complete and verified (the copy's audit chain checks and matches the snapshot), so a ``dest``
that exists is a whole backup. Environments are each consistent; there is one today (``lmdb``).

``restore(src, data_dir)`` only restores into a STOPPED engine: it takes the data directory's lock
(the one a running engine holds) and refuses if it is held. It verifies the backup first (files
against the manifest's sha256, the audit chain), builds the new directory next to the target, and
swaps it in with one atomic ``renameat2(RENAME_EXCHANGE)`` (two renames where the filesystem lacks
it), so the data directory is never half restored. Existing data is refused unless ``force``, and
then kept aside as ``.<name>.pre-restore-<time>`` (reported), never deleted.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import shutil
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb
import orjson

from engine.core.errors import StartupError, StorageError
from engine.store.audit import AUDIT_DB, GENESIS_HASH, verify
from engine.store.journal import JOURNAL_DB
from engine.store.lock import LOCK_NAME, DataDirLock
from engine.store.offline import DATA_FILE, MAX_DBS

__all__ = ["MANIFEST_NAME", "BackupResult", "RestoreResult", "backup", "restore"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
_SKIP_FILES = {LOCK_NAME, "lock.mdb"}
_U64 = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class BackupResult:
    dest: Path
    manifest: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RestoreResult:
    data_dir: Path
    manifest: dict[str, Any]
    #: Where the previous contents were moved (``force``), or ``None``.
    previous: Path | None


def backup(data_dir: Path, dest: Path) -> BackupResult:
    """Copy ``data_dir`` to the new directory ``dest`` (hot, consistent per environment)."""
    data_dir = Path(data_dir).resolve()
    dest = Path(dest).resolve()
    if not data_dir.is_dir():
        raise StorageError(f"data directory {data_dir} does not exist")
    if dest.exists():
        raise StorageError(f"backup destination {dest} already exists; choose a new directory")
    if dest.is_relative_to(data_dir):
        raise StorageError(f"backup destination {dest} is inside the data directory {data_dir}")
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    try:
        envs: dict[str, Any] = {}
        files: dict[str, Any] = {}
        for source in _walk(data_dir):
            rel = source.relative_to(data_dir)
            target = partial / rel
            if (source / DATA_FILE).is_file() and source.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                facts = _copy_env(source, target)
                facts["sha256"], facts["bytes"] = _digest(target / DATA_FILE)
                envs[str(rel)] = facts
            elif source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
                _fsync(target)
                digest, size = _digest(target)
                files[str(rel)] = {"sha256": digest, "bytes": size}
        if not envs:
            raise StorageError(f"no LMDB environment found under {data_dir}")
        for rel, facts in envs.items():
            _check_env_copy(partial / rel, facts)
        manifest = {
            "format": MANIFEST_FORMAT,
            "created_at_ns": time.time_ns(),
            "source": str(data_dir),
            "host": socket.gethostname(),
            "environments": envs,
            "files": files,
        }
        _write_manifest(partial / MANIFEST_NAME, manifest)
        _fsync_dir(partial)
        os.rename(partial, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupResult(dest, manifest)


def _walk(root: Path) -> list[Path]:
    """Environment directories (not descended into) and other files, in a stable order."""
    out: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.name in _SKIP_FILES or ".partial-" in entry.name or ".restore-" in entry.name:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if (entry / DATA_FILE).is_file():
                out.append(entry)
            else:
                out.extend(_walk(entry))
        elif entry.is_file():
            out.append(entry)
    return out


def _copy_env(source: Path, target: Path) -> dict[str, Any]:
    """Compact copy inside one read transaction; the journal/audit facts from the same snapshot."""
    try:
        env = lmdb.open(str(source), readonly=True, lock=True, max_dbs=MAX_DBS, subdir=True, readahead=False)
    except lmdb.Error as exc:
        raise StorageError(f"cannot open {source} for backup: {exc}") from None
    try:
        journal_db = _maybe_db(env, JOURNAL_DB)
        audit_db = _maybe_db(env, AUDIT_DB)
        with env.begin() as txn:
            last_seq = _last_key(txn, journal_db)
            audit_seq = _last_key(txn, audit_db)
            audit_hash = GENESIS_HASH
            if audit_db is not None and audit_seq:
                audit_hash = bytes(txn.get(_U64.pack(audit_seq), db=audit_db)[:64]).decode("ascii")
            env.copy(str(target), compact=True, txn=txn)
    except lmdb.Error as exc:
        raise StorageError(f"backup of {source} failed: {exc}") from None
    finally:
        env.close()
    _fsync(target / DATA_FILE)
    return {"last_journal_sequence": last_seq, "audit_head_seq": audit_seq, "audit_head_hash": audit_hash}


def _maybe_db(env: lmdb.Environment, name: bytes) -> Any | None:
    try:
        return env.open_db(name, create=False)
    except lmdb.NotFoundError:
        return None


def _last_key(txn: lmdb.Transaction, db: Any | None) -> int:
    if db is None:
        return 0
    cursor = txn.cursor(db=db)
    return _U64.unpack(cursor.key())[0] if cursor.last() else 0


def _check_env_copy(env_dir: Path, facts: dict[str, Any]) -> None:
    """The copy's audit chain verifies and matches the snapshot's head and journal end."""
    try:
        env = lmdb.open(str(env_dir), readonly=True, lock=False, max_dbs=MAX_DBS, subdir=True)
    except lmdb.Error as exc:
        raise StorageError(f"cannot open the copy {env_dir}: {exc}") from None
    try:
        result = verify(env)
        journal_db = _maybe_db(env, JOURNAL_DB)
        with env.begin() as txn:
            last_seq = _last_key(txn, journal_db)
    finally:
        env.close()
    if not result.ok:
        raise StorageError(f"audit chain of {env_dir} does not verify: {result.problem}")
    if (result.head_seq, result.head_hash) != (facts["audit_head_seq"], facts["audit_head_hash"]):
        raise StorageError(f"audit head of {env_dir} differs from the snapshot it was copied in")
    if last_seq != facts["last_journal_sequence"]:
        raise StorageError(
            f"journal of {env_dir} ends at {last_seq}, the snapshot at {facts['last_journal_sequence']}"
        )


# -- restore -------------------------------------------------------------------------------------
def restore(src: Path, data_dir: Path, *, force: bool = False) -> RestoreResult:
    """Restore the backup ``src`` into the stopped engine's ``data_dir``."""
    src = Path(src).resolve()
    data_dir = Path(data_dir).resolve()
    manifest = read_manifest(src)
    verify_backup(src, manifest)
    lock = DataDirLock(data_dir)
    try:
        lock.acquire()
    except StartupError as exc:
        raise StorageError(f"cannot restore: {exc.message}") from None
    try:
        existing = [p for p in data_dir.iterdir() if p.name != LOCK_NAME]
        if existing and not force:
            raise StorageError(
                f"data directory {data_dir} already holds data ({', '.join(sorted(p.name for p in existing))}); "
                "pass --force to replace it (the current contents are kept aside)"
            )
        staging = data_dir.with_name(f".{data_dir.name}.restore-{os.getpid()}")
        if staging.exists():
            shutil.rmtree(staging)
        try:
            _populate(src, staging, manifest)
            aside = data_dir.with_name(f".{data_dir.name}.pre-restore-{time.strftime('%Y%m%dT%H%M%S')}")
            _swap_in(staging, data_dir, aside)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        lock.release()
    previous: Path | None = aside
    if not existing:
        shutil.rmtree(aside, ignore_errors=True)
        previous = None
    return RestoreResult(data_dir, manifest, previous)


def read_manifest(src: Path) -> dict[str, Any]:
    path = Path(src) / MANIFEST_NAME
    try:
        manifest = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise StorageError(f"{src} is not an AlgoTrendy backup (no {MANIFEST_NAME})") from None
    except orjson.JSONDecodeError as exc:
        raise StorageError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise StorageError(
            f"{path}: unsupported backup format {manifest.get('format') if isinstance(manifest, dict) else '?'}"
        )
    return manifest


def verify_backup(src: Path, manifest: dict[str, Any]) -> None:
    """Every file matches its sha256 and every environment's audit chain verifies."""
    for rel, facts in manifest["environments"].items():
        digest, _ = _digest(src / rel / DATA_FILE)
        if digest != facts["sha256"]:
            raise StorageError(f"backup {src}: {rel}/{DATA_FILE} does not match its manifest checksum")
        _check_env_copy(src / rel, facts)
    for rel, facts in manifest["files"].items():
        digest, _ = _digest(src / rel)
        if digest != facts["sha256"]:
            raise StorageError(f"backup {src}: {rel} does not match its manifest checksum")


def _populate(src: Path, staging: Path, manifest: dict[str, Any]) -> None:
    staging.mkdir(parents=True)
    for rel in manifest["environments"]:
        (staging / rel).mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel / DATA_FILE, staging / rel / DATA_FILE)
        _fsync(staging / rel / DATA_FILE)
        _fsync_dir(staging / rel)
    for rel in manifest["files"]:
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, staging / rel)
        _fsync(staging / rel)
    _write_manifest(staging / "restored-from.json", {**manifest, "restored_from": str(src)})
    _fsync_dir(staging)


def _swap_in(staging: Path, data_dir: Path, aside: Path) -> None:
    """Atomically make ``staging`` the data directory; the old contents end up at ``aside``."""
    if _rename_exchange(staging, data_dir):
        os.rename(staging, aside)
    else:
        os.rename(data_dir, aside)
        os.rename(staging, data_dir)
    _fsync_dir(data_dir.parent)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _rename_exchange(a: Path, b: Path) -> bool:
    """``renameat2(a, b, RENAME_EXCHANGE)``; ``False`` where the kernel or filesystem lacks it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, f"renameat2 {a} <-> {b}: {os.strerror(err)}")


# -- small file helpers ---------------------------------------------------------------------------
def _digest(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    _fsync(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
