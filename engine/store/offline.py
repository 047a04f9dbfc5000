"""Opening an engine's LMDB from another process (tools: audit verify/tail, backup), read-only.

LMDB supports readers in several processes at once; a read-only environment takes read
transactions (a consistent snapshot each) without ever blocking the engine's writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb

from engine.core.errors import StorageError

__all__ = ["LMDB_DIR", "lmdb_dir", "open_readonly"]

#: The engine's environment inside the data directory (``engine.app``: ``data_dir / "lmdb"``).
LMDB_DIR = "lmdb"
DATA_FILE = "data.mdb"
MAX_DBS = 32
#: Readers map more address space than any engine will grow to (a read-only map reserves address
#: space, not memory). A reader whose map is smaller than the writer's current map size gets
#: MDB_MAP_RESIZED from every new transaction once the engine has grown the store.
READER_MAP_SIZE = 1 << 40


def lmdb_dir(path: Path) -> Path:
    """The LMDB environment directory for a data directory, a backup, or the environment itself."""
    path = Path(path)
    if (path / LMDB_DIR / DATA_FILE).is_file():
        return path / LMDB_DIR
    if (path / DATA_FILE).is_file():
        return path
    raise StorageError(f"no AlgoTrendy store at {path} (expected {path / LMDB_DIR / DATA_FILE})")


@contextmanager
def open_readonly(path: Path) -> Iterator[lmdb.Environment]:
    """The environment at ``path`` (see ``lmdb_dir``) opened read-only, closed on exit."""
    directory = lmdb_dir(path)
    try:
        env = lmdb.open(
            str(directory),
            readonly=True,
            lock=True,
            max_dbs=MAX_DBS,
            subdir=True,
            readahead=False,
            map_size=READER_MAP_SIZE,
        )
    except lmdb.Error as exc:
        raise StorageError(f"cannot open {directory} read-only: {exc}") from None
    try:
        yield env
    finally:
        env.close()
