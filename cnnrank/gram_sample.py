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
the model and the explicit data are typed by what is read from them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank._memory import check_allocation
from cnnrank._validation import as_array, check_int, check_real, check_rng
from cnnrank.rank import stable_rank_from_gram

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


@dataclass(frozen=True, eq=False)
class PatchLayout:
    """Where the distinct non-zero patches of a :class:`GramSample` sit in its joint Gram matrix.

    Attributes
    ----------
    columns : ndarray of int, shape (M,)
        Rows/columns of ``gram`` of the distinct non-zero training patches: the signals (if
        ``‖μ‖ > 0``), then the training background patches (if ``σ_p > 0``).
    index : ndarray of int, shape (n P,)
        Distinct patch of sample-patch ``(i, p)`` (row ``i P + p``); ``M`` marks a zero patch.
    filter_columns : ndarray of int, shape (2m,)
        Rows/columns of ``gram`` of the initial filters.
    test_columns : ndarray of int, shape (Mt,), or None
        The same as ``columns`` for the test patches (signals, then test background patches).
    test_index : ndarray of int, shape (n_test P,), or None
        As ``index`` for the test samples (``Mt`` marks a zero patch).
    """

    columns: np.ndarray
    index: np.ndarray
    filter_columns: np.ndarray
    test_columns: np.ndarray | None
    test_index: np.ndarray | None


def _patch_columns(signal_id: np.ndarray, signal_pos: np.ndarray, P: int, K2: int, bg_offset: int,
                   keep_signal: bool, keep_noise: bool, M: int) -> np.ndarray:
    """Distinct-patch column of each sample-patch (row ``i P + p``); ``M`` marks a zero patch."""
    n = signal_id.shape[0]
    col = np.empty((n, P), dtype=np.int64)
    is_sig = np.arange(P)[None, :] == signal_pos[:, None]
    col[is_sig] = signal_id if keep_signal else M
    col[~is_sig] = (bg_offset + np.arange(n * (P - 1))) if keep_noise else M
    return col.reshape(-1)


@dataclass(frozen=True, eq=False)
class GramSample:
    """A draw of the synthetic data and initial filters, as inner products only.

    It carries the same bookkeeping as :class:`~cnnrank.data.PatchData` (``signal_id``,
    ``signal_pos``, :attr:`background_index`, :attr:`signal_sq_norms` ``‖μ_k‖²``,
    :attr:`noise_sq_norms` ``‖ξ_{i,p}‖²``), so γ and ρ (docs/theory.md §4) come from the same function
    (:func:`cnnrank.trajectory.signal_noise_coefficients`) for both.

    Attributes
    ----------
    model : SignalNoiseModel
    m : int
        Filters per class.
    init_std : float
        ``σ_0``.
    y, y_true, signal_id, signal_pos : ndarray, shape (n,)
        Training labels (observed and true), signal index and signal patch position, as in
        :class:`~cnnrank.data.PatchData`.
    test_y, test_y_true, test_signal_id, test_signal_pos : ndarray, shape (n_test,), or None
    gram : ndarray, shape (N_all, N_all)
        Joint Gram matrix of all vectors, in the order ``2K`` signals, ``n (P-1)`` training
        background patches, ``n_test (P-1)`` test background patches, ``2m`` initial filters (class +1
        then -1). Background patches are in sample order, then patch order without the signal patch
        (the order of :attr:`PatchData.noise`).
    """

    model: Any
    m: int
    init_std: float
    y: np.ndarray
    y_true: np.ndarray
    signal_id: np.ndarray
    signal_pos: np.ndarray
    test_y: np.ndarray | None
    test_y_true: np.ndarray | None
    test_signal_id: np.ndarray | None
    test_signal_pos: np.ndarray | None
    gram: np.ndarray

    def __post_init__(self) -> None:
        _check_model(self.model)
        m = check_int("m", self.m, minimum=1)
        n = int(np.shape(self.y)[0]) if np.ndim(self.y) == 1 else -1
        if n < 1:
            raise ValueError(f"y has shape {np.shape(self.y)} which is invalid: must be (n,) with n >= 1")
        K2, P = 2 * int(self.model.K), int(self.model.patches)
        for name, n_ in (("", n), ("test_", None if self.test_y is None else int(np.shape(self.test_y)[0]))):
            if n_ is None:
                if any(getattr(self, f"test_{f}") is not None for f in ("y_true", "signal_id", "signal_pos")):
                    raise ValueError("test_y=None is invalid with other test fields: give all four or none")
                continue
            for f in ("y", "y_true"):
                y = as_array(name + f, getattr(self, name + f), shape=(n_,))
                if not np.all(np.isin(y, (-1.0, 1.0))):
                    raise ValueError(f"{name + f} is invalid: labels must be -1 or +1")
            sid = as_array(name + "signal_id", getattr(self, name + "signal_id"), shape=(n_,), dtype=np.int64)
            if n_ and (sid.min() < 0 or sid.max() >= K2):
                raise ValueError(f"{name}signal_id is invalid: entries must lie in [0, {K2}) (2K signals)")
            pos = as_array(name + "signal_pos", getattr(self, name + "signal_pos"), shape=(n_,), dtype=np.int64)
            if n_ and (pos.min() < 0 or pos.max() >= P):
                raise ValueError(f"{name}signal_pos is invalid: entries must lie in [0, {P}) (P patches)")
        n_test = 0 if self.test_y is None else int(np.shape(self.test_y)[0])
        N_all = K2 + (n + n_test) * (P - 1) + 2 * m
        if np.shape(self.gram) != (N_all, N_all):
            raise ValueError(f"gram has shape {np.shape(self.gram)} which is invalid: must be ({N_all}, {N_all}) "
                             f"for 2K={K2} signals, {n}+{n_test} samples of {P} patches and 2m={2 * m} filters "
                             f"(was the sample built with another model?)")
        if np.any(np.isnan(self.gram)) and not np.any(np.isinf(self.gram)):
            raise ValueError("gram is invalid: contains NaN (bad input: NaN filters or data)")

    @property
    def n(self) -> int:
        """Training samples."""
        return int(self.y.shape[0])

    @property
    def P(self) -> int:
        """Patches per sample."""
        return int(self.model.patches)

    @property
    def K(self) -> int:
        """Signals per class."""
        return int(self.model.K)

    @property
    def d(self) -> int:
        """Patch dimension (never materialized)."""
        return int(self.model.d)

    @property
    def n_test(self) -> int:
        """Test samples (0 for none)."""
        return 0 if self.test_y is None else int(self.test_y.shape[0])

    @property
    def has_decomposition(self) -> bool:
        """Always ``True``: a sample carries the signal/background bookkeeping of docs/theory.md §4."""
        return True

    def _blocks(self) -> tuple[slice, slice, slice, slice]:
        K2, Nb, Nt = 2 * self.K, self.n * (self.P - 1), self.n_test * (self.P - 1)
        return (slice(0, K2), slice(K2, K2 + Nb), slice(K2 + Nb, K2 + Nb + Nt),
                slice(K2 + Nb + Nt, K2 + Nb + Nt + 2 * self.m))

    @property
    def background_index(self) -> np.ndarray:
        """Patch indices of the background patches, shape (n, P-1), in patch order (as
        :attr:`PatchData.background_index`)."""
        n, P = self.n, self.P
        keep = np.arange(P)[None, :] != self.signal_pos[:, None]
        return np.nonzero(keep)[1].reshape(n, P - 1)

    @property
    def signal_sq_norms(self) -> np.ndarray:
        """``‖μ_k‖²``, shape (2K,)."""
        s = self._blocks()[0]
        return np.diag(self.gram)[s].copy()

    @property
    def noise_sq_norms(self) -> np.ndarray:
        """``‖ξ_{i,p}‖²``, shape (n, P-1), in the order of :attr:`PatchData.noise`."""
        s = self._blocks()[1]
        return np.diag(self.gram)[s].reshape(self.n, self.P - 1).copy()

    def _columns(self) -> np.ndarray:
        """Row of ``gram`` of each training sample-patch (row ``i P + p``), shape (n P,)."""
        n, P, K2 = self.n, self.P, 2 * self.K
        col = np.empty((n, P), dtype=np.int64)
        is_sig = np.arange(P)[None, :] == self.signal_pos[:, None]
        col[is_sig] = self.signal_id
        col[~is_sig] = K2 + np.arange(n * (P - 1))
        return col.ravel()

    def patch_layout(self) -> PatchLayout:
        """The distinct non-zero patches and the initial filters in :attr:`gram` (:class:`PatchLayout`).

        Zero patches (every signal when ``‖μ‖ = 0``, every background patch when ``σ_p = 0``) are
        left out: they never move a filter and contribute ``σ(0) = 0`` (docs/theory.md §3).
        """
        K2, P = 2 * self.K, self.P
        Nb, Nt = self.n * (P - 1), self.n_test * (P - 1)
        keep_sig, keep_noise = _has_signals(self.model), self.model.noise_std > 0
        none = np.zeros(0, np.int64)
        cols = np.concatenate([np.arange(K2) if keep_sig else none, K2 + np.arange(Nb) if keep_noise else none])
        fcols = np.arange(K2 + Nb + Nt, self.gram.shape[0])
        bg0 = K2 if keep_sig else 0
        index = _patch_columns(self.signal_id, self.signal_pos, P, K2, bg0, keep_sig, keep_noise, cols.size)
        tcols = tindex = None
        if self.n_test:
            assert self.test_signal_id is not None and self.test_signal_pos is not None
            tcols = np.concatenate([np.arange(K2) if keep_sig else none,
                                    K2 + Nb + np.arange(Nt) if keep_noise else none])
            tindex = _patch_columns(self.test_signal_id, self.test_signal_pos, P, K2, bg0, keep_sig,
                                    keep_noise, tcols.size)
        return PatchLayout(columns=cols, index=index, filter_columns=fcols, test_columns=tcols,
                           test_index=tindex)

    @property
    def n_distinct(self) -> int:
        """Number ``M`` of distinct non-zero training patches (the size of the Gram engine's problem)."""
        return int(self.patch_layout().columns.size)

    def patch_gram(self, clean: bool = False) -> np.ndarray:
        """Gram matrix of the ``n P`` training patches (rows ``i P + p``), shape (nP, nP).

        ``clean=True`` sets the background patches to zero.
        """
        n, P, K2 = self.n, self.P, 2 * self.K
        col = self._columns()
        sub = self.gram[: K2 + n * (P - 1), : K2 + n * (P - 1)]
        Gp = sub[np.ix_(col, col)]
        if clean:
            is_sig = np.arange(P)[None, :] == self.signal_pos[:, None]
            keep = is_sig.ravel().astype(float)
            Gp = Gp * np.outer(keep, keep)
        return Gp

    def patch_signal_coordinates(self) -> np.ndarray:
        """Coordinates of the ``n P`` training patches (rows ``i P + p``) in an orthonormal basis of the
        signal span, shape (nP, rank of the signals): ``Z = (X μᵀ) V Λ^{-1/2}`` with ``μ μᵀ = V Λ Vᵀ``
        (eigenvalues above rounding only), the inner-product form of
        :meth:`PatchData.patch_signal_coordinates` (docs/theory.md §5)."""
        sig = self._blocks()[0]
        K2 = 2 * self.K
        raw = self.gram[self._columns(), sig]  # (nP, 2K): ⟨x_i^(p), μ_k⟩
        lam, V = np.linalg.eigh(self.gram[sig, sig])
        keep = lam > K2 * np.finfo(float).eps * max(float(lam[-1]), 0.0)
        return raw @ (V[:, keep] / np.sqrt(lam[keep]))

    def data_gram(self, clean: bool = False) -> np.ndarray:
        """Gram matrix of the data matrix (rows = samples flattened to ``P d``), shape (n, n).

        ``⟨x_i, x_{i'}⟩ = Σ_p ⟨x_i^(p), x_{i'}^(p)⟩``.
        """
        n, P = self.n, self.P
        Gp = self.patch_gram(clean).reshape(n, P, n, P)
        return np.einsum("apbp->ab", Gp)

    def data_stable_rank(self, clean: bool = False) -> float:
        """Stable rank of the ``n × Pd`` data matrix, from :meth:`data_gram` (docs/theory.md §5)."""
        return stable_rank_from_gram(self.data_gram(clean))


def _signal_norms(model: Any) -> np.ndarray:
    """The model's per-signal norms ``‖μ_k‖`` (2K,): its ``signal_norms``, or ``signal_norm`` repeated."""
    norms = getattr(model, "signal_norms", None)
    if norms is None:
        return np.full(2 * int(model.K), float(model.signal_norm))
    return np.asarray(norms, dtype=np.float64)


def _has_signals(model: Any) -> bool:
    """Whether the signals are non-zero (per-signal norms are all > 0; else ``signal_norm > 0``)."""
    return getattr(model, "signal_norms", None) is not None or model.signal_norm > 0


def _check_model(model: Any) -> None:
    if not all(hasattr(model, a) for a in ("draw_labels", "K", "d", "patches", "signal_norm", "noise_std")):
        raise TypeError(f"model={type(model).__name__} is invalid: must be a cnnrank.SignalNoiseModel")


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
