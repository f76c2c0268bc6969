r"""The published benign/harmful criteria, one per activation family (docs/theory.md §4).

Each criterion compares how fast the ``2K`` signals are learned with how fast the background noise is
memorized, and has the form

    I = (n / 2K) · ‖μ‖^p / (σ_p^p · d^e)  ≳ 1   (benign),      I ≲ 1   (harmful),

with ``n/2K`` the samples that carry one signal (the published results have one signal carried by all
``n`` samples). ``I = 1`` at

    σ_p* = ‖μ‖ · ((n / 2K) / d^e)^{1/p}.

* **Polynomial head, q > 2** — Cao, Chen, Belkin, Gu (2022), *Benign overfitting in two-layer
  convolutional neural networks*: ``n · SNR^q ≳ 1`` with ``SNR = ‖μ‖/(σ_p √d)``, i.e. ``p = q``,
  ``e = q/2``. Used for the Huberized ReLU and the polynomial ReLU with ``q > 2`` and for a registered
  activation whose declared power exceeds 2.
* **ReLU** — Kou, Chen, Chen, Gu (2023), *Benign overfitting in two-layer ReLU convolutional neural
  networks*: ``n ‖μ‖⁴ ≳ σ_p⁴ d``, i.e. ``p = 4``, ``e = 1``.
* **q = 2** (Huberized or polynomial): no analysis of this data model is published (the nearest,
  Frei, Chatterji, Bartlett 2022, treats a smoothed leaky ReLU on another data model). The library uses
  Kou et al.'s form for ``1 ≤ q ≤ 2`` as an extrapolation and says so
  (``name="kou2023 (extrapolated)"``).

The constants of these results are unknown, so each criterion is decisive only outside a band around
``σ_p*``: :func:`criterion` answers ``"undecided"`` for ``σ_p* / band < σ_p < σ_p* · band``, and on a
side the scorecard did not confirm (:data:`CONFIRMED_SIDES`: for the ReLU and ``q = 2`` only the harmful
side holds; below ``σ_p*`` those networks still memorized more than they learned in the scorecard's
runs). The band of
each criterion is *measured* by the calibration scorecard (``python -m cnnrank reproduce calibration``,
docs/calibration.md) as the narrowest one outside which the criterion is right in at least 95 % of the
scorecard's configurations; :data:`BANDS` holds the measured values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnrank._validation import check_int, check_real

__all__ = ["BANDS", "CONFIRMED_SIDES", "SOURCES", "Criterion", "criterion_for"]

#: citation of each criterion
SOURCES: dict[str, str] = {
    "cao2022": "Cao, Chen, Belkin, Gu (2022), Benign overfitting in two-layer convolutional neural networks, NeurIPS",
    "kou2023": "Kou, Chen, Chen, Gu (2023), Benign overfitting in two-layer ReLU convolutional neural networks, ICML",
    "kou2023 (extrapolated)": ("Kou, Chen, Chen, Gu (2023), ICML, extrapolated to q <= 2 (no criterion for this "
                               "data model with q = 2 is published)"),
}

#: measured half-width (a factor on σ_p) of the band around σ_p* where a criterion cannot decide
#: (docs/calibration.md, 200 random configurations): Cao et al.'s criterion is right in 84 of 88 runs
#: (95.5 %) outside σ_p*/1.5 .. 1.5 σ_p*; the ReLU and q = 2 forms are right on their harmful side from
#: σ_p* on (44 of 44 runs) and wrong on their benign side (1 of 31 runs benign)
BANDS: dict[str, float] = {"cao2022": 1.5, "kou2023": 1.0, "kou2023 (extrapolated)": 1.0}

#: the sides of each criterion the scorecard confirmed (≥ 95 % right); on an unconfirmed side the
#: criterion answers "undecided": it is outside its documented range there
CONFIRMED_SIDES: dict[str, tuple[str, ...]] = {
    "cao2022": ("benign", "harmful"), "kou2023": ("harmful",), "kou2023 (extrapolated)": ("harmful",)}


@dataclass(frozen=True)
class Criterion:
    """One criterion evaluated at one configuration.

    Attributes
    ----------
    name : str
        ``"cao2022"``, ``"kou2023"`` or ``"kou2023 (extrapolated)"``.
    source : str
        The publication.
    p, e : float
        ``I = (n/2K) ‖μ‖^p / (σ_p^p d^e)``.
    indicator : float
        ``I`` (``inf`` without noise, 0 without signal).
    threshold : float
        ``σ_p*`` where ``I = 1``.
    band : float
        Undecided for ``σ_p* / band < σ_p < σ_p* · band``.
    noise_std : float
        The configuration's ``σ_p``.
    """

    name: str
    source: str
    p: float
    e: float
    indicator: float
    threshold: float
    band: float
    noise_std: float

    @property
    def regime(self) -> str:
        """``"benign"``, ``"harmful"`` or ``"undecided"`` (inside the band, or on a side of the criterion
        the scorecard did not confirm: :data:`CONFIRMED_SIDES`)."""
        if self.noise_std <= self.threshold / self.band:
            return "benign" if "benign" in CONFIRMED_SIDES.get(self.name, ("benign",)) else "undecided"
        if self.noise_std >= self.threshold * self.band:
            return "harmful"
        return "undecided"

    @property
    def formula(self) -> str:
        """The criterion as text."""
        return f"(n/2K)·‖μ‖^{self.p:g} / (σ_p^{self.p:g}·d^{self.e:g}) ≳ 1"


def _exp(x: float) -> float:
    """``e^x`` with the float64 limits: ``inf`` beyond the largest float, 0 for ``x = −inf``."""
    return math.inf if x > _LOG_MAX else math.exp(x)


_LOG_MAX = math.log(float(np.finfo(np.float64).max))


def criterion_for(power: float, *, n: int, K: int, d: int, signal_norm: float, noise_std: float,
                  relu: bool = False, band: float | None = None) -> Criterion:
    """The criterion of an activation with head power ``power`` (module doc).

    Parameters
    ----------
    power : float
        The activation's power ``q`` (1 for ReLU).
    n, K, d : int
    signal_norm, noise_std : float
        ``‖μ‖`` and ``σ_p``. With unequal per-signal norms pass the weakest signal's ``min_k ‖μ_k‖``
        (benign means every signal is learned), as :func:`cnnrank.theory.criterion` does.
    relu : bool
        The activation is the ReLU (Kou et al. proved its criterion; ``q ≤ 2`` otherwise extrapolates).
    band : float, optional
        Override the measured band (:data:`BANDS`).
    """
    q = check_real("power", power, minimum=1.0)
    n = check_int("n", n, minimum=1)
    K = check_int("K", K, minimum=1)
    d = check_int("d", d, minimum=1)
    mu = check_real("signal_norm", signal_norm, nonnegative=True)
    sig = check_real("noise_std", noise_std, nonnegative=True)
    if q > 2 and not relu:
        name, p, e = "cao2022", q, q / 2.0
    else:
        name, p, e = ("kou2023" if relu else "kou2023 (extrapolated)"), 4.0, 1.0
    width = BANDS[name] if band is None else check_real("band", band, minimum=1.0)
    group = n / (2.0 * K)
    # logs: ‖μ‖^p and d^e overflow for large q
    log_thr = math.log(mu) + (math.log(group) - e * math.log(d)) / p if mu > 0 else -math.inf
    threshold = _exp(log_thr)
    if sig == 0:
        indicator = math.inf if mu > 0 else 0.0
    elif mu == 0:
        indicator = 0.0
    else:
        log_i = math.log(group) + p * (math.log(mu) - math.log(sig)) - e * math.log(d)
        indicator = _exp(log_i)
    return Criterion(name=name, source=SOURCES[name], p=p, e=e, indicator=indicator, threshold=threshold,
                     band=width, noise_std=sig)
