"""The experiments of the linear-CNN figure (docs/theory.md §7): Saxe curves, mode reordering, and
three sweeps; :func:`linear_cnn_experiment` runs them all (what ``reproduce linear-cnn`` prints).

All runs use whitened inputs, so full-batch squared-loss training only sees ``Σxx = I`` and
``Σyx = U diag(s) Vᵀ`` (:func:`cnnrank.linear.data.sample_dataset` realizes such a dataset exactly).
Times are gradient-flow times ``t = η × step``; each run picks ``η`` small against the fastest
predicted growth rate so runs with different networks are comparable in these units.

Randomness. Every random function takes one ``rng=`` argument (``None``, an int seed, a
``SeedSequence`` or a ``Generator``, normalized with ``np.random.default_rng``). Where one seed feeds
several random draws (the task's phases and the network's initialization, the runs of an
experiment), each draw gets its own stream: the children of ``np.random.SeedSequence(seed).spawn(k)``
(:func:`seed_streams`), never the same integer twice.

The runs live in :mod:`cnnrank.linear.runs` and the sweeps in :mod:`cnnrank.linear.sweeps`; every name of
both is re-exported here (``cnnrank.linear.experiments.run_cnn``, ...).
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Executor
from pathlib import Path

import numpy as np

from cnnrank._validation import check_int
from cnnrank.linear.closed_form import (
    saxe_learning_time,
)
from cnnrank.linear.data import DesignedTask, designed_task
from cnnrank.linear.diagnostics import nan_stats
from cnnrank.linear.runs import ModeRun as ModeRun
from cnnrank.linear.runs import _entropy as _entropy
from cnnrank.linear.runs import _finish as _finish
from cnnrank.linear.runs import _lr as _lr
from cnnrank.linear.runs import _run as _run
from cnnrank.linear.runs import ordering_task as ordering_task
from cnnrank.linear.runs import run_cnn as run_cnn
from cnnrank.linear.runs import run_fcnn as run_fcnn
from cnnrank.linear.runs import run_saxe as run_saxe
from cnnrank.linear.runs import seed_streams as seed_streams
from cnnrank.linear.runs import share_task as share_task
from cnnrank.linear.sweeps import _PARAMETERS as _PARAMETERS
from cnnrank.linear.sweeps import CHANNELS as CHANNELS
from cnnrank.linear.sweeps import KERNELS as KERNELS
from cnnrank.linear.sweeps import QUICK as QUICK
from cnnrank.linear.sweeps import SHARES as SHARES
from cnnrank.linear.sweeps import Sweep as Sweep
from cnnrank.linear.sweeps import _sweep_point as _sweep_point
from cnnrank.linear.sweeps import sweep as sweep

__all__ = ['CHANNELS', 'KERNELS', 'QUICK', 'SHARES', 'LinearCNNResult', 'ModeRun', 'Sweep', 'linear_cnn_experiment', 'ordering_task', 'run_cnn', 'run_fcnn', 'run_saxe', 'seed_streams', 'share_task', 'sweep']


@dataclasses.dataclass(eq=False)
class LinearCNNResult:
    """Everything :func:`linear_cnn_experiment` measured (what ``reproduce linear-cnn`` writes).

    Attributes
    ----------
    saxe : ModeRun
        (a) FCNN from the balanced decoupled init, Saxe curves attached.
    fcnn, cnn : ModeRun
        (b) the :func:`ordering_task` for an FCNN (``H = 16``) and a CNN (``k = N = 32``, ``C = 4``).
    task : DesignedTask
        The task of (b).
    sweeps : list of Sweep
        (c) share, kernel size (with ``isolated`` runs), channels.
    saxe_half_time_closed_form : list of float
        :func:`~cnnrank.linear.closed_form.saxe_learning_time` per mode of (a).
    saxe_max_error : ndarray, shape (R,)
        ``max_t |u_α − u_α^Saxe| / s_α`` of (a).
    u0 : float
    seed : int
        The root seed; the runs' seeds are ``seed_streams(seed, 6)``.
    sweep_seeds : list of int
        The sweeps' replicate seeds.
    quick : bool
    runtime_s : float
    """

    saxe: ModeRun
    fcnn: ModeRun
    cnn: ModeRun
    task: DesignedTask
    sweeps: list
    saxe_half_time_closed_form: list
    saxe_max_error: np.ndarray
    u0: float
    seed: int
    sweep_seeds: list
    quick: bool
    runtime_s: float

    def summary(self) -> dict:
        """The numbers as a JSON-ready dict (a half-time never reached is ``NaN``; the caller cleans it)."""
        saxe, task, fcnn, cnn = self.saxe, self.task, self.fcnn, self.cnn

        def mean_ht(h: np.ndarray) -> list:
            return nan_stats(h, axis=1)[0].tolist()

        return {
            "seed": self.seed,
            "sweep_seeds": list(self.sweep_seeds),
            "quick": bool(self.quick),
            "a_saxe": {"s": saxe.s.tolist(), "u0": self.u0, "lr": saxe.lr,
                       "half_time_measured": saxe.half_times.tolist(),
                       "half_time_closed_form": list(self.saxe_half_time_closed_form),
                       "max_abs_error_over_s": self.saxe_max_error.tolist()},
            "b_ordering": {
                "s": task.s.tolist(), "dominant_freq": task.dominant_frequency.tolist(),
                "dominant_share": task.dominant_share.tolist(),
                "fcnn_half_times": fcnn.half_times.tolist(), "cnn_half_times": cnn.half_times.tolist(),
                "cnn_predicted_rates": cnn.rates.tolist(), "cnn_channels": cnn.network["channels"],
                "kernel_size": cnn.network["kernel_size"],
            },
            "c_sweeps": {sw.parameter: {"values": sw.values.tolist(), "mean_half_times": mean_ht(sw.half_times),
                                        "half_times": sw.half_times.tolist(), "predicted_rates": sw.rates.tolist(),
                                        "isolated_mean_half_times": (mean_ht(sw.isolated_half_times)
                                                                     if sw.isolated_half_times.size else None),
                                        "s": sw.s.tolist()} for sw in self.sweeps},
        }

    def save_runs(self, folder: str | Path) -> list[Path]:
        """Save every run and sweep (``saxe.npz``, ``fcnn.npz``, ``cnn.npz``, ``sweep_<parameter>.npz``)."""
        from cnnrank.results import atomic_write_bytes

        return [atomic_write_bytes(path, data) for path, data in self.run_files(folder)]

    def run_files(self, folder: str | Path) -> list[tuple[Path, bytes]]:
        """What :meth:`save_runs` writes, in memory: ``(path, bytes)`` per run and sweep."""
        folder = Path(folder)
        runs = [("saxe.npz", self.saxe), ("fcnn.npz", self.fcnn), ("cnn.npz", self.cnn)]
        runs += [(f"sweep_{sw.parameter}.npz", sw) for sw in self.sweeps]
        return [(folder / name, run.to_npz_bytes()) for name, run in runs]


def linear_cnn_experiment(seed: int = 0, seeds: int = 3, *, quick: bool = False, u0: float = 1e-3,
                          executor: Executor | None = None) -> LinearCNNResult:
    """The runs and sweeps of ``reproduce linear-cnn`` (docs/linear-cnn.md, docs/theory.md §7).

    (a) an FCNN from the balanced decoupled init (modes ``s = 3, 2, 1``) against the Saxe curves;
    (b) the :func:`ordering_task` for an FCNN and a CNN with full-length kernels; (c) the sweeps over
    share, kernel size (modes also trained alone) and channels, on :data:`SHARES`, :data:`KERNELS`,
    :data:`CHANNELS` (:data:`QUICK` and one replicate with ``quick=True``).

    Parameters
    ----------
    seed : int, ``>= 0``
        Root seed. ``seed_streams(seed, 6)`` gives (a)'s task and init, (b)'s task, FCNN init and
        CNN init, and the root of the sweeps' replicate seeds (``seed_streams(root, seeds)``).
    seeds : int, ``1..50``
        Replicates per sweep point (1 with ``quick=True``).
    quick : bool
    u0 : float
        Initial strength of every mode in (a).
    executor : concurrent.futures.Executor, optional
        Runs the sweep points (:func:`sweep`); the numbers do not depend on it.
    """
    seed = check_int("seed", seed, minimum=0)
    n_seeds = 1 if quick else check_int("seeds", seeds, minimum=1, maximum=50)
    t_start = time.perf_counter()
    saxe_task_seed, saxe_init_seed, task_seed, fcnn_seed, cnn_seed, sweep_root = seed_streams(seed, 6)
    sweep_seeds = seed_streams(sweep_root, n_seeds)
    saxe_task = designed_task(32, [3.0, 2.0, 1.0], [[1], [2, 3], [4, 5, 6]], rng=saxe_task_seed)
    saxe = run_saxe(saxe_task, u0=u0, rng=saxe_init_seed)
    saxe_err = np.max(np.abs(saxe.strengths - saxe.saxe), axis=0) / saxe.s
    saxe_pred = [saxe_learning_time(s, u0) for s in saxe.s]
    task = ordering_task(rng=task_seed)
    fcnn = run_fcnn(task, rng=fcnn_seed)
    cnn = run_cnn(task, channels=4, rng=cnn_seed)
    grids = QUICK if quick else {"share": SHARES, "kernel_size": KERNELS, "channels": CHANNELS}
    sweeps = [sweep(p, grids[p], seeds=sweep_seeds, isolated=(p == "kernel_size"), executor=executor)
              for p in _PARAMETERS]
    return LinearCNNResult(saxe=saxe, fcnn=fcnn, cnn=cnn, task=task, sweeps=sweeps,
                           saxe_half_time_closed_form=saxe_pred, saxe_max_error=saxe_err, u0=u0, seed=seed,
                           sweep_seeds=sweep_seeds, quick=bool(quick),
                           runtime_s=time.perf_counter() - t_start)
