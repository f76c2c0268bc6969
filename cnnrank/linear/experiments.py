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
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cnnrank._parallel import map_ordered
from cnnrank._validation import check_int, check_real
from cnnrank.linear.closed_form import (
    balanced_decoupled_init,
    cnn_mode_rate,
    saxe_learning_time,
    saxe_mode_strength,
)
from cnnrank.linear.data import DesignedTask, designed_task
from cnnrank.linear.diagnostics import half_times, mode_strengths, nan_stats
from cnnrank.linear.networks import LinearCNN, LinearFCNN
from cnnrank.linear.training import GDConfig, train
from cnnrank.results import SavableResult

__all__ = [
    "CHANNELS",
    "KERNELS",
    "QUICK",
    "SHARES",
    "LinearCNNResult",
    "ModeRun",
    "Sweep",
    "linear_cnn_experiment",
    "ordering_task",
    "run_cnn",
    "run_fcnn",
    "run_saxe",
    "seed_streams",
    "share_task",
    "sweep",
]

#: sweep grids of :func:`linear_cnn_experiment` (``quick=False``) and of ``quick=True``
SHARES = (1 / 9, 0.2, 0.4, 0.6, 0.8, 1.0)
KERNELS = (1, 2, 4, 8, 16, 32)
CHANNELS = (1, 2, 4, 8, 16)
QUICK = {"share": (1 / 9, 0.4, 0.8, 1.0), "kernel_size": (1, 4, 16, 32), "channels": (1, 4, 16)}


def seed_streams(seed: int, k: int) -> list[int]:
    """``k`` independent integer seeds from one: the children of ``np.random.SeedSequence(seed).spawn(k)``,
    each reduced to one 64-bit word (``generate_state(1, np.uint64)``), so they can be recorded in JSON.
    """
    seed = check_int("seed", seed, minimum=0)
    k = check_int("k", k, minimum=1)
    return [int(c.generate_state(1, np.uint64)[0]) for c in np.random.SeedSequence(seed).spawn(k)]


def _entropy(rng: Any) -> int | None:
    return int(rng) if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None


@dataclasses.dataclass
class ModeRun(SavableResult):
    """Mode strengths of one training run and what they are compared with.

    Attributes
    ----------
    times : ndarray, shape (T,)
        Gradient-flow time ``η × step``.
    strengths : ndarray, shape (T, R)
        ``u_α(t) = u_αᵀ W_eff(t) v_α``.
    s : ndarray, shape (R,)
    half_times : ndarray, shape (R,)
        First time ``u_α = s_α / 2`` (NaN if never).
    losses : ndarray, shape (T,)
    spectra : ndarray, shape (T, C, N//2 + 1) or (T, C, N, N//2 + 1) in 2D
        Kernel spectra ``|DFT(κ_c)|`` (shape ``(T, 0, 0)`` for a fully connected network).
    dominant_freq : ndarray, shape (R,) or (R, 2) in 2D
    dominant_share : ndarray, shape (R,)
        Each input mode's dominant frequency and its energy share.
    rates : ndarray, shape (R,)
        Predicted early growth rate of each mode: ``s_α`` (fully connected) or
        :func:`~cnnrank.linear.closed_form.cnn_mode_rate` (CNN).
    saxe : ndarray, shape (T, R)
        The Saxe closed form from the run's initial strengths (balanced decoupled runs only,
        otherwise shape ``(0, R)``).
    network : dict
    lr : float
    seed : int or None
        The ``rng`` of the initialization when it was an int, else ``None``.
    """

    _kind: ClassVar[str] = "linear-mode-run"
    #: documented ranges, checked by ``load`` (:func:`cnnrank.results.check_values`)
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {
        "times": {"lo": 0.0}, "half_times": {"lo": 0.0}, "spectra": {"lo": 0.0},
        "dominant_share": {"lo": 0.0, "hi": 1.0},
    }

    times: np.ndarray
    strengths: np.ndarray
    s: np.ndarray
    half_times: np.ndarray
    losses: np.ndarray
    spectra: np.ndarray
    dominant_freq: np.ndarray
    dominant_share: np.ndarray
    rates: np.ndarray
    saxe: np.ndarray
    network: dict
    lr: float
    seed: int | None


@dataclasses.dataclass
class Sweep(SavableResult):
    """Half-times of the modes across one parameter.

    Attributes
    ----------
    parameter : str
        ``"share"``, ``"kernel_size"`` or ``"channels"``.
    values : ndarray, shape (P,)
    half_times : ndarray, shape (P, S, R)
        Per value, seed and mode.
    rates : ndarray, shape (P, R)
        Predicted early growth rates (:func:`~cnnrank.linear.closed_form.cnn_mode_rate`).
    isolated_half_times : ndarray, shape (P, S, R) or (0, S, R)
        Half-time of each mode when it is the *only* mode of the task (same ``v_α``, ``s_α``,
        network and seed); empty unless the sweep was run with ``isolated=True``.
    s : ndarray, shape (R,)
    seeds : list of int
        Replicate seeds; replicate ``s`` draws its task from ``seed_streams(s, 2)[0]`` and its
        initialization from ``seed_streams(s, 2)[1]``, the same at every value (a paired comparison).
    settings : dict
    """

    _kind: ClassVar[str] = "linear-sweep"
    #: documented ranges, checked by ``load`` (:func:`cnnrank.results.check_values`)
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {"half_times": {"lo": 0.0},
                                                          "isolated_half_times": {"lo": 0.0}}

    parameter: str
    values: np.ndarray
    half_times: np.ndarray
    rates: np.ndarray
    isolated_half_times: np.ndarray
    s: np.ndarray
    seeds: list
    settings: dict


def ordering_task(
    n: int = 32,
    s_single: float = 1.0,
    s_spread: float = 2.0,
    f_single: int = 2,
    spread_freqs: Sequence[int] = tuple(range(4, 16)),
    rng=None,
) -> DesignedTask:
    """Two modes: a weaker one at a single frequency, a stronger one spread evenly over a band.

    Defaults: ``N = 32``, mode 0 has ``s = 1`` all at ``f = 2``; mode 1 has ``s = 2`` spread
    evenly over the 12 frequencies ``4..15`` (share 1/12 each). A fully connected network learns
    mode 1 first (``s`` larger); a CNN with full-length kernels learns mode 0 first because its
    growth rate is set by ``s √(share of the dominant frequency)``: ``1 > 2/√12``.
    """
    return designed_task(n, [s_single, s_spread], [[f_single], list(spread_freqs)], rng=rng)


def share_task(share: float, n: int = 32, s: float = 1.0, f_dominant: int = 3,
               other_freqs: Sequence[int] = tuple(range(6, 14)), rng=None) -> DesignedTask:
    """One mode with energy share ``share`` at ``f_dominant`` and the rest spread over ``other_freqs``."""
    share = check_real("share", share, positive=True, maximum=1.0)
    others = list(other_freqs)
    if share >= 1.0:
        return designed_task(n, [s], [[f_dominant]], rng=rng)
    rest = (1.0 - share) / len(others)
    return designed_task(n, [s], [[f_dominant] + others], [[share] + [rest] * len(others)], rng=rng)


def _lr(rate_max: float, lr: float | None) -> float:
    return check_real("lr", lr, positive=True) if lr is not None else 0.01 / max(rate_max, 1e-12)


def _finish(task, traj, rates, saxe, seed, spectra) -> ModeRun:
    u = mode_strengths(traj.weff, task.U, task.V)
    return ModeRun(
        times=traj.times, strengths=u, s=task.s.copy(), half_times=half_times(traj.times, u, task.s),
        losses=traj.losses, spectra=spectra, dominant_freq=task.dominant_frequency,
        dominant_share=task.dominant_share, rates=np.asarray(rates, dtype=float), saxe=saxe,
        network=traj.network, lr=traj.lr, seed=seed,
    )


def run_cnn(task: DesignedTask, *, channels: int = 4, kernel_size: int | None = None,
            init_scale: float = 1e-2, t_end: float = 8.0, lr: float | None = None,
            n_records: int = 200, rng: Any = None) -> ModeRun:
    """Train a linear CNN on ``task`` from a small random init (``LinearCNN.init``, drawn from ``rng``).

    1D or 2D following ``task.dims``; ``kernel_size`` defaults to ``N`` (the image side in 2D).
    ``lr`` defaults to ``0.01 / max_α rate_α`` (small steps, close to gradient flow). The run lasts
    ``t_end`` flow time, recorded about ``n_records`` times. Do not draw ``task`` from the same seed
    as ``rng`` (use :func:`seed_streams`).
    """
    n = task.n
    k = n if kernel_size is None else kernel_size
    net = LinearCNN(n, task.U.shape[0], channels, k, dims=task.dims)
    rates = [cnn_mode_rate(task.V[:, a], task.s[a], k, task.dims) for a in range(task.s.size)]
    return _run(task, net, net.init(init_scale, rng=np.random.default_rng(rng)), rates, t_end,
                _lr(max(rates), lr), n_records, _entropy(rng))


def run_fcnn(task: DesignedTask, *, hidden: int = 16, init_scale: float = 1e-2, t_end: float = 12.0,
             lr: float | None = None, n_records: int = 200, rng: Any = None) -> ModeRun:
    """Train a linear fully connected network on ``task`` from a small random init drawn from ``rng``."""
    net = LinearFCNN(task.V.shape[0], task.U.shape[0], hidden)
    rates = task.s.copy()
    return _run(task, net, net.init(init_scale, rng=np.random.default_rng(rng)), rates, t_end,
                _lr(rates.max(), lr), n_records, _entropy(rng))


def run_saxe(task: DesignedTask, *, u0: float = 1e-3, hidden: int = 16, t_end: float | None = None,
             lr: float = 0.002, n_records: int = 400, rng: Any = None) -> ModeRun:
    """Fully connected network from the balanced decoupled init (its free rotation drawn from ``rng``),
    with the Saxe curves attached.

    Every mode starts at ``u0``; ``t_end`` defaults to twice the slowest mode's half-time.
    """
    u0 = check_real("u0", u0, positive=True, maximum=float(task.s.min()))
    n = task.V.shape[0]  # input dimension D
    if t_end is None:
        t_end = 2.0 * np.log(task.s.min() / u0) / (2.0 * task.s.min()) + 1.0
    net = LinearFCNN(n, task.U.shape[0], hidden)
    params = balanced_decoupled_init(task.U, task.V, u0, hidden, rng=np.random.default_rng(rng))
    run = _run(task, net, params, task.s.copy(), t_end, lr, n_records, _entropy(rng))
    run.saxe = np.stack([saxe_mode_strength(run.times, s, u0) for s in task.s], axis=1)
    return run


def _run(task, net, params, rates, t_end, lr, n_records, seed) -> ModeRun:
    t_end = check_real("t_end", t_end, positive=True)
    n_records = check_int("n_records", n_records, minimum=2)
    steps = max(1, int(np.ceil(t_end / lr)))
    cfg = GDConfig(lr=lr, steps=steps, record_every=max(1, steps // n_records))
    syy = float(np.sum(task.s**2))
    traj = train(net, params, np.eye(net.n_in), task.sigma_yx, cfg, syy=syy)
    if isinstance(net, LinearCNN):
        spectra = net.kernel_spectra(traj.kernels)
    else:
        spectra = np.zeros((traj.times.size, 0, 0))
    return _finish(task, traj, rates, np.zeros((0, task.s.size)), seed, spectra)


_PARAMETERS = ("share", "kernel_size", "channels")


def _sweep_point(item: tuple) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """One (value, replicate) of :func:`sweep`: everything it needs, its seed included, is in ``item``."""
    parameter, v, seed, n, channels, kernel_size, t_end, init_scale, isolated = item
    task_seed, init_seed = seed_streams(seed, 2)
    task = share_task(v, n=n, rng=task_seed) if parameter == "share" else ordering_task(n=n, rng=task_seed)
    c = int(v) if parameter == "channels" else channels
    k = int(v) if parameter == "kernel_size" else kernel_size
    run = run_cnn(task, channels=c, kernel_size=k, t_end=t_end, init_scale=init_scale, rng=init_seed)
    iso = None
    if isolated:
        iso = np.array([
            run_cnn(DesignedTask(s=task.s[a:a + 1], U=np.eye(1), V=task.V[:, a:a + 1]), channels=c,
                    kernel_size=k, t_end=t_end, init_scale=init_scale, rng=init_seed).half_times[0]
            for a in range(task.s.size)
        ])
    return run.half_times, iso, run.rates, task.s


def sweep(parameter: str, values: Sequence[float], *, seeds: Sequence[int] = (0, 1, 2), n: int = 32,
          channels: int = 4, kernel_size: int | None = None, t_end: float = 10.0,
          init_scale: float = 1e-2, isolated: bool = False, executor: Executor | None = None) -> Sweep:
    """Half-times of CNN modes across ``share``, ``kernel_size`` or ``channels``.

    * ``share``: a single mode (``s = 1``, :func:`share_task`) with the given dominant-frequency
      share; CNN with ``channels`` channels and ``kernel_size`` taps (default ``N``).
    * ``kernel_size`` / ``channels``: the two modes of :func:`ordering_task`.

    Replicate seed ``s`` gives two independent streams (:func:`seed_streams`): one draws the task's
    phases, the other the network's init; a replicate uses the same streams at every value, so the
    values are compared on the same draws. With ``isolated=True`` every mode is also trained alone
    (a one-mode task with the same ``s_α``, ``v_α``, network and init stream), which separates the
    per-mode rate from the coupling of modes through shared kernels.

    The (value, replicate) points run through :func:`cnnrank._parallel.map_ordered`: one by one, or
    on ``executor`` (e.g. ``cnnrank._parallel.make_executor(workers)``); the result does not depend on it.
    """
    if parameter not in _PARAMETERS:
        raise ValueError(f"parameter={parameter!r} is invalid: must be one of {list(_PARAMETERS)}")
    vals = [float(v) for v in values] if parameter == "share" else [check_int(parameter, v, minimum=1) for v in values]
    if not vals:
        raise ValueError("values=[] is invalid: must not be empty")
    seeds = [check_int("seed", s, minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds=[] is invalid: must not be empty")
    items = [(parameter, v, seed, n, channels, kernel_size, t_end, init_scale, isolated) for v in vals for seed in seeds]
    points = map_ordered(_sweep_point, items, executor)
    S = len(seeds)
    ht = np.asarray([[points[i * S + j][0] for j in range(S)] for i in range(len(vals))])
    rates = np.asarray([points[i * S][2] for i in range(len(vals))])
    s_out = np.asarray(points[-1][3])
    iso = (np.asarray([[points[i * S + j][1] for j in range(S)] for i in range(len(vals))]) if isolated
           else np.zeros((0, S, s_out.size)))
    return Sweep(parameter=parameter, values=np.asarray(vals, dtype=float), half_times=ht, rates=rates, s=s_out,
                 seeds=seeds, isolated_half_times=iso,
                 settings={"n": n, "channels": channels, "kernel_size": kernel_size, "t_end": t_end,
                           "init_scale": init_scale})


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
