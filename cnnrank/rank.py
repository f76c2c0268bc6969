r"""Rank diagnostics (docs/theory.md §5): stable, effective and numerical rank; filter and data matrices.

* stable rank :math:`\mathrm{srank}(A) = \|A\|_F^2 / \|A\|_2^2 = \sum_i s_i^2 / s_1^2`, with
  :math:`1 \le \mathrm{srank}(A) \le \mathrm{rank}(A)`; the zero matrix has stable rank **0** by
  convention;
* effective rank (Roy & Vetterli 2007) :math:`\exp(-\sum_i p_i \log p_i)` with
  :math:`p_i = s_i / \sum_k s_k`; 0 for the zero matrix;
* numerical rank: the number of singular values above ``tol`` (default
  ``max(shape) · eps · s_1``, as ``numpy.linalg.matrix_rank``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import eigvalsh, svdvals

from cnnrank._validation import as_array, check_choice, check_real

__all__ = [
    "data_matrix",
    "data_rank_report",
    "effective_rank",
    "filter_matrix",
    "gram_in_safe_range",
    "numerical_rank",
    "patch_matrix",
    "singular_values",
    "stable_rank",
    "stable_rank_from_gram",
]


def singular_values(A: Any) -> np.ndarray:
    """Singular values of a 2-D array, descending. Shape ``(min(A.shape),)``."""
    A = as_array("A", A, ndim=2)
    if A.size == 0:
        return np.zeros(0)
    # the smaller Gram matrix is cheaper for very wide or tall matrices and exact enough for ranks
    return svdvals(A, check_finite=False)


#: entries of magnitude outside [_TINY, _HUGE] would underflow or overflow when squared: such a matrix
#: is divided by its largest entry first (ranks are scale-invariant). Inside the range nothing is
#: rescaled, so ordinary results are unchanged to the bit.
_TINY, _HUGE = 1e-140, 1e140


def _rescaled(A: np.ndarray, squared: bool = False) -> np.ndarray:
    """``A / max|A|`` when its scale is outside the safe range for squaring (``squared``: ``A`` is
    already a Gram matrix, so the range is squared as well)."""
    if A.size == 0:
        return A
    top = float(np.max(np.abs(A)))
    lo, hi = (_TINY**2, _HUGE**2) if squared else (_TINY, _HUGE)
    if top == 0 or lo <= top <= hi:
        return A
    return A / top


def gram_in_safe_range(G: np.ndarray) -> bool:
    """Whether a Gram matrix's largest entry lies where its stable rank is exact (``[1e-280, 1e280]``):
    outside, the Gram matrix of the vectors has under- or overflowed (a zero Gram matrix is outside:
    it may be the underflow of tiny vectors), and the stable rank should come from the rescaled
    vectors (:func:`stable_rank`)."""
    if G.size == 0:
        return True
    top = float(np.max(np.abs(G)))
    return _TINY**2 <= top <= _HUGE**2


def stable_rank(A: Any) -> float:
    r"""Stable rank ``‖A‖_F² / ‖A‖_2²`` of a 2-D array (0 for the zero matrix).

    Parameters
    ----------
    A : array_like, shape (a, b)

    Examples
    --------
    >>> stable_rank(np.eye(3))
    3.0
    """
    A = _rescaled(as_array("A", A, ndim=2))
    if A.size == 0:
        return 0.0
    # ‖A‖_F² directly; ‖A‖_2² as the top eigenvalue of the smaller Gram matrix (exact to rounding,
    # and far cheaper than an SVD for the wide data matrices, e.g. 128 × 6000)
    G = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
    top = float(eigvalsh(G, subset_by_index=[G.shape[0] - 1, G.shape[0] - 1], check_finite=False)[0])
    if top <= 0:
        return 0.0
    return float(np.sum(A * A) / top)


def stable_rank_from_gram(G: Any) -> float:
    r"""Stable rank of ``A`` from its Gram matrix ``G = A Aᵀ``: ``tr(G) / λ_max(G)`` (0 if ``G = 0``).

    Parameters
    ----------
    G : array_like, shape (a, a), symmetric positive semi-definite
    """
    G = as_array("G", G, ndim=2)
    if G.shape[0] != G.shape[1]:
        raise ValueError(f"G has shape {G.shape} which is invalid: must be square")
    if G.size == 0:
        return 0.0
    G = _rescaled(0.5 * (G + G.T), squared=True)
    top = float(eigvalsh(G, subset_by_index=[G.shape[0] - 1, G.shape[0] - 1], check_finite=False)[0])
    if top <= 0:
        return 0.0
    return float(np.trace(G) / top)


def effective_rank(A: Any) -> float:
    r"""Effective rank ``exp(H(p))``, ``p_i = s_i / Σ s`` (Roy & Vetterli); 0 for the zero matrix."""
    s = singular_values(_rescaled(as_array("A", A, ndim=2)))
    total = s.sum()
    if total == 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def numerical_rank(A: Any, tol: float | None = None) -> int:
    """Number of singular values ``> tol`` (default ``max(A.shape) · eps · s_max``)."""
    A = as_array("A", A, ndim=2)
    s = singular_values(_rescaled(A))
    if s.size == 0:
        return 0
    if tol is not None:  # an absolute tolerance: compare with the unscaled singular values
        top = float(np.max(np.abs(A)))
        s = s * (top if _rescaled(A) is not A else 1.0)
    if tol is None:
        tol = max(np.shape(A)) * np.finfo(np.float64).eps * s[0]
    else:
        tol = check_real("tol", tol, nonnegative=True)
    return int(np.sum(s > tol))


def filter_matrix(W: Any, part: str = "all", W_init: Any = None) -> np.ndarray:
    """The filters as a matrix.

    Parameters
    ----------
    W : array_like, shape (2, m, d)
    part : {"all", "positive", "negative"}
        All ``2m`` filters, or those of class +1 / -1 (``m`` rows).
    W_init : array_like, shape (2, m, d), optional
        If given, the learned part ``W - W_init`` is returned.

    Returns
    -------
    ndarray, shape (2m, d) or (m, d)
    """
    W = as_array("W", W, ndim=3)
    if W.shape[0] != 2:
        raise ValueError(f"W has shape {W.shape} which is invalid: must be (2, m, d)")
    check_choice("part", part, ("all", "positive", "negative"))
    if W_init is not None:
        W = W - as_array("W_init", W_init, shape=W.shape)
    if part == "positive":
        return W[0]
    if part == "negative":
        return W[1]
    return W.reshape(-1, W.shape[2])


def data_matrix(X: Any) -> np.ndarray:
    """Samples as rows: ``X`` (n, P, d) flattened to (n, P·d)."""
    X = as_array("X", X, ndim=3)
    return X.reshape(X.shape[0], -1)


def patch_matrix(X: Any) -> np.ndarray:
    """Patches as rows: ``X`` (n, P, d) flattened to (n·P, d)."""
    X = as_array("X", X, ndim=3)
    return X.reshape(-1, X.shape[2])


def data_rank_report(data: Any, clean: bool = True) -> dict[str, float]:
    """Stable ranks of a :class:`~cnnrank.data.PatchData`'s sample and patch matrices.

    Returns a dict with ``data_stable_rank`` (n × Pd), ``patch_stable_rank`` (nP × d) and, when the
    data know their background and ``clean`` is true, ``clean_data_stable_rank`` and
    ``clean_patch_stable_rank`` (the same for every level of a noise family: compute them once).
    """
    if np.ndim(getattr(data, "X", np.zeros(0))) != 3:
        raise TypeError(f"data={type(data).__name__} is invalid: must be a cnnrank.PatchData (for an array X of "
                        f"shape (n, P, d) use cnnrank.PatchData(X=X, y=y), or stable_rank(data_matrix(X)))")
    out = {
        "data_stable_rank": stable_rank(data_matrix(data.X)),
        "patch_stable_rank": stable_rank(patch_matrix(data.X)),
    }
    if clean and getattr(data, "signal_pos", None) is not None:
        clean_data = data.clean()
        out["clean_data_stable_rank"] = stable_rank(data_matrix(clean_data.X))
        out["clean_patch_stable_rank"] = stable_rank(patch_matrix(clean_data.X))
    return out


def principal_angles(A: Any, B: Any) -> np.ndarray:
    r"""Principal angles (radians, ascending) between the column spaces of ``A`` and ``B``.

    The cosines of the angles are the singular values of ``Q_Aᵀ Q_B`` for orthonormal bases ``Q_A``,
    ``Q_B`` of the two column spaces; there are ``min(rank A, rank B)`` of them. Computed with
    :func:`scipy.linalg.subspace_angles` (accurate for small angles as well).

    Parameters
    ----------
    A : array_like, shape (d, a)
    B : array_like, shape (d, b)

    Returns
    -------
    ndarray, shape (min(a, b),), angles in ``[0, π/2]``, smallest first

    Examples
    --------
    >>> np.round(principal_angles(np.eye(3)[:, :2], np.eye(3)[:, 1:]), 6)
    array([0.      , 1.570796])
    """
    from scipy.linalg import subspace_angles

    A = as_array("A", A, ndim=2)
    B = as_array("B", B, ndim=2)
    if A.shape[0] != B.shape[0]:
        raise ValueError(f"B has shape {B.shape} which is invalid: must have as many rows as A {A.shape}")
    if A.size == 0 or B.size == 0:
        return np.zeros(0)
    return np.sort(subspace_angles(A, B))


def top_right_subspace(A: Any, k: int) -> np.ndarray:
    """Orthonormal basis of the span of the top-``k`` right singular vectors of ``A``.

    Parameters
    ----------
    A : array_like, shape (a, d)
    k : int, ``1 <= k <= min(a, d)``

    Returns
    -------
    ndarray, shape (d, k)
    """
    from cnnrank._validation import check_int

    A = as_array("A", A, ndim=2)
    k = check_int("k", k, minimum=1, maximum=min(A.shape))
    _, _, vt = np.linalg.svd(A, full_matrices=False)
    return vt[:k].T
