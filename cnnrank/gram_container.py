r"""The dimension-free sample (layer 1, docs/theory.md §3): :class:`GramSample`, the joint Gram matrix of
signals, patches and initial filters with the sample's bookkeeping, and :class:`PatchLayout`, where each
patch sits in it.

:func:`~cnnrank.gram_sample.sample_gram` and :func:`~cnnrank.gram_sample.gram_sample_from_data` build
one (the law is described in :mod:`cnnrank.gram_sample`, which re-exports both classes). Like that
module this one imports no other module of its layer, so the model is typed by what is read from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank._validation import as_array, check_int
from cnnrank.rank import stable_rank_from_gram

__all__ = ["GramSample", "PatchLayout"]


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


def _has_signals(model: Any) -> bool:
    """Whether the signals are non-zero (per-signal norms are all > 0; else ``signal_norm > 0``)."""
    return getattr(model, "signal_norms", None) is not None or model.signal_norm > 0


def _check_model(model: Any) -> None:
    if not all(hasattr(model, a) for a in ("draw_labels", "K", "d", "patches", "signal_norm", "noise_std")):
        raise TypeError(f"model={type(model).__name__} is invalid: must be a cnnrank.SignalNoiseModel")
