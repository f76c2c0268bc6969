"""Closed forms: the Saxe et al. (2014) mode trajectory, learning times, balanced decoupled init,
and the early growth rate of each mode in a linear CNN (the dominant-frequency prediction).

Gradient flow ``τ dW1/dt = W2ᵀ(Σyx − W2 W1)``, ``τ dW2/dt = (Σyx − W2 W1) W1ᵀ`` (whitened inputs)
started from the balanced decoupled point ``W1 = O diag(√u0) Vᵀ``, ``W2 = U diag(√u0) Oᵀ`` stays
decoupled, and each mode strength ``u_α = u_αᵀ W2 W1 v_α`` obeys ``τ du/dt = 2u(s − u)``::

    u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u0).

Gradient descent with step ``η`` is the Euler discretization of this flow with ``τ = 1`` and
``t = η × steps``.
"""

from __future__ import annotations

import numpy as np

from cnnrank._validation import as_array, check_int, check_real

__all__ = [
    "balanced_decoupled_init",
    "cnn_mode_rate",
    "saxe_learning_time",
    "saxe_mode_strength",
]


def saxe_mode_strength(t, s: float, u0: float, tau: float = 1.0) -> np.ndarray:
    """Mode strength of a two-layer linear network from balanced decoupled init (Saxe et al.).

    ``u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u0)``, computed as the logistic
    ``s / (1 + (s/u0 − 1) e^{−2st/τ})`` (no overflow for large ``t``).

    Parameters
    ----------
    t : array_like, ``>= 0``
        Times (same units as ``tau``).
    s : float, ``> 0``
        Singular value of the mode.
    u0 : float, ``0 < u0 <= s``
        Initial strength.
    tau : float, ``> 0``
        Time constant ``τ = 1 / learning rate``.

    Returns
    -------
    ndarray, shape of ``t``
    """
    t = as_array("t", t)
    if np.any(t < 0):
        raise ValueError("t is invalid: times must be >= 0")
    s = check_real("s", s, positive=True)
    u0 = check_real("u0", u0, positive=True, maximum=s)
    tau = check_real("tau", tau, positive=True)
    x = np.minimum(2.0 * s * t / tau, 700.0)
    return s / (1.0 + (s / u0 - 1.0) * np.exp(-x))


def saxe_learning_time(s: float, u0: float, tau: float = 1.0, fraction: float = 0.5) -> float:
    """Time for ``saxe_mode_strength`` to reach ``fraction × s``.

    ``t_f = (τ / 2s) ln[(s/u0 − 1) f / (1 − f)]``; for ``f = ½`` this is ``(τ/2s) ln(s/u0 − 1)``
    ``≈ (τ/2s) ln(s/u0)``. Zero when the mode starts at or above the fraction.

    Parameters
    ----------
    s, u0, tau : float
        As in :func:`saxe_mode_strength`.
    fraction : float in (0, 1)
    """
    s = check_real("s", s, positive=True)
    u0 = check_real("u0", u0, positive=True, maximum=s)
    tau = check_real("tau", tau, positive=True)
    f = check_real("fraction", fraction, positive=True, below=1.0)
    arg = (s / u0 - 1.0) * f / (1.0 - f)
    return float(max(0.0, tau / (2.0 * s) * np.log(arg))) if arg > 0 else 0.0


def balanced_decoupled_init(U: np.ndarray, V: np.ndarray, u0, hidden: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """Balanced decoupled initialization ``W1 = O diag(√u0) Vᵀ``, ``W2 = U diag(√u0) Oᵀ``.

    ``O`` is a random ``H × R`` matrix with orthonormal columns, so ``W2 W1 = U diag(u0) Vᵀ`` and
    ``W1 W1ᵀ = W2ᵀ W2`` (balanced).

    Parameters
    ----------
    U : ndarray, shape (M, R)
    V : ndarray, shape (N, R)
    u0 : float or ndarray of shape (R,), ``> 0``
        Initial mode strengths.
    hidden : int, ``>= R``
    rng : seed or Generator

    Returns
    -------
    W1 : ndarray, shape (H, N)
    W2 : ndarray, shape (M, H)
    """
    U = as_array("U", U, ndim=2)
    V = as_array("V", V, shape=(None, U.shape[1]))
    r = U.shape[1]
    hidden = check_int("hidden", hidden, minimum=r)
    u0 = np.broadcast_to(as_array("u0", u0), (r,))
    if np.any(u0 <= 0):
        raise ValueError(f"u0={u0.tolist()!r} is invalid: must be > 0")
    rng = np.random.default_rng(rng)
    o, _ = np.linalg.qr(rng.normal(size=(hidden, r)))
    a = np.sqrt(u0)
    return (o * a) @ V.T, (U * a) @ o.T


def cnn_mode_rate(v: np.ndarray, s: float, kernel_size: int, dims: int = 1) -> float:
    """Early exponential growth rate of a mode in a linear CNN with ``k``-tap kernels.

    Near zero weights, training a single mode ``Σyx = s u vᵀ`` is gradient flow on the bilinear
    form ``s ⟨R, u vᵀ Circ(κ)ᵀ⟩``; its growth rate is the largest singular value of the linear map
    ``κ ↦ s Circ(κ) v``, i.e.::

        σ(k) = s · σ_max([v, S v, S² v, …, S^{k−1} v])

    (``S`` the cyclic shift). For ``k = N`` this is ``s max_f |DFT(v)_f|``: the dominant frequency
    alone sets the rate, ``≈ s √(N p_max / 2)`` for a share ``p_max`` at one frequency
    ``0 < f < N/2``. For ``k = 1`` it is ``s``, as in a fully connected network. Mode strengths
    grow like ``e^{2σt}`` in the balanced regime, so half-times scale roughly like ``1/σ``.

    In 2D the shifts run over the ``k × k`` taps: ``σ = s σ_max([S^{(j1, j2)} v])``.

    Parameters
    ----------
    v : ndarray, shape (N,) or (N²,) for ``dims=2``
        Unit input mode.
    s : float, ``> 0``
    kernel_size : int, ``1 <= k <= N``
    dims : {1, 2}
    """
    v = as_array("v", v, ndim=1)
    s = check_real("s", s, positive=True)
    dims = check_int("dims", dims, minimum=1, maximum=2)
    if dims == 1:
        k = check_int("kernel_size", kernel_size, minimum=1, maximum=v.size)
        shifts = np.stack([np.roll(v, j) for j in range(k)], axis=1)
    else:
        n = int(round(np.sqrt(v.size)))
        if n * n != v.size:
            raise ValueError(f"v has {v.size} entries which is invalid: must be a square for dims=2")
        k = check_int("kernel_size", kernel_size, minimum=1, maximum=n)
        img = v.reshape(n, n)
        shifts = np.stack([np.roll(img, (i, j), axis=(0, 1)).ravel() for i in range(k) for j in range(k)], axis=1)
    return float(s * np.linalg.norm(shifts, 2))
