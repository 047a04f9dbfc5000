"""Persistence: the data-directory lock and the embedded LMDB environment."""

from engine.store.lmdb_store import SCHEMA_VERSION, LmdbStore
from engine.store.lock import DataDirLock

__all__ = ["SCHEMA_VERSION", "DataDirLock", "LmdbStore"]
