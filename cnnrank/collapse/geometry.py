"""Geometry of collapse: simplex ETFs, coherence, the Welch bound and Grassmannian frames.

A set of ``N`` unit vectors ``f_1..f_N`` in ``R^d`` is stored as the rows of an array of shape
``(N, d)``. Its *absolute coherence* is ``max_{k≠l} |⟨f_k, f_l⟩|`` (Grassmannian packing of lines) and
its *signed coherence* ``max_{k≠l} ⟨f_k, f_l⟩`` (spherical code: the cosine of the smallest angle).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cnnrank._validation import as_array, check_int
from cnnrank.results import SavableResult

__all__ = [
    "FrameResult",
    "coherence",
    "coherence_lower_bound",
    "grassmannian_frame",
    "random_partial_isometry",
    "simplex_etf",
    "welch_bound",
]


def random_partial_isometry(k: int, d: int, rng: Any = None) -> np.ndarray:
    """A Haar-random ``(k, d)`` matrix with orthonormal rows (``U Uᵀ = I_k``), ``k ≤ d``.

    QR of a standard Gaussian ``(d, k)`` matrix with the signs of ``R``'s diagonal moved into ``Q``.
    """
    k = check_int("k", k, minimum=1)
    d = check_int("d", d, minimum=k)
    rng = np.random.default_rng(rng)
    Q, R = np.linalg.qr(rng.standard_normal((d, k)))
    return (Q * np.where(np.diag(R) < 0, -1.0, 1.0)).T


def simplex_etf(C: int, d: int, rng: Any = None, *, rotate: bool = True) -> np.ndarray:
    """The ``C`` vertices of a simplex equiangular tight frame in ``R^d`` (``d ≥ C − 1``).

    ``M = √(C/(C−1)) · B U`` where ``B`` (shape ``(C, C−1)``) is an orthonormal basis of ``1^⊥`` and
    ``U`` (shape ``(C−1, d)``) a partial isometry: Haar-random from ``rng`` when ``rotate`` (the
    default), else ``[I, 0]``. Equivalently ``M = √(C/(C−1)) (I − 11ᵀ/C) P`` with ``P`` a
    ``(C, d)`` partial isometry. Rows are unit vectors with ``⟨m_c, m_c'⟩ = −1/(C−1)`` for ``c ≠ c'``
    and ``Σ_c m_c = 0``.

    Parameters
    ----------
    C : int, ``C ≥ 2``
    d : int, ``d ≥ C − 1``
    rng : seed or numpy Generator, optional
    rotate : bool
        Draw the partial isometry at random (default) or use the canonical embedding.

    Returns
    -------
    ndarray, shape (C, d)
    """
    C = check_int("C", C, minimum=2)
    d = check_int("d", d, minimum=C - 1)
    A = np.eye(C) - 1.0 / C
    B, _ = np.linalg.qr(A[:, : C - 1])                 # orthonormal basis of 1^⊥, shape (C, C-1)
    if rotate:
        U = random_partial_isometry(C - 1, d, rng)
    else:
        U = np.eye(C - 1, d)
    return math.sqrt(C / (C - 1)) * (B @ U)


def welch_bound(N: int, d: int) -> float:
    """Welch bound on the absolute coherence of ``N`` unit vectors in ``R^d``.

    ``max_{k≠l} |⟨f_k, f_l⟩| ≥ √((N − d) / (d (N − 1)))`` for ``N > d``, and ``0`` for ``N ≤ d``
    (orthonormal vectors). Equality holds exactly for equiangular tight frames (e.g. 3 vectors at
    120° in ``R²``, the regular simplex of ``d + 1`` vectors, 6 diagonals of the icosahedron in ``R³``).
    """
    N = check_int("N", N, minimum=2)
    d = check_int("d", d, minimum=1)
    return 0.0 if N <= d else math.sqrt((N - d) / (d * (N - 1)))


def coherence_lower_bound(N: int, d: int, *, signed: bool = False) -> tuple[float, str]:
    """Best simple lower bound on the coherence of ``N`` unit vectors in ``R^d`` and its name.

    Absolute coherence: the largest of the Welch bound and, for ``N > d(d+1)/2`` (where no real ETF
    exists, Gerzon), the orthoplex bound ``1/√d``; in ``R²`` the exact optimum ``cos(π/N)``
    (equally spaced lines).
    Signed coherence: ``−1/(N−1)`` (the simplex bound, attained iff ``N ≤ d + 1``); for
    ``N ≥ d + 2``, ``0`` (Rankin: some pair has a non-negative inner product; attained for
    ``N ≤ 2d`` by part of the cross-polytope, *not* tight for ``N > 2d``); in ``R²`` the exact optimum
    ``cos(2π/N)``; in ``R¹`` with ``N ≥ 3``, ``1``.

    Returns
    -------
    bound : float
    name : str
        ``"welch"``, ``"orthoplex"``, ``"circle"``, ``"simplex"``, ``"rankin"`` or ``"line"``.
    """
    N = check_int("N", N, minimum=2)
    d = check_int("d", d, minimum=1)
    if signed:
        if N <= d + 1:
            return -1.0 / (N - 1), "simplex"
        if d == 1:
            return 1.0, "line"
        if d == 2:
            return math.cos(2 * math.pi / N), "circle"
        return 0.0, "rankin"
    if d == 2 and N > 2:
        return math.cos(math.pi / N), "circle"
    w = welch_bound(N, d)
    if N > d * (d + 1) // 2 and d > 1 and 1.0 / math.sqrt(d) > w:
        return 1.0 / math.sqrt(d), "orthoplex"
    return w, "welch"


def coherence(V: Any, *, signed: bool = False) -> float:
    """Coherence of the rows of ``V`` after normalizing them to unit length.

    ``max_{k≠l} |⟨v_k, v_l⟩| / (‖v_k‖ ‖v_l‖)`` (absolute, default) or without the absolute value
    (``signed=True``: the cosine of the smallest pairwise angle).

    Parameters
    ----------
    V : array_like, shape (N, d), ``N ≥ 2``, no zero row
    """
    V = as_array("V", V, ndim=2)
    if V.shape[0] < 2:
        raise ValueError(f"V has shape {V.shape} which is invalid: needs at least 2 rows")
    norms = np.linalg.norm(V, axis=1)
    if np.any(norms == 0):
        raise ValueError("V is invalid: has a zero row (coherence needs non-zero vectors)")
    U = V / norms[:, None]
    G = U @ U.T
    off = G[~np.eye(V.shape[0], dtype=bool)]
    return float(off.max() if signed else np.abs(off).max())


@dataclass(frozen=True, eq=False)
class FrameResult(SavableResult):
    """Result of :func:`grassmannian_frame`.

    Attributes
    ----------
    vectors : ndarray, shape (N, d)
        Unit rows.
    coherence : float
        Measured coherence of ``vectors`` (signed or absolute).
    bound, bound_name : float, str
        :func:`coherence_lower_bound`.
    gap : float
        ``coherence − bound ≥ 0``: how far the frame is from the bound (0 up to rounding where the
        bound is attained).
    signed : bool
    restarts, steps, seed_entropy : int
    """

    _kind: ClassVar[str] = "FrameResult"
    #: documented ranges, checked by ``load`` (:func:`cnnrank.results.check_values`)
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {
        "coherence": {"lo": -1.0, "hi": 1.0}, "gap": {"lo": 0.0},
        "restarts": {"lo": 0, "integer": True}, "steps": {"lo": 0, "integer": True},
    }

    vectors: np.ndarray
    coherence: float
    bound: float
    bound_name: str
    gap: float
    signed: bool
    restarts: int
    steps: int
    seed_entropy: int | None = None


def _objective(V: np.ndarray, beta: float, signed: bool,
               gradient: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Smoothed max ``(1/β) log Σ_{k≠l} exp(β X_kl)`` (``X = G`` or ``G²``), batched over restarts.

    Returns (f of shape (R,), Euclidean gradient (R, N, d) or ``None`` without ``gradient``, true
    coherence (R,)).
    """
    G = V @ np.swapaxes(V, 1, 2)
    N = V.shape[1]
    X = G if signed else G**2
    X = np.where(_diagonal(N), -np.inf, X)
    top = X.max(axis=(1, 2), keepdims=True)
    E = np.exp(beta * (X - top))
    S = E.sum(axis=(1, 2), keepdims=True)
    f = top[:, 0, 0] + np.log(S[:, 0, 0]) / beta
    coh = top[:, 0, 0] if signed else np.sqrt(top[:, 0, 0])
    if not gradient:  # the trial step needs f only
        return f, None, coh
    w = E / S
    grad = 2.0 * (w @ V) if signed else 4.0 * ((w * G) @ V)
    return f, grad, coh


@functools.lru_cache(maxsize=64)
def _diagonal(N: int) -> np.ndarray:
    """The (read-only) ``N × N`` identity mask of :func:`_objective`."""
    mask = np.eye(N, dtype=bool)
    mask.flags.writeable = False
    return mask


def grassmannian_frame(
    N: int, d: int, *, signed: bool = False, restarts: int = 8, steps: int = 2000, rng: Any = None
) -> FrameResult:
    """Numerically optimal frame: ``N`` unit vectors in ``R^d`` of smallest coherence.

    Minimizes the log-sum-exp smoothing ``(1/β) log Σ_{k≠l} exp(β X_kl)`` of ``max X`` with
    ``X_kl = ⟨f_k, f_l⟩²`` (Grassmannian frame, absolute coherence) or ``⟨f_k, f_l⟩`` (spherical code,
    ``signed=True``) by Riemannian gradient descent on the product of spheres (tangent projection,
    then renormalization) with a per-restart adaptive step (×1.1 on a decrease, ×0.5 and no move
    otherwise) while ``β`` grows geometrically from 10 to 10⁶; ``restarts`` random starts run as one
    batch and the lowest-coherence frame is returned. The gap to :func:`coherence_lower_bound` is
    reported; it is never negative because the bound is a theorem, and it is ≈ 0 where the bound is
    attained (``N ≤ d + 1`` signed, ETF sizes absolute, any ``N`` in ``R²``).

    Parameters
    ----------
    N, d : int
        Number of vectors (``N ≥ 2``) and dimension (``d ≥ 1``).
    signed : bool
        Spherical code (generalized neural collapse, ``C > d + 1``) instead of lines.
    restarts, steps : int
    rng : seed or numpy Generator, optional

    Returns
    -------
    FrameResult
    """
    N = check_int("N", N, minimum=2)
    d = check_int("d", d, minimum=1)
    restarts = check_int("restarts", restarts, minimum=1)
    steps = check_int("steps", steps, minimum=1)
    seed_entropy = rng if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) else None
    rng = np.random.default_rng(rng)
    V = rng.standard_normal((restarts, N, d))
    V /= np.linalg.norm(V, axis=2, keepdims=True)
    lr = np.full(restarts, 0.05)
    betas = np.geomspace(10.0, 1e6, steps)
    best_V, best_c = V.copy(), _objective(V, 1.0, signed)[2]
    for beta in betas:
        f, g, coh = _objective(V, beta, signed)
        assert g is not None
        better = coh < best_c
        best_c = np.where(better, coh, best_c)
        best_V[better] = V[better]
        g = g - np.sum(g * V, axis=2, keepdims=True) * V        # tangent projection
        gn = np.sqrt(np.sum(g**2, axis=(1, 2)))[:, None, None]
        step = lr[:, None, None] * g / np.where(gn > 0, gn, 1.0)
        V_new = V - step
        V_new /= np.linalg.norm(V_new, axis=2, keepdims=True)
        f_new = _objective(V_new, beta, signed, gradient=False)[0]
        ok = f_new < f
        V = np.where(ok[:, None, None], V_new, V)
        lr = np.clip(np.where(ok, lr * 1.1, lr * 0.5), 1e-12, 0.5)
    coh = _objective(V, 1.0, signed)[2]
    better = coh < best_c
    best_c = np.where(better, coh, best_c)
    best_V[better] = V[better]
    k = int(np.argmin(best_c))
    vectors = best_V[k]
    c = coherence(vectors, signed=signed)
    bound, name = coherence_lower_bound(N, d, signed=signed)
    return FrameResult(vectors=vectors, coherence=c, bound=bound, bound_name=name, gap=c - bound,
                       signed=signed, restarts=restarts, steps=steps,
                       seed_entropy=None if seed_entropy is None else int(seed_entropy))
