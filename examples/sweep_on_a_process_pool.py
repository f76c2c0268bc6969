"""Run a resumable sweep over noise level × activation on a process pool.

Interrupt it and run it again with the same store: only the missing cells are computed. Results are
identical to a serial run (each cell depends only on its configuration and its seed stream). The pool
is a ``WorkerPool``: its workers end with this process, and an interrupt or a failing cell stops it at
once, keeping the finished cells. Set ``SWEEP_STORE=folder`` to keep the store (and resume); without
it the store is a temporary folder, removed at the end. The same sweep as a file: examples/noise_sweep.toml.
"""

import os
import tempfile

from cnnrank._parallel import WorkerPool
from cnnrank.experiments import RunConfig
from cnnrank.sweeps import SweepSpec, run_sweep

quick = os.environ.get("CNNRANK_EXAMPLE_QUICK") == "1"
base = RunConfig(d=500, steps=1500, record_every=100)
noise = [0.0, 0.4, 1.2]
if quick:
    base = base.replace(n=24, n_test=24, d=80, K=2, m=4, steps=80, record_every=20, lr=0.5)
spec = SweepSpec(base=base, grid={"activation": ["huber3", "relu"], "noise_std": noise}, seeds=2, root_seed=0)

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="cnnrank-sweep-") as tmp:
        store = os.environ.get("SWEEP_STORE") or tmp
        with WorkerPool(2) as pool:
            result = run_sweep(spec, store=store, executor=pool)
        print(f"store: {store}" + ("" if os.environ.get("SWEEP_STORE") else " (temporary, removed)"))
    data, filters = result.mean("data_stable_rank"), result.mean("filter_stable_rank")
    print("activation  " + "  ".join(f"σ_p={s:<5}" for s in noise))
    for i, act in enumerate(spec.grid["activation"]):
        print(f"{act:<10}  " + "  ".join(f"{filters[i, j]:8.2f}" for j in range(len(noise))) + "   filter srank")
    print(f"{'data':<10}  " + "  ".join(f"{data[0, j]:8.2f}" for j in range(len(noise))) + "   data srank")
