r"""Dimension-free sampling (layer 1): the inner products training needs, drawn without ``d``-dimensional
vectors.

Training the two-layer CNN by gradient descent only reads inner products (docs/theory.md §3): the Gram
matrix of the training patches, their inner products with the initial filters, the filters' own Gram
matrix and, for test metrics, the cross-Gram of test patches. For :class:`~cnnrank.SignalNoiseModel`
their joint law is explicit. Split ``R^d = S ⊕ S^⊥`` with ``S`` the span of the ``2K`` signals
(``dim S^⊥ = d' = d - 2K``). Every law involved is rotation invariant, so the signals can be taken as
``‖μ_1‖ e_1, …, ‖μ_{2K}‖ e_{2K}`` without changing the law of any inner product (``‖μ_k‖`` the
model's per-signal norms :attr:`SignalNoiseModel.norms`, all ``‖μ‖`` unless ``signal_norms`` is
given). Then

* signals: ``μ_k = ‖μ_k‖ e_k`` (in ``S``), nothing in ``S^⊥``;
* background patches: ``ξ = (ξ_S, ξ_⊥)`` with ``ξ_S = 0`` when ``project_noise`` (covariance
  ``σ_p² (I - Π)``) and ``ξ_S ~ N(0, σ_p² I_{2K})`` otherwise; ``ξ_⊥ ~ N(0, σ_p² I_{d'})``;
* initial filters: ``w = (w_S, w_⊥)``, ``w_S ~ N(0, σ_0² I_{2K})``, ``w_⊥ ~ N(0, σ_0² I_{d'})``;

all independent. Writing ``E`` for the ``2K`` explicit coordinates in ``S`` of all ``N_all`` vectors
(signals, train noise, test noise, filters; shape ``(N_all, 2K)``) and ``s_a ∈ {0, σ_p, σ_0}`` for the
scale of vector ``a`` in ``S^⊥``, the joint Gram matrix of all vectors is

.. math::
    \mathcal G = E E^\top + \operatorname{diag}(s)\, H\, \operatorname{diag}(s),\qquad
    H \sim \mathrm{Wishart}_{N'}(d', I)

over the ``N'`` vectors with a component in ``S^⊥`` (noise patches and filters). ``H`` is drawn by the
Bartlett decomposition ``H = L Lᵀ``, ``L`` lower triangular with ``L_{ii} = \sqrt{\chi^2_{d' - i}}``
(``i = 0, 1, …``) and ``L_{ij} ~ N(0, 1)`` below the diagonal — ``O(N'^3)`` work whatever ``d``
(for ``d' < N'`` it is drawn from ``d'`` explicit Gaussian coordinates, which is cheaper). The signal
cross terms ``⟨μ_k, w⟩ = ‖μ_k‖ w_{S,k}`` and (without projection) ``⟨μ_k, ξ⟩ = ‖μ_k‖ ξ_{S,k}`` come from
``E``. So a run at ``d = 10^9`` costs what one at ``d = 10^3`` costs.

What this gives, and what it cannot: every inner product among signals, patches and initial filters,
hence the whole training trajectory in coefficient space (losses, accuracies, test metrics, patch
coefficients, ``γ``, ``ρ``, the filter Gram matrices ``W Wᵀ`` and ``(W - W_0)(W - W_0)ᵀ`` and their
stable ranks) and the data's Gram matrices (stable rank of the data and patch matrices). It never
forms a vector of ``R^d``: no ``W``, no patches, no ``weights_at``; and nothing that needs a fixed
direction other than the signals (e.g. a projection of the filters on a new random vector).

This module is the data layer's half of the dimension-free path: :func:`sample_gram` (also
:meth:`SignalNoiseModel.sample_gram`) and :func:`gram_sample_from_data` build a :class:`GramSample`;
the implicit engine (:mod:`cnnrank.engines.implicit`) builds its Gram problem from it and
:func:`cnnrank.train.train_implicit` trains on it. Labels, signal ids, positions and label flips are
drawn by :meth:`SignalNoiseModel.draw_labels`, the one home of those draws. This module imports no
other module of its layer (``cnnrank.data`` imports it for :meth:`SignalNoiseModel.sample_gram`), so
the model and the explicit data are typed by what is read from them. :class:`GramSample` and
:class:`PatchLayout` live in :mod:`cnnrank.gram_container` and are re-exported here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cnnrank._memory import check_allocation
from cnnrank._validation import as_array, check_int, check_real, check_rng
from cnnrank.gram_container import GramSample, PatchLayout, _check_model
from cnnrank.gram_container import _has_signals as _has_signals
from cnnrank.gram_container import _patch_columns as _patch_columns

__all__ = ["GramSample", "PatchLayout", "gram_sample_from_data", "sample_gram", "sample_meta",
           "wishart_bartlett"]


def wishart_bartlett(dof: int, N: int, rng: Any = None) -> np.ndarray:
    r"""A draw of ``Wishart_N(dof, I)``, i.e. the law of ``A Aᵀ`` for ``A`` (N, dof) standard Gaussian.

    Bartlett decomposition ``L Lᵀ`` (``L_{ii}² ~ χ²_{dof - i}``, ``L_{ij} ~ N(0, 1)`` for ``i > j``)
    when ``dof >= N``: ``O(N³)`` work, independent of ``dof``. When ``dof < N`` the matrix is singular
    and is drawn as ``A Aᵀ`` from explicit coordinates (``O(N² dof)``).

    Parameters
    ----------
    dof : int
        Degrees of freedom (the ambient dimension), >= 0.
    N : int
        Size, >= 0.
    rng : None, int, SeedSequence or Generator

    Returns
    -------
    ndarray, shape (N, N)
        Symmetric positive semi-definite; mean ``dof · I``, ``Var H_ij = dof`` (``i ≠ j``),
        ``Var H_ii = 2 dof``.
    """
    dof = check_int("dof", dof, minimum=0, maximum=2**53)  # χ² degrees of freedom are float64
    N = check_int("N", N, minimum=0)
    rng = np.random.default_rng(check_rng("rng", rng))
    check_allocation(3 * 8.0 * N * N, f"wishart_bartlett(dof={dof}, N={N}) (about 3 "
                     f"{N} × {N} float64 matrices)", "a smaller N")
    if dof < N:
        A = rng.standard_normal((N, dof))
        return A @ A.T
    L = np.tril(rng.standard_normal((N, N)), -1)
    L[np.arange(N), np.arange(N)] = np.sqrt(rng.chisquare(dof - np.arange(N)))
    H = L @ L.T
    return 0.5 * (H + H.T)


def _signal_norms(model: Any) -> np.ndarray:
    """The model's per-signal norms ``‖μ_k‖`` (2K,): its ``signal_norms``, or ``signal_norm`` repeated."""
    norms = getattr(model, "signal_norms", None)
    if norms is None:
        return np.full(2 * int(model.K), float(model.signal_norm))
    return np.asarray(norms, dtype=np.float64)


def sample_gram(model: Any, n: int, m: int, init_std: float, n_test: int = 0,
                rng: Any = None) -> GramSample:
    r"""Draw the joint inner products of signals, background patches, initial filters and test patches.

    Same law as ``model.sample(n)``, ``model.sample(n_test)`` and ``TwoLayerCNN.init(m, d, init_std)``
    pushed through all inner products (see the module docstring for the construction), at a cost
    independent of ``d``: ``O(N'^3)`` with ``N' = (n + n_test)(P - 1) + 2m``.

    Parameters
    ----------
    model : SignalNoiseModel
        Its ``signal_basis`` is irrelevant (inner products do not depend on it).
    n : int
        Training samples, >= 1.
    m : int
        Filters per class, >= 1.
    init_std : float
        ``σ_0 >= 0``.
    n_test : int
        Test samples drawn jointly (0 for none).
    rng : None, int, SeedSequence or Generator
        Draw order: training labels/ids/positions/flips (:meth:`SignalNoiseModel.draw_labels`), test
        ones, then ``E`` (filters', then unprojected noise's signal coordinates), then ``H``.

    Returns
    -------
    GramSample
    """
    n = check_int("n", n, minimum=1)
    m = check_int("m", m, minimum=1)
    n_test = check_int("n_test", n_test, minimum=0)
    init_std = check_real("init_std", init_std, nonnegative=True)
    _check_model(model)
    rng = np.random.default_rng(check_rng("rng", rng))
    K2, P, d = 2 * model.K, model.patches, model.d
    N_est = 2 * K2 + (n + n_test) * (P - 1) + 2 * m
    check_allocation(6 * 8.0 * N_est**2, f"sample_gram(n={n}, n_test={n_test}, m={m}) (the joint "
                     f"{N_est} × {N_est} Gram matrix, about 6 copies while it is drawn)",
                     "fewer samples (n, n_test) or filters (m)")
    mu, sp = model.signal_norm, model.noise_std
    y, y_true, sid, pos = model.draw_labels(n, rng)
    ty = tyt = tsid = tpos = None
    if n_test:
        ty, tyt, tsid, tpos = model.draw_labels(n_test, rng)
    Nb, Nt, F = n * (P - 1), n_test * (P - 1), 2 * m
    N_all = K2 + Nb + Nt + F
    # explicit coordinates in S = span(signals)
    E = np.zeros((N_all, K2))
    E[np.arange(K2), np.arange(K2)] = mu if getattr(model, "signal_norms", None) is None else _signal_norms(model)
    with np.errstate(over="ignore", invalid="ignore"):  # huge scales overflow: training diverges at step 0
        E[K2 + Nb + Nt:] = init_std * rng.standard_normal((F, K2))
        if not model.project_noise:
            E[K2: K2 + Nb + Nt] = sp * rng.standard_normal((Nb + Nt, K2))
    # the complement S^⊥ (dimension d - 2K): a Wishart draw for noise patches and filters
    scale = np.concatenate([np.full(Nb + Nt, sp), np.full(F, init_std)])
    H = wishart_bartlett(d - K2, Nb + Nt + F, rng)
    with np.errstate(over="ignore", invalid="ignore"):  # huge scales overflow: training diverges at step 0
        gram = E @ E.T
        gram[K2:, K2:] += scale[:, None] * H * scale[None, :]
        gram = 0.5 * (gram + gram.T)
    return GramSample(model=model, m=m, init_std=init_std, y=y, y_true=y_true, signal_id=sid,
                      signal_pos=pos, test_y=ty, test_y_true=tyt, test_signal_id=tsid,
                      test_signal_pos=tpos, gram=gram)


def gram_sample_from_data(model: Any, data: Any, W0: np.ndarray, test: Any = None,
                          init_std: float = float("nan")) -> GramSample:
    """The :class:`GramSample` of explicit vectors: data drawn by ``model.sample``, filters ``W0`` (2, m, d).

    Inner products computed from the vectors (``d``-sized work) in the layout of :func:`sample_gram`;
    training on it with :func:`cnnrank.train.train_implicit` reproduces the feature engine on ``data``
    (used to test the implicit path, and to move an explicit problem into coefficient space).
    """
    _check_model(model)
    for name, value in (("data", data), ("test", test)):
        if value is not None and not all(hasattr(value, a) for a in ("X", "has_decomposition", "noise")):
            raise TypeError(f"{name}={type(value).__name__} is invalid: must be a cnnrank.PatchData")
    if not data.has_decomposition:
        raise ValueError("data is invalid: gram_sample_from_data needs signals, signal_id and signal_pos")
    for what, have in (("d", data.d), ("K", data.K), ("patches", data.P)):
        want = getattr(model, what)
        if have != want:
            raise ValueError(f"model.{what}={want} is invalid for this data ({what}={have}): the sample must be "
                             f"built with the model that drew the data (e.g. SignalNoiseModel(d={data.d}, "
                             f"K={data.K}, patches={data.P}, ...))")
    top = float(np.max(np.abs(data.signals))) or 1.0
    norms = top * np.linalg.norm(np.asarray(data.signals) / top, axis=1)  # no overflow at ‖μ‖ = 1e160
    if not np.allclose(norms, _signal_norms(model), rtol=1e-6, atol=0.0):
        what = (f"model.signal_norm={model.signal_norm:g}" if getattr(model, "signal_norms", None) is None
                else f"model.signal_norms={tuple(model.signal_norms)}")
        raise ValueError(f"{what} is invalid for this data (signal norms "
                         f"{np.unique(np.round(norms, 6))[:3].tolist()}): the sample must be built with the "
                         f"model that drew the data")
    has_noise = bool(np.any(data.noise != 0))
    if has_noise != (model.noise_std > 0):
        raise ValueError(f"model.noise_std={model.noise_std:g} is invalid for this data (background patches "
                         f"{'non-zero' if has_noise else 'all zero'}): the sample must be built with the "
                         f"model that drew the data")
    W0 = as_array("W0", W0, ndim=3)
    if W0.shape[0] != 2 or W0.shape[1] < 1 or W0.shape[2] != data.d:
        raise ValueError(f"W0 has shape {W0.shape} which is invalid: must be (2, m, d) with d={data.d}")
    parts = [data.signals, data.noise.reshape(-1, data.d)]
    if test is not None:
        if not test.has_decomposition or test.d != data.d or test.P != data.P:
            raise ValueError(f"test is invalid: must carry signals, signal_id and signal_pos, with d={data.d} "
                             f"and {data.P} patches like data")
        if not np.array_equal(test.signals, data.signals):
            raise ValueError("test.signals is invalid: the test set must share the training signals")
        parts.append(test.noise.reshape(-1, data.d))
    parts.append(W0.reshape(-1, data.d))
    V = np.vstack(parts)
    with np.errstate(over="ignore", invalid="ignore"):  # huge scales overflow: training diverges at step 0
        gram = V @ V.T
    y_true = data.y if data.y_true is None else data.y_true
    tl: tuple[Any, ...] = (None,) * 4 if test is None else (test.y, test.y_true, test.signal_id, test.signal_pos)
    return GramSample(model=model, m=W0.shape[1], init_std=init_std, y=data.y, y_true=y_true,
                      signal_id=data.signal_id, signal_pos=data.signal_pos, test_y=tl[0], test_y_true=tl[1],
                      test_signal_id=tl[2], test_signal_pos=tl[3], gram=gram)


def sample_meta(sample: GramSample) -> dict[str, Any]:
    """JSON-able description of a sample for trajectory metadata."""
    return {"model": dataclasses.asdict(sample.model), "n": sample.n, "m": sample.m,
            "init_std": sample.init_std, "n_test": sample.n_test}
