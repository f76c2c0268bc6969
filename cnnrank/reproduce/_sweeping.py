"""The executor of a command that runs a sweep: ``--workers N`` or ``--dask ADDRESS`` (and
``--cell-by-cell``), with SIGTERM treated like Ctrl-C (queued cells cancelled, workers ended, finished
cells kept in the store)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path


def add_executor_arguments(parser: argparse.ArgumentParser, grouping: str) -> None:
    """``--workers``, ``--dask`` and ``--cell-by-cell`` (``grouping``: what runs together by default)."""
    parser.add_argument("--workers", type=int, default=1, help="processes (default: 1, in this process)")
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


@contextlib.contextmanager
def keep_store_on_interrupt(store: Path) -> Iterator[None]:
    """On a signal inside the block, note on the :class:`~cnnrank._signals.Interrupted` that the
    finished cells are kept in ``store`` (when it holds any): the command line's one line says so."""
    from cnnrank._signals import Interrupted

    try:
        yield
    except Interrupted as exc:
        cells = store / "cells"
        if not exc.kept and cells.is_dir() and any(cells.glob("*.json")):
            exc.kept = f"finished cells are kept in {store} (re-run the command to resume)"
        raise


@contextlib.contextmanager
def sweep_executor(workers: int, dask: str | None = None) -> Iterator[Executor | None]:
    """The executor for the block (``None``: run the cells here, one by one).

    A local pool is stopped at once when the block raises (interrupt, failing cell) and shut down when it
    ends; a Dask client is closed. Signals are the command line's (:mod:`cnnrank._signals`: SIGINT,
    SIGTERM and SIGHUP raise ``Interrupted``, a ``KeyboardInterrupt``, for the whole command).
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
