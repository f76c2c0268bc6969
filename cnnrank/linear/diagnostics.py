"""Diagnostics of a linear-network run: mode strengths, half-learning times, kernel spectra."""

from __future__ import annotations

import numpy as np

from cnnrank._validation import as_array, check_real

__all__ = ["half_times", "kernel_spectra", "mode_strengths", "nan_stats"]


def mode_strengths(weff: np.ndarray, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Mode strengths ``u_α(t) = u_αᵀ W_eff(t) v_α`` (the diagonal of ``Uᵀ W_eff V``).

    Parameters
    ----------
    weff : ndarray, shape (T, M, D) or (M, D)
    U : ndarray, shape (M, R)
    V : ndarray, shape (D, R)

    Returns
    -------
    ndarray, shape (T, R) or (R,)
    """
    w = as_array("weff", weff)
    U = as_array("U", U, ndim=2)
    V = as_array("V", V, shape=(None, U.shape[1]))
    if w.ndim not in (2, 3) or w.shape[-2:] != (U.shape[0], V.shape[0]):
        raise ValueError(f"weff has shape {w.shape} which is invalid: must be (T, {U.shape[0]}, {V.shape[0]}) or (M, D)")
    return np.einsum("...md,mr,dr->...r", w, U, V)


def half_times(times: np.ndarray, strengths: np.ndarray, s: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """First time each mode strength reaches ``fraction × s_α`` (linear interpolation between records).

    Parameters
    ----------
    times : ndarray, shape (T,), increasing
    strengths : ndarray, shape (T, R)
    s : ndarray, shape (R,)
        Target strengths (singular values).
    fraction : float in (0, 1)

    Returns
    -------
    ndarray, shape (R,)
        ``NaN`` for a mode that never reaches the level within the run.
    """
    t = as_array("times", times, ndim=1)
    u = as_array("strengths", strengths, shape=(t.size, None))
    s = as_array("s", s, shape=(u.shape[1],))
    f = check_real("fraction", fraction, positive=True, below=1.0)
    out = np.full(u.shape[1], np.nan)
    level = f * s
    above = u >= level
    hit = above.any(axis=0)
    first = np.argmax(above, axis=0)
    for r in np.flatnonzero(hit):  # loop over modes (a handful), not samples
        i = first[r]
        if i == 0:
            out[r] = t[0]
            continue
        u0, u1 = u[i - 1, r], u[i, r]
        w = (level[r] - u0) / (u1 - u0) if u1 != u0 else 1.0
        out[r] = t[i - 1] + w * (t[i] - t[i - 1])
    return out


def kernel_spectra(kernels: np.ndarray, n: int) -> np.ndarray:
    """``|DFT(κ_c)|`` of 1D kernels zero-padded to length ``n``.

    Parameters
    ----------
    kernels : ndarray, shape (..., C, k)
    n : int, ``>= k``

    Returns
    -------
    ndarray, shape (..., C, n//2 + 1)
        Magnitudes at frequencies ``0..n//2``.
    """
    kern = as_array("kernels", kernels)
    if kern.shape[-1] > n:
        raise ValueError(f"n={n!r} is invalid: must be >= the kernel size {kern.shape[-1]}")
    return np.abs(np.fft.rfft(kern, n=n, axis=-1))


def nan_stats(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, minimum and maximum over ``axis`` ignoring NaN (all-NaN slices give NaN, no warning).

    Used for half-times over seeds, where a mode that never reached half-strength is NaN.
    """
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    cnt = ok.sum(axis=axis)
    tot = np.where(ok, x, 0.0).sum(axis=axis)
    mean = np.divide(tot, cnt, out=np.full(tot.shape, np.nan), where=cnt > 0)
    lo = np.where(cnt > 0, np.where(ok, x, np.inf).min(axis=axis), np.nan)
    hi = np.where(cnt > 0, np.where(ok, x, -np.inf).max(axis=axis), np.nan)
    return mean, lo, hi
