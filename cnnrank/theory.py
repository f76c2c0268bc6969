r"""What the theory predicts (docs/theory.md §6), as functions of a configuration, and a report that
puts a run's measured values next to the predictions, each with a tolerance and a verdict.

Four kinds of prediction live here:

* the benign/harmful criterion ``(n/2K)·SNR^q ≳ 1`` (:func:`benign_indicator`, :func:`regime`,
  :func:`benign_limit`);
* the stable rank of the data, derived exactly in the proportional limit
  (:func:`expected_data_stable_rank`, :func:`expected_patch_stable_rank`);
* the stable rank of the learned part of the filters, ``2K / (1 + (K−1) c)``
  (:func:`expected_filter_stable_rank`);
* the time ``T_1`` of signal learning (:func:`signal_learning_time`).

The remaining scaling laws of docs/theory.md §6 (:func:`time_to_loss`, :func:`lr_bound`,
:func:`noise_takeoff`) hold "up to constants and log factors" and are given with constants set to 1.
No constant in this module is fitted to runs.

The benign/harmful criterion (derivation)
-----------------------------------------
Cao et al. (2022) compare, for one signal seen by every sample, the growth of signal learning ``γ``
(every sample pushes it, rate ∝ ``n ‖μ‖^q``) with that of noise memorization ``ρ`` (each noise patch is
pushed by its own sample only, rate ∝ ``(σ_p √d)^q``); signal wins when ``n·SNR^q ≳ 1`` with
``SNR = ‖μ‖ / (σ_p √d)`` (:attr:`cnnrank.SignalNoiseModel.snr`). Here each of the ``2K`` signals is
carried by only about ``n/(2K)`` samples, so the criterion is

    I = (n / 2K) · SNR^q ≳ 1        (benign)        I ≲ 1        (harmful),

and the noise level where ``I = 1`` is ``σ_p* = (n/2K)^{1/q} ‖μ‖ / √d`` (:func:`benign_limit`). On
n=128, d=2000, K=4, ‖μ‖=5, q=3 this is σ_p* ≈ 0.28, where the measured test accuracy falls from 1.

Learned-part stable rank (derivation)
-------------------------------------
In the benign regime the learned part of the filters lies in the signal span (projected noise makes
``γ_{j,r,k} = ⟨w_{j,r} − w_{j,r}(0), μ_k⟩`` exact):

    W − W(0) ≈ Σ_k g_k μ_kᵀ / ‖μ_k‖,     g_k = γ_{:,:,k} / ‖μ‖ ∈ R^{2m}

(``g_k`` the k-th column of ``γ/‖μ‖``, the ``2m`` filters stacked). The ``μ_k/‖μ_k‖`` are orthonormal,
so the non-zero eigenvalues of ``(W − W(0))(W − W(0))ᵀ`` are those of the ``2K × 2K`` Gram matrix
``[⟨g_k, g_l⟩]``. A filter grows only on its own class's signals (for the other class ``−ℓ' y j < 0``
and ``σ'`` vanishes once the correlation is negative), so ``g_k`` of a class-+1 signal is supported on
the class-+1 filters and the Gram matrix is block-diagonal by class. If the ``K`` own-class columns
have equal norm ``a`` and pairwise cosine ``c``, a block is ``a²[(1 − c) I + c 11ᵀ]``, with eigenvalue
``a²(1 + (K−1)c)`` once and ``a²(1 − c)`` ``K−1`` times. Both blocks together have trace ``2K a²`` and
largest eigenvalue ``a²(1 + (K−1)c)`` (for ``c ≥ 0``), hence

    srank(W − W(0)) = 2K / (1 + (K−1) c).

Columns of unequal norm only raise the largest eigenvalue relative to the trace, so the measured
stable rank sits at or below the formula (measured 0.86–0.97 of it, see ``tests/test_theory_runs.py``).
``c`` is :attr:`Trajectory.signal_overlap`. For ``c < 0`` (allowed down to ``−1/(K−1)``, where the
block is still positive semi-definite; not seen in training, where the columns are non-negative) the
largest eigenvalue is ``a²(1 − c)`` instead, so in general

    srank = 2K / max(1 + (K−1) c, 1 − c),

which :func:`expected_filter_stable_rank` returns; for ``c ≥ 0`` it is ``2K / (1 + (K−1) c)``.

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
(and ``q > 2``) ``σ'(0) = 0`` and signal learning never starts (``T_1 = ∞``). The measured ``T_1`` is
later than this by a factor 1.1–1.4 on the test configurations because ``−ℓ'`` falls below 1/2 as
the margins grow and because records are taken every ``record_every`` steps.

Expected stable rank of the data (derivation)
---------------------------------------------
Write the sample matrix ``A`` (n × Pd). Its signal and background blocks sit in orthogonal
coordinates (projected noise), so ``A Aᵀ = S + N Nᵀ`` with

* ``S`` of rank ``g`` (``g = 2K`` signal groups for a fixed signal position, ``2KP`` for a random one),
  a group of ``n_g`` samples sharing one signal patch contributing an eigenvalue ``‖μ‖² n_g``; the
  largest, ``s² = ‖μ‖² max_g n_g``, matters (``n/2K`` when balanced with a fixed position, else the
  expected maximum of multinomial counts, :func:`expected_max_group`);
* ``N`` an ``n × D`` Gaussian matrix of entry variance ``σ_p²``, ``D = (P-1) d_eff`` with
  ``d_eff = d - 2K`` (projected) or ``d``.

Numerator: ``E‖A‖_F² = n‖μ‖² + n σ_p² D``. Denominator: the top eigenvalue of a Wishart matrix
with an additive spike. In units of ``σ_p² D``, ``NNᵀ/(σ_p² D)`` has the Marchenko–Pastur law of
ratio ``c = n/D`` (R-transform ``1/(1 - c w)``), and a spike of size ``ℓ = s²/(σ_p² D)`` produces an
outlier ``ℓ + ℓ/(ℓ - c)`` when ``ℓ > c + √c``, otherwise the top eigenvalue sticks to the edge
``(1 + √c)²`` (Benaych-Georges & Nadakuditi 2011). (With a random signal position the background
blocks of two rows overlap in ``(P-1)²/P`` blocks on average, which makes ``c = n/(P d_eff)``.) Hence

.. math::
    \mathrm{E\,srank}(A) \approx \frac{n\|\mu\|^2 + n\sigma_p^2 D}
    {\sigma_p^2 D\,\max\big(\ell + \ell/(\ell - c)\ \text{if}\ \ell > c+\sqrt c,\ (1+\sqrt c)^2\big)},

which is ``n / max_g n_g`` (``= 2K`` balanced) at ``σ_p = 0`` and tends to ``n·D/(√D + √n)²`` (≈ ``n`` when ``D ≫ n``) for large noise.
The patch matrix (nP × d) is block diagonal in the same sense (signal rows and noise rows are
orthogonal), so its top eigenvalue is ``max(‖μ‖² max_k n_k, σ_p² (√d_eff + √(n(P-1)))²)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cnnrank._validation import as_array, check_int, check_real
from cnnrank.activations import Activation, HuberizedReLU, PolyReLU
from cnnrank.data import SignalNoiseModel
from cnnrank.subspace import BENIGN_ENERGY_FRACTION, measured_regime

__all__ = [
    "Prediction",
    "RunConfigLike",
    "benign_indicator",
    "benign_limit",
    "clean_rank",
    "compare",
    "expected_data_stable_rank",
    "expected_filter_stable_rank",
    "expected_patch_stable_rank",
    "format_report",
    "lr_bound",
    "measured_signal_learning_time",
    "noise_takeoff",
    "predictions",
    "regime",
    "signal_dominance_limit",
    "signal_learning_time",
    "snr",
    "time_to_loss",
    "verdict",
]


@runtime_checkable
class RunConfigLike(Protocol):
    """What the predictions read from a configuration: :class:`cnnrank.experiments.RunConfig`.

    (This module sits below the experiments layer, docs/architecture.md, so it names the interface
    instead of importing the class.) The data-model fields are read from :meth:`model`.
    """

    @property
    def n(self) -> int: ...
    @property
    def m(self) -> int: ...
    @property
    def init_std(self) -> float: ...
    @property
    def lr(self) -> float: ...
    @property
    def activation(self) -> str: ...
    @property
    def record_every(self) -> int: ...
    def model(self) -> SignalNoiseModel: ...
    def make_activation(self) -> Activation: ...


#: the largest ``draws`` of :func:`expected_max_group` (each draw is one pass over ``n`` samples)
MAX_DRAWS = 10**6


def _cfg(config: RunConfigLike) -> tuple[RunConfigLike, SignalNoiseModel]:
    """``(config, its data model)``; ``TypeError`` unless ``config`` is a RunConfig (or quacks like one)."""
    if not isinstance(config, RunConfigLike):
        raise TypeError(f"config={type(config).__name__} is invalid: must be a RunConfig "
                        "(cnnrank.experiments.RunConfig)")
    return config, config.model()


def _power(config: RunConfigLike) -> float:
    """The power ``q`` of the configuration's activation; ``ValueError`` naming the activation when it
    declares none (a registered activation without ``power=``)."""
    q = config.make_activation().power
    if q is None:
        raise ValueError(f"activation={str(config.activation)!r} is invalid here: it declares no power q, which "
                         "this prediction needs (docs/theory.md §4); register it with power=q "
                         "(cnnrank.register_activation)")
    return float(q)


def _d_eff(model: SignalNoiseModel) -> int:
    """Background dimension of a patch: ``d - 2K`` with projected noise, else ``d``."""
    return model.d - 2 * model.K if model.project_noise else model.d


def snr(config: RunConfigLike) -> float:
    """Cao et al.'s ``SNR = ‖μ‖ / (σ_p √d)`` (``inf`` without noise): :attr:`SignalNoiseModel.snr`."""
    return float(_cfg(config)[1].snr)


def benign_indicator(config: RunConfigLike) -> float:
    """``(n / 2K) · SNR^q`` with ``q`` the activation's power: benign overfitting when ``≳ 1``.

    Each of the ``2K`` signals is carried by about ``n/(2K)`` samples (module doc, docs/theory.md §4).
    ``inf`` without noise.
    """
    c, model = _cfg(config)
    s = model.snr
    if math.isinf(s):
        return float("inf")
    # in float64: SNR^q over- or underflows for extreme ‖μ‖ / σ_p (inf / 0 are then the limits)
    with np.errstate(over="ignore", under="ignore"):
        return float(c.n / (2 * model.K) * np.float64(s) ** _power(c))


def benign_limit(config: RunConfigLike) -> float:
    """The noise level ``σ_p* = (n/2K)^{1/q} ‖μ‖ / √d`` at which :func:`benign_indicator` equals 1.

    Benign below it, harmful above (up to a constant factor: stay a factor away to be sure).
    """
    c, model = _cfg(config)
    with np.errstate(over="ignore"):
        return float(np.float64(c.n / (2 * model.K)) ** (1.0 / _power(c)) * model.signal_norm / np.sqrt(model.d))


def regime(config: RunConfigLike) -> str:
    """``"benign"`` if ``(n/2K) · SNR^q >= 1`` (i.e. ``σ_p <= benign_limit``) else ``"harmful"``.

    The criterion is derived for activations with a power head ``q > 2``; for ReLU or ``q = 2`` it
    is an extrapolation (measured: ReLU at n=64, K=2, σ_p=0.8 is harmful although ``I ≈ 2.2``).
    """
    return "benign" if benign_indicator(config) >= 1.0 else "harmful"


def noise_takeoff(config: RunConfigLike) -> float:
    """``σ_p`` at which the background carries as much energy as the signal: ``‖μ‖/√((P-1) d_eff)``.

    Above it the data's stable rank is far from ``2K`` (docs/theory.md §6).
    """
    model = _cfg(config)[1]
    return float(model.signal_norm / np.sqrt((model.patches - 1) * _d_eff(model)))


def signal_dominance_limit(config: RunConfigLike) -> float:
    """Upper noise level for signal learning to dominate: the same number as :func:`benign_limit`."""
    return benign_limit(config)


def clean_rank(config: RunConfigLike) -> int:
    """Rank (and, balanced, stable rank) of the clean data: ``2K`` (``2KP`` with a random position)."""
    model = _cfg(config)[1]
    return 2 * model.K * (model.patches if model.signal_position == "random" else 1)


def expected_filter_stable_rank(K: int, overlap: Any) -> np.ndarray | float:
    """Stable rank of the learned part ``W − W(0)`` in the benign regime: ``2K / (1 + (K−1) c)``.

    Derived in the module docstring (docs/theory.md §5) for equal-norm own-class signal columns of
    ``γ`` with pairwise cosine ``c``; in general ``2K / max(1 + (K−1)c, 1 − c)``, which is the formula
    above for ``c >= 0``. Unequal column norms lower the measured value.

    Parameters
    ----------
    K : int >= 1
        Signals per class.
    overlap : float or array_like
        Within-class cosine ``c`` in ``[−1/(K−1), 1]`` (any finite value in [-1, 1] when ``K = 1``,
        which gives 2), e.g. :attr:`Trajectory.signal_overlap`.

    Returns
    -------
    float, or ndarray of the shape of ``overlap``

    Examples
    --------
    >>> expected_filter_stable_rank(4, 0.0), expected_filter_stable_rank(4, 1.0)
    (8.0, 2.0)
    """
    if isinstance(K, (bool, np.bool_)) or not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"K={K!r} is invalid: must be an integer >= 1")
    K = int(K)
    c = np.asarray(overlap, dtype=float)
    if not np.all(np.isfinite(c)):
        raise ValueError(f"overlap={overlap!r} is invalid: must be finite")
    low = -1.0 / (K - 1) if K > 1 else -1.0
    if np.any(c < low - 1e-12) or np.any(c > 1.0 + 1e-12):
        raise ValueError(f"overlap={overlap!r} is invalid: must lie in [{low:.6g}, 1] for K={K} "
                         f"(a cosine, and the K×K Gram block must stay positive semi-definite)")
    c = np.clip(c, low, 1.0)
    top = np.maximum(1.0 + (K - 1) * c, 1.0 - c) if K > 1 else np.ones_like(c)
    out = 2.0 * K / top
    return float(out) if out.ndim == 0 else out


def expected_max_group(config: RunConfigLike, by_position: bool = True, draws: int = 200) -> float:
    """Expected size of the largest group of samples sharing one signal patch.

    A group is a signal (and, with ``by_position`` and a random signal position, a position). For
    balanced data with a fixed position it is exactly ``⌈n / 2K⌉``-ish; otherwise the group sizes
    are multinomial, and the mean of the maximum is estimated from ``draws`` draws of the model's own
    label/position law with a fixed internal seed (so the prediction is deterministic).

    ``draws`` is an integer in ``[1, 10^6]``; ``by_position`` is True or False.
    """
    c, model = _cfg(config)
    if not isinstance(by_position, (bool, np.bool_)):
        raise ValueError(f"by_position={by_position!r} is invalid: must be True or False")
    draws = check_int("draws", draws, minimum=1, maximum=MAX_DRAWS)
    rng = np.random.default_rng(20240415)
    random_pos = by_position and model.signal_position == "random"
    if model.balanced and not random_pos:
        _, ids = model.draw_classes(c.n, rng)
        return float(np.bincount(ids).max())
    tops = np.empty(draws)
    for t in range(draws):
        _, ids = model.draw_classes(c.n, rng)
        groups = ids * model.patches + rng.integers(0, model.patches, c.n) if random_pos else ids
        tops[t] = np.bincount(groups).max()
    return float(tops.mean())


def _spiked_top(ell: float, cratio: float) -> float:
    edge = (1.0 + np.sqrt(cratio)) ** 2
    if ell > cratio + np.sqrt(cratio):
        return max(ell + ell / (ell - cratio), edge)
    return edge


def _noise_levels(noise_std: Any, default: float) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """``noise_std`` (default ``default``) as a flat float array, checked finite and ``>= 0``, and the
    shape to give the result (``None`` for a scalar: a float is returned)."""
    value = default if noise_std is None else noise_std
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"noise_std={noise_std!r} is invalid: must be a number or an array of numbers >= 0")
    try:
        sig = as_array("noise_std", value, finite=False)
    except ValueError as exc:  # strings, objects, complex: one line naming noise_std
        raise ValueError(f"noise_std={noise_std!r:.60} is invalid: must be a number or an array of numbers "
                         f">= 0 ({str(exc).split(': ', 1)[-1]})") from None
    if sig.size and (not np.all(np.isfinite(sig)) or np.any(sig < 0)):
        bad = sig[~(np.isfinite(sig) & (sig >= 0))].ravel()[0]
        raise ValueError(f"noise_std={noise_std!r:.60} is invalid: every level must be finite and >= 0 "
                         f"(found {float(bad)!r})")
    return sig.ravel(), (None if sig.ndim == 0 else sig.shape)


def _shaped(out: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray | float:
    return float(out[0]) if shape is None else out.reshape(shape)


def expected_data_stable_rank(config: RunConfigLike, noise_std: Any = None) -> np.ndarray | float:
    """Predicted stable rank of the n × Pd sample matrix as a function of ``σ_p`` (see module doc).

    Parameters
    ----------
    config : RunConfig
    noise_std : float or array of any shape, optional
        Noise levels, each finite and ``>= 0`` (default: ``config.noise_std``).

    Returns
    -------
    float for a scalar ``noise_std``, else an array of its shape (elementwise)

    The prediction depends on ``σ_p`` only through ``‖μ‖ / σ_p``: it is computed from that ratio,
    so that no square under- or overflows at extreme levels (``σ_p = 1e-200`` or ``1e200``).
    """
    c, model = _cfg(config)
    sig, shape = _noise_levels(noise_std, model.noise_std)
    n, mu = c.n, np.float64(model.signal_norm)
    D = (model.patches - 1) * _d_eff(model)
    G = expected_max_group(c, by_position=True)
    # With a random signal position the background of a row fills P - 1 of P blocks that vary from
    # row to row: off-diagonal entries of NNᵀ then have variance σ⁴ d_eff (P-1)²/P instead of σ⁴ D,
    # i.e. the Marchenko-Pastur ratio is n / (P d_eff) rather than n / D.
    D_spread = model.patches * _d_eff(model) if model.signal_position == "random" else D
    out = np.empty_like(sig)
    for i, s in enumerate(sig):  # one level at a time: a scalar formula per level
        with np.errstate(over="ignore", under="ignore"):
            r = (mu / s) ** 2 if s > 0 else np.float64(math.inf)  # ‖μ‖² / σ²
            ell, num = r * G / D, n * r + n * D  # the spike in units of σ² D; num / σ²
        if math.isinf(ell) or math.isinf(num):
            # no noise, or noise far below the signal: the outlier is ℓ (1 + 1/(ℓ − c)) → ℓ, and
            # num / (D ℓ) = (n / G)(1 + D / r)
            out[i] = n / G * (1.0 + D / r) if mu > 0 else 0.0
            continue
        # num / (σ² D · top) with num = n ‖μ‖² + n σ² D, divided through by σ²
        out[i] = num / (D * _spiked_top(ell, n / D_spread))
    return _shaped(out, shape)


def expected_patch_stable_rank(config: RunConfigLike, noise_std: Any = None) -> np.ndarray | float:
    """Predicted stable rank of the nP × d patch matrix (block-diagonal argument, module doc).

    ``noise_std``: as in :func:`expected_data_stable_rank` (finite levels ``>= 0`` of any shape;
    a float for a scalar). Computed with ``σ_p`` and ``‖μ‖`` divided by the larger of the two.
    """
    c, model = _cfg(config)
    sig, shape = _noise_levels(noise_std, model.noise_std)
    n, mu, de = c.n, model.signal_norm, _d_eff(model)
    rows = n * (model.patches - 1)
    u = np.maximum(sig, mu)
    safe = np.where(u > 0, u, 1.0)
    with np.errstate(under="ignore"):
        a2, b2 = (mu / safe) ** 2, (sig / safe) ** 2  # ‖μ‖²/u² and σ²/u², both <= 1
    num = n * a2 + rows * b2 * de
    top = np.maximum(a2 * expected_max_group(c, by_position=False), b2 * (np.sqrt(de) + np.sqrt(rows)) ** 2)
    out = np.where((u > 0) & (top > 0), num / np.where(top > 0, top, 1.0), 0.0)
    return _shaped(out, shape)


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
    mu, K = np.float64(model.signal_norm), model.K
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

    Raises ``ValueError`` where :func:`signal_learning_time` does (``q <= 2``).
    """
    c, model = _cfg(config)
    eps = check_real("eps", eps, positive=True)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        return float(signal_learning_time(c) + c.m**3 / (np.float64(c.lr) * eps * np.float64(model.signal_norm)**2))


def lr_bound(config: RunConfigLike) -> float:
    """``min(‖μ‖⁻², (σ_p² d)⁻¹)``: the theorems assume ``η`` below this (up to constants)."""
    model = _cfg(config)[1]
    mu, sp = np.float64(model.signal_norm), np.float64(model.noise_std)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):  # extreme scales: 0 or inf, the limits
        a = np.inf if mu == 0 else 1.0 / mu**2
        b = np.inf if sp == 0 else 1.0 / (sp**2 * model.d)
    return float(min(a, b))


def verdict(predicted: float, measured: float | None, tolerance: float) -> str:
    """``"agrees"`` if ``max(measured/predicted, predicted/measured) <= tolerance``, else
    ``"off by a factor X"``; ``"does not apply"`` for a NaN prediction and ``"not measured"`` for
    ``measured=None``.

    Parameters
    ----------
    predicted, measured : float
    tolerance : float >= 1
        The largest acceptable factor (1.1 = within 10%, 2 = within a factor 2, 1 = exact).
    """
    tolerance = check_real("tolerance", tolerance, minimum=1.0)
    if predicted is None or (isinstance(predicted, float) and math.isnan(predicted)):
        return "does not apply"
    if measured is None or math.isnan(measured):
        return "not measured"
    p, x = float(predicted), float(measured)
    if p == x:
        return "agrees"
    if p == 0 or x == 0 or (p < 0) != (x < 0):
        return "off by a factor inf"
    factor = max(x / p, p / x)
    return "agrees" if factor <= tolerance * (1 + 1e-12) else f"off by a factor {factor:.3g}"


@dataclass(frozen=True)
class Prediction:
    """One row of the prediction-versus-measurement report.

    ``tolerance`` is the largest acceptable factor between measured and predicted (``None`` for a row
    with nothing to check); ``verdict`` is ``"agrees"``, ``"off by a factor X"``, ``"disagrees"`` (a
    categorical prediction), ``"does not apply"`` (the prediction's assumptions fail, the note says
    which), ``"not measured"`` or ``"—"`` (information only).
    """

    quantity: str
    predicted: float
    measured: float | None
    note: str
    tolerance: float | None = None
    verdict: str = "—"


def predictions(config: RunConfigLike) -> dict[str, float | str]:
    """All predictions for ``config`` as a flat dict (``nan`` where one does not apply)."""
    try:
        t1 = signal_learning_time(config)
    except ValueError:
        t1 = float("nan")
    return {
        "snr": snr(config),
        "benign_indicator": benign_indicator(config),
        "benign_limit": benign_limit(config),
        "regime": regime(config),
        "noise_takeoff": noise_takeoff(config),
        "signal_dominance_limit": signal_dominance_limit(config),
        "clean_rank": clean_rank(config),
        "expected_data_stable_rank": float(expected_data_stable_rank(config)),
        "expected_patch_stable_rank": float(expected_patch_stable_rank(config)),
        "expected_filter_stable_rank_uncorrelated": float(expected_filter_stable_rank(_cfg(config)[1].K, 0.0)),
        "signal_learning_time": t1,
        "lr_bound": lr_bound(config),
    }


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


#: tolerances of :func:`compare` (factors; see docs/theory.md §6 for the measurements behind them)
TOL_DATA_RANK = 1.1        # formula within 1.2-5.5% of the Monte Carlo mean; one draw fluctuates a few %
TOL_LEARNED_DIM = 1.0      # an integer count: exact
TOL_LEARNED_SRANK = 1.2    # unequal column norms lower it: measured 0.77–0.97 of the formula
TOL_ENERGY = 2.0           # benign means fraction >= 0.5, i.e. within a factor 2 of 1
TOL_T1 = 2.0               # derived with ℓ' = −1/2 frozen; measured 1.1–1.4 times later
_NEAR_BOUNDARY = 2.0       # |log I| < log 2: the criterion has unknown constants, no verdict there


def _run_regime(test_acc: float | None, energy_fraction: float | None) -> str | None:
    """:func:`cnnrank.subspace.measured_regime` of one run (``None`` without a test set; without the
    energy fraction, i.e. data without signals, only the accuracy is checked)."""
    if test_acc is None:
        return None
    energy = BENIGN_ENERGY_FRACTION if energy_fraction is None else energy_fraction
    return str(measured_regime(test_acc, energy))


def _last(a: Any) -> float | None:
    return None if a is None else float(np.asarray(a)[-1])


def compare(config: RunConfigLike, outcome: Any) -> list[Prediction]:
    """Predictions next to a run's measurements, with tolerance and verdict.

    ``outcome`` from :func:`cnnrank.experiments.run_once`. Rows about the learned filters (learned
    dimension, learned stable rank, signal energy fraction, ``T_1``) do not apply in the predicted
    harmful regime, where the network memorizes noise instead; ``T_1`` does not apply for ``q <= 2``.
    The regime row has no verdict within a factor 2 of the boundary ``I = 1``, nor for ``q <= 2``
    (the criterion is derived for ``q > 2``); then the learned-filter rows apply when the run is
    *measured* benign (:func:`cnnrank.subspace.measured_regime`).
    """
    c, model = _cfg(config)
    traj, ranks = outcome.trajectory, outcome.data_ranks
    nan = float("nan")
    test_acc = _last(traj.test_acc)
    energy = _last(getattr(traj, "signal_energy_fraction", None))
    overlap = _last(getattr(traj, "signal_overlap", None))
    ldim = _last(getattr(traj, "learned_dimension", None))
    lsr = _last(getattr(traj, "learned_stable_rank", None))
    indicator = benign_indicator(c)
    q = _power(c)
    meas_reg = _run_regime(test_acc, energy)
    if q > 2:
        benign = regime(c) == "benign"
        harmful_note = "does not apply: predicted harmful (memorization, nothing learned)"
    else:  # the criterion is derived for q > 2: fall back on the measured regime
        benign = meas_reg == "benign"
        harmful_note = f"does not apply: q = {q:g} <= 2 and not measured benign"

    rows = []

    def row(name: str, pred: float, meas: float | None, note: str, tol: float | None) -> None:
        v = "—" if tol is None else verdict(pred, meas, tol)
        rows.append(Prediction(name, float(pred), meas, note, tol, v))

    row("data stable rank (n×Pd)", float(expected_data_stable_rank(c)), ranks["data_stable_rank"],
        "derived, proportional limit", TOL_DATA_RANK)
    row("patch stable rank (nP×d)", float(expected_patch_stable_rank(c)), ranks["patch_stable_rank"],
        "derived, proportional limit", TOL_DATA_RANK)
    row("learned dimension = 2K", 2.0 * model.K if benign else nan, ldim,
        "benign regime" if benign else harmful_note, TOL_LEARNED_DIM)
    srank_pred = nan
    if benign and overlap is not None:
        srank_pred = float(expected_filter_stable_rank(model.K, overlap))
    row("learned stable rank 2K/(1+(K−1)c)", srank_pred, lsr,
        (f"c = {overlap:.3g} (measured overlap)" if overlap is not None else "no overlap recorded")
        if benign else harmful_note, TOL_LEARNED_SRANK)
    row("signal energy fraction (≥ 0.5)", 1.0 if benign else nan, energy,
        "benign: learned part in the signal span" if benign else harmful_note, TOL_ENERGY)
    try:
        t1 = signal_learning_time(c) if benign else nan
        t1_note = (f"derived, no fitted constant; records every {c.record_every} steps" if benign
                   else harmful_note)
    except ValueError:
        t1, t1_note = nan, f"does not apply: q = {_power(c):g} <= 2"
    t1_meas = measured_signal_learning_time(traj)
    name = "T_1 (steps to max γ ≥ 1)"
    if t1_meas is None and not math.isnan(t1) and traj.steps[-1] >= TOL_T1 * t1:
        rows.append(Prediction(name, t1, None, t1_note, TOL_T1,
                               f"off by a factor > {traj.steps[-1] / t1:.3g} (never reached)"))
    else:
        row(name, t1, t1_meas, t1_note, TOL_T1)

    if meas_reg is None:
        reg_verdict = "not measured"
    elif q <= 2:
        reg_verdict = "does not apply"
    elif 1.0 / _NEAR_BOUNDARY < indicator < _NEAR_BOUNDARY:
        reg_verdict = "does not apply"
    else:
        reg_verdict = "agrees" if meas_reg == regime(c) else "disagrees"
    rows.append(Prediction("(n/2K)·SNR^q (benign if ≳ 1)", indicator, test_acc,
                           f"predicted {regime(c)}, measured {meas_reg}; measured column: test accuracy"
                           + ("" if reg_verdict != "does not apply" else
                              f"; q = {q:g} <= 2, criterion derived for q > 2" if q <= 2 else
                              "; within a factor 2 of the boundary"),
                           None, reg_verdict))
    rows.append(Prediction("σ_p* = benign limit", benign_limit(c), model.noise_std,
                           "measured column: this run's σ_p"))
    rows.append(Prediction("σ_p takeoff of data rank", noise_takeoff(c), model.noise_std,
                           "measured column: this run's σ_p"))
    bound = lr_bound(c)
    rows.append(Prediction("lr bound min(‖μ‖⁻², (σ_p² d)⁻¹)", bound, c.lr,
                           "measured column: this run's η; the theorems assume η below the bound",
                           None, "agrees" if c.lr <= bound else f"η above it by a factor {c.lr / bound:.3g}"))
    return rows


def format_report(rows: list[Prediction]) -> str:
    """The report as a plain-text table (quantity, predicted, measured, tolerance, verdict, note)."""
    w = max(len(r.quantity) for r in rows)
    vw = max(len("verdict"), *(len(r.verdict) for r in rows))
    lines = [f"{'quantity':<{w}}  {'predicted':>11}  {'measured':>11}  {'tolerance':>9}  {'verdict':<{vw}}  note",
             "-" * (w + vw + 60)]
    for r in rows:
        pred = "—" if math.isnan(r.predicted) else f"{r.predicted:11.4g}"
        meas = "—" if r.measured is None else f"{r.measured:11.4g}"
        tol = "—" if r.tolerance is None else f"×{r.tolerance:g}"
        lines.append(f"{r.quantity:<{w}}  {pred:>11}  {meas:>11}  {tol:>9}  {r.verdict:<{vw}}  {r.note}")
    return "\n".join(lines)
