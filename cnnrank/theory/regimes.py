r"""The benign/harmful criteria of a configuration (docs/theory.md §4): Cao et al.'s ``SNR``, the
published criterion of the activation (:mod:`cnnrank.criteria`), its indicator, the noise level where
it equals 1, the regime (benign, harmful or undecided), and the clean rank and noise take-off of the
data.

The benign/harmful criterion (derivation)
-----------------------------------------
Cao et al. (2022) compare, for one signal seen by every sample, the growth of signal learning ``γ``
(every sample pushes it, rate ∝ ``n ‖μ‖^q``) with that of noise memorization ``ρ`` (each noise patch is
pushed by its own sample only, rate ∝ ``(σ_p √d)^q``); signal wins when ``n·SNR^q ≳ 1`` with
``SNR = ‖μ‖ / (σ_p √d)`` (:attr:`cnnrank.SignalNoiseModel.snr`), for a power head ``q > 2``. Kou et al.
(2023) prove the ReLU's: ``n ‖μ‖⁴ ≳ σ_p⁴ d``. Here each of the ``2K`` signals is carried by only about
``n/(2K)`` samples, so ``n`` becomes ``n/2K`` (:func:`criterion`; docs/theory.md §4 gives the table,
what is known for ``q = 2``, and the undecided band). With Cao et al.'s criterion

    I = (n / 2K) · SNR^q ≳ 1        (benign)        I ≲ 1        (harmful),

and the noise level where ``I = 1`` is ``σ_p* = (n/2K)^{1/q} ‖μ‖ / √d`` (:func:`benign_limit`). On
n=128, d=2000, K=4, ‖μ‖=5, q=3 this is σ_p* ≈ 0.28, where the measured test accuracy falls from 1.
"""

from __future__ import annotations

import numpy as np

from cnnrank.activations import ReLU
from cnnrank.criteria import Criterion, criterion_for
from cnnrank.theory._config import RunConfigLike, _cfg, _d_eff, _power, _signal_norm


def snr(config: RunConfigLike) -> float:
    """Cao et al.'s ``SNR = ‖μ‖ / (σ_p √d)`` (``inf`` without noise): :attr:`SignalNoiseModel.snr`."""
    return float(_cfg(config)[1].snr)


def criterion(config: RunConfigLike) -> Criterion:
    """The published benign/harmful criterion of the configuration's activation (docs/theory.md §4).

    :func:`cnnrank.criteria.criterion_for` with the activation's power ``q`` (a registered
    activation's declared power): Cao et al. (2022), ``(n/2K)·SNR^q ≳ 1``, for a power head
    ``q > 2``; Kou et al. (2023), ``(n/2K)·‖μ‖⁴ ≳ σ_p⁴ d``, for the ReLU; the same form, marked
    extrapolated, for any other ``q <= 2``. ``ValueError`` for an activation without a declared power.
    """
    c, model = _cfg(config)
    q = _power(c)
    return criterion_for(q, n=c.n, K=model.K, d=model.d, signal_norm=_signal_norm(model, "min"),
                         noise_std=model.noise_std, relu=isinstance(c.make_activation(), ReLU))


def benign_indicator(config: RunConfigLike) -> float:
    """The indicator ``I`` of :func:`criterion`: benign overfitting when ``I ≳ 1``.

    ``(n/2K)·SNR^q`` for a power head ``q > 2`` (Cao et al. 2022), ``(n/2K)·‖μ‖⁴/(σ_p⁴ d)`` for the
    ReLU (Kou et al. 2023) and, extrapolated, for ``q <= 2`` (docs/theory.md §4). Each of the ``2K``
    signals is carried by about ``n/(2K)`` samples. ``inf`` without noise. With unequal
    ``signal_norms`` the criterion reads the weakest signal's norm ``min_k ‖μ_k‖`` (benign means every
    signal is learned; docs/theory.md, "Unequal signal norms").
    """
    return criterion(config).indicator


def benign_limit(config: RunConfigLike) -> float:
    """The noise level ``σ_p*`` at which :func:`benign_indicator` equals 1.

    ``(n/2K)^{1/q} ‖μ‖/√d`` for a power head ``q > 2``, ``(n/2K)^{1/4} ‖μ‖/d^{1/4}`` for the ReLU and
    ``q <= 2`` (:func:`criterion`). Benign below it, harmful above, up to the criterion's unknown
    constants: :func:`regime` is undecided within a factor ``criterion(config).band`` of it.
    """
    return criterion(config).threshold


def regime(config: RunConfigLike) -> str:
    """``"benign"``, ``"harmful"`` or ``"undecided"`` by the activation's published criterion.

    :func:`criterion` names the criterion used (``.name``, ``.source``, ``.formula``): Cao et al.
    (2022) for a power head ``q > 2``, Kou et al. (2023) for the ReLU, Kou et al.'s form (extrapolated)
    for ``q <= 2``. ``"benign"`` for ``σ_p <= σ_p*/band``, ``"harmful"`` for ``σ_p >= σ_p*·band`` and
    ``"undecided"`` in between, where the criterion's unknown constants decide (``band`` from
    :data:`cnnrank.criteria.BANDS`, docs/theory.md §4).
    """
    return criterion(config).regime


def noise_takeoff(config: RunConfigLike) -> float:
    """``σ_p`` at which the background carries as much energy as the signal: ``‖μ‖/√((P-1) d_eff)``.

    Above it the data's stable rank is far from ``2K`` (docs/theory.md §6). With unequal
    ``signal_norms``, ``‖μ‖`` is the root-mean-square norm ``√(mean_k ‖μ_k‖²)`` (an energy).
    """
    model = _cfg(config)[1]
    return float(_signal_norm(model, "rms") / np.sqrt((model.patches - 1) * _d_eff(model)))


def signal_dominance_limit(config: RunConfigLike) -> float:
    """Upper noise level for signal learning to dominate: the same number as :func:`benign_limit`."""
    return benign_limit(config)


def clean_rank(config: RunConfigLike) -> int:
    """Rank (and, balanced, stable rank) of the clean data: ``2K`` (``2KP`` with a random position)."""
    model = _cfg(config)[1]
    return 2 * model.K * (model.patches if model.signal_position == "random" else 1)
