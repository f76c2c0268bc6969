"""The executor of a command that runs a sweep: ``--workers N`` or ``--dask ADDRESS`` with
``--dask-timeout`` (and ``--cell-by-cell``). On a signal (SIGINT, SIGTERM, SIGHUP: :mod:`cnnrank._signals`)
or an error the queued cells are cancelled and the workers ended; the finished cells stay in the store,
and :func:`keep_store_on_interrupt` has the command's one line say where."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

#: seconds ``--dask`` waits for the scheduler (to connect, for a first worker, to reconnect) by default
DASK_TIMEOUT = 60.0


#: the help of every command's ``--workers``
WORKERS_HELP = ("worker processes (default: the CPUs this process may use, or $CNNRANK_WORKERS; 1: run in this "
                "process); the numbers are the same bits for any number")


def add_workers_argument(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` (default ``None``: :func:`resolve_workers` gives the CPUs this process may use)."""
    parser.add_argument("--workers", type=int, default=None, metavar="N", help=WORKERS_HELP)


def resolve_workers(args: argparse.Namespace) -> int:
    """``args.workers`` (set to :func:`cnnrank._parallel.default_workers` when not given; 1 with
    ``--dask``), checked to be >= 1 (ValueError naming ``--workers``)."""
    from cnnrank._parallel import default_workers

    if getattr(args, "workers", None) is None:
        args.workers = 1 if getattr(args, "dask", None) is not None else default_workers()
    if isinstance(args.workers, bool) or not isinstance(args.workers, int) or args.workers < 1:
        raise ValueError(f"--workers {args.workers} is invalid: must be an integer >= 1")
    return args.workers


def add_executor_arguments(parser: argparse.ArgumentParser, grouping: str) -> None:
    """``--workers``, ``--dask`` and ``--cell-by-cell`` (``grouping``: what runs together by default)."""
    add_workers_argument(parser)
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="run on a Dask distributed scheduler at ADDRESS (needs the 'dist' extra)")
    parser.add_argument("--dask-timeout", type=float, default=DASK_TIMEOUT, dest="dask_timeout", metavar="SECONDS",
                        help="with --dask: give up, in one line, when the scheduler cannot be reached, has no "
                             "worker, or is lost for this long")
    parser.add_argument("--cell-by-cell", action="store_true", dest="cell_by_cell",
                        help=f"run every cell alone (default: {grouping} run together as one batched run, same "
                             f"numbers to rounding level)")


def check_executor_arguments(args: argparse.Namespace) -> None:
    """Refuse ``--workers`` < 1, ``--workers`` with ``--dask``, and ``--dask`` without the 'dist' extra
    (before anything is written). An unset ``--workers`` becomes the default (:func:`resolve_workers`)."""
    if args.workers is not None and (isinstance(args.workers, bool) or args.workers < 1):
        raise ValueError(f"--workers {args.workers} is invalid: must be an integer >= 1")
    if args.dask is not None and args.workers is not None and args.workers != 1:
        raise ValueError("--workers is invalid with --dask: the Dask cluster decides the workers")
    resolve_workers(args)
    timeout = getattr(args, "dask_timeout", DASK_TIMEOUT)
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"--dask-timeout {timeout:g} is invalid: must be a number of seconds > 0")
    if args.dask is not None and args.workers != 1:
        raise ValueError("--workers is invalid with --dask: the Dask cluster decides the workers")
    if args.dask is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError("--dask is invalid here: install the 'dist' extra (pip install 'cnnrank[dist]')") from None
        _check_dask_address(args.dask)


def _check_dask_address(address: str) -> None:
    """Refuse an address no scheduler of another process can have (no port, ``inproc://``), before a
    client is made (a client made on it cannot be closed cleanly)."""
    from distributed.comm import get_address_host_port, parse_address

    try:
        protocol, _ = parse_address(address)
        if protocol == "inproc":
            raise ValueError("an inproc:// address names a scheduler inside one process")
        get_address_host_port(address)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"--dask {address!r} is invalid: {' '.join(str(exc).split())[:160]} "
                         f"(give a scheduler's address, e.g. tcp://HOST:8786)") from None


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


def _dask_client(address: str, timeout: float) -> Any:
    """A client of the scheduler at ``address`` that has at least one worker, within ``timeout`` seconds
    (else ``ConnectionError``, one line naming the address)."""
    from distributed import Client

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, or the comm layer's ValueError
        raise ConnectionError(f"--dask {address}: cannot reach a Dask scheduler there within {timeout:g} s "
                              f"({' '.join(str(exc).split())[:160] or type(exc).__name__}); check the address, "
                              f"or raise --dask-timeout") from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):  # distributed's TimeoutError is the builtin one
        client.close(timeout=timeout)
        raise ConnectionError(f"--dask {address}: the scheduler has no worker after {timeout:g} s; start workers "
                              f"(dask worker {address}), or raise --dask-timeout") from None
    return client


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's own log lines (a lost connection, a failed reconnect, and the errors of tornado, its network
    layer, such as a closed stream) silenced in the block: the command reports what happened in one line."""
    names = ["distributed", "tornado"] + [n for n in logging.root.manager.loggerDict
                                          if n.startswith(("distributed.", "tornado."))]
    loggers = [logging.getLogger(n) for n in names]  # dask's configuration gives some their own level
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@contextlib.contextmanager
def sweep_executor(workers: int, dask: str | None = None, dask_timeout: float = DASK_TIMEOUT
                   ) -> Iterator[Executor | None]:
    """The executor for the block (``None``: run the cells here, one by one).

    A local pool is stopped at once when the block raises (interrupt, failing cell) and shut down when it
    ends; a Dask client is closed. With ``dask``, a scheduler that cannot be reached or has no worker
    within ``dask_timeout`` seconds, or that is lost while the block runs, is a ``ConnectionError``
    naming it (one line; the finished cells are in the store). Signals are the command line's
    (:mod:`cnnrank._signals`: SIGINT, SIGTERM and SIGHUP raise ``Interrupted``, a ``KeyboardInterrupt``,
    for the whole command).
    """
    from cnnrank._parallel import make_executor, stop_executor

    if dask is None:
        executor = make_executor(workers)
        try:
            yield executor
        except BaseException:
            stop_executor(executor)
            raise
        if executor is not None:
            executor.shutdown()
        return
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ValueError("--dask is invalid here: install the 'dist' extra (pip install 'cnnrank[dist]')") from None
    with _quiet_dask():
        client = _dask_client(dask, dask_timeout)
        try:
            yield client.get_executor()
        except BaseException as exc:
            if client.status != "running" and not isinstance(exc, KeyboardInterrupt):
                raise ConnectionError(f"--dask {dask}: lost the Dask scheduler while the sweep ran (it stopped, or "
                                      f"the network failed); the finished cells are kept: re-run to resume") from None
            raise
        finally:
            client.close(timeout=min(dask_timeout, 10.0))
