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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from cnnrank._blas import blas_threads as _blas_threads
from cnnrank._blas import resolve
from cnnrank._progress import progress_bar
from cnnrank._schedule import check_schedule, record_steps
from cnnrank.activations import Activation, check_activation
from cnnrank.data import PatchData
from cnnrank.engines import ENGINES, Diverged, Engine, Snapshot, check_engine_memory, choose_engine
from cnnrank.engines.base import TrainingVariant
from cnnrank.engines.implicit import ImplicitEngine
from cnnrank.errors import TrainingDiverged
from cnnrank.gram_sample import GramSample, sample_meta
from cnnrank.network import TwoLayerCNN
from cnnrank.trajectory import Trajectory, signal_noise_coefficients

__all__ = ["TrainingDiverged", "Trajectory", "check_training_inputs", "record_steps", "run_records",
           "signal_noise_coefficients", "train", "train_adaptive", "train_implicit"]

_USE_IMPLICIT = "use cnnrank.train.train_implicit(activation, sample, lr, steps) for a GramSample"


def check_training_inputs(net: Any, data: Any, test: Any = None) -> None:
    """Validate the inputs of :func:`train` (and of each explicit run of ``train_batched``).

    Raises
    ------
    TypeError
        ``net`` is not a :class:`~cnnrank.network.TwoLayerCNN`, or ``data``/``test`` is not a
        :class:`~cnnrank.data.PatchData` (a :class:`~cnnrank.gram_sample.GramSample` or an
        :class:`~cnnrank.activations.Activation` is pointed to :func:`train_implicit`).
    ValueError
        The patch dimension of ``data`` or ``test`` differs from the network's ``d``.
    """
    if isinstance(data, GramSample) or isinstance(net, Activation):
        raise TypeError(f"net={type(net).__name__}, data={type(data).__name__} is invalid for train, which "
                        f"needs a TwoLayerCNN and a PatchData: {_USE_IMPLICIT}")
    if not isinstance(net, TwoLayerCNN):
        raise TypeError(f"net={type(net).__name__} is invalid: must be a cnnrank.TwoLayerCNN")
    if not isinstance(data, PatchData):
        raise TypeError(f"data={type(data).__name__} is invalid: must be a cnnrank.PatchData")
    if data.d != net.d:
        raise ValueError(f"data.d={data.d} is invalid: must equal the network's patch dimension d={net.d}")
    if test is not None:
        if not isinstance(test, PatchData):
            raise TypeError(f"test={type(test).__name__} is invalid: must be a cnnrank.PatchData or None")
        if test.d != net.d:
            raise ValueError(f"test.d={test.d} is invalid: must equal the network's patch dimension d={net.d}")


def _check_variant(variant: Any, lr: float) -> None:
    """``variant`` must be ``None`` or a :class:`TrainingVariant` whose decay factor ``1 - ηλ`` is positive."""
    if variant is None:
        return
    if not isinstance(variant, TrainingVariant):
        raise TypeError(f"variant={type(variant).__name__} is invalid: must be a cnnrank TrainingVariant or None")
    variant.decay_factor(lr)


def check_callback(callback: Any) -> None:
    """``callback`` must be ``None`` or callable as ``callback(step, snapshot)`` (checked before any work)."""
    if callback is not None and not callable(callback):
        raise TypeError(f"callback={callback!r:.60} is invalid: must be None or a function called as "
                        f"callback(step, snapshot)")


def check_records_memory(steps: int, record_every: int, m: int, n: int, P: int, runs: int = 1,
                         limit: float | None = None) -> None:
    """Refuse a schedule whose records cannot fit: ``R`` records of ``2m × nP`` coefficients, held
    about 3 times while the trajectory is assembled (the snapshots, the stacked ``coef``, ``ρ``)."""
    from cnnrank._memory import SHARE, available_bytes, check_allocation, format_bytes

    R = steps // record_every + 2  # at most (the last step is always recorded)
    per = 3 * 8.0 * 2 * m * n * P * runs
    budget = SHARE * available_bytes() if limit is None else float(limit)
    fit = max(int(budget // (2 * per)), 2)  # a suggestion that uses half the budget
    every = max(1, -(-steps // (fit - 1)))
    check_allocation(per * R, f"{R - 1:,} records (steps={steps:,}, record_every={record_every:,}) "
                     f"of 2×{m}×{n}×{P} patch coefficients" + (f" for {runs} runs" if runs > 1 else ""),
                     f"record_every={every:,} keeps {steps // every + 1:,} records "
                     f"({format_bytes(per * (steps // every + 2))})", limit=limit)


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


_STEP0_HINT = ("the run is not finite before the first step: the initial filters or the data are too "
               "large for float64 (their outputs or Gram matrices overflow); scale them down")


def run_records(eng: Engine, lr: float, steps: int, record_every: int, progress: bool | None,
                callback: Callable[[int, Snapshot], None] | None,
                assemble: Callable[..., Trajectory]) -> Trajectory:
    """The loop over records shared by every engine.

    Advances ``eng`` to each step of :func:`~cnnrank._schedule.record_steps` ``(steps, record_every)``,
    takes a :class:`~cnnrank.engines.base.Snapshot` there and calls ``callback(step, snapshot)``;
    returns ``assemble(snapshots, record_steps, True)`` (the last argument: the run finished).

    On a blow-up — non-finite outputs, filters, coefficients or filter Gram matrices, with any
    activation and engine, or a non-finite γ, ρ or stable rank in the assembled records — raises
    :class:`~cnnrank.errors.TrainingDiverged` carrying ``assemble(snapshots, steps, False)`` of the
    records before it, every one of them finite.
    """
    at = record_steps(steps, record_every)
    snaps: list[Snapshot] = []
    bar = progress_bar(steps, desc=f"train[{eng.name}]", enabled=progress)
    current = 0

    def diverged(step: int) -> TrainingDiverged:
        with np.errstate(over="ignore", invalid="ignore"):  # ‖x‖² of huge data may overflow
            traj = assemble(snaps, at[: len(snaps)], False)
            k = traj.finite_records()
            if k < len(snaps):  # a record finite in the engine but not once γ, ρ and the ranks are derived
                step = int(at[k])
                del snaps[k:]
                traj = assemble(snaps, at[:k], False)
        return TrainingDiverged(step, lr, traj, hint=_STEP0_HINT if step == 0 else None)

    try:
        for target in at:
            try:
                eng.advance(int(target - current), lr)
            except Diverged as exc:
                raise diverged(current + exc.steps_done) from None
            try:
                snap = eng.snapshot()
            except Diverged:
                raise diverged(int(target)) from None
            current = int(target)
            snaps.append(snap)
            bar.update(int(target - (at[len(snaps) - 2] if len(snaps) > 1 else 0)))
            if callback is not None:
                callback(current, snap)
    finally:
        bar.close()
    with np.errstate(over="ignore", invalid="ignore"):
        traj = assemble(snaps, at, True)
    if traj.finite_records() < len(traj):
        raise diverged(int(at[traj.finite_records()]))
    return traj


def train_adaptive(
    net: TwoLayerCNN,
    data: PatchData,
    lr: float,
    steps: int,
    optimizer: str = "adam",
    record_every: int | None = None,
    test: PatchData | None = None,
    adam_beta1: float = 0.9,
    adam_beta2: float = 0.999,
    adam_eps: float = 1e-8,
    weight_decay: float = 0.0,
    engine: str = "auto",
    progress: bool | None = False,
    callback: Callable[[int, Snapshot], None] | None = None,
    blas_threads: int | str | None = "auto",
    variant: TrainingVariant | None = None,
) -> Trajectory:
    r"""Sign descent or Adam on explicit filters (docs/theory.md, "Sign descent and Adam").

    Constant step ``η``, decoupled weight decay ``λ``: ``W ← W − η λ W − η u`` with
    ``u = sign(∇L)`` (``optimizer="sign"``) or the bias-corrected Adam direction
    ``u = m̂ / (√v̂ + ε)`` (``"adam"``; :mod:`cnnrank.engines.adaptive`). These updates leave the span
    of the patches, so the run is on vectors (:class:`~cnnrank.engines.adaptive.AdaptiveEngine`) and the
    trajectory has no patch coefficients: ``coef`` has shape ``(R, 2, m, 0, 0)`` and γ, ρ and the
    learned-subspace diagnostics are computed from ``W − W(0)`` (:mod:`cnnrank.trajectory.direct`).
    ``optimizer="gd"`` runs gradient descent through the same W-direct path (a check of those
    formulas against :func:`train`, which is the path for gradient descent). Full batch and the fixed
    head by default; ``variant`` adds minibatches and a trainable head, trained by the same optimizer.

    Parameters
    ----------
    net, data, lr, steps, record_every, test, progress, callback, blas_threads
        As in :func:`train`.
    optimizer : {"sign", "adam", "gd"}
    adam_beta1, adam_beta2 : float
        In ``[0, 1)``.
    adam_eps : float
        ``> 0``.
    weight_decay : float
        ``λ >= 0``, decoupled (AdamW-style).
    engine : str
        ``"auto"`` or ``"feature"`` (both run the vectors); ``"gram"`` and ``"implicit"`` are refused
        with a one-line error naming the optimizer.
    variant : TrainingVariant, optional
        Minibatches (one step = one batch of :class:`~cnnrank.engines.base.BatchSchedule`, the batches
        of :func:`train` for the same ``batch_rng``; records hold full-training-set losses) and a
        trainable head ``a(0) = j a0``, updated by the same optimizer with the same decoupled decay
        (:class:`~cnnrank.engines.adaptive.AdaptiveEngine`). Its ``weight_decay``, if not 0, must equal
        ``weight_decay`` when that is not 0. ``None``: full batch, fixed head.

    Returns
    -------
    Trajectory
        ``engine == "feature"``, ``has_coefficients`` ``False``, ``metadata["optimizer"]`` the
        optimizer's name and settings; ``head_weights`` (R, 2, m) with a trainable head.

    Raises
    ------
    TrainingDiverged
        If the loss or the filters become non-finite; carries the records so far.
    """
    from cnnrank._validation import check_choice, check_real
    from cnnrank.engines.adaptive import OPTIMIZERS, AdaptiveEngine
    from cnnrank.trajectory.direct import assemble_direct

    resolve(blas_threads, 0.0)
    check_training_inputs(net, data, test)
    check_callback(callback)
    optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
    if engine in ("gram", "implicit"):
        raise ValueError(f"engine={engine!r} is invalid with optimizer={optimizer!r}: {optimizer} updates leave "
                         f"the span of the patches, so they run on vectors only (engine 'feature' or 'auto')")
    if engine not in ("auto", "feature"):
        raise ValueError(f"engine={engine!r} is invalid: must be one of ['auto', 'feature']")
    b1 = check_real("adam_beta1", adam_beta1, minimum=0.0, below=1.0)
    b2 = check_real("adam_beta2", adam_beta2, minimum=0.0, below=1.0)
    eps = check_real("adam_eps", adam_eps, positive=True)
    wd = check_real("weight_decay", weight_decay, nonnegative=True)
    lr, steps, record_every = check_schedule(lr, steps, record_every)
    _check_variant(variant, lr)
    n, P, d = data.X.shape
    check_records_memory(steps, record_every, net.m, n, P)  # each record: 2m × (2K + n(P-1)) inner products
    check_engine_memory("feature", n, P, d, net.m, n * P)
    limit = resolve(blas_threads, AdaptiveEngine.cost_per_step(n, P, d, net.m, n * P))
    started = time.perf_counter()
    settings: dict[str, Any] = {"name": optimizer, "weight_decay": wd}
    if optimizer == "adam":
        settings.update(beta1=b1, beta2=b2, eps=eps)

    def assemble(snaps: list[Snapshot], at: np.ndarray, finished: bool = True) -> Trajectory:
        meta = {"engine_choice": f"{optimizer}: the feature engine (updates outside the patch span)",
                "seconds": time.perf_counter() - started, "blas_threads": limit, "optimizer": dict(settings)}
        W_final = eng.weights() if snaps and finished else None
        return assemble_direct(Trajectory, snaps, at, data, net.m, lr, net.activation, AdaptiveEngine.name, meta,
                               W_init=net.W if snaps else None, W_final=W_final)

    with _blas_threads(limit):
        eng = AdaptiveEngine(net.W, data, net.activation, test, optimizer=optimizer, beta1=b1, beta2=b2, eps=eps,
                             weight_decay=wd, variant=variant)
        return run_records(eng, lr, steps, record_every, progress, callback, assemble)
