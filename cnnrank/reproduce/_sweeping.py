"""The executor of a command that runs a sweep: ``--workers N`` or ``--dask ADDRESS`` (and
``--cell-by-cell``), with SIGTERM treated like Ctrl-C (queued cells cancelled, workers ended, finished
cells kept in the store)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any


def add_executor_arguments(parser: argparse.ArgumentParser, grouping: str) -> None:
    """``--workers``, ``--dask`` and ``--cell-by-cell`` (``grouping``: what runs together by default)."""
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1: run in this process)")
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="run on a Dask distributed scheduler at ADDRESS (needs the 'dist' extra)")
    parser.add_argument("--cell-by-cell", action="store_true", dest="cell_by_cell",
                        help=f"run every cell alone (default: {grouping} run together as one batched run, same "
                             f"numbers to rounding level)")


def check_executor_arguments(args: argparse.Namespace) -> None:
    """Refuse ``--workers`` < 1, ``--workers`` with ``--dask``, and ``--dask`` without the 'dist' extra
    (before anything is written)."""
    if args.workers < 1:
        raise ValueError(f"--workers {args.workers} is invalid: must be an integer >= 1")
    if args.dask is not None and args.workers != 1:
        raise ValueError("--workers is invalid with --dask: the Dask cluster decides the workers")
    if args.dask is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError("--dask is invalid here: install the 'dist' extra (pip install 'cnnrank[dist]')") from None


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signum}")


@contextlib.contextmanager
def sweep_executor(workers: int, dask: str | None = None) -> Iterator[Executor | None]:
    """The executor for the block (``None``: run the cells here, one by one).

    A local pool is stopped at once when the block raises (interrupt, failing cell) and shut down when it
    ends; a Dask client is closed. SIGTERM raises ``KeyboardInterrupt`` inside the block.
    """
    from cnnrank._parallel import make_executor, stop_executor

    client = None
    if dask is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("--dask is invalid here: install the 'dist' extra (pip install 'cnnrank[dist]')") from None
        client = Client(dask)
        executor: Executor | None = client.get_executor()
    else:
        executor = make_executor(workers)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        try:
            yield executor
        except BaseException:
            if client is None:
                stop_executor(executor)
            raise
        finally:
            if client is not None:
                client.close()
            elif executor is not None:
                executor.shutdown()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
