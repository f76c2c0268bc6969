"""The one BLAS-thread policy of the package (layer 0), on threadpoolctl.

The matrix products of one gradient step here are small (e.g. ``384 × 2000 × 80`` for the feature
engine on the paper regime, ``80 × 264 × 264`` for the Gram engine), and a multi-threaded OpenBLAS
spends more on waking and spinning its threads than it gains — ruinously so when the cores are
shared: measured on the 2-core machine with another process running, 25 ms vs 4.8 ms per feature
step and 9 ms vs 0.4 ms per Gram step (2 threads vs 1).

Every caller (``train``, ``train_batched``, ``run_once`` and sweeps, the real-image experiment) asks
:func:`resolve` for the thread limit of its work and runs it inside :func:`blas_threads`:

==========================================  =========================================================
``blas_threads=`` argument                  limit
==========================================  =========================================================
``None``                                    leave BLAS alone
an integer ``k >= 1``                       ``k`` threads
``"auto"``, step under ``SMALL_STEP_FLOPS``   1 thread (products too small for threads to pay)
``"auto"``, ``shared=True`` and a step under  1 thread (runs of a sweep share the cores with each
``MODERATE_STEP_FLOPS``                     other: parallelism comes from the runs)
``"auto"`` otherwise                        leave BLAS alone
==========================================  =========================================================

Results for different thread counts agree to rounding (BLAS blocks differently); for the same setting
they are bit-identical.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

from threadpoolctl import threadpool_limits

__all__ = ["MODERATE_STEP_FLOPS", "SMALL_STEP_FLOPS", "blas_threads", "check_blas_threads", "resolve"]

#: below this many flops per step, ``"auto"`` trains with one BLAS thread. A Gram step on the paper
#: regime (1.1e7 flops) takes 0.36 ms with one thread and 0.39 ms with two on an idle 2-core machine,
#: and 0.4 ms against 9 ms when another process shares the cores; a feature step (2.5e8 flops) is
#: faster with two threads on an idle machine (2.7 vs 4.6 ms), so it is left alone.
SMALL_STEP_FLOPS = 5e7
#: with ``shared=True`` (runs of a sweep, the real-image experiment's sequence of runs), steps below
#: this also use one thread: the default MNIST run took 29 s instead of 85–175 s on the shared machine.
MODERATE_STEP_FLOPS = 1e9


def check_blas_threads(value: object) -> int | str | None:
    """Validate a ``blas_threads`` argument: ``"auto"``, ``None`` or an integer ``>= 1`` (not a bool)."""
    if value is None or value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"blas_threads={value!r} is invalid: must be 'auto', None or an integer >= 1")
    return int(value)


def resolve(blas_threads: object, flops_per_step: float, shared: bool = False) -> int | None:
    """The thread limit for work whose step costs ``flops_per_step`` (table in the module docstring)."""
    value = check_blas_threads(blas_threads)
    if value != "auto":
        return value  # type: ignore[return-value]
    if flops_per_step < SMALL_STEP_FLOPS or (shared and flops_per_step < MODERATE_STEP_FLOPS):
        return 1
    return None


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Run the block with at most ``limit`` BLAS threads (``None``: leave BLAS alone)."""
    if limit is None:
        yield
        return
    with threadpool_limits(limits=int(limit), user_api="blas"):
        yield
