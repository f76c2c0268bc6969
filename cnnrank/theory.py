r"""What the theory predicts (THEORY.md §6), as functions of a configuration, and a report that puts
a run's measured values next to the predictions.

The scaling laws of §6 hold "up to constants and log factors"; they are given here with all
constants set to 1 and are meant for orders of magnitude. The data's stable rank is different: it
is derived here exactly in the proportional limit, and checked against sampling in the tests.

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

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank._validation import check_real

__all__ = [
    "snr",
    "benign_indicator",
    "regime",
    "noise_takeoff",
    "signal_dominance_limit",
    "expected_data_stable_rank",
    "expected_patch_stable_rank",
    "clean_rank",
    "signal_learning_time",
    "time_to_loss",
    "lr_bound",
    "Prediction",
    "predictions",
    "compare",
    "format_report",
]


def _cfg(config: Any) -> Any:
    for name in ("n", "d", "K", "patches", "signal_norm", "noise_std", "m", "init_std", "lr"):
        if not hasattr(config, name):
            raise TypeError(f"config={type(config).__name__} is invalid: lacks field {name!r} (use a RunConfig)")
    return config


def _power(config: Any) -> float:
    return float(config.make_activation().power)


def _d_eff(config: Any) -> int:
    return config.d - 2 * config.K if getattr(config, "project_noise", True) else config.d


def snr(config: Any) -> float:
    """Cao et al.'s ``SNR = ‖μ‖ / (σ_p √d)`` (``inf`` without noise)."""
    c = _cfg(config)
    den = c.noise_std * np.sqrt(c.d)
    return float("inf") if den == 0 else float(c.signal_norm / den)


def benign_indicator(config: Any) -> float:
    """``n · SNR^q`` with ``q`` the activation's power: benign overfitting when ``≳ 1``."""
    return float(_cfg(config).n * snr(config) ** _power(config))


def regime(config: Any) -> str:
    """``"benign"`` if ``n · SNR^q >= 1`` else ``"harmful"`` (constants set to 1)."""
    return "benign" if benign_indicator(config) >= 1.0 else "harmful"


def noise_takeoff(config: Any) -> float:
    """``σ_p`` at which the background carries as much energy as the signal: ``‖μ‖/√((P-1) d_eff)``.

    Above it the data's stable rank is far from ``2K`` (THEORY.md §6: ``σ_p ≳ ‖μ‖ / √((P-1) d)``).
    """
    c = _cfg(config)
    return float(c.signal_norm / np.sqrt((c.patches - 1) * _d_eff(c)))


def signal_dominance_limit(config: Any) -> float:
    """Upper noise level for signal learning to dominate: ``(n/K)^{1/q} ‖μ‖ / √d``."""
    c = _cfg(config)
    return float((c.n / c.K) ** (1.0 / _power(c)) * c.signal_norm / np.sqrt(c.d))


def clean_rank(config: Any) -> int:
    """Rank (and, balanced, stable rank) of the clean data: ``2K`` (``2KP`` with a random position)."""
    c = _cfg(config)
    return 2 * c.K * (c.patches if getattr(c, "signal_position", 0) == "random" else 1)


def expected_max_group(config: Any, by_position: bool = True, draws: int = 200) -> float:
    """Expected size of the largest group of samples sharing one signal patch.

    A group is a signal (and, with ``by_position`` and a random signal position, a position). For
    balanced data with a fixed position it is exactly ``⌈n / 2K⌉``-ish; otherwise the group sizes
    are multinomial, and the mean of the maximum is estimated from ``draws`` draws of the model's own
    label/position law with a fixed internal seed (so the prediction is deterministic).
    """
    c = _cfg(config)
    model = c.model()
    rng = np.random.default_rng(20240415)
    random_pos = by_position and getattr(c, "signal_position", 0) == "random"
    if getattr(c, "balanced", False) and not random_pos:
        _, ids = model._labels_and_ids(c.n, rng)
        return float(np.bincount(ids).max())
    tops = np.empty(draws)
    for t in range(draws):
        _, ids = model._labels_and_ids(c.n, rng)
        groups = ids * c.patches + rng.integers(0, c.patches, c.n) if random_pos else ids
        tops[t] = np.bincount(groups).max()
    return float(tops.mean())


def _spiked_top(ell: float, cratio: float) -> float:
    edge = (1.0 + np.sqrt(cratio)) ** 2
    if ell > cratio + np.sqrt(cratio):
        return max(ell + ell / (ell - cratio), edge)
    return edge


def expected_data_stable_rank(config: Any, noise_std: Any = None) -> np.ndarray | float:
    """Predicted stable rank of the n × Pd sample matrix as a function of ``σ_p`` (see module doc).

    Parameters
    ----------
    config : RunConfig
    noise_std : float or array, optional
        Noise levels (default: ``config.noise_std``).
    """
    c = _cfg(config)
    sig = np.atleast_1d(np.asarray(c.noise_std if noise_std is None else noise_std, dtype=float))
    if np.any(sig < 0) or not np.all(np.isfinite(sig)):
        raise ValueError(f"noise_std={noise_std!r} is invalid: must be finite and >= 0")
    n, mu2 = c.n, c.signal_norm**2
    D = (c.patches - 1) * _d_eff(c)
    s2 = mu2 * expected_max_group(c, by_position=True)
    # With a random signal position the background of a row fills P - 1 of P blocks that vary from
    # row to row: off-diagonal entries of NNᵀ then have variance σ⁴ d_eff (P-1)²/P instead of σ⁴ D,
    # i.e. the Marchenko-Pastur ratio is n / (P d_eff) rather than n / D.
    D_spread = c.patches * _d_eff(c) if getattr(c, "signal_position", 0) == "random" else D
    out = np.empty_like(sig)
    for i, s in enumerate(sig):
        num = n * mu2 + n * s**2 * D
        if s == 0:
            out[i] = num / s2 if mu2 > 0 else 0.0
            continue
        scale = s**2 * D
        out[i] = num / (scale * _spiked_top(s2 / scale, n / D_spread))
    return float(out[0]) if np.ndim(noise_std if noise_std is not None else c.noise_std) == 0 else out


def expected_patch_stable_rank(config: Any, noise_std: Any = None) -> np.ndarray | float:
    """Predicted stable rank of the nP × d patch matrix (block-diagonal argument, module doc)."""
    c = _cfg(config)
    sig = np.atleast_1d(np.asarray(c.noise_std if noise_std is None else noise_std, dtype=float))
    n, mu2, de = c.n, c.signal_norm**2, _d_eff(c)
    rows = n * (c.patches - 1)
    num = n * mu2 + rows * sig**2 * de
    top = np.maximum(mu2 * expected_max_group(c, by_position=False), sig**2 * (np.sqrt(de) + np.sqrt(rows)) ** 2)
    out = np.where(top > 0, num / np.where(top > 0, top, 1.0), 0.0)
    return float(out[0]) if np.ndim(noise_std if noise_std is not None else c.noise_std) == 0 else out


def signal_learning_time(config: Any) -> float:
    """``T_1 ≈ m / (η σ_0^{q-2} ‖μ‖^q)`` steps (constants set to 1)."""
    c = _cfg(config)
    q = _power(c)
    if c.init_std == 0 and q > 2:
        return float("inf")
    return float(c.m / (c.lr * c.init_std ** (q - 2.0) * c.signal_norm**q))


def time_to_loss(config: Any, eps: float) -> float:
    """``T ≈ T_1 + m³ / (η ε ‖μ‖²)`` steps to training loss ``ε`` (constants set to 1)."""
    c = _cfg(config)
    eps = check_real("eps", eps, positive=True)
    return float(signal_learning_time(c) + c.m**3 / (c.lr * eps * c.signal_norm**2))


def lr_bound(config: Any) -> float:
    """``min(‖μ‖⁻², (σ_p² d)⁻¹)``: the theorems assume ``η`` below this (up to constants)."""
    c = _cfg(config)
    a = np.inf if c.signal_norm == 0 else c.signal_norm**-2
    b = np.inf if c.noise_std == 0 else 1.0 / (c.noise_std**2 * c.d)
    return float(min(a, b))


@dataclass(frozen=True)
class Prediction:
    """One row of the prediction-versus-measurement report."""

    quantity: str
    predicted: float
    measured: float | None
    note: str


def predictions(config: Any) -> dict[str, float | str]:
    """All predictions for ``config`` as a flat dict."""
    return {
        "snr": snr(config),
        "benign_indicator": benign_indicator(config),
        "regime": regime(config),
        "noise_takeoff": noise_takeoff(config),
        "signal_dominance_limit": signal_dominance_limit(config),
        "clean_rank": clean_rank(config),
        "expected_data_stable_rank": expected_data_stable_rank(config),
        "expected_patch_stable_rank": expected_patch_stable_rank(config),
        "signal_learning_time": signal_learning_time(config),
        "lr_bound": lr_bound(config),
    }


def measured_signal_learning_time(traj: Any, level: float = 1.0) -> float | None:
    """First recorded step at which ``max_{r,k} γ`` of the filters of the signal's own class
    reaches ``level`` (``None`` if never)."""
    if traj.gamma is None:
        return None
    K = traj.gamma.shape[-1] // 2
    own = np.maximum(traj.gamma[:, 0, :, :K].max(axis=(1, 2)), traj.gamma[:, 1, :, K:].max(axis=(1, 2)))
    hit = np.nonzero(own >= level)[0]
    return None if hit.size == 0 else float(traj.steps[hit[0]])


def compare(config: Any, outcome: Any) -> list[Prediction]:
    """Predictions next to a run's measurements (``outcome`` from :func:`cnnrank.experiments.run_once`)."""
    traj, ranks = outcome.trajectory, outcome.data_ranks
    test_acc = None if traj.test_acc is None else float(traj.test_acc[-1])
    rows = [
        Prediction("data stable rank (n×Pd)", float(expected_data_stable_rank(config)),
                   ranks["data_stable_rank"], "derived, proportional limit"),
        Prediction("patch stable rank (nP×d)", float(expected_patch_stable_rank(config)),
                   ranks["patch_stable_rank"], "derived, proportional limit"),
        Prediction("filter stable rank ≈ clean rank", float(clean_rank(config)),
                   float(traj.filter_stable_rank[-1]), "order of 2K (claim of the paper)"),
        Prediction("T_1 (steps to max γ ≥ 1)", signal_learning_time(config),
                   measured_signal_learning_time(traj), "scaling law, constants = 1"),
        Prediction("n·SNR^q (benign if ≳ 1)", benign_indicator(config), test_acc,
                   f"predicted {regime(config)}; measured column: final test accuracy"),
        Prediction("σ_p takeoff of data rank", noise_takeoff(config), config.noise_std,
                   "measured column: this run's σ_p"),
        Prediction("lr bound min(‖μ‖⁻², (σ_p² d)⁻¹)", lr_bound(config), config.lr,
                   "measured column: this run's η"),
    ]
    return rows


def format_report(rows: list[Prediction]) -> str:
    """The report as a plain-text table."""
    w = max(len(r.quantity) for r in rows)
    lines = [f"{'quantity':<{w}}  {'predicted':>11}  {'measured':>11}  note", "-" * (w + 40)]
    for r in rows:
        meas = "—" if r.measured is None else f"{r.measured:11.4g}"
        lines.append(f"{r.quantity:<{w}}  {r.predicted:11.4g}  {meas:>11}  {r.note}")
    return "\n".join(lines)
