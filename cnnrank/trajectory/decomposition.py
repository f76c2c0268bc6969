"""The signal-noise decomposition of the patch coefficients (docs/theory.md §4): γ and ρ, and the
coordinates of the patches in the signal span."""

from __future__ import annotations

import numpy as np

from cnnrank.data import PatchData
from cnnrank.gram_sample import GramSample

__all__ = ["signal_noise_coefficients", "signal_patch_coordinates"]


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
