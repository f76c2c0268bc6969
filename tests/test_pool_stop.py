"""A pool stopped while a worker writes its result ends, and so does the interpreter (cnnrank._parallel).

A worker terminated half-way through writing a result leaves an incomplete message in the executor's
result pipe; the executor's manager thread then waits for the rest forever and the interpreter's exit,
which joins that thread, hangs. The worker below writes such half message on purpose (deterministic),
then the parent stops the pool and must exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import gc, os, struct, sys, time
    sys.path.insert(0, {root!r})
    from multiprocessing.queues import SimpleQueue
    from cnnrank._parallel import WorkerPool

    def half_a_result(flag):
        queue = next(o for o in gc.get_objects() if isinstance(o, SimpleQueue))
        os.write(queue._writer.fileno(), struct.pack("!i", 1_000_000) + b"x" * 100)  # 100 of 1e6 bytes
        open(flag, "w").close()
        time.sleep(600)

    if __name__ == "__main__":
        flag = sys.argv[1]
        pool = WorkerPool(1)
        pool.submit(half_a_result, flag)
        while not os.path.exists(flag):  # the worker has written its half message
            time.sleep(0.01)
        pool.stop()
        print("stopped", flush=True)
''')


def test_stop_after_a_half_written_result_lets_the_process_exit(tmp_path):
    script = tmp_path / "pool_stop.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "flag")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "stopped"


def test_pool_starts_its_workers_at_creation():
    """The workers spawn (and import) while the caller still prepares its first call."""
    import os

    from cnnrank._parallel import WorkerPool

    pool = WorkerPool(2)
    try:
        assert len(pool._processes) == 2  # spawned by the constructor, before any call of ours
        pids = {p.pid for p in pool._processes.values()}
        assert os.getpid() not in pids and pool.submit(os.getpid).result(timeout=60) in pids
    finally:
        pool.shutdown()


def test_a_signal_while_the_workers_start_waits_until_they_have_started(monkeypatch):
    """A command's SIGTERM in the middle of starting the workers is raised once every worker has its start-up
    data (cut in the middle, a worker printed "EOFError: Ran out of input" beside the command's one line);
    the pool is then stopped."""
    from cnnrank._parallel import WorkerPool
    from cnnrank._signals import Interrupted, handle_signals

    started: list[int] = []
    real_submit = WorkerPool.submit

    def submit(self, fn, /, *args, **kwargs):
        if not started:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives during the first start
        future = real_submit(self, fn, *args, **kwargs)
        started.append(len(self._processes))
        return future

    monkeypatch.setattr(WorkerPool, "submit", submit)
    with handle_signals(), pytest.raises(Interrupted):
        WorkerPool(2)
    assert started == [1, 2]  # both workers were started before the signal was raised
