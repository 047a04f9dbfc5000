"""Compiled kernels (Cython and Numba), installed as ``engine.ext``.

The bottom layer: imports NumPy and libc only, never ``engine``. Entry points validate their inputs;
``_c`` functions trust the caller. There is no pure-Python fallback: if a kernel fails to import the
engine refuses to start (see ``engine.core.kernels``).
"""
