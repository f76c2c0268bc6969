r"""Training: :func:`train` validates, picks an engine, runs the loop over records, handles
divergence, and returns a :class:`~cnnrank.trajectory.Trajectory` (γ, ρ and ranks derived from the
patch coefficients; see :mod:`cnnrank.trajectory`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from cnnrank._blas import blas_threads as _blas_threads
from cnnrank._blas import resolve
from cnnrank._progress import progress_bar
from cnnrank._validation import check_int, check_real
from cnnrank.activations import Activation
from cnnrank.data import PatchData
from cnnrank.engines import ENGINES, Diverged, Snapshot, choose_engine
from cnnrank.engines.implicit import GramSample, ImplicitEngine, sample_meta
from cnnrank.errors import TrainingDiverged
from cnnrank.network import TwoLayerCNN
from cnnrank.rank import stable_rank_from_gram
from cnnrank.subspace import _overlaps, learned_subspace_from_grams
from cnnrank.trajectory import Trajectory, record_steps, signal_noise_coefficients, signal_patch_coordinates

__all__ = ["TrainingDiverged", "Trajectory", "record_steps", "signal_noise_coefficients", "train"]






def _validate_train(net: Any, data: Any, test: Any) -> None:
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


def _resolve_engine(engine: str, net: TwoLayerCNN, data: PatchData, steps: int | None = None) -> tuple[str, str]:
    if engine == "auto":
        return choose_engine(net, data, steps)
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is invalid: must be one of {sorted(ENGINES) + ['auto']}")
    return engine, "requested"


def train(
    net: TwoLayerCNN,
    data: PatchData,
    lr: float,
    steps: int,
    record_every: int | None = None,
    test: PatchData | None = None,
    engine: str = "feature",
    progress: bool | None = False,
    callback: Callable[[int, Snapshot], None] | None = None,
    blas_threads: int | str | None = "auto",
) -> Trajectory:
    """Full-batch gradient descent with constant step ``lr`` on the mean logistic loss.

    Parameters
    ----------
    net : TwoLayerCNN or Activation
        Initial filters ``W(0)`` (2, m, d) and the activation; with ``engine="implicit"`` only the
        :class:`~cnnrank.activations.Activation` (the initial filters are part of the sample).
    data : PatchData or GramSample
        Training set, ``X`` (n, P, d), ``y`` (n,); or, for ``engine="implicit"``, the inner products
        drawn by :meth:`SignalNoiseModel.sample_gram` (test set included, ``test`` must be None).
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
        ``"feature"`` (feature space, ``8 nP d m`` flops per step), ``"gram"`` (patch coefficients
        with the Gram matrix of the distinct patches, ``4 M² m`` flops per step, independent of
        ``d``), another name of :data:`cnnrank.engines.ENGINES`, or ``"auto"``: the cheaper of the
        two for these shapes (:func:`cnnrank.engines.choose_engine`; the reason is stored in
        ``metadata["engine_choice"]``). ``"implicit"`` trains on a
        :class:`~cnnrank.engines.implicit.GramSample` (no vector of ``R^d`` ever exists): the
        trajectory has losses, accuracies (test included), ``coef``, ``gamma``, ``rho`` and both
        stable ranks, and ``W_init``, ``W_final``, ``patches`` are ``None`` (``weights_at`` raises).
    progress : bool or None
        Progress bar on stderr (``None``: only on a terminal).
    callback : callable, optional
        Called as ``callback(step, snapshot)`` at every record.
    blas_threads : "auto", int or None
        BLAS threads while training (:mod:`cnnrank._blas`). ``"auto"`` uses one thread when a step
        costs under :data:`cnnrank._blas.SMALL_STEP_FLOPS` (the products are then too small for threads to pay,
        and on shared cores threads cost up to 25×), ``None`` leaves BLAS alone. The choice is in
        ``metadata["blas_threads"]``. Results for different thread counts agree to rounding (BLAS
        blocks differently); for the same setting they are bit-identical.

    Returns
    -------
    Trajectory

    Raises
    ------
    TrainingDiverged
        If the loss or the weights become non-finite; carries the records so far.
    """
    resolve(blas_threads, 0.0)  # validates the argument before anything else
    if engine == "implicit" or isinstance(data, GramSample):
        limit = resolve(blas_threads, 0.0)  # a d-free step is a small Gram step
        with _blas_threads(limit):
            traj = _train_implicit(net, data, lr, steps, record_every, test, engine, progress, callback)
        traj.metadata["blas_threads"] = limit
        return traj
    _validate_train(net, data, test)
    lr = check_real("lr", lr, positive=True)
    steps = check_int("steps", steps, minimum=0)
    if record_every is None:
        record_every = max(1, steps // 100)
    record_every = check_int("record_every", record_every, minimum=1)
    name, why = _resolve_engine(engine, net, data, steps)
    n, P, d = data.X.shape
    limit = resolve(blas_threads, ENGINES[name].cost_per_step(n, P, d, net.m, n * P))  # M <= nP
    started = time.perf_counter()

    def assemble(snaps: list[Snapshot], done_steps: np.ndarray) -> Trajectory:
        return _assemble(snaps, done_steps, net, data, lr, name, eng,
                         {"engine_choice": why, "seconds": time.perf_counter() - started,
                          "blas_threads": limit})

    with _blas_threads(limit):
        eng = ENGINES[name](net.W, data, net.activation, test)
        return _run(eng, name, lr, steps, record_every, progress, callback, assemble)


def _run(eng: Any, name: str, lr: float, steps: int, record_every: int, progress: bool | None,
         callback: Callable[[int, Snapshot], None] | None,
         assemble: Callable[[list[Snapshot], np.ndarray], Trajectory]) -> Trajectory:
    """The loop over records shared by every engine."""
    at = record_steps(steps, record_every)
    snaps: list[Snapshot] = []
    bar = progress_bar(steps, desc=f"train[{name}]", enabled=progress)
    current = 0
    try:
        for target in at:
            try:
                eng.advance(int(target - current), lr)
            except Diverged as exc:
                raise TrainingDiverged(current + exc.steps_done, lr, assemble(snaps, at[: len(snaps)])) from None
            try:
                snap = eng.snapshot()
            except Diverged:
                raise TrainingDiverged(int(target), lr, assemble(snaps, at[: len(snaps)])) from None
            current = int(target)
            snaps.append(snap)
            bar.update(int(target - (at[len(snaps) - 2] if len(snaps) > 1 else 0)))
            if callback is not None:
                callback(current, snap)
    finally:
        bar.close()
    return assemble(snaps, at)


def _train_implicit(activation: Any, sample: Any, lr: float, steps: int, record_every: int | None,
                    test: Any, engine: str, progress: bool | None,
                    callback: Callable[[int, Snapshot], None] | None) -> Trajectory:
    """``train(activation, sample, ..., engine="implicit")`` on a :class:`GramSample`."""
    if engine not in ("implicit", "auto"):
        raise ValueError(f"engine={engine!r} is invalid for a GramSample (no vectors): must be 'implicit' "
                         f"or 'auto'")
    if not isinstance(sample, GramSample):
        raise TypeError(f"data={type(sample).__name__} is invalid: engine='implicit' needs a GramSample "
                        f"from SignalNoiseModel.sample_gram")
    if isinstance(activation, TwoLayerCNN):
        raise TypeError("net=TwoLayerCNN is invalid for engine='implicit': pass the Activation; the "
                        "initial filters are part of the GramSample")
    if not isinstance(activation, Activation):
        raise TypeError(f"net={type(activation).__name__} is invalid: engine='implicit' needs an Activation")
    if test is not None:
        raise ValueError("test is invalid with engine='implicit': draw the test set jointly with "
                         "sample_gram(..., n_test=...)")
    lr = check_real("lr", lr, positive=True)
    steps = check_int("steps", steps, minimum=0)
    if record_every is None:
        record_every = max(1, steps // 100)
    record_every = check_int("record_every", record_every, minimum=1)
    started = time.perf_counter()
    eng = ImplicitEngine(sample, activation)

    def assemble(snaps: list[Snapshot], done_steps: np.ndarray) -> Trajectory:
        meta = {"engine_choice": "requested" if engine == "implicit" else "auto: implicit (a GramSample)",
                "seconds": time.perf_counter() - started, "sample": sample_meta(sample)}
        return _assemble_records(snaps, done_steps, sample.m, sample.n, sample.P, lr, activation,
                                 "implicit", meta, gamma_rho=lambda c: _gamma_rho_implicit(c, sample),
                                 signal_coords=sample.patch_signal_coordinates())

    return _run(eng, "implicit", lr, steps, record_every, progress, callback, assemble)


def _gamma_rho_implicit(coef: np.ndarray, sample: Any) -> tuple[np.ndarray, np.ndarray]:
    """γ and ρ (docs/theory.md §4) from coefficients and the sample's norms and bookkeeping."""
    n, P = sample.n, sample.P
    pos = np.broadcast_to(sample.signal_pos[:, None], coef.shape[:-1] + (1,))
    c_sig = np.take_along_axis(coef, pos, axis=-1)[..., 0]
    onehot = np.zeros((n, 2 * sample.K))
    onehot[np.arange(n), sample.signal_id] = 1.0
    gamma = (c_sig @ onehot) * sample.signal_sq_norms
    keep = np.arange(P)[None, :] != sample.signal_pos[:, None]
    bg = np.broadcast_to(np.nonzero(keep)[1].reshape(n, P - 1), coef.shape[:-2] + (n, P - 1))
    rho = np.take_along_axis(coef, bg, axis=-1) * sample.noise_sq_norms
    return gamma, rho


def _stable_ranks(grams: list[np.ndarray]) -> np.ndarray:
    """:func:`stable_rank_from_gram` of each matrix, as one stacked eigenvalue call (``tr G / λ_max``)."""
    if not grams:
        return np.zeros(0)
    G = np.stack(grams)
    G = 0.5 * (G + G.transpose(0, 2, 1))
    if not np.all(np.isfinite(G)):
        return np.array([stable_rank_from_gram(g) for g in grams])  # let the validator report it
    top = np.linalg.eigvalsh(G)[:, -1]
    tr = np.trace(G, axis1=1, axis2=2)
    out = np.zeros(len(grams))
    pos = top > 0
    out[pos] = tr[pos] / top[pos]
    return out


def _assemble(snaps: list[Snapshot], at: np.ndarray, net: TwoLayerCNN, data: PatchData, lr: float,
              name: str, eng: Any, meta: dict) -> Trajectory:
    W_final = eng.weights() if snaps else None
    vectors = W_final is not None
    gamma_rho = (lambda c: signal_noise_coefficients(c, data)) if data.has_decomposition else None
    return _assemble_records(snaps, at, net.m, data.n, data.P, lr, net.activation, name, meta, gamma_rho,
                             W_init=np.array(net.W) if vectors else None, W_final=W_final,
                             patches=np.array(data.X) if vectors else None,
                             signal_coords=signal_patch_coordinates(data) if data.has_decomposition else None)


def _assemble_records(snaps: list[Snapshot], at: np.ndarray, m: int, n: int, P: int, lr: float,
                      activation: Activation, name: str, meta: dict,
                      gamma_rho: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None,
                      W_init: np.ndarray | None = None, W_final: np.ndarray | None = None,
                      patches: np.ndarray | None = None,
                      signal_coords: np.ndarray | None = None) -> Trajectory:
    """One ``Trajectory`` from the snapshots; ``signal_coords`` (nP, r) are the patches' coordinates in
    an orthonormal basis of the signal span (:func:`signal_patch_coordinates`), for the learned-subspace
    diagnostics (``(W - W0) Q = C Z``)."""
    R = len(snaps)
    coef = np.stack([s.coef for s in snaps]) if R else np.zeros((0, 2, m, n, P))
    gamma = rho = None
    if gamma_rho is not None:
        gamma, rho = gamma_rho(coef)
    learned_grams = np.stack([s.learned_gram for s in snaps]) if R else np.zeros((0, 2 * m, 2 * m))
    finite = bool(np.all(np.isfinite(learned_grams)))
    if finite and R:
        sv = np.sqrt(np.maximum(np.linalg.eigvalsh(0.5 * (learned_grams + learned_grams.transpose(0, 2, 1))), 0.0))[:, ::-1]
    else:
        sv = np.full((R, 2 * m), np.nan)
    dim = frac = overlap = angles = None
    if signal_coords is not None and gamma is not None:
        k = min(2 * m, signal_coords.shape[1])
        if finite and R and np.all(np.isfinite(coef)):
            proj = coef.reshape(R, 2 * m, n * P) @ signal_coords
            diag = learned_subspace_from_grams(learned_grams, proj)
            dim, frac, angles = diag["learned_dimension"], diag["energy_fraction"], diag["principal_angles"]
        else:  # no records, or a diverged run's records: nothing meaningful to report
            dim, frac, angles = np.zeros(R, np.int64), np.full(R, np.nan), np.full((R, k), np.nan)
        overlap = _overlaps(gamma) if R else np.zeros(0)
    has_test = R > 0 and snaps[0].test_loss is not None
    return Trajectory(
        steps=np.asarray(at[:R], dtype=np.int64),
        train_loss=np.array([s.train_loss for s in snaps]),
        train_acc=np.array([s.train_acc for s in snaps]),
        test_loss=np.array([s.test_loss for s in snaps]) if has_test else None,
        test_acc=np.array([s.test_acc for s in snaps]) if has_test else None,
        coef=coef,
        gamma=gamma,
        rho=rho,
        filter_stable_rank=_stable_ranks([s.filter_gram for s in snaps]),
        learned_stable_rank=_stable_ranks([s.learned_gram for s in snaps]),
        learned_singular_values=sv,
        learned_dimension=dim,
        signal_energy_fraction=frac,
        signal_overlap=overlap,
        signal_angles=angles,
        W_init=W_init,
        W_final=W_final,
        patches=patches,
        lr=lr,
        activation=activation.spec(),
        engine=name,
        metadata=meta,
    )
