"""Limit the number of BLAS threads around a block of code.

The matrix products of one gradient step here are small (e.g. ``384 × 2000 × 80`` for the feature
engine on the paper regime, ``80 × 264 × 264`` for the Gram engine), and a multi-threaded OpenBLAS
spends more on waking and spinning its threads than it gains — ruinously so when the cores are
shared: measured on the 2-core machine with another process running, 25 ms vs 4.8 ms per feature
step and 9 ms vs 0.4 ms per Gram step (2 threads vs 1). :func:`blas_threads` uses ``threadpoolctl``
when it is installed, and otherwise calls OpenBLAS's ``*_set_num_threads`` on the OpenBLAS libraries
loaded in this process (Linux, read from ``/proc/self/maps``); elsewhere it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

_SET = ("openblas_set_num_threads", "openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
        "scipy_openblas_set_num_threads64_")
_GET = ("openblas_get_num_threads", "openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
        "scipy_openblas_get_num_threads64_")
_handles: list[tuple[object, object]] | None = None


def _openblas() -> list[tuple[object, object]]:
    """``(set, get)`` function pairs of every OpenBLAS loaded in this process."""
    global _handles
    if _handles is not None:
        return _handles
    found: list[tuple[object, object]] = []
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, s) for s in _SET if hasattr(lib, s)), None)
        getter = next((getattr(lib, g) for g in _GET if hasattr(lib, g)), None)
        if setter is not None and getter is not None:
            setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
            found.append((setter, getter))
    _handles = found
    return found


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Run the block with at most ``limit`` BLAS threads (``None``: leave BLAS alone)."""
    if limit is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=int(limit), user_api="blas"):
            yield
        return
    handles = _openblas()
    before = [get() for _, get in handles]
    for set_, _ in handles:
        set_(int(limit))
    try:
        yield
    finally:
        for (set_, _), n in zip(handles, before):
            set_(n)
