r"""The overlaps of the signal columns of ``γ`` (docs/theory.md §5): the within-class overlap ``c`` that sets
the stable rank ``2K / (1 + (K-1) c)`` of the learned part, the class overlaps and the stable rank of ``γ``."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank._validation import as_array
from cnnrank.subspace._scale import _pow2


def signal_overlap(gamma: Any) -> float:
    r"""Mean within-class cosine between the signal columns of ``γ`` at one record.

    For class ``j`` the own-signal block is ``γ_{j,:,k}`` for the ``K`` signals of that class (columns of
    length ``m``); ``c_j`` is the mean of ``cos(γ_{j,:,k}, γ_{j,:,l})`` over pairs ``k ≠ l`` whose columns
    are non-zero, and the overlap is ``(c_{+1} + c_{-1}) / 2``. It is 0 for ``K = 1`` (no pairs; the
    expected stable rank ``2K / (1 + (K-1)c)`` does not depend on it) and for ``γ = 0``.

    Parameters
    ----------
    gamma : array_like, shape (2, m, 2K)

    Returns
    -------
    float in [-1, 1]
    """
    g = as_array("gamma", gamma, ndim=3)
    if g.shape[0] != 2 or g.shape[2] % 2:
        raise ValueError(f"gamma has shape {g.shape} which is invalid: must be (2, m, 2K)")
    return float(signal_overlaps(g[None])[0])


def signal_overlaps(gamma: np.ndarray) -> np.ndarray:
    """:func:`signal_overlap` of each record of ``gamma`` (R, 2, m, 2K), vectorized; shape (R,)."""
    R, _, m, K2 = gamma.shape
    K = K2 // 2
    if K == 1:
        return np.zeros(R)
    own = np.stack([gamma[:, 0, :, :K], gamma[:, 1, :, K:]], axis=1)  # (R, 2, m, K)
    # each column divided by a power of two near its largest entry: exact, and its norm can neither
    # under- nor overflow (cosines do not depend on the columns' scales)
    own = own / _pow2(np.max(np.abs(own), axis=2))[:, :, None, :]
    norms = np.linalg.norm(own, axis=2)  # (R, 2, K)
    safe = np.where(norms > 0, norms, 1.0)
    unit = own / safe[:, :, None, :]
    cos = np.einsum("rjmk,rjml->rjkl", unit, unit)
    valid = (norms[:, :, :, None] > 0) & (norms[:, :, None, :] > 0) & ~np.eye(K, dtype=bool)
    per_class = np.where(valid.any(axis=(2, 3)),
                         np.sum(np.where(valid, cos, 0.0), axis=(2, 3)) / np.maximum(valid.sum(axis=(2, 3)), 1),
                         0.0)
    return per_class.mean(axis=1)


def gamma_stable_rank(gamma: Any, signal_norms: Any = 1.0) -> Any:
    r"""Stable rank of the learned part from the own-class columns of ``γ`` (docs/theory.md §5).

    With ``g_k = γ_{j(k), :, k} / ‖μ_k‖`` (the ``m`` filters of the class of ``μ_k``) and ``G_j`` the
    ``K × K`` Gram of class ``j``'s columns, ``(tr G₊ + tr G₋) / max(λ_1(G₊), λ_1(G₋))``; 0 for ``γ = 0``.
    Exactly the stable rank of ``W − W(0)`` when the learned part is ``Σ_k g_k μ_kᵀ/‖μ_k‖`` supported on
    the own-class filters.

    Parameters
    ----------
    gamma : array_like, shape (..., 2, m, 2K)
    signal_norms : array_like, shape (2K,) or scalar
        ``‖μ_k‖``.

    Returns
    -------
    float or ndarray of shape (...)
    """
    G = _own_grams(gamma, signal_norms)  # (..., 2, K, K)
    tr = np.trace(G, axis1=-2, axis2=-1).sum(axis=-1)
    top = np.linalg.eigvalsh(G)[..., -1].max(axis=-1)
    out = np.where(top > 0, tr / np.where(top > 0, top, 1.0), 0.0)
    return float(out) if out.ndim == 0 else out


def _own_grams(gamma: Any, signal_norms: Any) -> np.ndarray:
    g = np.asarray(gamma, dtype=np.float64)
    if g.ndim < 3 or g.shape[-3] != 2 or g.shape[-1] % 2 or g.shape[-1] == 0:
        raise ValueError(f"gamma has shape {g.shape} which is invalid: must be (..., 2, m, 2K)")
    K = g.shape[-1] // 2
    norms = np.broadcast_to(np.asarray(signal_norms, dtype=np.float64), (2 * K,))
    if np.any(norms <= 0) or not np.all(np.isfinite(norms)):
        raise ValueError(f"signal_norms={signal_norms!r:.80} is invalid: must be finite and > 0")
    cols = np.stack([g[..., 0, :, :K] / norms[:K], g[..., 1, :, K:] / norms[K:]], axis=-3)  # (..., 2, m, K)
    s = np.max(np.abs(cols), axis=(-3, -2, -1), keepdims=True)  # rescale: scale-invariant Grams
    cols = cols / np.where(s > 0, s, 1.0)
    return np.swapaxes(cols, -1, -2) @ cols


def class_overlaps(gamma: Any) -> np.ndarray:
    """Mean pairwise cosine of the own-class columns of ``γ``, per class: ``(c₊, c₋)``, shape (..., 2).

    Pairs with a zero column are left out; a class with no valid pair (``K = 1``) gives 0.
    """
    G = _own_grams(gamma, 1.0)
    K = G.shape[-1]
    d = np.sqrt(np.maximum(np.diagonal(G, axis1=-2, axis2=-1), 0.0))  # (..., 2, K)
    valid = (d[..., :, None] > 0) & (d[..., None, :] > 0) & ~np.eye(K, dtype=bool)
    cos = G / np.where(valid, d[..., :, None] * d[..., None, :], 1.0)
    cnt = valid.sum(axis=(-2, -1))
    return np.where(cnt > 0, np.sum(np.where(valid, cos, 0.0), axis=(-2, -1)) / np.maximum(cnt, 1), 0.0)
