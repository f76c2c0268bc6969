"""Stable ranks of stacked Gram matrices, and the learned part recomputed from rescaled coefficients
when its Gram matrix under- or overflows (docs/theory.md §5, "Scale")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnrank.data import PatchData
from cnnrank.gram_sample import GramSample
from cnnrank.rank import gram_in_safe_range, stable_rank_from_gram
from cnnrank.subspace import _pow2, orthonormal_basis

__all__ = ["stable_ranks"]


def stable_ranks(grams: Sequence[np.ndarray] | np.ndarray, eigenvalues: np.ndarray | None = None) -> np.ndarray:
    """:func:`~cnnrank.rank.stable_rank_from_gram` of each matrix (``tr G / λ_max``, docs/theory.md §5),
    as one stacked eigenvalue call; shape (len(grams),).

    A matrix whose largest entry is outside the range where the stacked call is exact (``1e-280`` to
    ``1e280``) goes through the rescaled :func:`~cnnrank.rank.stable_rank_from_gram`; a non-finite one
    (a blown-up record) gives NaN instead of an error.

    Parameters
    ----------
    grams : sequence of ndarray (a, a), or ndarray (R, a, a)
    eigenvalues : ndarray, shape (R, a), optional
        ``np.linalg.eigvalsh`` of the symmetrized matrices ``(G + Gᵀ) / 2`` (ascending), when the caller
        has computed them already: the stacked eigenvalue call is then skipped. The rows of non-finite
        matrices do not matter (their stable rank is NaN).
    """
    if not len(grams):
        return np.zeros(0)
    G = _symmetrized(grams)
    if eigenvalues is not None and eigenvalues.shape != G.shape[:2]:
        raise ValueError(f"eigenvalues has shape {eigenvalues.shape} which is invalid: must be {G.shape[:2]}")
    finite = np.all(np.isfinite(G), axis=(1, 2))
    if not np.all(finite):
        G = np.where(finite[:, None, None], G, 0.0)
    top = (np.linalg.eigvalsh(G) if eigenvalues is None else eigenvalues)[:, -1]
    tr = np.trace(G, axis1=1, axis2=2)
    out = np.zeros(len(grams))
    pos = top > 0
    out[pos] = tr[pos] / top[pos]
    # gram_in_safe_range is a test of the largest entry against an interval: when the smallest and the
    # largest of the non-zero matrices' largest entries pass it, every matrix does (the usual case)
    scale = np.max(np.abs(G), axis=(1, 2))  # 0 for a zero matrix and for a (zeroed) non-finite one
    nonzero = scale[scale > 0]
    if nonzero.size and not (gram_in_safe_range(nonzero.min(keepdims=True))
                             and gram_in_safe_range(nonzero.max(keepdims=True))):
        for i in np.flatnonzero(scale > 0):
            if not gram_in_safe_range(G[i]):
                out[i] = stable_rank_from_gram(G[i])
    out[~finite] = np.nan
    return out


def _stacked(arrays: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """``arrays`` as one array with a leading record axis (an array is taken as it is, not copied)."""
    return arrays if isinstance(arrays, np.ndarray) else np.stack(arrays)


def _symmetrized(grams: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """``(G + Gᵀ) / 2`` of each matrix of a stack (R, a, a)."""
    G = _stacked(grams)
    return 0.5 * (G + G.transpose(0, 2, 1))




#: a learned Gram matrix is recomputed from the rescaled coefficients when its largest entry lies
#: outside [2^-920, 2^920] (its small eigenvalues have under- or overflowed)
_GRAM_RANGE = (2.0**-920, 2.0**920)


def _records_to_redo(grams: np.ndarray, flat: np.ndarray, bad: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Records whose learned-subspace diagnostics must come from the rescaled coefficients: the learned
    Gram matrix is out of the safe range (or zero while coefficients are not), or the projection
    ``C Z`` is not finite, or it is inconsistent with the Gram matrix (``bad``, e.g. filters whose
    learned part is below the rounding of ``W`` itself, so that ``W - W(0)`` lost it)."""
    top = np.max(np.abs(grams), axis=(1, 2))
    nonzero = np.any(flat != 0, axis=(1, 2))
    out = (nonzero & ((top < _GRAM_RANGE[0]) | (top > _GRAM_RANGE[1]))) | ~ok
    out[bad] = True
    return np.flatnonzero(out)


def _rescaled_learned_part(flat: np.ndarray, data: PatchData | GramSample
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``A Aᵀ`` and ``A Q`` of the learned parts ``A = C X`` of coefficient records ``flat`` (k, 2m, nP),
    computed from ``C / h_C`` and ``X / h_X`` (powers of two near their largest entries, exact), so that
    nothing under- or overflows; and ``h = h_C h_X`` per record, the factor of ``A``'s singular values.

    For a :class:`~cnnrank.gram_sample.GramSample` the patch Gram matrix ``X Xᵀ`` is divided by ``h_X²``
    and the signal coordinates ``X Q`` by ``h_X``."""
    hc = _pow2(np.max(np.abs(flat), axis=(1, 2)))
    C = flat / hc[:, None, None]
    if isinstance(data, PatchData):
        Xf = np.asarray(data.X).reshape(-1, data.d)
        hx = float(_pow2(np.max(np.abs(Xf))))
        Xf = Xf / hx
        assert data.signals is not None
        Q = orthonormal_basis(np.asarray(data.signals).T)
        k, a = C.shape[:2]
        G, S = np.empty((k, a, a)), np.empty((k, a, Q.shape[1]))
        step = max(1, int(2**25 // (8 * a * data.d)))  # records per chunk: (chunk, 2m, d) within 32 MiB
        for i in range(0, k, step):
            A = C[i:i + step] @ Xf  # (chunk, 2m, d)
            G[i:i + step], S[i:i + step] = A @ A.transpose(0, 2, 1), A @ Q
        return G, S, hc * hx
    K = data.patch_gram()
    top = float(np.max(np.abs(K))) if K.size else 0.0
    hx = float(np.ldexp(1.0, (np.frexp(top)[1] + 1) // 2)) if top > 0 else 1.0  # hx² >= max |K|
    Kn = K / hx / hx
    Z = data.patch_signal_coordinates() / hx
    return C @ Kn @ C.transpose(0, 2, 1), C @ Z, hc * hx


def _with_overrides(ranks: np.ndarray, overrides: Sequence[float | None]) -> np.ndarray:
    """``ranks`` with the engines' scale-safe values (:attr:`Snapshot.filter_stable_rank`) put in."""
    for i, v in enumerate(overrides):
        if v is not None:
            ranks[i] = v
    return ranks
