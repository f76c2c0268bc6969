"""The executor of a command that runs a sweep: ``--workers N`` or ``--dask ADDRESS``, with SIGTERM
treated like Ctrl-C (queued cells cancelled, workers ended, finished cells kept in the store)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any


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
