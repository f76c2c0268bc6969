r"""Training (layer 4): the loop over records, divergence handling, and the two entry points.

* :func:`train` — full-batch gradient descent on a :class:`~cnnrank.network.TwoLayerCNN` and a
  :class:`~cnnrank.data.PatchData`, with an engine that has vectors (feature, Gram, or ``"auto"``);
* :func:`train_implicit` — the dimension-free path: the implicit engine on a
  :class:`~cnnrank.gram_sample.GramSample` (no vector of ``R^d`` ever exists).

Both validate the schedule with :func:`cnnrank._schedule.check_schedule`, record at
:func:`~cnnrank._schedule.record_steps`, set BLAS threads with :func:`cnnrank._blas.resolve`, run the
same loop (:func:`run_records`) and return a :class:`~cnnrank.trajectory.Trajectory` built by
:meth:`Trajectory.from_snapshots` (γ, ρ and ranks derived from the patch coefficients of
docs/theory.md §3–§5).

The pieces live in one module per idea and are re-exported here: :mod:`cnnrank.train_checks` (the input
checks), :mod:`cnnrank.train_loop` (:func:`run_records`) and :mod:`cnnrank.adaptive_training`
(:func:`train_adaptive`, sign descent and Adam); this module holds the two entry points.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from cnnrank._blas import blas_threads as _blas_threads
from cnnrank._blas import resolve
from cnnrank._schedule import check_schedule, record_steps
from cnnrank.activations import Activation, check_activation
from cnnrank.adaptive_training import train_adaptive
from cnnrank.data import PatchData
from cnnrank.engines import ENGINES, Snapshot, check_engine_memory, choose_engine
from cnnrank.engines.base import TrainingVariant
from cnnrank.engines.implicit import ImplicitEngine
from cnnrank.errors import TrainingDiverged
from cnnrank.gram_sample import GramSample, sample_meta
from cnnrank.network import TwoLayerCNN
from cnnrank.train_checks import (
    _USE_IMPLICIT,
    _check_variant,
    check_callback,
    check_records_memory,
    check_training_inputs,
)
from cnnrank.train_loop import _STEP0_HINT as _STEP0_HINT
from cnnrank.train_loop import run_records
from cnnrank.trajectory import Trajectory, signal_noise_coefficients

__all__ = ["TrainingDiverged", "Trajectory", "check_training_inputs", "record_steps", "run_records",
           "signal_noise_coefficients", "train", "train_adaptive", "train_implicit"]


def _distinct_if_needed(name: str, data: PatchData, m: int) -> int:
    """``M`` for the Gram engine's memory estimate: the bound ``nP`` unless it does not fit, then exact."""
    from cnnrank._memory import SHARE, available_bytes
    from cnnrank.engines import count_distinct_patches, memory_bytes

    n, P, d = data.X.shape
    if memory_bytes(name, n, P, d, m, n * P) <= SHARE * available_bytes():
        return n * P
    return count_distinct_patches(data)


def _resolve_engine(engine: str, net: TwoLayerCNN, data: PatchData, steps: int | None = None) -> tuple[str, str]:
    if not isinstance(engine, str):
        names = sorted(k for k, v in ENGINES.items() if v.needs_vectors) + ["auto"]
        raise TypeError(f"engine={engine!r:.60} is invalid: must be a string, one of {names}")
    if engine == "auto":
        return choose_engine(net, data, steps)
    names = sorted(k for k, v in ENGINES.items() if v.needs_vectors) + ["auto"]
    if engine in ENGINES and not ENGINES[engine].needs_vectors:
        raise ValueError(f"engine={engine!r} is invalid for train (it has no vectors): {_USE_IMPLICIT}; "
                         f"train takes one of {names}")
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is invalid: must be one of {names}")
    return engine, "requested"


def train(
    net: TwoLayerCNN,
    data: PatchData,
    lr: float,
    steps: int,
    record_every: int | None = None,
    test: PatchData | None = None,
    engine: str = "auto",
    progress: bool | None = False,
    callback: Callable[[int, Snapshot], None] | None = None,
    blas_threads: int | str | None = "auto",
    variant: TrainingVariant | None = None,
) -> Trajectory:
    """Full-batch gradient descent with constant step ``lr`` on the mean logistic loss (docs/theory.md §2–§3).

    ``W(t+1) = W(t) - η ∇L_S(W(t))``; the patch coefficients ``c_{j,r,i,p}`` with
    ``W(t) = W(0) + Σ_{i,p} c_{j,r,i,p} x_i^(p)`` are recorded, and γ, ρ and the ranks derived from
    them (:class:`~cnnrank.trajectory.Trajectory`).

    Parameters
    ----------
    net : TwoLayerCNN
        Initial filters ``W(0)`` (2, m, d) and the activation.
    data : PatchData
        Training set, ``X`` (n, P, d), ``y`` (n,). (For a dimension-free
        :class:`~cnnrank.gram_sample.GramSample` use :func:`train_implicit`.)
    lr : float
        Step size ``η > 0``.
    steps : int
        Number of steps ``T >= 0``.
    record_every : int, optional
        Record every this many steps (default ``max(1, steps // 100)``); the last step is always
        recorded.
    test : PatchData, optional
        Held-out data for test loss and accuracy.
    engine : str
        ``"auto"`` (default): the cheaper of the two engines with vectors for these shapes
        (:func:`cnnrank.engines.choose_engine`; the reason is stored in
        ``metadata["engine_choice"]``); ``"feature"`` (feature space, ``8 nP d m`` flops per step);
        ``"gram"`` (patch coefficients with the Gram matrix of the distinct patches, ``4 M² m`` flops
        per step, independent of ``d``). The engines agree to rounding. ``"implicit"`` is
        :func:`train_implicit`'s.
    progress : bool or None
        Progress bar on stderr (``None``: only on a terminal).
    callback : callable, optional
        Called as ``callback(step, snapshot)`` at every record.
    blas_threads : "auto", int or None
        BLAS threads while training (:mod:`cnnrank._blas`). ``"auto"`` uses one thread when a step
        costs under :data:`cnnrank._blas.SMALL_STEP_FLOPS` (the products are then too small for threads
        to pay, and on shared cores threads cost up to 25×), ``None`` leaves BLAS alone. The choice is
        in ``metadata["blas_threads"]``. Results for different thread counts agree to rounding (BLAS
        blocks differently); for the same setting they are bit-identical.
    variant : TrainingVariant, optional
        The exact training variants (docs/theory.md, "Training variants"): a trainable second layer,
        minibatch SGD (one step = one minibatch; records hold full-training-set losses), weight decay.
        ``W(t) = s(t) W(0) + Σ c x``; the trajectory then has ``init_scale`` (weight decay) and
        ``head_weights`` (trainable head). ``None``: full-batch gradient descent, as above.

    Returns
    -------
    Trajectory

    Raises
    ------
    TypeError
        For a ``GramSample`` or an ``Activation`` (use :func:`train_implicit`), or other wrong types.
    ValueError
        For ``engine="implicit"`` (use :func:`train_implicit`), an unknown engine, or a bad schedule.
    TrainingDiverged
        If the loss or the weights become non-finite; carries the records so far.
    """
    resolve(blas_threads, 0.0)  # validates the argument before anything else
    check_training_inputs(net, data, test)
    check_callback(callback)
    lr, steps, record_every = check_schedule(lr, steps, record_every)
    _check_variant(variant, lr)
    n, P, d = data.X.shape
    check_records_memory(steps, record_every, net.m, n, P)
    name, why = _resolve_engine(engine, net, data, steps)
    M = n * P if name == "feature" else _distinct_if_needed(name, data, net.m)
    check_engine_memory(name, n, P, d, net.m, M)
    limit = resolve(blas_threads, ENGINES[name].cost_per_step(n, P, d, net.m, n * P))  # M <= nP
    started = time.perf_counter()

    def assemble(snaps: list[Snapshot], at: np.ndarray, finished: bool = True) -> Trajectory:
        meta = {"engine_choice": why, "seconds": time.perf_counter() - started, "blas_threads": limit}
        W_final = eng.weights() if snaps and finished else None  # else rebuilt at the last record
        return Trajectory.from_snapshots(snaps, at, data, net.m, lr, net.activation, name, meta,
                                         W_init=net.W if snaps else None, W_final=W_final)

    with _blas_threads(limit):
        eng = ENGINES[name](net.W, data, net.activation, test, variant=variant)
        return run_records(eng, lr, steps, record_every, progress, callback, assemble)


def train_implicit(
    activation: Activation,
    sample: GramSample,
    lr: float,
    steps: int,
    record_every: int | None = None,
    progress: bool | None = False,
    callback: Callable[[int, Snapshot], None] | None = None,
    blas_threads: int | str | None = "auto",
    variant: TrainingVariant | None = None,
) -> Trajectory:
    """Gradient descent on a dimension-free sample: the implicit engine, no vector of ``R^d``.

    The same steps as the Gram engine (docs/theory.md §3) on the inner products of a
    :class:`~cnnrank.gram_sample.GramSample` (:meth:`SignalNoiseModel.sample_gram`, or
    :func:`~cnnrank.gram_sample.gram_sample_from_data` for explicit vectors). The trajectory has the
    losses, accuracies (test included when the sample has a test set), ``coef``, ``gamma``, ``rho``,
    both stable ranks and the learned-subspace diagnostics; ``W_init``, ``W_final`` and ``patches``
    are ``None`` (``weights_at`` raises).

    Parameters
    ----------
    activation : Activation
        The activation (the initial filters are part of the sample).
    sample : GramSample
        The inner products of signals, patches, initial filters and test patches.
    lr : float
        Step size ``η > 0``.
    steps : int
        Number of steps ``T >= 0``.
    record_every : int, optional
        As in :func:`train` (default ``max(1, steps // 100)``).
    progress : bool or None
        Progress bar on stderr (``None``: only on a terminal).
    callback : callable, optional
        Called as ``callback(step, snapshot)`` at every record.
    blas_threads : "auto", int or None
        As in :func:`train`; ``"auto"`` uses one thread (a step costs ``4 M² m`` flops, small).
    variant : TrainingVariant, optional
        As in :func:`train`.

    Returns
    -------
    Trajectory
        ``engine == "implicit"``; ``metadata["sample"]`` describes the sample
        (:func:`~cnnrank.gram_sample.sample_meta`).

    Raises
    ------
    TypeError
        ``activation`` is not an :class:`~cnnrank.activations.Activation` (e.g. a ``TwoLayerCNN``) or
        ``sample`` is not a ``GramSample``.
    TrainingDiverged
        If the loss becomes non-finite; carries the records so far.
    """
    limit = resolve(blas_threads, 0.0)  # validates the argument; a d-free step is a small Gram step
    if not isinstance(sample, GramSample):
        raise TypeError(f"sample={type(sample).__name__} is invalid: must be a GramSample from "
                        f"SignalNoiseModel.sample_gram (for a PatchData use cnnrank.train.train)")
    if isinstance(activation, TwoLayerCNN):
        raise TypeError("activation=TwoLayerCNN is invalid: pass the Activation; the initial filters are "
                        "part of the GramSample")
    if not isinstance(activation, Activation):
        raise TypeError(f"activation={type(activation).__name__} is invalid: must be a cnnrank Activation")
    check_activation(activation, full=True)  # a built-in or a registered activation (the network's check)
    check_callback(callback)
    lr, steps, record_every = check_schedule(lr, steps, record_every)
    _check_variant(variant, lr)
    check_records_memory(steps, record_every, sample.m, sample.n, sample.P)
    M = sample.n_distinct
    check_engine_memory("implicit", sample.n, sample.P, 0, sample.m, M)
    started = time.perf_counter()

    def assemble(snaps: list[Snapshot], at: np.ndarray, finished: bool = True) -> Trajectory:
        meta = {"engine_choice": "requested", "seconds": time.perf_counter() - started,
                "sample": sample_meta(sample), "blas_threads": limit}
        return Trajectory.from_snapshots(snaps, at, sample, sample.m, lr, activation, ImplicitEngine.name, meta)

    with _blas_threads(limit):
        eng = ImplicitEngine(sample, activation, variant=variant)
        return run_records(eng, lr, steps, record_every, progress, callback, assemble)


