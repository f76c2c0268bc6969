r"""The learned part ``A = W - W(0)`` against a reference subspace (docs/theory.md §5): signal energy
fraction, memorization edge, learned dimension, learned rank and principal angles, from explicit filters
(:func:`learned_subspace_report`) or from the two small matrices ``A Aᵀ`` and ``A Q``
(:func:`learned_subspace_from_grams`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank._validation import as_array, check_real
from cnnrank.subspace._scale import _GRAM_EXP, _vector_scale
from cnnrank.subspace.basis import orthonormal_basis

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
