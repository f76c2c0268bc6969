r"""The reference subspace (docs/theory.md §5): an orthonormal basis of given vectors
(:func:`orthonormal_basis`), or the principal subspace of clean patches holding a share of their energy
(:func:`principal_subspace`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank._validation import as_array, check_real
from cnnrank.subspace._scale import _pow2, _vector_scale


def orthonormal_basis(V: Any) -> np.ndarray:
    """Orthonormal basis of the column space of ``V`` (``d × r``), by an SVD (:func:`scipy.linalg.orth`).

    Parameters
    ----------
    V : array_like, shape (d, r)

    Returns
    -------
    ndarray, shape (d, rank V)
    """
    from scipy.linalg import orth

    V = as_array("V", V, ndim=2)
    if V.size == 0:
        return np.zeros((V.shape[0], 0))
    return orth(V)


def principal_subspace(X: Any, energy: float = 0.9) -> tuple[np.ndarray, int]:
    r"""The smallest principal subspace of the rows of ``X`` holding a share ``energy`` of their energy.

    With singular values ``s_1 ≥ s_2 ≥ …`` of ``X`` (rows are vectors of ``R^d``, not centred), ``k`` is
    the smallest integer with ``Σ_{i≤k} s_i² ≥ energy · Σ_i s_i²``, and the basis is the top-``k`` right
    singular vectors. This is the reference subspace for real images, where the signal span is unknown.

    Parameters
    ----------
    X : array_like, shape (N, d)
        E.g. the clean training patches, ``patch_matrix(clean.X)``.
    energy : float in (0, 1]

    Returns
    -------
    basis : ndarray, shape (d, k)
    k : int
    """
    X = as_array("X", X, ndim=2)
    energy = check_real("energy", energy, positive=True, maximum=1.0)
    if X.size == 0 or not np.any(X):
        raise ValueError("X is invalid: it is zero, it has no principal subspace")
    X = X / _vector_scale(X)
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    s = s / _pow2(s[0])  # exact: the shares do not depend on the scale of X (s_1² cannot overflow)
    total = float(np.sum(s**2))
    share = np.cumsum(s**2) / total
    k = min(int(np.searchsorted(share, energy * (1 - 1e-12))) + 1, int(s.size))
    return vt[:k].T.copy(), k
