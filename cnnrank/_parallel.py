"""Executors for independent runs (layer 0): one place that turns ``--workers N`` into an executor
and maps a function over items in order.

Parallelism in cnnrank comes from running independent runs side by side (each with one BLAS thread,
:mod:`cnnrank._blas`), never from threads inside one run's small products.

The process pool is a :class:`WorkerPool`: its workers die with the process that started them (on
Linux ``prctl(PR_SET_PDEATHSIG, SIGTERM)``; everywhere a watchdog thread that exits the worker when
its parent is gone), ignore ``SIGINT`` and ``SIGHUP`` (the parent's to handle), and :meth:`WorkerPool.stop`
cancels the queued calls and ends the workers at once instead of waiting for the queue to drain.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, Literal

from cnnrank._validation import check_int

__all__ = ["WorkerPool", "available_cores", "default_workers", "make_executor", "map_ordered", "stop_executor"]

#: environment variable that sets the commands' default ``--workers`` (e.g. 1 in the test suite)
WORKERS_ENV = "CNNRANK_WORKERS"

#: seconds between two checks of the worker's watchdog thread (the portable fallback)
WATCHDOG_INTERVAL = 0.5

_PR_SET_PDEATHSIG = 1


def _die_with_parent_linux() -> bool:
    """Ask the kernel to send SIGTERM to this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc / no prctl
        return False


def _watchdog(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # the parent is gone (we were re-parented): nobody will read our results
        time.sleep(WATCHDOG_INTERVAL)


def _noop() -> None:
    """What :class:`WorkerPool` submits once per worker at its start, to start the worker."""


def _worker_init(parent: int) -> None:
    """Initializer of a :class:`WorkerPool` worker: die with ``parent``, leave SIGINT and SIGHUP (a closed
    terminal signals the whole process group) to the parent, which stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent_linux()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watchdog, args=(parent,), name="cnnrank-watchdog", daemon=True).start()


class WorkerPool(ProcessPoolExecutor):
    """A ``ProcessPoolExecutor`` whose workers die with their parent and which can stop at once.

    Parameters
    ----------
    workers : int
        Worker processes (>= 1).

    Notes
    -----
    Used as a context manager, a clean exit waits for the submitted calls (as
    ``ProcessPoolExecutor`` does) and an exit by an exception (a failing call, ``KeyboardInterrupt``)
    calls :meth:`stop`: the queued calls are cancelled and the workers terminated, so the exception
    surfaces at once.
    """

    def __init__(self, workers: int) -> None:
        workers = check_int("workers", workers, minimum=1)
        # "spawn": a forked worker inherits locks held by the parent's other threads (the executor's
        # manager thread, a watchdog) and was seen to hang for good inside threadpoolctl's library scan.
        # A spawned worker starts clean and is still a direct child of this process (for the watchdog).
        super().__init__(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                         initializer=_worker_init, initargs=(os.getpid(),))
        self.workers = workers  #: the number of worker processes
        # start every worker now (the executor spawns them at submits): a spawned worker spends about a
        # second importing, which then overlaps what the caller does before its first call (loading and
        # preparing data). A command's signal waits until the workers have their start-up data: cut in the
        # middle of it, a worker printed "EOFError: Ran out of input" beside the command's one line.
        from cnnrank._signals import deferred

        try:
            with deferred():
                for _ in range(workers):
                    self.submit(_noop)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel every queued call and terminate the workers now (calls running in them are lost)."""
        procs = list((getattr(self, "_processes", None) or {}).values())
        results = getattr(self, "_result_queue", None)  # shutdown() drops the executor's reference
        self.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            try:
                p.terminate()
            except (OSError, ValueError, AttributeError):  # already gone / closed
                pass
        for p in procs:
            try:
                p.join(timeout=5)
            except (OSError, ValueError, AttributeError, AssertionError):
                pass
        # A worker terminated while it wrote a result leaves half a message in the result pipe; the
        # executor's manager thread then waits in recv() for the rest, which never comes because this
        # process holds the pipe's write end too, and the interpreter's exit joins that thread: a hang.
        # With the workers gone, closing our write end turns the wait into EOF (a broken pool) and the
        # thread ends.
        writer = getattr(results, "_writer", None)
        if writer is not None:
            try:
                writer.close()
            except OSError:
                pass

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> Literal[False]:
        if exc_type is None:
            self.shutdown(wait=True)
        else:
            self.stop()
        return False


def available_cores() -> int:
    """The CPUs this process may run on: ``len(os.sched_getaffinity(0))`` (a ``taskset`` or a container's
    CPU set counts), ``os.cpu_count()`` where affinity is unknown, at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """The commands' default ``--workers``: ``$CNNRANK_WORKERS`` when set (an integer >= 1), else
    :func:`available_cores`."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if not text:
        return available_cores()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{WORKERS_ENV}={text!r} is invalid: must be an integer >= 1 (or unset: the CPUs "
                         f"this process may use)")
    return value


def make_executor(workers: int) -> Executor | None:
    """``None`` (run here, one by one) for ``workers == 1``, else a :class:`WorkerPool` of ``workers``.

    The caller shuts it down (``with``, ``shutdown()``, or :func:`stop_executor` on an error).
    """
    workers = check_int("workers", workers, minimum=1)
    if workers == 1:
        return None
    return WorkerPool(workers)


def executor_workers(executor: Executor | None) -> int:
    """How many calls ``executor`` runs at once: 1 for ``None``; :attr:`WorkerPool.workers`; a standard
    library pool's ``max_workers``; the threads of a Dask ``Client.get_executor()``; 1 when it does not
    say."""
    if executor is None:
        return 1
    count = getattr(executor, "workers", None)
    if count is None:  # ProcessPoolExecutor and ThreadPoolExecutor keep it private
        count = getattr(executor, "_max_workers", None)
    if isinstance(count, int) and count >= 1:
        return count
    client = getattr(executor, "_client", None)  # distributed's ClientExecutor
    try:
        threads = sum(client.nthreads().values()) if client is not None else 1
    except Exception:  # a closed or unreachable cluster: plan for one worker
        threads = 1
    return max(int(threads), 1)


def stop_executor(executor: Executor | None) -> None:
    """End ``executor`` without waiting for queued calls when it is a :class:`WorkerPool`, else shut it
    down cancelling the queued calls (running calls of other executors finish first)."""
    if executor is None:
        return
    if isinstance(executor, WorkerPool):
        executor.stop()
    else:
        executor.shutdown(wait=True, cancel_futures=True)


def map_ordered(fn: Callable[..., Any], items: Iterable[Any], executor: Executor | None = None) -> list[Any]:
    """``[fn(x) for x in items]``, on ``executor`` when given (results in the order of ``items``).

    ``fn`` and the items must be picklable for a process pool. The results do not depend on the
    executor: each call gets everything it needs (its seed included) from its item.
    """
    items = list(items)
    if executor is None:
        return [fn(x) for x in items]
    return list(executor.map(fn, items))
