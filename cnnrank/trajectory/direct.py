r"""A trajectory without patch coefficients: the diagnostics computed from the filters directly.

Sign descent and Adam (:class:`cnnrank.engines.adaptive.AdaptiveEngine`) move the filters out of the
span of the training patches, so ``W(t) = W(0) + Σ c x`` does not hold and there are no patch
coefficients. Their trajectory has ``coef`` of shape ``(R, 2, m, 0, 0)`` (:attr:`Trajectory.has_coefficients`
is ``False``) and every diagnostic is computed from the learned part ``Δ = W(t) − s(t) W(0)`` (2m, d),
``s(t) = (1 − ηλ)^t`` under weight decay ``λ`` (``s ≡ 1`` without; the trajectory's ``init_scale`` holds it
per record when ``λ > 0``) (docs/theory.md, "Sign descent and Adam"):

* the stable ranks and singular values from ``Δ Δᵀ`` and ``W Wᵀ``, as for every engine;
* the learned-subspace diagnostics (learned dimension, learned rank, signal energy fraction, principal
  angles) from ``Δ Δᵀ`` and ``Δ Q`` (``Q`` an orthonormal basis of the signal span) by
  :func:`cnnrank.subspace.learned_subspace_from_grams`;
* γ and ρ from the orthogonal projection of ``Δ`` on the span of the distinct training patches
  ``V = [μ_1 … μ_2K, ξ_{1,1} … ξ_{n,P-1}]``, written in those patches, ``Π_V Δ_{j,r} = Σ_v b_{j,r,v} v``
  with ``b = (Δ Vᵀ) (V Vᵀ)⁺``:

  .. math::
      \gamma_{j,r,k} = \|\mu_k\|^2\, b_{j,r,\mu_k},\qquad \rho_{j,r,i,p} = \|\xi_{i,p}\|^2\, b_{j,r,\xi_{i,p}}.

  For gradient descent ``Δ`` lies in that span and ``b`` are the patch coefficients summed over the
  copies of each patch, so γ and ρ equal those of the coefficient path (when the distinct patches are
  linearly independent, e.g. ``n (P-1) + 2K <= d`` for Gaussian background). With ``project_noise``
  the signals are orthogonal to the background and to each other, so ``γ_{j,r,k} = ⟨Δ_{j,r}, μ_k⟩``
  exactly, for any optimizer: the signal strength ``‖γ_{j(k),:,k}‖/‖μ_k‖`` is the length of the
  projection of the own-class filters' learned part on ``μ_k/‖μ_k‖``.

The per-signal fields (strengths, signals learned, ``gamma_stable_rank``, overlaps) then follow from γ
and the learned threshold exactly as in :func:`cnnrank.trajectory.assembly.assemble`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from cnnrank.activations import Activation
from cnnrank.data import PatchData
from cnnrank.engines.adaptive import DirectSnapshot
from cnnrank.engines.base import Snapshot
from cnnrank.subspace import DEFAULT_RTOL, LEARNED_FLOOR, _from_grams, orthonormal_basis, signal_overlaps
from cnnrank.trajectory.assembly import learned_spectrum, record_fields
from cnnrank.trajectory.fileformat import _bookkeeping
from cnnrank.trajectory.ranks import _with_overrides, stable_ranks
from cnnrank.trajectory.signals import _signal_fields

if TYPE_CHECKING:
    from cnnrank.trajectory.record import Trajectory

__all__ = ["assemble_direct", "direct_gamma_rho", "signal_projection"]


def direct_gamma_rho(learned_inner: np.ndarray, data: PatchData) -> tuple[np.ndarray, np.ndarray]:
    r"""γ (R, 2, m, 2K) and ρ (R, 2, m, n, P-1) from ``⟨Δ_{j,r}, v⟩`` (module docstring).

    Parameters
    ----------
    learned_inner : ndarray, shape (R, 2m, 2K + n (P-1))
        Inner products of the learned part with the signals, then the training background patches in
        the order of :attr:`PatchData.noise`.
    data : PatchData
        With ``signals``, ``signal_id`` and ``signal_pos``.
    """
    assert data.signals is not None
    n, P, d = data.X.shape
    K2 = data.signals.shape[0]
    V = np.vstack([data.signals, data.noise.reshape(-1, d)])  # (2K + n(P-1), d)
    G = V @ V.T
    b = learned_inner @ np.linalg.pinv(G, hermitian=True)  # coefficients of Π_V Δ in the patches
    R, two_m = learned_inner.shape[:2]
    m = two_m // 2
    sq = np.einsum("ij,ij->i", V, V)
    gamma = (b[:, :, :K2] * sq[:K2]).reshape(R, 2, m, K2)
    rho = (b[:, :, K2:] * sq[K2:]).reshape(R, 2, m, n, P - 1)
    return gamma, rho


def signal_projection(learned_inner: np.ndarray, signals: np.ndarray) -> np.ndarray:
    """``Δ Q`` (R, 2m, r) from ``Δ Sᵀ`` (R, 2m, 2K) and the signals ``S`` (2K, d), ``Q`` =
    :func:`cnnrank.subspace.orthonormal_basis` of the signals (``Q = Sᵀ T`` with ``T = (S Sᵀ)⁺ S Q``)."""
    Q = orthonormal_basis(np.asarray(signals).T)
    T = np.linalg.pinv(signals @ signals.T, hermitian=True) @ (signals @ Q)
    return learned_inner @ T


def assemble_direct(cls: type[Trajectory], snaps: Sequence[Snapshot], steps: np.ndarray, data: PatchData,
                    m: int, lr: float, activation: Activation, engine: str, metadata: dict[str, Any] | None = None,
                    W_init: np.ndarray | None = None, W_final: np.ndarray | None = None) -> Trajectory:
    """A :class:`~cnnrank.trajectory.Trajectory` from records without patch coefficients
    (:class:`~cnnrank.engines.adaptive.DirectSnapshot`: ``learned_inner``, the losses and Gram
    matrices); the arguments as :meth:`Trajectory.from_snapshots`. ``coef`` is ``(R, 2, m, 0, 0)``,
    ``patches`` ``None``; ``W_final`` defaults to the filters of the last record (a run cut short by a
    blow-up)."""
    R = len(snaps)
    n, P = data.n, data.P
    if W_final is None and R:
        W_final = getattr(snaps[-1], "weights", None)
    if W_final is None:  # both or neither (a diverged run whose last kept record lost its filters)
        W_init = None
    learned_grams, finite, learned_eig, sv = learned_spectrum(snaps, m)
    kept: dict[str, Any] = _bookkeeping(data)
    scales = [float(getattr(s, "init_scale", 1.0)) for s in snaps]
    # s(t) under weight decay, per record (the field the exact variants fill too); None without decay
    init_scale = np.array(scales, dtype=np.float64) if any(v != 1.0 for v in scales) else None
    # a trainable head (docs/theory.md, "Training variants"): a(t) per record, None for the fixed head
    head_weights = (np.stack([np.asarray(s.head_weights) for s in snaps]).astype(np.float64)
                    if R and snaps[0].head_weights is not None else None)
    gamma = rho = dim = frac = overlap = angles = lrank = None
    sig: dict[str, np.ndarray | None] = dict.fromkeys(
        ("signal_strength", "signals_learned", "gamma_stable_rank", "class_overlaps"))
    if data.has_decomposition:
        assert data.signals is not None
        K2 = data.signals.shape[0]
        inner = (np.stack([np.asarray(cast(DirectSnapshot, s).learned_inner) for s in snaps]) if R
                 else np.zeros((0, 2 * m, K2 + n * (P - 1))))
        with np.errstate(under="ignore", over="ignore", invalid="ignore"):
            gamma, rho = direct_gamma_rho(inner, data)
            proj = signal_projection(inner[:, :, :K2], np.asarray(data.signals))
        k = min(2 * m, proj.shape[2])
        if finite and R and np.all(np.isfinite(proj)):
            with np.errstate(under="ignore", over="ignore", invalid="ignore"):
                diag, _ = _from_grams(learned_grams, proj, DEFAULT_RTOL, LEARNED_FLOOR)
            dim, frac, angles = diag["learned_dimension"], diag["energy_fraction"], diag["principal_angles"]
            lrank, thr = diag["learned_rank"], diag["learned_threshold"]
        else:
            dim, frac, angles = np.zeros(R, np.int64), np.full(R, np.nan), np.full((R, k), np.nan)
            lrank, thr = np.zeros(R, np.int64), np.full(R, np.nan)
        overlap = signal_overlaps(gamma) if R else np.zeros(0)
        sig = _signal_fields(gamma, np.sqrt(data.signal_sq_norms), thr)
    return cls(
        **record_fields(snaps, steps),
        coef=np.zeros((R, 2, m, 0, 0)),
        gamma=gamma,
        rho=rho,
        learned_stable_rank=_with_overrides(stable_ranks(learned_grams, learned_eig),
                                            [s.learned_stable_rank for s in snaps]),
        learned_singular_values=sv,
        learned_dimension=dim,
        signal_energy_fraction=frac,
        signal_overlap=overlap,
        signal_angles=angles,
        W_init=None if W_init is None else np.array(W_init),
        W_final=None if W_final is None else np.array(W_final),
        patches=None,
        lr=lr,
        activation=activation.spec(),
        engine=engine,
        metadata={} if metadata is None else metadata,
        signal_strength=sig["signal_strength"],
        signals_learned=sig["signals_learned"],
        learned_rank=lrank,
        gamma_stable_rank=sig["gamma_stable_rank"],
        class_overlaps=sig["class_overlaps"],
        init_scale=init_scale,
        head_weights=head_weights,
        **kept,
    )
