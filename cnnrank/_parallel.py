"""Executors for independent runs (layer 0): one place that turns ``--workers N`` into an executor
and maps a function over items in order.

Parallelism in cnnrank comes from running independent runs side by side (each with one BLAS thread,
:mod:`cnnrank._blas`), never from threads inside one run's small products.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import Any

from cnnrank._validation import check_int

__all__ = ["make_executor", "map_ordered"]


def make_executor(workers: int) -> Executor | None:
    """``None`` (run here, one by one) for ``workers == 1``, else a ``ProcessPoolExecutor(workers)``.

    The caller shuts it down (``with`` or ``shutdown()``).
    """
    workers = check_int("workers", workers, minimum=1)
    if workers == 1:
        return None
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers)


def map_ordered(fn: Callable[..., Any], items: Iterable[Any], executor: Executor | None = None) -> list[Any]:
    """``[fn(x) for x in items]``, on ``executor`` when given (results in the order of ``items``).

    ``fn`` and the items must be picklable for a process pool. The results do not depend on the
    executor: each call gets everything it needs (its seed included) from its item.
    """
    items = list(items)
    if executor is None:
        return [fn(x) for x in items]
    return list(executor.map(fn, items))
