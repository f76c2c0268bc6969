r"""The record of a training run: :class:`Trajectory`, and the signal-noise decomposition.

At each record a trajectory holds the losses and accuracies, the patch coefficients
``c_{j,r,i,p}`` of docs/theory.md §3, the signal-noise decomposition of §4

.. math::
    \gamma_{j,r,k} = \|\mu_k\|^2 \sum_{(i,p):\, x_i^{(p)} = \mu_k} c_{j,r,i,p},\qquad
    \rho_{j,r,i,p} = \|\xi_{i,p}\|^2 c_{j,r,i,p}

the stable rank of the filters (from their ``2m × 2m`` Gram matrix), and the learned-subspace
diagnostics of :mod:`cnnrank.subspace` (learned dimension, signal energy fraction, within-class overlap,
principal angles to the signal span). Weights at any record are rebuilt from the coefficients:
``W(t) = W(0) + Σ_{i,p} c_{j,r,i,p} x_i^{(p)}``. The formulas are those of docs/theory.md §3–§5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnrank._schedule import record_steps
from cnnrank._validation import check_int
from cnnrank.activations import Activation, activation_from_spec
from cnnrank.data import PatchData
from cnnrank.engines.base import Snapshot
from cnnrank.gram_sample import GramSample
from cnnrank.rank import gram_in_safe_range, stable_rank_from_gram
from cnnrank.results import ResultsFileError, SavableResult, _check_field_types, _to_jsonable, load_npz, npz_bytes
from cnnrank.subspace import DEFAULT_RTOL, LEARNED_FLOOR, _from_grams, _pow2, orthonormal_basis, signal_overlaps

__all__ = ["Trajectory", "record_steps", "signal_noise_coefficients", "signal_patch_coordinates",
           "stable_ranks"]


def signal_patch_coordinates(data: PatchData | GramSample) -> np.ndarray:
    """Coordinates of every training patch in an orthonormal basis ``Q`` of the signal span
    (docs/theory.md §5), from vectors or from inner products.

    ``Z = X Q`` with ``X`` the (nP, d) patch matrix and ``Q`` (d, 2K) an orthonormal basis of the
    signals; then ``(W - W0) Q = C Z`` for patch coefficients ``C`` (2m, nP).
    (:meth:`PatchData.patch_signal_coordinates` or :meth:`GramSample.patch_signal_coordinates`.)

    Returns
    -------
    ndarray, shape (n P, rank of the signals)
    """
    return data.patch_signal_coordinates()


def signal_noise_coefficients(coef: np.ndarray, data: PatchData | GramSample) -> tuple[np.ndarray, np.ndarray]:
    r"""γ and ρ (docs/theory.md §4) from patch coefficients and the data's bookkeeping.

    .. math::
        \gamma_{j,r,k} = \|\mu_k\|^2 \sum_{i:\, \mathrm{signal\_id}_i = k} c_{j,r,i,\mathrm{signal\_pos}_i},\qquad
        \rho_{j,r,i,p} = \|\xi_{i,p}\|^2\, c_{j,r,i,p}\ \ (p \ne \mathrm{signal\_pos}_i)

    Works from what a :class:`~cnnrank.data.PatchData` (with signals) and a
    :class:`~cnnrank.gram_sample.GramSample` both carry: ``signal_id``, ``signal_pos`` (the background
    patches are the others, in patch order), ``signal_sq_norms`` ``‖μ_k‖²`` and ``noise_sq_norms``
    ``‖ξ_{i,p}‖²``; a :class:`Trajectory` keeps these four arrays, and its file derives γ and ρ from
    them on load with the same code.

    Parameters
    ----------
    coef : ndarray, shape (..., 2, m, n, P)
    data : PatchData with ``signals``, ``signal_id`` and ``signal_pos``, or GramSample

    Returns
    -------
    gamma : ndarray, shape (..., 2, m, 2K)
    rho : ndarray, shape (..., 2, m, n, P-1), background patches in the order of ``data.noise``
    """
    if not data.has_decomposition:
        raise ValueError("data has no signal/background bookkeeping: γ and ρ are undefined")
    n, P = data.n, data.P
    if coef.shape[-2:] != (n, P):
        raise ValueError(f"coef has shape {coef.shape} which is invalid: last axes must be ({n}, {P})")
    return _gamma_rho(coef, np.asarray(data.signal_id), np.asarray(data.signal_pos), data.signal_sq_norms,
                      data.noise_sq_norms)


def _background_index(signal_pos: np.ndarray, P: int) -> np.ndarray:
    """Patch indices of the background patches, shape (n, P-1), in patch order (as
    :attr:`cnnrank.data.PatchData.background_index`)."""
    keep = np.arange(P)[None, :] != signal_pos[:, None]
    return np.nonzero(keep)[1].reshape(signal_pos.shape[0], P - 1)


def _gamma_rho(coef: np.ndarray, signal_id: np.ndarray, signal_pos: np.ndarray, sq_signals: np.ndarray,
               noise_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """γ (..., 2, m, 2K) and ρ (..., 2, m, n, P-1) of :func:`signal_noise_coefficients` from the
    bookkeeping arrays a trajectory keeps: ``signal_id`` (n,), ``signal_pos`` (n,), ``‖μ_k‖²`` (2K,)
    and ``‖ξ_{i,p}‖²`` (n, P-1). The one computation for a training run and for a file read back."""
    n, P = coef.shape[-2:]
    lead = coef.shape[:-2]
    # one gather per quantity on the flattened patch axis, patch (i, p) at i P + p (np.take would copy
    # a non-contiguous coef for each gather: copy it once)
    flat = np.ascontiguousarray(coef).reshape(lead + (n * P,))
    first = np.arange(n) * P
    c_sig = np.take(flat, first + signal_pos, axis=-1)  # (..., n)
    onehot = np.zeros((n, sq_signals.shape[0]))
    onehot[np.arange(n), signal_id] = 1.0
    gamma = (c_sig @ onehot) * sq_signals
    background = (first[:, None] + _background_index(signal_pos, P)).ravel()  # (n (P-1),)
    rho = np.take(flat, background, axis=-1).reshape(lead + (n, P - 1)) * noise_sq
    return gamma, rho


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


#: the per-signal fields, added after the first file format: a file without them loads with them
#: derived where the stored fields allow it (:meth:`Trajectory.load`)
_SIGNAL_FIELDS = ("signal_strength", "signals_learned", "learned_rank", "gamma_stable_rank", "class_overlaps")


def signal_strengths(gamma: np.ndarray, signal_norms: np.ndarray) -> np.ndarray:
    r"""Learned strength of each signal: ``‖γ_{j(k), :, k}‖₂ / ‖μ_k‖`` (docs/theory.md §5), shape (R, 2K).

    The norm over the ``m`` filters of the signal's own class ``j(k)`` (signals ``0..K-1`` belong to
    class +1, ``K..2K-1`` to class −1) of ``⟨w_{j,r} − w_{j,r}(0), μ_k⟩ / ‖μ_k‖`` (exactly that when the
    background is orthogonal to the signals): the length of the signal's own-class column.

    Parameters
    ----------
    gamma : ndarray, shape (R, 2, m, 2K)
    signal_norms : ndarray, shape (2K,)
        ``‖μ_k‖`` (a zero norm gives strength 0).
    """
    K = gamma.shape[-1] // 2
    own = np.concatenate([gamma[:, 0, :, :K], gamma[:, 1, :, K:]], axis=-1)  # (R, m, 2K)
    with np.errstate(invalid="ignore", over="ignore"):
        h = _pow2(np.max(np.abs(own), axis=1))  # (R, 2K): exact rescaling, no under- or overflow
        norms = np.linalg.norm(own / h[:, None, :], axis=1) * h
    safe = np.where(signal_norms > 0, signal_norms, 1.0)
    return np.where(signal_norms > 0, norms / safe, 0.0)


def _signal_fields(gamma: np.ndarray, signal_norms: np.ndarray | None, threshold: np.ndarray | None
                   ) -> dict[str, np.ndarray | None]:
    """``signal_strength``, ``signals_learned``, ``gamma_stable_rank`` and ``class_overlaps`` of a
    stack of ``γ`` (R, 2, m, 2K) (:mod:`cnnrank.race`; docs/theory.md §5). Without the signals'
    norms the first three are ``None``; without the learned threshold ``τ`` (R,) ``signals_learned``
    is. A non-finite record (a blow-up) gives NaN, and 0 signals learned."""
    from cnnrank.subspace import class_overlaps, gamma_stable_rank

    R, K2 = gamma.shape[0], gamma.shape[-1]
    ok = np.all(np.isfinite(gamma), axis=(1, 2, 3))
    g = np.where(ok[:, None, None, None], gamma, 0.0)
    overlaps = np.where(ok[:, None], class_overlaps(g) if R else np.zeros((0, 2)), np.nan)
    out: dict[str, np.ndarray | None] = {"class_overlaps": overlaps, "signal_strength": None,
                                         "signals_learned": None, "gamma_stable_rank": None}
    if signal_norms is None or not np.all(np.isfinite(signal_norms)):  # ‖μ‖ beyond float64: nothing to divide by
        return out
    norms = np.broadcast_to(np.asarray(signal_norms, dtype=np.float64), (K2,))
    strength = np.where(ok[:, None], signal_strengths(g, norms), np.nan)
    out["signal_strength"] = strength
    safe = np.where(norms > 0, norms, 1.0)
    out["gamma_stable_rank"] = np.where(ok, gamma_stable_rank(g, safe) if R else np.zeros(0), np.nan)
    if threshold is not None:
        with np.errstate(invalid="ignore"):
            out["signals_learned"] = np.sum(strength > threshold[:, None], axis=1).astype(np.int64)
    return out


def _stored_signal_norm(metadata: Any) -> float | None:
    """``‖μ‖`` (every signal's norm) from a trajectory's metadata (``config`` or ``sample.model``), if any."""
    if not isinstance(metadata, dict):
        return None
    for src in (metadata.get("config"), (metadata.get("sample") or {}).get("model")
                if isinstance(metadata.get("sample"), dict) else None):
        if isinstance(src, dict):
            v = src.get("signal_norm")
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0:
                return float(v)
    return None


def _derived_signal_fields(values: dict[str, Any], missing: set[str]) -> dict[str, Any]:
    """The per-signal fields a file written before them lacks, derived from its ``γ`` where possible."""
    out: dict[str, Any] = dict.fromkeys(missing)
    gamma = values.get("gamma")
    if isinstance(gamma, np.ndarray) and gamma.ndim == 4 and gamma.shape[1] == 2 and gamma.shape[3] % 2 == 0 \
            and gamma.shape[3] and gamma.dtype.kind in "fiu":
        norm = _stored_signal_norm(values.get("metadata"))
        sig = _signal_fields(gamma.astype(np.float64), None if norm is None else np.full(gamma.shape[3], norm), None)
        out.update({k: v for k, v in sig.items() if k in missing})
    return out


#: the data's bookkeeping a trajectory keeps, from which γ and ρ are derived (:func:`_gamma_rho`)
_BOOKKEEPING = ("signal_id", "signal_pos", "signal_sq_norms", "noise_sq_norms")

#: the trajectory file format :meth:`Trajectory.save` writes (``trajectory_format`` in the metadata):
#: 1 stored γ and ρ; 2 stores the bookkeeping instead and derives them on load. Both are read.
TRAJECTORY_FORMAT = 2


def _bookkeeping(data: PatchData | GramSample) -> dict[str, np.ndarray | None]:
    """``signal_id``, ``signal_pos``, ``signal_sq_norms`` and ``noise_sq_norms`` of ``data`` (``None``
    for data without the signal/background bookkeeping)."""
    if not data.has_decomposition:
        return dict.fromkeys(_BOOKKEEPING)
    return {"signal_id": np.array(data.signal_id), "signal_pos": np.array(data.signal_pos),
            "signal_sq_norms": np.array(data.signal_sq_norms), "noise_sq_norms": np.array(data.noise_sq_norms)}


def _checked_bookkeeping(values: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """``coef`` and the bookkeeping arrays of a trajectory's fields (``values``), their kinds, shapes
    and index ranges checked; raises ``ValueError`` naming the field."""
    coef = values.get("coef")
    if not isinstance(coef, np.ndarray) or coef.ndim != 5 or coef.dtype.kind != "f":
        raise ValueError(f"coef has shape {getattr(coef, 'shape', coef)} which is invalid: must be a float "
                         "array (R, 2, m, n, P) to derive gamma and rho")
    n, P = coef.shape[3:]
    sid, spos, sq, nsq = (values.get(k) for k in _BOOKKEEPING)
    for name, a, kinds, rule in (("signal_id", sid, "iu", (n,)), ("signal_pos", spos, "iu", (n,)),
                                 ("signal_sq_norms", sq, "f", None), ("noise_sq_norms", nsq, "f", (n, P - 1))):
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{name}={a!r} is invalid: gamma and rho are derived from it")
        bad = a.ndim != 1 or a.shape[0] < 2 or a.shape[0] % 2 if rule is None else a.shape != rule
        if a.dtype.kind not in kinds or bad:
            want = "(2K,)" if rule is None else str(rule)
            raise ValueError(f"{name} has shape {a.shape} and dtype {a.dtype} which is invalid: must be "
                             f"{'integer' if kinds == 'iu' else 'float'} {want} (n={n}, P={P})")
    assert isinstance(sid, np.ndarray) and isinstance(spos, np.ndarray) and isinstance(sq, np.ndarray)
    assert isinstance(nsq, np.ndarray)
    if n and (sid.min() < 0 or sid.max() >= sq.shape[0]):
        raise ValueError(f"signal_id is invalid: entries must lie in [0, {sq.shape[0]})")
    if n and (spos.min() < 0 or spos.max() >= P):
        raise ValueError(f"signal_pos is invalid: entries must lie in [0, {P})")
    return coef, sid, spos, sq, nsq


def _derive_gamma_rho(values: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """γ and ρ from ``coef`` and the bookkeeping arrays of a trajectory's fields (``values``)
    (:func:`_checked_bookkeeping`, then :func:`_gamma_rho`)."""
    checked = _checked_bookkeeping(values)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # a diverged run's records
        return _gamma_rho(*checked)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


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


@dataclass(eq=False)
class Trajectory(SavableResult):
    """The record of one training run. ``R`` records, at ``steps``.

    Attributes
    ----------
    steps : ndarray of int, shape (R,)
    train_loss, train_acc : ndarray, shape (R,)
    test_loss, test_acc : ndarray, shape (R,), or None
    coef : ndarray, shape (R, 2, m, n, P)
        Patch coefficients (docs/theory.md §3).
    gamma : ndarray, shape (R, 2, m, 2K), or None
        Signal learning (docs/theory.md §4); ``None`` for data without signals.
    rho : ndarray, shape (R, 2, m, n, P-1), or None
        Noise memorization, in the order of ``data.noise``.
    filter_stable_rank : ndarray, shape (R,)
        Stable rank of ``W`` as a (2m, d) matrix.
    learned_stable_rank : ndarray, shape (R,)
        Stable rank of the learned part ``W - W(0)``.
    learned_singular_values : ndarray, shape (R, 2m)
        Singular values of the learned part ``W - W(0)`` (2m, d), descending.
    learned_dimension : ndarray of int, shape (R,), or None
        Singular values of ``(W - W(0)) Q`` above the learned threshold
        ``τ = max(‖(W - W(0))(I - Π)‖_2, LEARNED_FLOOR · s_1(W - W(0)))`` (the memorization edge, and a
        floor relative to the top singular value), with ``Π = Q Qᵀ`` the projector on the signal span
        (:mod:`cnnrank.subspace`, docs/theory.md §5): the rank of the learned part inside the span, ``2K``
        in the benign regime unless filters are shared winners of several signals, 0 in the harmful one.
    signal_energy_fraction : ndarray, shape (R,), or None
        ``‖Π(W - W(0))‖_F² / ‖W - W(0)‖_F²``: the share of the learned energy in the signal span.
    signal_overlap : ndarray, shape (R,), or None
        Within-class mean cosine ``c`` of the signal columns of ``γ`` (:func:`cnnrank.subspace.signal_overlap`).
    signal_angles : ndarray, shape (R, min(2m, 2K)), or None
        Principal angles (radians, ascending) between the top right singular subspace of ``W - W(0)``
        and the signal span. The four signal fields are ``None`` for data without signals.
    signal_strength : ndarray, shape (R, 2K), or None
        ``‖γ_{j(k), :, k}‖ / ‖μ_k‖``: the length of signal ``k``'s own-class column
        (:func:`signal_strengths`).
    signals_learned : ndarray of int, shape (R,), or None
        Signals whose strength exceeds ``τ``: all ``2K`` in the benign regime.
    learned_rank : ndarray of int, shape (R,), or None
        Singular values of the whole ``W - W(0)`` above ``LEARNED_FLOOR · s_1(W - W(0))``: at least the
        learned dimension, more when a direction outside the signal span is learned that strongly, and
        more than ``2K`` when much noise is memorized (docs/theory.md §5).
    gamma_stable_rank : ndarray, shape (R,), or None
        ``(tr G₊ + tr G₋) / max(λ_1(G₊), λ_1(G₋))`` with ``G_j`` the ``K × K`` Gram of class ``j``'s
        own columns ``γ_{j,:,k}/‖μ_k‖`` (:func:`cnnrank.race.gamma_stable_rank`).
    class_overlaps : ndarray, shape (R, 2), or None
        ``(c₊, c₋)``: mean pairwise cosine of the own-class columns of ``γ`` per class
        (:func:`cnnrank.race.class_overlaps`). The five per-signal fields are ``None`` for data without
        signals (and, in a file written before they existed, where they cannot be derived).
    signal_id, signal_pos : ndarray of int, shape (n,), or None
        The signal of each training sample and its patch position (docs/theory.md §4).
    signal_sq_norms : ndarray, shape (2K,), or None
        ``‖μ_k‖²``.
    noise_sq_norms : ndarray, shape (n, P-1), or None
        ``‖ξ_{i,p}‖²``, in the order of ``data.noise``. With ``signal_id`` and ``signal_pos`` the data's
        bookkeeping from which γ and ρ are derived (:func:`signal_noise_coefficients`): a file stores
        these instead of γ and ρ (:meth:`save`). ``None`` for data without signals, and in a file
        written before they were kept (format 1, which stores γ and ρ).
    W_init, W_final : ndarray, shape (2, m, d), or None
    patches : ndarray, shape (n, P, d), or None
        The training patches, used to rebuild weights.
    lr : float
    activation : dict
        :meth:`Activation.spec` of the activation.
    engine : str
    metadata : dict
        Free-form (seeds, configs, timings, the engine chosen by ``"auto"``).
    """

    steps: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray | None
    test_acc: np.ndarray | None
    coef: np.ndarray
    gamma: np.ndarray | None
    rho: np.ndarray | None
    filter_stable_rank: np.ndarray
    learned_stable_rank: np.ndarray
    learned_singular_values: np.ndarray
    learned_dimension: np.ndarray | None
    signal_energy_fraction: np.ndarray | None
    signal_overlap: np.ndarray | None
    signal_angles: np.ndarray | None
    W_init: np.ndarray | None
    W_final: np.ndarray | None
    patches: np.ndarray | None
    lr: float
    activation: dict
    engine: str
    metadata: dict = field(default_factory=dict)
    signal_strength: np.ndarray | None = None
    signals_learned: np.ndarray | None = None
    learned_rank: np.ndarray | None = None
    gamma_stable_rank: np.ndarray | None = None
    class_overlaps: np.ndarray | None = None
    signal_id: np.ndarray | None = None
    signal_pos: np.ndarray | None = None
    signal_sq_norms: np.ndarray | None = None
    noise_sq_norms: np.ndarray | None = None

    _kind = "Trajectory"

    @classmethod
    def from_snapshots(cls, snaps: Sequence[Snapshot], steps: np.ndarray, data: PatchData | GramSample,
                       m: int, lr: float, activation: Activation, engine: str,
                       metadata: dict[str, Any] | None = None, W_init: np.ndarray | None = None,
                       W_final: np.ndarray | None = None) -> Trajectory:
        r"""The one assembly of a trajectory from an engine's records, for every engine.

        γ and ρ come from :func:`signal_noise_coefficients` and the learned-subspace diagnostics from
        :func:`cnnrank.subspace.learned_subspace_from_grams` on the projected coefficients
        ``C Z`` (``Z`` from :func:`signal_patch_coordinates`; ``(W - W0) Q = C Z``, docs/theory.md §5),
        whenever ``data`` has the signal bookkeeping (synthetic ``PatchData`` or a ``GramSample``).

        Parameters
        ----------
        snaps : sequence of Snapshot
            The ``R`` records, in order.
        steps : ndarray of int, shape (>= R,)
            Step counts of the records (only the first ``R`` are used: a diverged run passes its
            whole schedule).
        data : PatchData or GramSample
            The training set: ``n``, ``P`` and the signal/background bookkeeping.
        m : int
            Filters per class.
        lr : float
        activation : Activation
        engine : str
            Name of the engine that produced the records.
        metadata : dict, optional
        W_init, W_final : ndarray, shape (2, m, d), optional
            Initial and final filters, for engines with vectors (``PatchData``); with ``W_init`` the
            training patches ``data.X`` are kept so that :meth:`weights_at` can rebuild the filters.
            Without ``W_final`` (a run cut short by a blow-up) the filters of the last record are
            rebuilt from its coefficients.

        Returns
        -------
        Trajectory
        """
        R = len(snaps)
        n, P = data.n, data.P
        coef = np.zeros((0, 2, m, n, P))
        if R:  # C order whatever the engine's layout: the gathers and reshapes below are then views
            coef = np.empty((R, 2, m, n, P), dtype=np.result_type(*{s.coef.dtype for s in snaps}))
            np.stack([s.coef for s in snaps], out=coef)
        gamma = rho = None
        signal_coords = None
        kept = _bookkeeping(data)
        if data.has_decomposition:
            gamma, rho = _gamma_rho(coef, *(kept[k] for k in _BOOKKEEPING))  # type: ignore[arg-type]
            signal_coords = signal_patch_coordinates(data)
        learned_grams = np.stack([s.learned_gram for s in snaps]) if R else np.zeros((0, 2 * m, 2 * m))
        finite = bool(np.all(np.isfinite(learned_grams)))
        learned_eig = None  # one eigenvalue call for the singular values and the learned stable rank
        if finite and R:
            learned_eig = np.linalg.eigvalsh(_symmetrized(learned_grams))
            sv = np.sqrt(np.maximum(learned_eig, 0.0))[:, ::-1]
        else:
            sv = np.full((R, 2 * m), np.nan)
        dim = frac = overlap = angles = lrank = None
        sig: dict[str, np.ndarray | None] = dict.fromkeys(
            ("signal_strength", "signals_learned", "gamma_stable_rank", "class_overlaps"))
        redone: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if signal_coords is not None and gamma is not None:
            k = min(2 * m, signal_coords.shape[1])
            if finite and R and np.all(np.isfinite(coef)):
                flat = coef.reshape(R, 2 * m, n * P)
                with np.errstate(under="ignore", over="ignore", invalid="ignore"):
                    proj = flat @ signal_coords
                    ok = np.all(np.isfinite(proj), axis=(1, 2))
                    diag, bad = _from_grams(learned_grams, np.where(ok[:, None, None], proj, 0.0), DEFAULT_RTOL,
                                            LEARNED_FLOOR)
                dim, frac, angles = diag["learned_dimension"], diag["energy_fraction"], diag["principal_angles"]
                lrank, thr = diag["learned_rank"], diag["learned_threshold"]
                redo = _records_to_redo(learned_grams, flat, bad, ok)
                if redo.size:  # from the rescaled coefficients and data (docs/theory.md §5, "Scale")
                    G2, S2, h = _rescaled_learned_part(flat[redo], data)
                    d2, _ = _from_grams(G2, S2, DEFAULT_RTOL, LEARNED_FLOOR)
                    dim[redo], frac[redo], angles[redo] = (d2["learned_dimension"], d2["energy_fraction"],
                                                           d2["principal_angles"])
                    lrank[redo] = d2["learned_rank"]
                    with np.errstate(under="ignore", over="ignore"):
                        thr[redo] = d2["learned_threshold"] * h
                        redone = (redo, d2["singular_values"] * h[:, None], stable_ranks(G2))
            else:  # no records, or a diverged run's records: nothing meaningful to report
                dim, frac, angles = np.zeros(R, np.int64), np.full(R, np.nan), np.full((R, k), np.nan)
                lrank, thr = np.zeros(R, np.int64), np.full(R, np.nan)
            overlap = signal_overlaps(gamma) if R else np.zeros(0)
            # per signal, from γ and the learned threshold τ = max(edge, LEARNED_FLOOR · s_1) (docs/theory.md §5)
            sig = _signal_fields(gamma, np.sqrt(data.signal_sq_norms), thr)
        learned_ranks = _with_overrides(stable_ranks(learned_grams, learned_eig),
                                        [s.learned_stable_rank for s in snaps])
        if redone is not None:  # the records whose learned Gram matrix under- or overflowed, or lost
            sv[redone[0]] = redone[1]  # the learned part to cancellation in W - W(0)
            learned_ranks[redone[0]] = redone[2]
        has_test = R > 0 and snaps[0].test_loss is not None
        patches = np.array(data.X) if W_init is not None and isinstance(data, PatchData) else None
        vectors = patches is not None
        if vectors and W_final is None and R:  # rebuilt at the last record (a partial, diverged run)
            assert patches is not None and W_init is not None
            d = patches.shape[2]
            W_final = np.asarray(W_init) + (coef[-1].reshape(2 * m, n * P) @ patches.reshape(n * P, d)
                                            ).reshape(2, m, d)
        return cls(
            steps=np.asarray(steps[:R], dtype=np.int64),
            train_loss=np.array([s.train_loss for s in snaps]),
            train_acc=np.array([s.train_acc for s in snaps]),
            test_loss=np.array([s.test_loss for s in snaps]) if has_test else None,
            test_acc=np.array([s.test_acc for s in snaps]) if has_test else None,
            coef=coef,
            gamma=gamma,
            rho=rho,
            filter_stable_rank=_with_overrides(stable_ranks([s.filter_gram for s in snaps]),
                                               [s.filter_stable_rank for s in snaps]),
            learned_stable_rank=learned_ranks,
            learned_singular_values=sv,
            learned_dimension=dim,
            signal_energy_fraction=frac,
            signal_overlap=overlap,
            signal_angles=angles,
            W_init=np.array(W_init) if vectors else None,
            W_final=W_final if vectors else None,
            patches=patches,
            lr=lr,
            activation=activation.spec(),
            engine=engine,
            metadata={} if metadata is None else metadata,
            signal_strength=sig["signal_strength"],
            signals_learned=sig["signals_learned"],
            learned_rank=lrank,
            gamma_stable_rank=sig["gamma_stable_rank"],
            class_overlaps=sig["class_overlaps"],
            **kept,
        )

    def to_npz_bytes(self) -> bytes:
        """What :meth:`save` writes (file format :data:`TRAJECTORY_FORMAT` = 2): every field but γ and
        ρ when they are derived on load, bit for bit, from ``coef`` and the kept bookkeeping
        (``signal_id``, ``signal_pos``, ``signal_sq_norms``, ``noise_sq_norms``;
        :func:`signal_noise_coefficients`) — always for a trajectory of :func:`cnnrank.train.train`;
        otherwise they are stored. The metadata record ``trajectory_format`` and ``derived`` (the
        fields left out) say which."""
        derived = self._derivable()
        arrays: dict[str, np.ndarray] = {}
        fields: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in derived:
                continue
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                arrays[f.name] = value
            else:
                fields[f.name] = _to_jsonable(value)
        return npz_bytes(arrays, {"kind": self._result_kind(), "fields": fields,
                                  "trajectory_format": TRAJECTORY_FORMAT, "derived": list(derived)})

    def _derivable(self) -> tuple[str, ...]:
        """``("gamma", "rho")`` if recomputing them from the stored fields gives the same bits, else ``()``."""
        if self.gamma is None or self.rho is None or any(getattr(self, k) is None for k in _BOOKKEEPING):
            return ()
        try:
            gamma, rho = _derive_gamma_rho({k: getattr(self, k) for k in ("coef",) + _BOOKKEEPING})
        except ValueError:
            return ()
        return ("gamma", "rho") if _same_bits(gamma, self.gamma) and _same_bits(rho, self.rho) else ()

    @classmethod
    def load(cls, path: Any) -> Trajectory:
        """:meth:`SavableResult.load` of both file formats. Format 2 (``trajectory_format`` in the
        metadata) derives γ and ρ from ``coef`` and the stored bookkeeping by the code that computed
        them in training (:func:`signal_noise_coefficients`), so they come back bit for bit. Format 1
        (no ``trajectory_format``) stores γ and ρ and lacks the bookkeeping (loaded as ``None``).

        A file written before the per-signal fields (``signal_strength``, ``signals_learned``,
        ``learned_rank``, ``gamma_stable_rank``, ``class_overlaps``) is read too: they are derived from
        ``γ`` where it allows (the overlaps always; the strengths and ``gamma_stable_rank`` when the
        metadata give ``signal_norm``), else ``None`` (``signals_learned`` and ``learned_rank`` need the
        memorization edge, which such files lack)."""
        arrays, meta = load_npz(path, kind=cls._result_kind())
        fmt = meta.get("trajectory_format", 1)
        if isinstance(fmt, bool) or fmt not in (1, 2):
            raise ResultsFileError(f"results file {str(path)!r} has trajectory_format={fmt!r}: this cnnrank "
                                   "reads formats 1 and 2")
        values = dict(meta.get("fields", {}))
        values.update(arrays)
        derived = meta.get("derived", []) if fmt >= 2 else []
        if derived not in ([], ["gamma", "rho"]):
            raise ResultsFileError(f"results file {str(path)!r} has derived={derived!r}: must be [] or "
                                   "['gamma', 'rho']")
        if fmt == 1:  # written before the bookkeeping was kept
            for k in _BOOKKEEPING:
                values.setdefault(k, None)
        if derived:
            if "gamma" in values or "rho" in values:
                raise ResultsFileError(f"results file {str(path)!r} is inconsistent: it stores gamma/rho "
                                       "and says they are derived")
            try:
                values["gamma"], values["rho"] = _derive_gamma_rho(values)
            except ValueError as exc:
                raise ResultsFileError(f"results file {str(path)!r} is inconsistent: {exc}") from None
        names = {f.name for f in dataclasses.fields(cls)}
        missing = names - set(values)
        if missing and missing <= set(_SIGNAL_FIELDS):
            values.update(_derived_signal_fields(values, missing))
            missing = names - set(values)
        if missing:
            raise ResultsFileError(f"results file {str(path)!r} lacks fields {sorted(missing)}")
        _check_field_types(cls, values, path)
        obj = cls(**{k: values[k] for k in names})
        try:
            obj._check_loaded()
            obj._check_value_ranges()
        except ValueError as exc:
            raise ResultsFileError(f"results file {str(path)!r} is inconsistent: {exc}") from None
        return obj

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def __repr__(self) -> str:
        R = len(self)
        m, n, P = self.coef.shape[2:5] if self.coef.ndim == 5 else (None, None, None)
        d = None if self.W_init is None else self.W_init.shape[-1]
        if d is None:
            d = self.metadata.get("sample", {}).get("model", {}).get("d") if isinstance(self.metadata, dict) else None
        span = f"steps {int(self.steps[0])}..{int(self.steps[-1])}" if R else "no steps"
        head = (f"Trajectory(engine={self.engine!r}, R={R} records at {span}, m={m}, n={n}, P={P}, d={d}, "
                f"lr={self.lr:g}, activation={self.activation.get('name') if isinstance(self.activation, dict) else None!r}")
        if not R:
            return head + ")"
        final = [f"train_loss={float(self.train_loss[-1]):.4g}", f"train_acc={float(self.train_acc[-1]):.3g}"]
        if self.test_loss is not None and self.test_acc is not None:
            final += [f"test_loss={float(self.test_loss[-1]):.4g}", f"test_acc={float(self.test_acc[-1]):.3g}"]
        if self.learned_dimension is not None:
            final.append(f"learned_dimension={int(self.learned_dimension[-1])}")
        final.append(f"filter_stable_rank={float(self.filter_stable_rank[-1]):.4g}")
        return head + "; final: " + ", ".join(final) + ")"

    def finite_records(self) -> int:
        """Number of leading records whose every per-record number (losses, accuracies, coefficients,
        γ, ρ, stable ranks) is finite: all of them for a run that did not blow up."""
        R = len(self)
        ok = np.ones(R, dtype=bool)
        for a in (self.train_loss, self.train_acc, self.test_loss, self.test_acc, self.coef, self.gamma,
                  self.rho, self.filter_stable_rank, self.learned_stable_rank):
            if a is not None and R:
                a = np.asarray(a)
                if a.dtype.kind not in "biufc":
                    a = a.astype(np.float64)
                ok &= np.isfinite(a).all(axis=tuple(range(1, a.ndim)))  # per record, without a reshaping copy
        bad = np.flatnonzero(~ok)
        return int(bad[0]) if bad.size else R

    def _check_loaded(self) -> None:
        """Consistency of a loaded file: every per-record array has ``R`` rows and the shapes agree
        (coef (R, 2, m, n, P), gamma (R, 2, m, 2K), rho (R, 2, m, n, P-1), ranks (R,), W_init/W_final
        (2, m, d), patches (n, P, d)); a valid activation and a known engine; then every stored
        diagnostic within its documented range (:meth:`_check_ranges`). Raises ``ValueError`` naming the
        field (:meth:`SavableResult.load` reports it with the file)."""
        from cnnrank.engines import ENGINES

        def fail(name: str, value: Any, rule: str) -> ValueError:
            shape = getattr(value, "shape", value)
            return ValueError(f"{name} has shape {shape} which is invalid: {rule}")

        steps = self.steps
        if steps.ndim != 1:
            raise fail("steps", steps, "must be 1-D (R,)")
        R = steps.shape[0]
        if steps.dtype.kind not in "iu" or (R and (steps[0] < 0 or np.any(np.diff(steps) <= 0))):
            raise ValueError("steps is invalid: must be increasing integers >= 0")
        coef = self.coef
        if coef.ndim != 5 or coef.shape[0] != R or coef.shape[1] != 2 or min(coef.shape[2:]) < 1:
            raise fail("coef", coef, f"must be (R, 2, m, n, P) with R={R} records (len(steps))")
        _, _, m, n, P = coef.shape

        def want(name: str, shape: tuple, optional: bool = False) -> None:
            value = getattr(self, name)
            if value is None:
                if not optional:
                    raise ValueError(f"{name}=None is invalid: the field is required")
                return
            if value.shape != shape:
                raise fail(name, value, f"must be {shape} (R={R} records, m={m}, n={n}, P={P})")

        for name in ("train_loss", "train_acc", "filter_stable_rank", "learned_stable_rank"):
            want(name, (R,))
        for name in ("test_loss", "test_acc", "learned_dimension", "signal_energy_fraction", "signal_overlap"):
            want(name, (R,), optional=True)
        if (self.test_loss is None) != (self.test_acc is None):
            raise ValueError("test_loss/test_acc are invalid: give both or neither")
        want("learned_singular_values", (R, 2 * m))
        if self.gamma is not None:
            g = self.gamma
            if g.ndim != 4 or g.shape[:3] != (R, 2, m) or g.shape[3] < 2 or g.shape[3] % 2:
                raise fail("gamma", g, f"must be (R, 2, m, 2K) = ({R}, 2, {m}, 2K)")
        want("rho", (R, 2, m, n, P - 1), optional=True)
        if (self.gamma is None) != (self.rho is None):
            raise ValueError("gamma/rho are invalid: give both or neither")
        kept = [getattr(self, k) for k in _BOOKKEEPING]
        if any(a is None for a in kept) and any(a is not None for a in kept):
            raise ValueError(f"{'/'.join(_BOOKKEEPING)} are invalid: give all or none")
        if kept[0] is not None:
            sq = _checked_bookkeeping({"coef": coef, **dict(zip(_BOOKKEEPING, kept))})[3]
            if self.gamma is not None and sq.shape[0] != self.gamma.shape[3]:
                raise fail("signal_sq_norms", sq, f"must be (2K,) with 2K={self.gamma.shape[3]}")
        if self.signal_angles is not None and (self.signal_angles.ndim != 2 or self.signal_angles.shape[0] != R):
            raise fail("signal_angles", self.signal_angles, f"must be (R, k) with R={R}")
        for name in ("signals_learned", "learned_rank", "gamma_stable_rank"):
            want(name, (R,), optional=True)
        want("class_overlaps", (R, 2), optional=True)
        if self.signal_strength is not None:
            K2 = None if self.gamma is None else self.gamma.shape[3]
            if self.signal_strength.ndim != 2 or self.signal_strength.shape[0] != R or (
                    K2 is not None and self.signal_strength.shape[1] != K2):
                raise fail("signal_strength", self.signal_strength, f"must be (R, 2K) with R={R} and 2K={K2}")
        d = None
        for name in ("W_init", "W_final"):
            W = getattr(self, name)
            if W is not None:
                if W.ndim != 3 or W.shape[:2] != (2, m) or (d is not None and W.shape[2] != d):
                    raise fail(name, W, f"must be (2, m, d) = (2, {m}, d)")
                d = W.shape[2]
        if self.patches is not None:
            if self.patches.ndim != 3 or self.patches.shape[:2] != (n, P) or (d is not None and self.patches.shape[2] != d):
                raise fail("patches", self.patches, f"must be (n, P, d) = ({n}, {P}, {d if d else 'd'})")
        if (self.W_init is None) != (self.patches is None):
            raise ValueError("W_init/patches are invalid: give both (weights_at needs them) or neither")
        try:
            activation_from_spec(self.activation)  # its message names the activation
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        if self.engine not in ENGINES:
            raise ValueError(f"engine={self.engine!r} is invalid: must be one of {sorted(ENGINES)}")
        if not (isinstance(self.lr, (int, float)) and np.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr={self.lr!r} is invalid: must be a finite number > 0")
        self._check_ranges(m, d)

    def _check_ranges(self, m: int, d: int | None) -> None:
        """The documented range of every stored diagnostic (shapes already checked): losses ``>= 0``,
        accuracies in ``[0, 1]``, stable ranks 0 (a zero matrix) or in ``[1, min(2m, d)]``, singular
        values ``>= 0`` and descending, the learned dimension an integer in ``[0, min(2m, 2K)]`` (the
        rank of the signals when ``signal_angles`` shows it), the energy fraction in ``[0, 1]``, the
        overlap (a mean cosine) in ``[-1, 1]``, angles in ``[0, π/2]``; NaN where a diverged run leaves
        it. Bounds allow rounding (:data:`cnnrank.results.RANGE_RTOL`)."""
        from cnnrank.results import check_values

        rank_bound, rank_rule = (2 * m, "2m") if d is None or d >= 2 * m else (d, "d")
        for name in ("train_loss", "test_loss"):
            if getattr(self, name) is not None:
                check_values(name, getattr(self, name), lo=0.0)
        for name in ("train_acc", "test_acc"):
            if getattr(self, name) is not None:
                check_values(name, getattr(self, name), lo=0.0, hi=1.0)
        for name in ("filter_stable_rank", "learned_stable_rank"):
            check_values(name, getattr(self, name), lo=1.0, hi=rank_bound, zero=True, rule=f"min(2m, d) = {rank_rule}")
        sv = self.learned_singular_values
        check_values("learned_singular_values", sv, lo=0.0)
        if sv.shape[1] > 1 and np.any(np.diff(sv, axis=1) > 0):  # NaN rows compare False
            r = int(np.flatnonzero(np.any(np.diff(sv, axis=1) > 0, axis=1))[0])
            raise ValueError(f"learned_singular_values at record {r} are invalid: must be in descending order")
        if self.learned_dimension is not None:
            bound, rule = 2 * m, "2m"
            if self.signal_angles is not None:
                bound, rule = self.signal_angles.shape[1], "min(2m, rank of the signals)"
            elif self.gamma is not None:
                bound, rule = min(2 * m, self.gamma.shape[3]), "min(2m, 2K)"
            check_values("learned_dimension", self.learned_dimension, lo=0, hi=bound, integer=True, nan=False,
                         rule=f"{rule}, m={m}")
        if self.signal_energy_fraction is not None:
            check_values("signal_energy_fraction", self.signal_energy_fraction, lo=0.0, hi=1.0)
        if self.signal_overlap is not None:
            check_values("signal_overlap", self.signal_overlap, lo=-1.0, hi=1.0, rule="a mean cosine")
        if self.signal_angles is not None:
            check_values("signal_angles", self.signal_angles, lo=0.0, hi=float(np.pi / 2), rule="radians, 0 to π/2")
        K2 = None
        for arr in (self.gamma, self.signal_strength):
            if arr is not None:
                K2 = arr.shape[-1]
                break
        if self.signal_strength is not None:
            check_values("signal_strength", self.signal_strength, lo=0.0)
        if self.signals_learned is not None:
            check_values("signals_learned", self.signals_learned, lo=0, hi=K2, integer=True, nan=False,
                         rule="2K" if K2 is not None else "")
        if self.learned_rank is not None:
            check_values("learned_rank", self.learned_rank, lo=0, hi=rank_bound, integer=True, nan=False,
                         rule=f"min(2m, d) = {rank_rule}")
        if self.gamma_stable_rank is not None:
            check_values("gamma_stable_rank", self.gamma_stable_rank, lo=1.0, hi=K2, zero=True,
                         rule="2K" if K2 is not None else "")
        if self.class_overlaps is not None:
            check_values("class_overlaps", self.class_overlaps, lo=-1.0, hi=1.0, rule="mean cosines")

    @property
    def rho_pos(self) -> np.ndarray | None:
        """``ρ̄ = ρ · 1(ρ >= 0)``, shape (R, 2, m, n, P-1)."""
        return None if self.rho is None else np.maximum(self.rho, 0.0)

    @property
    def rho_neg(self) -> np.ndarray | None:
        """``ρ̲ = ρ · 1(ρ <= 0)``, shape (R, 2, m, n, P-1)."""
        return None if self.rho is None else np.minimum(self.rho, 0.0)

    def get_activation(self) -> Activation:
        """The activation object."""
        return activation_from_spec(self.activation)

    def weights_at(self, k: int) -> np.ndarray:
        """Filters at record ``k`` (negative counts from the end), rebuilt from the coefficients.

        ``W = W(0) + Σ_{i,p} c_{j,r,i,p} x_i^(p)``; shape (2, m, d).
        """
        if self.W_init is None or self.patches is None:
            raise ValueError(f"weights_at is unavailable: the {self.engine!r} engine keeps no vectors")
        R = len(self)
        k = check_int("k", k, minimum=-R, maximum=R - 1) % R
        two, m, n, P = self.coef.shape[1:]
        d = self.patches.shape[2]
        C = self.coef[k].reshape(2 * m, n * P)
        return self.W_init + (C @ self.patches.reshape(n * P, d)).reshape(2, m, d)

    def summary(self, k: int = -1) -> dict[str, float]:
        """Headline numbers at record ``k``: loss, accuracy, max γ, max ρ̄, min ρ̲, stable ranks and,
        with signals, the learned-subspace diagnostics (learned dimension, an int; signal energy fraction,
        within-class overlap) and the per-signal ones (``signals_learned`` and ``learned_rank``, ints;
        ``gamma_stable_rank``; the per-class overlaps ``overlap_pos``, ``overlap_neg``)."""
        out = {
            "step": int(self.steps[k]),
            "train_loss": float(self.train_loss[k]),
            "train_acc": float(self.train_acc[k]),
            "filter_stable_rank": float(self.filter_stable_rank[k]),
            "learned_stable_rank": float(self.learned_stable_rank[k]),
        }
        if self.test_loss is not None and self.test_acc is not None:
            out["test_loss"] = float(self.test_loss[k])
            out["test_acc"] = float(self.test_acc[k])
        if self.gamma is not None and self.rho is not None:
            out["max_gamma"] = float(self.gamma[k].max())
            out["max_rho_pos"] = float(self.rho[k].max(initial=0.0))
            out["min_rho_neg"] = float(self.rho[k].min(initial=0.0))
        if (self.learned_dimension is not None and self.signal_energy_fraction is not None
                and self.signal_overlap is not None):
            out["learned_dimension"] = int(self.learned_dimension[k])  # a count: an int in JSON too
            out["signal_energy_fraction"] = float(self.signal_energy_fraction[k])
            out["signal_overlap"] = float(self.signal_overlap[k])
        if self.signals_learned is not None:
            out["signals_learned"] = int(self.signals_learned[k])
        if self.learned_rank is not None:
            out["learned_rank"] = int(self.learned_rank[k])
        if self.gamma_stable_rank is not None:
            out["gamma_stable_rank"] = float(self.gamma_stable_rank[k])
        if self.class_overlaps is not None:
            out["overlap_pos"] = float(self.class_overlaps[k, 0])
            out["overlap_neg"] = float(self.class_overlaps[k, 1])
        return out
