"""Worker pools die with their parent; interrupts and failing cells stop a sweep at once, keeping the
finished cells."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnrank import TrainingDiverged
from cnnrank._parallel import WorkerPool, make_executor
from cnnrank.experiments import RunConfig
from cnnrank.sweeps import SweepSpec, run_sweep
from cnnrank.testing import assert_sweeps_equal

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

TINY = RunConfig(n=16, n_test=16, d=40, K=2, m=3, steps=200, record_every=100, lr=0.5, init_std=0.05,
                 engine="feature")
#: 240 cells of 3000 steps: about half a minute on two workers, so a signal sent after the first cells
#: finds most still queued even on a fast machine (with 200 steps a fresh CI run once finished all 240
#: before the signal arrived); the tests stop it within seconds
LONG = SweepSpec(base=TINY.replace(steps=3000, record_every=1000), grid={"noise_std": [0.0, 0.5, 1.0]},
                 seeds=80, root_seed=1)


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaps counts as gone)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(d.name))
    return out


def _wait_gone(pids: list[int], bound: float = 15.0) -> list[int]:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _start(tmp_path: Path, spec: SweepSpec) -> tuple[subprocess.Popen, Path, list[int]]:
    cfg = tmp_path / "sweep.json"
    cfg.write_text(json.dumps(spec.to_file_dict()))
    out = tmp_path / "out"
    # SIGINT back to its default in the child: a test run started in the background of a non-interactive
    # shell ignores SIGINT, and Python then installs no KeyboardInterrupt handler (the sweep would run on)
    proc = subprocess.Popen([sys.executable, "-m", "cnnrank", "sweep", str(cfg), "--out", str(out), "--workers", "2",
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and len(list((out / "cells").glob("*.json"))) < 2:
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    workers = _children(proc.pid)
    assert len(workers) >= 2, workers
    return proc, out, workers


def test_killing_the_parent_ends_its_workers(tmp_path):
    proc, out, workers = _start(tmp_path, LONG)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert _wait_gone(workers) == [], "pool workers survived their parent"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_interrupt_stops_at_once_and_keeps_finished_cells(tmp_path, sig):
    proc, out, workers = _start(tmp_path, LONG)
    before = {p.name for p in (out / "cells").glob("*.json")}
    proc.send_signal(sig)
    rc = proc.wait(timeout=60)
    err = proc.stderr.read()
    proc.stderr.close()
    # one line (no "leaked semaphore" warning), naming the signal and the store; status 128 + signum
    assert rc == 128 + sig and err == (f"cnnrank: interrupted by {signal.Signals(sig).name}; finished cells are "
                                       f"kept in {out} (re-run the command to resume)\n"), (rc, err)
    assert _wait_gone(workers) == []
    after = {p.name for p in (out / "cells").glob("*.json")}
    assert before <= after and len(after) < LONG.n_cells  # finished cells kept, the queue not drained
    stored = [json.loads((out / "cells" / n).read_text()) for n in after]
    assert {c["sweep"] for c in stored} == {LONG.fingerprint()}


def test_a_failing_cell_stops_the_pool_and_keeps_the_finished_cells(tmp_path):
    """poly3 at lr = 1e10 from init_std = 1 diverges at every one of these seeds (at init_std = 0.05 seeds
    1-3 do not, and such a cell could finish and be stored before a failing one is noticed); the huber3
    cells before it are stored, the error names the cell."""
    spec = SweepSpec(base=TINY.replace(lr=1e10, init_std=1.0), grid={"activation": ["huber3", "poly3"]}, seeds=6,
                     root_seed=0)
    pool = make_executor(2)
    assert isinstance(pool, WorkerPool)
    with pytest.raises(TrainingDiverged, match=r"sweep cell g0001-s00\d \(activation='poly3', seed index \d\)"):
        with pool:
            run_sweep(spec, store=tmp_path, executor=pool, progress=False)
    stored = {p.stem for p in (tmp_path / "cells").glob("*.json")}
    assert all(c.startswith("g0000-") for c in stored)  # only huber3 cells, all finished
    assert len(stored) >= 6 - 2  # at most one huber3 cell was still running when the poly3 cell failed
    with pytest.raises(RuntimeError, match="shutdown|not usable"):  # stopped: nothing more runs
        pool.submit(int)


def test_worker_pool_results_match_a_serial_run():
    spec = SweepSpec(base=TINY.replace(steps=20, record_every=10), grid={"noise_std": [0.0, 1.0]}, seeds=2)
    with WorkerPool(2) as pool:
        pooled = run_sweep(spec, executor=pool, progress=False)
    serial = run_sweep(spec, progress=False)
    assert_sweeps_equal(pooled, serial)


def test_executor_workers_counts_what_each_executor_runs_at_once():
    from concurrent.futures import Executor, ThreadPoolExecutor

    from cnnrank._parallel import executor_workers

    with WorkerPool(2) as pool, ThreadPoolExecutor(3) as threads:
        assert (executor_workers(None), executor_workers(pool), executor_workers(threads)) == (1, 2, 3)
    assert executor_workers(Executor()) == 1  # an executor that does not say
