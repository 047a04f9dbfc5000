"""Persistence: the data-directory lock, the LMDB environment, and what lives in it.

- ``LmdbStore``: the environment (opened once; named databases; ``meta``; durability).
- ``Persistence``: the facade the app builds on an open store: one ``StoreWriter`` thread (group
  commit) shared by the ``Journal`` (events), the ``StateStore`` (snapshots, limits, sequences) and
  the ``AuditLog`` (hash-chained).
- ``CODEC``: exact, versioned encoding of events, commands and registered state classes.
- ``recover``: read the journal back fast; ``backup``/``restore``: hot copy, cold restore.
"""

from engine.store.audit import AuditLog, AuditRecord, AuditVerification
from engine.store.codec import CODEC, Codec
from engine.store.journal import Journal
from engine.store.lmdb_store import SCHEMA_VERSION, LmdbStore
from engine.store.lock import DataDirLock
from engine.store.persistence import Persistence
from engine.store.recovery import RecoveryReport, recover
from engine.store.state import StateStore
from engine.store.writer import StoreWriter

__all__ = [
    "CODEC",
    "SCHEMA_VERSION",
    "AuditLog",
    "AuditRecord",
    "AuditVerification",
    "Codec",
    "DataDirLock",
    "Journal",
    "LmdbStore",
    "Persistence",
    "RecoveryReport",
    "StateStore",
    "StoreWriter",
    "recover",
]
