r"""The calibration scorecard: how often each prediction of the library holds at random configurations.

docs/calibration.md reports it; ``python -m cnnrank reproduce calibration`` runs it.

A prediction checked only at the defaults says little about a configuration a user picks. The
scorecard draws configurations at random from documented ranges (:data:`RANGES`), runs each once on
the sweep machinery (one cell per configuration: resumable, any executor), and reports for every
prediction how often it lies within its stated tolerance (:data:`TOLERANCES`):

=========================  ==============================================  ==========================
prediction                 predicted by                                    counted over
=========================  ==============================================  ==========================
``regime``                 :func:`cnnrank.theory.regime` (the published    runs outside the undecided
                           criterion of the activation)                    band
``signal_learning_time``   :func:`cnnrank.theory.signal_learning_time`     runs that learn (q > 2)
``data_stable_rank``       :func:`cnnrank.theory.expected_data_stable_rank`  every run
``signals_learned``        ``2K`` in the benign regime                     measured-benign runs
``learned_dimension``      the race from the initialization                measured-benign runs
``learned_stable_rank``    the race from the initialization                measured-benign runs
=========================  ==============================================  ==========================

How a configuration is drawn
----------------------------
Each field independently: the activation family uniformly among Huberized ReLU (``q`` uniform in
``2..5``), ReLU and polynomial ReLU (``q`` uniform in ``3..5``); ``K`` uniform in ``1..8``, ``P`` in
``2..8``; ``d``, ``n`` and ``m`` log-uniform in ``[500, 5000]``, ``[32, 512]`` and ``[10, 80]``
(rounded); ``‖μ‖ = 5``, ``σ_0 = 0.01``, balanced classes, projected noise, fixed signal position;
``σ_p`` log-uniform from a quarter to four times the threshold ``σ_p*`` of the activation's criterion
(:mod:`cnnrank.criteria`), so every configuration is within a factor 4 of the boundary.

The step size and the number of steps follow from the configuration (:func:`schedule`): ``η`` is the
smaller of the step that makes the predicted signal-learning time of the best-placed filter
:data:`TARGET_T1` steps and a stability bound (the curvature of the loss along a signal and along a
noise patch at the point where one winning filter alone gives the sample an output of 1, ``η ≤ 1 /
curvature``); when ``T_1`` at that step exceeds :data:`MAX_T1`, ``σ_0`` is raised until it does not
(high power heads barely move from a small start); the run lasts ``3 T_1 + 200`` steps, at least 300
and at most 1200, recorded 50 times. The engine is ``"auto"`` (the cheaper of feature and Gram).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank._validation import check_int
from cnnrank.activations import Activation, parse_activation
from cnnrank.criteria import criterion_for
from cnnrank.experiments.runs import RunConfig
from cnnrank.race import race_times

__all__ = ["RANGES", "TARGET_T1", "TOLERANCES", "draw_configs", "schedule"]

#: the documented ranges configurations are drawn from (module doc)
RANGES: dict[str, Any] = {
    "K": (1, 8), "patches": (2, 8), "d": (500, 5000), "n": (32, 512), "m": (10, 80),
    "huber_q": (2, 5), "poly_q": (3, 5), "noise_factor": (0.25, 4.0),
    "signal_norm": 5.0, "init_std": 0.01, "n_test": 200,
}

#: steps the best-placed filter should take to learn its signal (sets η where stability allows)
TARGET_T1 = 80.0

#: the largest predicted signal-learning time a drawn run may have (``σ_0`` is raised above it)
MAX_T1 = 300.0

#: each prediction's tolerance: a factor (``max(p/m, m/p) ≤ tol``), or 1 for an exact count / category
#: (the tolerances :func:`cnnrank.theory.compare` uses)
TOLERANCES: dict[str, float] = {
    "regime": 1.0, "signal_learning_time": 2.0, "data_stable_rank": 1.05, "signals_learned": 1.0,
    "signals_learned_race": 1.0, "learned_dimension": 1.0, "learned_stable_rank": 1.15,
}

#: the share of counted runs each prediction should be right in (``None``: no target, reported only)
TARGETS: dict[str, float | None] = {
    "regime": 0.95, "signal_learning_time": 0.90, "data_stable_rank": 0.99, "signals_learned": 0.95,
    "signals_learned_race": None, "learned_dimension": None, "learned_stable_rank": 0.80,
}

#: where a prediction that missed its target on the whole scorecard holds (its documented range of
#: validity, measured on the default scorecard: docs/calibration.md); the scorecard counts it there too
NARROWED: dict[str, str] = {
    "data_stable_rank": "K <= 4",
    "signals_learned": "benign runs that the criterion decides benign and where the race from W(0) predicts all 2K",
}


def _loguniform_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))


def _curvature_point(act: Activation, m: int) -> tuple[float, float]:
    """``σ'(a*)`` and ``|σ''(a*)|`` where ``σ(a*) = m`` (one filter alone gives an output of 1)."""
    lo, hi = 0.0, 1.0
    while float(act(np.array(hi))) < m and hi < 1e6:
        hi *= 2.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(act(np.array(mid))) < m else (lo, mid)
    a = hi
    g = float(act.grad(np.array(a)))
    h = max(a * 1e-4, 1e-8)
    g2 = abs(float(act.grad(np.array(a + h))) - float(act.grad(np.array(max(a - h, 0.0))))) / (2 * h)
    return g, g2


def _t1(act: Activation, K: int, m: int, mu: float, init_std: float, lr: float) -> float:
    from scipy.stats import norm

    a0 = init_std * mu * float(norm.ppf(0.5 ** (1.0 / (2 * m * K))))
    return float(race_times(act, np.array([a0]), lr * mu**2 / (4.0 * K * m))[0])


def schedule(config: dict[str, Any]) -> tuple[float, int, float, float]:
    """``(lr, steps, init_std, predicted T_1)`` for a drawn configuration (module doc).

    ``T_1`` here is the closed-form time (:func:`cnnrank.race.race_times`) for the median of the
    largest of the ``2mK`` starts ``⟨w(0), μ_k⟩`` to grow by 1 at ``ℓ' = −1/2`` (rate
    ``A = η ‖μ‖² / (4Km)``). When the stable step leaves ``T_1`` above :data:`MAX_T1`, ``σ_0`` is raised
    (up to 0.2) until it is not: a high power head barely moves from a small start.
    """
    act = parse_activation(config["activation"])
    K, m, n, d = config["K"], config["m"], config["n"], config["d"]
    mu, sig, s0 = config["signal_norm"], config["noise_std"], config["init_std"]
    g, g2 = _curvature_point(act, m)
    curv_signal = (mu**2 / (2 * K)) * (0.25 * (g / m) ** 2 + 0.5 * g2 / m)
    curv_noise = (sig**2 * d / n) * (0.25 * (g / m) ** 2 + 0.5 * g2 / m)
    lr_stable = 1.0 / max(curv_signal, curv_noise, 1e-12)
    lr = min(_t1(act, K, m, mu, s0, 1.0) / TARGET_T1, lr_stable, 50.0)
    t1 = _t1(act, K, m, mu, s0, lr)
    if t1 > MAX_T1:
        lo, hi = s0, 0.2
        for _ in range(50):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if _t1(act, K, m, mu, mid, lr) > MAX_T1 else (lo, mid)
        s0 = hi
        t1 = _t1(act, K, m, mu, s0, lr)
    steps = int(min(max(3.0 * t1 + 200.0, 300.0), 1200.0))
    return float(lr), steps, float(s0), float(t1)


def draw_configs(n_configs: int, rng: Any = None) -> list[dict[str, Any]]:
    """``n_configs`` flat :class:`~cnnrank.experiments.RunConfig` dicts drawn from :data:`RANGES`."""
    n_configs = check_int("n_configs", n_configs, minimum=1, maximum=100_000)
    rng = np.random.default_rng(rng)
    out = []
    for _ in range(n_configs):
        family = ("huber", "relu", "poly")[int(rng.integers(3))]
        if family == "huber":
            act_name = f"huber{int(rng.integers(RANGES['huber_q'][0], RANGES['huber_q'][1] + 1))}"
        elif family == "poly":
            act_name = f"poly{int(rng.integers(RANGES['poly_q'][0], RANGES['poly_q'][1] + 1))}"
        else:
            act_name = "relu"
        K = int(rng.integers(RANGES["K"][0], RANGES["K"][1] + 1))
        P = int(rng.integers(RANGES["patches"][0], RANGES["patches"][1] + 1))
        d = _loguniform_int(rng, *RANGES["d"])
        n = _loguniform_int(rng, *RANGES["n"])
        m = _loguniform_int(rng, *RANGES["m"])
        act = parse_activation(act_name)
        thr = criterion_for(float(act.power or 1.0), n=n, K=K, d=d, signal_norm=RANGES["signal_norm"], noise_std=0.0,
                            relu=act_name == "relu").threshold
        lo, hi = RANGES["noise_factor"]
        sig = float(thr * math.exp(rng.uniform(math.log(lo), math.log(hi))))
        cfg: dict[str, Any] = {
            "activation": act_name, "K": K, "patches": P, "d": d, "n": n, "m": m, "noise_std": round(sig, 6),
            "signal_norm": RANGES["signal_norm"], "init_std": RANGES["init_std"], "n_test": RANGES["n_test"],
            "balanced": True, "engine": "auto",
        }
        lr, steps, init_std, _ = schedule(cfg)
        cfg.update(lr=float(f"{lr:.6g}"), steps=steps, init_std=float(f"{init_std:.6g}"),
                   record_every=max(1, steps // 50))
        out.append(cfg)
    return out


def check_config(config: dict[str, Any]) -> RunConfig:
    """The :class:`RunConfig` of a drawn dict (what the sweep runs)."""
    return RunConfig(**config)


@dataclass(frozen=True)
class Score:
    """One prediction's line of the scorecard."""

    tolerance: float
    n: int
    within: int

    @property
    def fraction(self) -> float | None:
        return self.within / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {"tolerance": self.tolerance, "n": self.n, "within": self.within, "fraction": self.fraction}


def within_factor(p: float, m: float, tol: float) -> bool:
    """``max(p/m, m/p) <= tol`` (both finite and positive), or equal when ``tol == 1``."""
    if not (math.isfinite(p) and math.isfinite(m)):
        return False
    if tol == 1.0:
        return p == m
    if p <= 0 or m <= 0:
        return False
    return max(p / m, m / p) <= tol


def score(name: str, predicted: list[Any], measured: list[Any], counted: list[bool],
          same: Callable[[Any, Any, float], bool] = within_factor) -> Score:
    """How many of the counted configurations have ``predicted`` within tolerance of ``measured``."""
    tol = TOLERANCES[name]
    idx = [i for i, c in enumerate(counted) if c and predicted[i] is not None and measured[i] is not None]
    return Score(tolerance=tol, n=len(idx), within=sum(bool(same(predicted[i], measured[i], tol)) for i in idx))


#: band factors tried when measuring each criterion's undecided band (σ_p* / B, σ_p* · B)
BAND_GRID = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0)
#: a criterion's band is the narrowest of :data:`BAND_GRID` outside which it is right this often
REGIME_TARGET = 0.95


def calibration_spec(configs: list[dict[str, Any]], seed: int = 0) -> Any:
    """The sweep of the scorecard: one cell per configuration (the ``"config"`` axis), one seed."""
    from cnnrank.sweeps import CONFIG_AXIS, SweepSpec

    return SweepSpec(base=RunConfig(), grid={CONFIG_AXIS: configs}, seeds=1, root_seed=seed)


def _metric(values: dict[str, np.ndarray], name: str, n: int) -> list[float | None]:
    if name not in values:
        return [None] * n
    arr = np.asarray(values[name], dtype=float).reshape(n)
    return [None if not math.isfinite(v) else float(v) for v in arr]


def predictions_for(config: dict[str, Any]) -> dict[str, Any]:
    """What the theory predicts for one drawn configuration, before it runs."""
    import cnnrank.theory as theory

    cfg = RunConfig(**config)
    crit = theory.criterion(cfg)
    try:
        t1: float | None = float(theory.signal_learning_time(cfg))
    except ValueError:  # no closed form for this activation (q <= 2, ReLU)
        t1 = None
    return {
        "regime": theory.regime(cfg), "criterion": crit.name, "threshold": crit.threshold,
        "noise_ratio": config["noise_std"] / crit.threshold if crit.threshold > 0 else math.inf,
        "signal_learning_time": t1 if t1 is not None and math.isfinite(t1) else None,
        "data_stable_rank": float(theory.expected_data_stable_rank(cfg)),
        "signals_learned": 2 * config["K"],
    }


def scorecard(configs: list[dict[str, Any]], values: dict[str, np.ndarray]) -> dict[str, Any]:
    """The scorecard record of configurations and the metrics of their runs (module doc).

    Returns a dict with ``configs``, ``measured`` and ``predicted`` (one list per quantity, a value per
    configuration, ``None`` where there is none), ``predictions`` (``{name: {"tolerance", "n",
    "within", "fraction"}}``) and ``bands`` (each criterion's measured undecided band).
    """
    from cnnrank.subspace import measured_regime

    N = len(configs)
    pred = [predictions_for(c) for c in configs]
    acc = _metric(values, "test_acc", N)
    energy = _metric(values, "signal_energy_fraction", N)
    diverged = [a is None for a in acc]
    meas_regime: list[str | None] = [
        None if d else str(measured_regime(a, e))
        for a, e, d in zip(acc, energy, diverged)]
    measured: dict[str, list[Any]] = {
        "regime": meas_regime, "test_acc": acc, "signal_energy_fraction": energy,
        "signal_learning_time": _metric(values, "signal_learning_time", N),
        "data_stable_rank": _metric(values, "data_stable_rank", N),
        "signals_learned": _metric(values, "signals_learned", N),
        "learned_dimension": _metric(values, "learned_dimension", N),
        "learned_rank": _metric(values, "learned_rank", N),
        "learned_stable_rank": _metric(values, "learned_stable_rank", N),
        "diverged": diverged,
    }
    predicted: dict[str, list[Any]] = {
        "regime": [p["regime"] for p in pred], "criterion": [p["criterion"] for p in pred],
        "threshold": [p["threshold"] for p in pred], "noise_ratio": [p["noise_ratio"] for p in pred],
        "signal_learning_time": [p["signal_learning_time"] for p in pred],
        "data_stable_rank": [p["data_stable_rank"] for p in pred],
        "signals_learned": [p["signals_learned"] for p in pred],
        "learned_dimension": _metric(values, "predicted_learned_dimension", N),
        "learned_stable_rank": _metric(values, "predicted_learned_stable_rank", N),
        "race_signals_learned": _metric(values, "predicted_signals_learned", N),
    }
    benign = [r == "benign" for r in meas_regime]
    decided = [r in ("benign", "harmful") for r in predicted["regime"]]
    learns = [t is not None for t in measured["signal_learning_time"]]

    def same(p: Any, m: Any, tol: float) -> bool:
        return p == m

    def ints(xs: list[Any]) -> list[Any]:
        return [None if x is None else int(round(x)) for x in xs]

    race_all = [p is not None and int(round(p)) == 2 * c["K"] for p, c in zip(predicted["race_signals_learned"], configs)]
    small_k = [c["K"] <= 4 for c in configs]
    decided_benign = [b and r == "benign" for b, r in zip(benign, predicted["regime"])]
    narrowed = {
        "data_stable_rank": score("data_stable_rank", predicted["data_stable_rank"], measured["data_stable_rank"],
                                  small_k),
        "signals_learned": score("signals_learned", predicted["signals_learned"], ints(measured["signals_learned"]),
                                 [a and b for a, b in zip(decided_benign, race_all)], same),
    }
    scores = {
        "regime": score("regime", predicted["regime"], meas_regime, decided, same),
        "signal_learning_time": score("signal_learning_time", predicted["signal_learning_time"],
                                      measured["signal_learning_time"], learns),
        "data_stable_rank": score("data_stable_rank", predicted["data_stable_rank"], measured["data_stable_rank"],
                                  [True] * N),
        "signals_learned": score("signals_learned", predicted["signals_learned"], ints(measured["signals_learned"]),
                                 benign, same),
        "signals_learned_race": score("signals_learned_race", ints(predicted["race_signals_learned"]),
                                      ints(measured["signals_learned"]), benign, same),
        "learned_dimension": score("learned_dimension", ints(predicted["learned_dimension"]),
                                   ints(measured["learned_dimension"]), benign, same),
        "learned_stable_rank": score("learned_stable_rank", predicted["learned_stable_rank"],
                                     measured["learned_stable_rank"], benign),
    }
    return {
        "configs": configs, "measured": measured, "predicted": predicted,
        "predictions": {k: {**v.to_dict(), "target": TARGETS[k], "met": _met(v, TARGETS[k]),
                            **({"narrowed": {"where": NARROWED[k], **narrowed[k].to_dict(),
                                             "met": _met(narrowed[k], TARGETS[k])}} if k in narrowed else {})}
                        for k, v in scores.items()},
        "bands": measure_bands(predicted["criterion"], predicted["noise_ratio"], meas_regime),
        "ranges": {k: list(v) if isinstance(v, tuple) else v for k, v in RANGES.items()},
        "schedule": {"target_t1": TARGET_T1, "max_t1": MAX_T1},
    }


def _met(sc: Score, target: float | None) -> bool | None:
    if target is None or sc.fraction is None:
        return None
    return sc.fraction >= target


def measure_bands(criteria: list[str], ratios: list[float], measured: list[str | None]) -> dict[str, Any]:
    """Per criterion and per side, the narrowest band ``B`` of :data:`BAND_GRID` such that the criterion
    is right in at least :data:`REGIME_TARGET` of the runs on that side (``σ_p/σ_p* ≤ 1/B``: benign;
    ``≥ B``: harmful), with at least 5 runs; ``None`` where no band is (that side is not confirmed).

    ``band`` is the wider of the two sides' bands (``None`` when a side is unconfirmed), and
    ``per_band`` the counts behind them.
    """
    out: dict[str, Any] = {}
    for name in sorted(set(criteria)):
        rows = [(r, m) for c, r, m in zip(criteria, ratios, measured) if c == name and m is not None]
        per_band: list[dict[str, Any]] = []
        for B in BAND_GRID:
            low = [m for r, m in rows if r <= 1 / B]
            high = [m for r, m in rows if r >= B]
            per_band.append({"band": B, "benign_side": [sum(m == "benign" for m in low), len(low)],
                             "harmful_side": [sum(m == "harmful" for m in high), len(high)]})

        lo, hi = (next((b["band"] for b in per_band if b[key][1] >= 5 and b[key][0] >= REGIME_TARGET * b[key][1]),
                       None) for key in ("benign_side", "harmful_side"))
        out[name] = {"band": None if lo is None or hi is None else max(lo, hi), "benign_side": lo,
                     "harmful_side": hi, "runs": len(rows), "per_band": per_band}
    return out


def run_calibration(n_configs: int = 200, seed: int = 0, store: Any = None, executor: Any = None,
                    progress: bool | None = None) -> dict[str, Any]:
    """Draw ``n_configs`` configurations with ``seed``, run them (resumable in ``store``), score them.

    Returns the record :func:`scorecard` builds, plus ``n_configs``, ``seed`` and ``seconds``.
    """
    from cnnrank.sweeps import run_sweep

    seed = check_int("seed", seed, minimum=0)
    configs = draw_configs(n_configs, rng=np.random.SeedSequence(seed).spawn(1)[0])
    res = run_sweep(calibration_spec(configs, seed), store=store, executor=executor, progress=progress,
                    keep_diverged=True)
    record = scorecard(configs, res.values)
    record.update(n_configs=n_configs, seed=seed, seconds=float(res.seconds))
    return record
