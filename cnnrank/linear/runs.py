"""The runs of the linear-CNN figure (docs/theory.md §7): the designed tasks of the ordering and share
experiments, one CNN, FCNN or Saxe run from a task (:func:`run_cnn`, :func:`run_fcnn`, :func:`run_saxe`)
as a :class:`ModeRun`, and the independent seeds of one (:func:`seed_streams`). Times are gradient-flow
times ``t = η × step``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from cnnrank._validation import check_int, check_real
from cnnrank.linear.closed_form import (
    balanced_decoupled_init,
    cnn_mode_rate,
    saxe_mode_strength,
)
from cnnrank.linear.data import DesignedTask, designed_task
from cnnrank.linear.diagnostics import half_times, mode_strengths
from cnnrank.linear.networks import LinearCNN, LinearFCNN
from cnnrank.linear.training import GDConfig, train
from cnnrank.results import SavableResult


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
