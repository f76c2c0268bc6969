r"""The learning times (docs/theory.md §6): the predicted and measured time ``T_1`` of signal
learning, the time to a training loss and the learning-rate bound of the theorems (constants set to 1;
nothing fitted).

Signal learning time (derivation)
---------------------------------
Early in training every output is small, ``ℓ'_i ≈ −1/2``. Take a filter ``(j, r)`` and a signal ``μ_k``
of its own class and write ``a = ⟨w_{j,r}, μ_k⟩``. By the update of docs/theory.md §4, only the
``n_k ≈ n/(2K)`` samples carrying ``μ_k`` move ``a``; with label noise ``p`` a fraction ``p`` of them
push the wrong way, so per step

    Δa = (η / (n m)) · (1/2) · n_k (1 − 2p) · σ'(a) · ‖μ‖² = A σ'(a),     A = η ‖μ‖² (1 − 2p) / (4 K m).

(One signal seen by every sample would have ``n_k = n``: the 2K signals slow it by the factor 2K.)
With the Huberized ReLU ``σ'(a) = (a/κ)^{q−1}`` below ``κ`` and 1 above, so ``da/dt = A (a/κ)^{q−1}``
gives, for ``q > 2``, the time to go from ``a_0`` to ``b ≤ κ``

    t(a_0 → b) = κ^{q−1} (a_0^{2−q} − b^{2−q}) / (A (q − 2)),

after which ``a`` grows linearly at rate ``A``. The polynomial ReLU ``max(z,0)^q`` has
``σ'(a) = q a^{q−1}`` everywhere: ``t = (a_0^{2−q} − b^{2−q}) / (A q (q − 2))``. ``T_1`` is the first step at
which some own-class ``γ = a − a_0`` reaches ``level`` (:func:`measured_signal_learning_time`), i.e.
``b = a_0 + level`` for the filter–signal pair with the largest start. The starts are ``2mK``
independent ``N(0, σ_0² ‖μ‖²)`` draws (``m`` filters × ``K`` own signals, two classes); the time is
decreasing in ``a_0``, so the median of ``T_1`` is the time from the median of the maximum,
``a_0 = σ_0 ‖μ‖ Φ⁻¹(2^{−1/(2mK)})``. Nothing is fitted. For ``q ≤ 2`` the head is not a power above
1 (ReLU, ``q = 2`` grows exponentially from any start) and the formula does not apply; for ``σ_0 = 0``
(and ``q > 2``) ``σ'(0) = 0`` and signal learning never starts (``T_1 = ∞``). The measured ``T_1`` was
0.82–1.45 times this on the configurations of docs/theory.md §6.5: ``−ℓ'`` falls below 1/2 as the
margins grow, records are taken every ``record_every`` steps, and the largest start varies from seed
to seed around the median used here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnnrank._validation import check_real
from cnnrank.activations import Activation, HuberizedReLU, PolyReLU
from cnnrank.theory._config import RunConfigLike, _cfg, _power, _signal_norm


def _max_start(N: int) -> float:
    """Median of the maximum of ``N`` i.i.d. standard normals: ``Φ⁻¹(2^{−1/N})``."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 ** (1.0 / N)))


def signal_learning_time(config: RunConfigLike, level: float = 1.0) -> float:
    """Median number of steps until some filter's own-class ``γ`` reaches ``level`` (module doc).

    ``T_1 = t(a_0 → a_0 + level)`` with ``a_0 = σ_0 ‖μ‖ Φ⁻¹(2^{−1/(2mK)})``, rate
    ``A = η ‖μ‖² (1 − 2p) / (4 K m)`` and, for the Huberized ReLU of threshold ``κ``,
    ``t(a_0 → b) = κ^{q−1}(a_0^{2−q} − min(b,κ)^{2−q}) / (A(q−2)) + max(b − max(a_0, κ), 0) / A``
    (polynomial ReLU: ``(a_0^{2−q} − b^{2−q}) / (A q (q−2))``). No constant is fitted.
    It is comparable with :func:`measured_signal_learning_time` at the same ``level``.

    Raises
    ------
    ValueError
        For an activation whose head is not a power ``q > 2`` (ReLU, ``huber2``, ``poly2``): the
        derivation needs ``σ'(z) ∝ z^{q−1}`` with ``q > 2``.

    Returns ``inf`` when ``σ_0 = 0`` or ``‖μ‖ = 0`` (signal learning never starts).

    With unequal ``signal_norms`` the formula reads the strongest signal's ``max_k ‖μ_k‖``: the first
    signal to reach ``level`` is, up to the spread of the starts, the strongest one (docs/theory.md,
    "Unequal signal norms"); per-signal times are those of the race (:mod:`cnnrank.race`).
    """
    c, model = _cfg(config)
    level = check_real("level", level, positive=True)
    q = _power(c)
    if q <= 2:
        raise ValueError(
            f"signal_learning_time is invalid for q={q:g} (activation {c.activation!r}): the formula "
            "T_1 needs an activation head σ'(z) ∝ z^(q-1) with q > 2 (docs/theory.md §6)")
    act = c.make_activation()
    if not isinstance(act, (HuberizedReLU, PolyReLU)):
        raise ValueError(f"signal_learning_time is invalid for activation {str(c.activation)!r}: the formula T_1 "
                         "integrates the head of huber<q> or poly<q> exactly (docs/theory.md §6); a declared "
                         "power alone does not fix its constant")
    mu, K = np.float64(_signal_norm(model, "max")), model.K  # unequal norms: the first (strongest) signal
    if c.init_std == 0 or mu == 0:
        return float("inf")
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        t1 = _learning_time(act, q, np.float64(c.lr), mu, np.float64(c.init_std), K, c.m, model.label_noise, level)
    if math.isnan(t1) or t1 < 0:
        raise ValueError(f"config={c!r:.80} is invalid for signal_learning_time: its scales (lr, signal_norm, "
                         f"init_std) put T_1 outside what float64 can evaluate")
    return t1


def _learning_time(act: Activation, q: float, lr: np.float64, mu: np.float64, init_std: np.float64, K: int,
                   m: int, label_noise: float, level: float) -> float:
    """The formula of :func:`signal_learning_time` in float64 arithmetic (overflow gives ``inf``)."""
    rate = lr * mu**2 * (1.0 - 2.0 * label_noise) / (4.0 * K * m)
    a0 = init_std * mu * _max_start(2 * m * K)
    if a0 <= 0:  # only for 2mK = 1 (median start 0)
        return float("inf")
    b = a0 + level
    kappa = getattr(act, "kappa", None)
    if kappa is None:  # polynomial ReLU: σ'(z) = q z^(q-1) everywhere
        return float((a0 ** (2 - q) - b ** (2 - q)) / (rate * q * (q - 2)))
    head_end = min(b, kappa)
    head = np.float64(kappa) ** (q - 1) * (a0 ** (2 - q) - head_end ** (2 - q)) / (rate * (q - 2)) if a0 < head_end else 0.0
    beyond = max(b - max(a0, kappa), 0.0)
    tail = beyond / rate if beyond > 0 else 0.0
    return float(head + tail)


def time_to_loss(config: RunConfigLike, eps: float) -> float:
    """``T ≈ T_1 + m³ / (η ε ‖μ‖²)`` steps to training loss ``ε`` (second term: constants set to 1).

    Raises ``ValueError`` where :func:`signal_learning_time` does (``q <= 2``). With unequal
    ``signal_norms`` the second term reads the weakest signal's norm (the loss waits for it).
    """
    c, model = _cfg(config)
    eps = check_real("eps", eps, positive=True)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        mu = np.float64(_signal_norm(model, "min"))
        return float(signal_learning_time(c) + c.m**3 / (np.float64(c.lr) * eps * mu**2))


def lr_bound(config: RunConfigLike) -> float:
    """``min(‖μ‖⁻², (σ_p² d)⁻¹)``: the theorems assume ``η`` below this (up to constants).

    With unequal ``signal_norms``, ``‖μ‖`` is the strongest signal's ``max_k ‖μ_k‖`` (the bound must
    hold for every signal)."""
    model = _cfg(config)[1]
    mu, sp = np.float64(_signal_norm(model, "max")), np.float64(model.noise_std)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):  # extreme scales: 0 or inf, the limits
        a = np.inf if mu == 0 else 1.0 / mu**2
        b = np.inf if sp == 0 else 1.0 / (sp**2 * model.d)
    return float(min(a, b))


def measured_signal_learning_time(traj: Any, level: float = 1.0) -> float | None:
    """First recorded step at which ``max_{r,k} γ`` of the filters of the signal's own class
    reaches ``level`` (``None`` if never).

    Own class: filters ``j = +1`` (index 0) on the signals ``0..K−1`` and filters ``j = −1`` (index 1)
    on the signals ``K..2K−1``; ``traj.gamma`` has shape (R, 2, m, 2K).
    """
    if traj.gamma is None:
        return None
    K = traj.gamma.shape[-1] // 2
    own = np.maximum(traj.gamma[:, 0, :, :K].max(axis=(1, 2)), traj.gamma[:, 1, :, K:].max(axis=(1, 2)))
    hit = np.nonzero(own >= level)[0]
    return None if hit.size == 0 else float(traj.steps[hit[0]])
