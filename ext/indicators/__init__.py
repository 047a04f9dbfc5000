"""Indicator kernels: Numba batch kernels (``*_nb``) and Cython streaming classes (``stream``).

Numba's ``cache=True`` keys a cached kernel on its own module's source only, so a kernel that calls a
changed kernel in a sibling module would load stale machine code. On import, the caches of this
package are dropped whenever any kernel source changed (one hash over all of them).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _drop_stale_numba_caches() -> None:
    digest = hashlib.sha256()
    for source in sorted(_HERE.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    cache_dir = _HERE / "__pycache__"
    stamp = cache_dir / "kernels.sha256"
    current = digest.hexdigest()
    try:
        if stamp.read_text() == current:
            return
    except OSError:
        pass
    try:
        cache_dir.mkdir(exist_ok=True)
        for cached in [*cache_dir.glob("*.nbi"), *cache_dir.glob("*.nbc")]:
            cached.unlink(missing_ok=True)
        stamp.write_text(current)
    except OSError:  # read-only install: Numba then compiles in memory
        pass


_drop_stale_numba_caches()
