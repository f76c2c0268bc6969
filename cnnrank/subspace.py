r"""The learned subspace: what the filters learned, measured against a reference subspace.

The headline claim (docs/theory.md §5) is about the *learned part* of the filters,
``A = W - W(0)`` reshaped to ``(2m, d)``. On the synthetic model the reference subspace is the span
of the ``2K`` signals; on real images, where it is unknown, it is the principal subspace of the
clean patches (:func:`principal_subspace`). With ``Q`` an orthonormal basis of the reference
(``d × r``):

* **signal energy fraction** ``‖A Q‖_F² / ‖A‖_F²``: the share of the learned energy inside the
  reference (1 when the filters learned only signal, near 0 when they memorized noise);
* **memorized part** ``M = A (I - Q Qᵀ)``, everything learned outside the reference; its largest
  singular value ``‖M‖_2`` is the *memorization edge*;
* **learned dimension**: the number of singular values of the in-reference part ``A Q`` strictly
  above the memorization edge and above the floor ``LEARNED_FLOOR · s_1(A)`` (which matters where
  nothing is memorized, e.g. ``σ_p = 0``; docs/theory.md §5): how many directions of the reference the filters learned more strongly than anything they
  memorized. In the benign regime ``M`` is a weak bulk, ``A`` has exactly ``2K`` singular values
  standing above it and the count is ``2K``; in the harmful regime class-mean noise directions
  dominate ``M`` and the count is 0. Shared winners (one filter learning several signals) lower it
  below ``2K`` although every signal is learned;
* **learned rank**: the number of singular values of the whole ``A`` above the floor
  ``LEARNED_FLOOR · s_1(A)``; it exceeds the learned dimension when a direction outside the reference
  is learned that strongly, and exceeds ``2K`` when much noise is memorized;
* **principal angles** between the top-``r`` right singular subspace of ``A`` and the reference;
* **within-class overlap** of the signal columns of ``γ`` (:func:`signal_overlap`), which sets the
  stable rank of the learned part: ``2K / (1 + (K-1) c)`` (:func:`cnnrank.theory.expected_filter_stable_rank`).

Everything is computed from two small matrices, ``A Aᵀ`` (``2m × 2m``) and ``A Q`` (``2m × r``), so the
same code serves explicit filters and the coefficient state of every engine (``A Aᵀ = C G Cᵀ`` and
``A Q = C (X Q)`` with the patch coefficients ``C``; docs/theory.md §3).

**Scale.** Every diagnostic here is invariant under ``A → s A`` (``s > 0``) except the singular values
and the memorization edge, which scale with ``s``; each function gives the same result at any scale
float64 can hold (``1e-300`` to ``1e300``): a matrix whose entries would under- or overflow when
squared is divided by a power of two before its Gram matrix or decomposition is formed (exact, and
nothing is rescaled at ordinary scales, where results are unchanged to the bit). A non-finite input,
or a ``proj`` that cannot be the projection of a matrix whose Gram matrix is ``gram``, is refused with
a ``ValueError`` naming the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank._validation import as_array, check_real

__all__ = [
    "BENIGN_ENERGY_FRACTION",
    "BENIGN_TEST_ACC",
    "DEFAULT_RTOL",
    "LEARNED_FLOOR",
    "class_overlaps",
    "energy_fraction",
    "gamma_stable_rank",
    "learned_dimension",
    "learned_subspace_from_grams",
    "learned_subspace_report",
    "measured_regime",
    "orthonormal_basis",
    "principal_subspace",
    "signal_overlap",
    "signal_overlaps",
]

#: a run is in the measured benign window when its test accuracy is at least this ...
BENIGN_TEST_ACC = 0.95
#: ... and at least this share of its learned energy lies in the signal span (docs/theory.md §4)
BENIGN_ENERGY_FRACTION = 0.5

#: singular values below ``DEFAULT_RTOL · s_1`` count as zero. The Gram route resolves singular values
#: only down to about ``√eps · s_1 ≈ 1.5e-8 · s_1``; 1e-6 sits safely above that and far below any
#: learned direction.
DEFAULT_RTOL = 1e-6

#: a direction (a singular value, or a signal's strength) counts as learned only above
#: ``LEARNED_FLOOR · s_1(A)`` as well as above the memorization edge: where nothing is memorized
#: (``σ_p = 0``, edge 0) the edge alone would count directions of rounding size. Chosen by measurement
#: between the weakest genuinely learned signal and the spurious directions (docs/theory.md §5).
LEARNED_FLOOR = 0.1

#: ``proj`` is consistent with ``gram`` when ``λ_min(gram − proj projᵀ) ≥ −CONSISTENCY_RTOL · λ_max(gram)``
#: (the memorized part's Gram matrix is positive semi-definite up to rounding)
CONSISTENCY_RTOL = 1e-6

#: a vector-like array is rescaled when its largest entry lies outside [2^-460, 2^460] (about 1e±138),
#: a Gram matrix when outside [2^-920, 2^920] (about 1e±277): squares and sums stay normal floats inside
_VEC_EXP, _GRAM_EXP = 460, 920


def _pow2(top: Any) -> np.ndarray:
    """``2^e`` with ``top ∈ [2^(e-1), 2^e)`` (1 where ``top`` is 0): dividing by it is exact."""
    return np.ldexp(1.0, np.frexp(np.asarray(top, dtype=np.float64))[1])


def _vector_scale(A: np.ndarray) -> float:
    """The power of two to divide ``A`` by before squaring it: 1 at ordinary scales."""
    top = float(np.max(np.abs(A))) if A.size else 0.0
    if top == 0 or 2.0**-_VEC_EXP <= top <= 2.0**_VEC_EXP:
        return 1.0
    return float(_pow2(top))


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


def energy_fraction(A: Any, basis: Any) -> float:
    """``‖A Q‖_F² / ‖A‖_F²`` with ``Q`` an orthonormal basis of the columns of ``basis`` (0 if ``A = 0``).

    Parameters
    ----------
    A : array_like, shape (a, d)
    basis : array_like, shape (d, r)
    """
    A, Q, _ = _explicit(A, basis)
    total = float(np.sum(A * A))
    return 0.0 if total == 0 else min(float(np.sum((A @ Q) ** 2) / total), 1.0)


def _explicit(A: Any, basis: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """``A`` divided by the power of two ``h`` that keeps its squares normal, the orthonormal basis, ``h``."""
    A = as_array("A", A, ndim=2)
    Q = orthonormal_basis(as_array("basis", basis, shape=(A.shape[1], None)))
    h = _vector_scale(A)
    return A / h, Q, h


def learned_dimension(A: Any, basis: Any, rtol: float = DEFAULT_RTOL, floor: float = LEARNED_FLOOR) -> int:
    """Number of singular values of ``A Q`` above ``max(‖A (I − Q Qᵀ)‖_2, floor · s_1(A))`` (module doc).

    Parameters
    ----------
    A : array_like, shape (a, d)
    basis : array_like, shape (d, r)
        The reference subspace (its columns need not be orthonormal).
    rtol : float
        Singular values ``<= rtol · s_1`` count as zero.
    floor : float
        The relative floor, :data:`LEARNED_FLOOR` (docs/theory.md §5).

    Examples
    --------
    >>> A = np.diag([3.0, 2.0, 0.1])          # two strong directions in the reference, a weak one outside
    >>> learned_dimension(A, np.eye(3)[:, :2])
    2
    """
    A, Q, _ = _explicit(A, basis)
    rtol = check_real("rtol", rtol, nonnegative=True)
    out = learned_subspace_from_grams((A @ A.T)[None], (A @ Q)[None], rtol, floor=floor)
    return int(out["learned_dimension"][0])


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


def learned_subspace_from_grams(gram: Any, proj: Any, rtol: float = DEFAULT_RTOL,
                                floor: float = LEARNED_FLOOR) -> dict[str, np.ndarray]:
    r"""Learned-subspace diagnostics of a stack of matrices ``A`` given only ``A Aᵀ`` and ``A Q``.

    Parameters
    ----------
    gram : array_like, shape (R, a, a)
        ``A Aᵀ`` for each of ``R`` matrices ``A`` (``a × d``), finite.
    proj : array_like, shape (R, a, r)
        ``A Q`` with ``Q`` (``d × r``) an **orthonormal** basis of the reference subspace, finite. It
        must be consistent with ``gram``: ``A Aᵀ − (A Q)(A Q)ᵀ = A (I − Q Qᵀ) Aᵀ`` is positive
        semi-definite, to a rounding tolerance (``CONSISTENCY_RTOL · λ_max(A Aᵀ)``); otherwise (e.g.
        a projection with more energy than the matrix, or a Gram matrix that underflowed to zero)
        a ``ValueError`` is raised.
    rtol : float
        Singular values ``<= rtol · s_1`` count as zero.
    floor : float in [0, 1]
        The relative floor of what counts as learned, :data:`LEARNED_FLOOR` (docs/theory.md §5).

    Returns
    -------
    dict with, for each matrix,
        ``singular_values`` (R, a), descending: ``√λ(A Aᵀ)``;
        ``energy_fraction`` (R,): ``‖A Q‖_F² / tr(A Aᵀ)``, in [0, 1];
        ``memorization_edge`` (R,): ``‖A (I − Q Qᵀ)‖_2 = √λ_max(A Aᵀ − (A Q)(A Q)ᵀ)``;
        ``learned_threshold`` (R,): ``τ = max(edge, max(floor, rtol) · s_1(A))``, what a learned
        direction must exceed;
        ``learned_dimension`` (R,) int: singular values of ``A Q`` above ``τ``;
        ``learned_rank`` (R,) int: singular values of ``A`` above the floor ``max(floor, rtol) · s_1(A)``
        alone (at least the learned dimension: ``s_i(A Q) <= s_i(A)``); more than the learned dimension
        when a direction outside the reference is learned that strongly, more than ``r`` when much noise
        is memorized (against the edge it could never exceed ``r``: ``s_{r+1}(A) <= ‖M‖_2``, Weyl);
        ``principal_angles`` (R, min(a, r)): angles between the top-``min(a, r)`` right singular
        subspace of ``A`` and the reference. The cosines are the singular values of
        ``Σ_r⁻¹ L_rᵀ (A Q)`` (``L_r``, ``Σ_r``: top eigenvectors and singular values of ``A``); a direction
        with a zero singular value counts as orthogonal (angle ``π/2``).

    A record whose Gram matrix lies outside ``[2^-920, 2^920]`` is first divided by ``h²`` (and its
    ``proj`` by ``h``, ``h`` a power of two): every output but the singular values and the edge is
    invariant under ``A → s A``, and those two are multiplied back by ``h``.
    """
    G = as_array("gram", gram)
    S = as_array("proj", proj)
    if G.ndim != 3 or G.shape[1] != G.shape[2]:
        raise ValueError(f"gram has shape {G.shape} which is invalid: must be (R, a, a)")
    if S.ndim != 3 or S.shape[:2] != G.shape[:2]:
        raise ValueError(f"proj has shape {S.shape} which is invalid: must be (R, {G.shape[1]}, r)")
    rtol = check_real("rtol", rtol, nonnegative=True)
    floor = check_real("floor", floor, nonnegative=True, maximum=1.0)
    out, bad = _from_grams(G, S, rtol, floor)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"proj is invalid: record {i} is not the projection A Q of a matrix A whose Gram "
                         f"matrix is gram[{i}] (gram − proj projᵀ = A (I − Q Qᵀ) Aᵀ has a negative eigenvalue "
                         f"beyond rounding: ‖A Q‖² exceeds what A holds, Q is not orthonormal, or gram is "
                         f"not positive semi-definite)")
    return out


def _from_grams(G: np.ndarray, S: np.ndarray, rtol: float,
                floor: float = LEARNED_FLOOR) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """:func:`learned_subspace_from_grams` on checked arrays, and the indices of the records whose
    ``proj`` is inconsistent with ``gram`` (their diagnostics are clipped to their ranges, not refused)."""
    R, a, r = S.shape
    G = 0.5 * (G + G.transpose(0, 2, 1))
    top = np.max(np.abs(G), axis=(1, 2)) if G.size else np.zeros(R)
    outside = (top > 0) & ((top < 2.0**-_GRAM_EXP) | (top > 2.0**_GRAM_EXP))
    h = np.ones(R)
    if np.any(outside):  # exact power-of-two rescaling of the records at the edges of float64
        h[outside] = np.ldexp(1.0, (np.frexp(top[outside])[1] + 1) // 2)  # h² ≥ the largest entry
        G = G / h[:, None, None] / h[:, None, None]
        S = S / h[:, None, None]
    lam, L = np.linalg.eigh(G)  # ascending
    lam, L = lam[:, ::-1], L[:, :, ::-1]
    s = np.sqrt(np.maximum(lam, 0.0))
    tr = np.trace(G, axis1=1, axis2=2)
    inside = np.sum(S * S, axis=(1, 2))
    frac = np.where(tr > 0, np.minimum(inside / np.where(tr > 0, tr, 1.0), 1.0), 0.0)
    Mg = G - S @ S.transpose(0, 2, 1)
    mlam = np.linalg.eigvalsh(0.5 * (Mg + Mg.transpose(0, 2, 1)))
    edge = np.sqrt(np.maximum(mlam[:, -1], 0.0)) if a else np.zeros(R)
    lam_top = np.maximum(lam[:, 0], 0.0) if a else np.zeros(R)
    bad = np.flatnonzero(np.min(mlam, axis=1, initial=0.0) < -CONSISTENCY_RTOL * lam_top) if a else np.zeros(0, int)
    thr = np.maximum(edge, max(rtol, floor) * (s[:, 0] if a else np.zeros(R)))
    s_in = np.linalg.svd(S, compute_uv=False) if S.size else np.zeros((R, 0))
    dim = np.sum(s_in > thr[:, None], axis=1).astype(np.int64)
    # the whole A against the floor alone: the edge is no bound here (s_{r+1}(A) <= ‖M‖_2 by Weyl, so
    # against the edge the count could never exceed r = dim Q, however much noise A memorized)
    rank = np.sum(s > (max(rtol, floor) * s[:, :1] if a else np.zeros((R, 1))), axis=1).astype(np.int64)
    k = min(a, r)
    tol = np.maximum(DEFAULT_RTOL * s[:, :1], np.finfo(float).tiny)  # (R, 1)
    sk = s[:, :k]
    inv = np.where(sk > tol, 1.0 / np.where(sk > tol, sk, 1.0), 0.0)
    B = inv[:, :, None] * (L[:, :, :k].transpose(0, 2, 1) @ S)  # (R, k, r)
    cos = np.clip(np.linalg.svd(B, compute_uv=False)[:, :k] if k else np.zeros((R, 0)), 0.0, 1.0)
    angles = np.arccos(cos)
    return ({"singular_values": s * h[:, None], "energy_fraction": frac, "memorization_edge": edge * h,
             "learned_dimension": dim, "learned_rank": rank, "learned_threshold": thr * h,
             "principal_angles": angles}, bad)


def learned_subspace_report(A: Any, basis: Any, rtol: float = DEFAULT_RTOL,
                            floor: float = LEARNED_FLOOR) -> dict[str, Any]:
    """All learned-subspace diagnostics of one explicit matrix ``A`` (``a × d``) against ``basis``.

    Returns a dict with ``energy_fraction``, ``learned_dimension``, ``learned_rank``,
    ``learned_threshold``, ``memorization_edge``,
    ``singular_values`` (a,), ``principal_angles`` (min(a, r),) and ``reference_dimension`` ``r``.
    """
    A, Q, h = _explicit(A, basis)
    out = learned_subspace_from_grams((A @ A.T)[None], (A @ Q)[None], rtol, floor=floor)
    rep: dict[str, Any] = {k: v[0] for k, v in out.items()}
    rep["singular_values"] = rep["singular_values"] * h
    rep["energy_fraction"] = float(rep["energy_fraction"])
    rep["learned_dimension"] = int(rep["learned_dimension"])
    rep["learned_rank"] = int(rep["learned_rank"])
    rep["learned_threshold"] = float(rep["learned_threshold"]) * h
    rep["memorization_edge"] = float(rep["memorization_edge"]) * h
    rep["reference_dimension"] = int(Q.shape[1])
    return rep


def measured_regime(test_acc: Any, signal_energy_fraction: Any) -> np.ndarray:
    """``"benign"`` where the network learned the signal, else ``"harmful"`` (docs/theory.md §4).

    Benign means test accuracy ``>= BENIGN_TEST_ACC`` (0.95) **and** signal energy fraction
    ``>= BENIGN_ENERGY_FRACTION`` (0.5): the network generalizes *and* what it learned is mostly signal.
    With several seeds on the last axis, a level is benign only when every seed is.

    Parameters
    ----------
    test_acc, signal_energy_fraction : array_like, same shape ``(..., seeds)`` or ``(...)``

    Returns
    -------
    ndarray of str, the shape of the inputs without the seed axis if ``seeds`` was given
    (use ``[..., None]`` for a single run)
    """
    acc = as_array("test_acc", test_acc, finite=False)  # NaN (a diverged run) is harmful
    frac = as_array("signal_energy_fraction", signal_energy_fraction, finite=False)
    if acc.shape != frac.shape:
        raise ValueError(f"test_acc has shape {acc.shape} which is invalid: must match signal_energy_fraction "
                         f"{frac.shape}")
    ok = np.asarray((acc >= BENIGN_TEST_ACC) & (frac >= BENIGN_ENERGY_FRACTION))
    if ok.ndim:
        ok = np.asarray(ok.all(axis=-1))
    return np.where(ok, "benign", "harmful")


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
