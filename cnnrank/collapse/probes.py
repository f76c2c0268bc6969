"""The two fixed-classifier probes of the seed papers (Gao et al., docs/theory.md §7).

* **Non-conservative generalization**: fix the classifier to label-to-vertex assignments of one
  simplex ETF (row permutations ``P M``) or to rotations ``M Q`` of it, train only the feature layer
  to zero training error and beyond, and compare test accuracy across assignments.
* **Symmetric generalization**: the same with ``C > d + 1`` classes and a Grassmannian frame /
  spherical code ``F`` (from :func:`~cnnrank.collapse.geometry.grassmannian_frame`): its symmetric
  variants ``P F Q`` all have the same coherence.

Design. Every assignment ``k`` is trained from the *same* ``S`` initial feature layers (seeds
``s``), so ``acc[k, s]`` is a paired two-way layout. The spread across assignments is compared with
the seed-to-seed noise by the additive two-way ANOVA ``acc = μ + α_k + β_s + ε``:
``F = (SS_A/(K−1)) / (SS_E/((K−1)(S−1)))`` with ``SS_A = S Σ_k (ā_k − ā)²`` and
``SS_E = Σ_{k,s} (a_ks − ā_k − ā_s + ā)²``; ``p_value`` is the upper tail of ``F(K−1, (K−1)(S−1))``.
A large spread with a small p-value is evidence that the assignment matters beyond initialization
noise; a p-value that is not small is reported as such (no spread beyond noise).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import fdtrc

from cnnrank._validation import as_array, check_choice, check_int, check_real
from cnnrank.collapse.batch import train_fixed_batch
from cnnrank.collapse.geometry import coherence
from cnnrank.collapse.simulate import FeatureNetConfig, MixtureData
from cnnrank.results import SavableResult

__all__ = ["ProbeResult", "classifier_variants", "fixed_classifier_probe", "two_way_anova"]


def _haar_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def classifier_variants(F: Any, n: int, kind: str, rng: Any = None) -> np.ndarray:
    """``n`` symmetric variants of the frame ``F`` (shape ``(C, d)``); variant 0 is ``F`` itself.

    ``kind="permutation"``: ``F[π_k]`` with ``π_k`` uniform random permutations (label-to-vertex
    assignments); ``kind="rotation"``: ``F Q_k`` with ``Q_k`` Haar-random orthogonal ``d × d``.
    Both preserve every pairwise inner product as a multiset, hence the coherence.

    Returns
    -------
    ndarray, shape (n, C, d)
    """
    F = as_array("F", F, ndim=2)
    n = check_int("n", n, minimum=1)
    check_choice("kind", kind, ("permutation", "rotation"))
    rng = np.random.default_rng(rng)
    out = [F]
    for _ in range(n - 1):
        if kind == "permutation":
            out.append(F[rng.permutation(F.shape[0])])
        else:
            out.append(F @ _haar_orthogonal(F.shape[1], rng))
    return np.stack(out)


def two_way_anova(acc: Any) -> tuple[float, float]:
    """``(F, p_value)`` of the additive two-way ANOVA of ``acc`` (shape ``(K, S)``, ``K, S ≥ 2``).

    ``F = inf`` (``p = 0``) when the residual is zero but assignments differ; ``nan`` when nothing varies.
    """
    a = as_array("acc", acc, ndim=2)
    K, S = a.shape
    if K < 2 or S < 2:
        raise ValueError(f"acc has shape {a.shape} which is invalid: needs at least 2 rows and 2 columns")
    m = a.mean()
    rk, cs = a.mean(axis=1), a.mean(axis=0)
    ss_a = S * np.sum((rk - m) ** 2)
    ss_e = np.sum((a - rk[:, None] - cs[None, :] + m) ** 2)
    df_a, df_e = K - 1, (K - 1) * (S - 1)
    total = np.sum((a - m) ** 2)
    tol = 1e-20 * total  # rounding level of the sums of squares
    if total == 0 or ss_e <= tol:
        return (float("inf"), 0.0) if total > 0 and ss_a > tol else (float("nan"), float("nan"))
    F = (ss_a / df_a) / (ss_e / df_e)
    # the F distribution's survival function, as scipy.stats.f.sf computes it for F >= 0 (its _sf), without
    # importing scipy.stats (about 0.8 s, in the command and in every worker)
    return float(F), float(fdtrc(df_a, df_e, F))


@dataclass(frozen=True, eq=False)
class ProbeResult(SavableResult):
    """Result of :func:`fixed_classifier_probe`.

    Attributes
    ----------
    kind : str
        Free label, e.g. ``"etf-permutation"``.
    classifiers : ndarray, shape (K, C, d)
        The fixed classifiers (already multiplied by ``scale``).
    test_accuracy, train_accuracy, p_min, nc1 : ndarray, shape (K, S)
        At the end of training, per assignment ``k`` and initialization seed ``s``.
    coherence : ndarray, shape (K,)
        Signed coherence of each classifier (identical across symmetric variants).
    spread : float
        ``max_k ā_k − min_k ā_k`` of the seed-averaged test accuracies.
    seed_spread : float
        Mean over ``k`` of ``max_s − min_s`` of the test accuracy (initialization noise).
    f_statistic, p_value : float
        :func:`two_way_anova` of ``test_accuracy``.
    config : dict
    seed_entropy : int or None
    """

    _kind: ClassVar[str] = "ProbeResult"
    #: documented ranges, checked by ``load`` (:func:`cnnrank.results.check_values`)
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {
        **{k: {"lo": 0.0, "hi": 1.0} for k in ("test_accuracy", "train_accuracy", "spread", "seed_spread",
                                                 "p_value")},
        "nc1": {"lo": 0.0}, "coherence": {"lo": -1.0, "hi": 1.0}, "f_statistic": {"lo": 0.0},
    }

    kind: str
    classifiers: np.ndarray
    test_accuracy: np.ndarray
    train_accuracy: np.ndarray
    p_min: np.ndarray
    nc1: np.ndarray
    coherence: np.ndarray
    spread: float
    seed_spread: float
    f_statistic: float
    p_value: float
    config: dict
    seed_entropy: int | None = None


def fixed_classifier_probe(
    data: MixtureData, classifiers: Any, config: FeatureNetConfig = FeatureNetConfig(), *,  # noqa: B008 (frozen, immutable)
    seeds: int = 4, scale: float = 4.0, kind: str = "", rng: Any = None,
) -> ProbeResult:
    """Train the feature layer against each fixed classifier from ``seeds`` shared initializations.

    Parameters
    ----------
    data : MixtureData
    classifiers : array_like, shape (K, C, width)
        Unit-row frames (e.g. from :func:`classifier_variants`); used as ``scale · classifiers[k]``
        with bias 0.
    config : FeatureNetConfig
        ``weight_decay`` applies to ``V`` only here (``W`` is fixed).
    seeds : int, ``≥ 2``
        Initializations, spawned from ``np.random.SeedSequence(rng)``; the same ``S`` for every ``k``.
    scale : float, > 0
    kind : str
        Label stored with the result.
    rng : int or None
        Seed entropy.

    Returns
    -------
    ProbeResult
    """
    if not isinstance(data, MixtureData):
        raise TypeError(f"data={type(data).__name__} is invalid: must be a MixtureData")
    if not isinstance(config, FeatureNetConfig):
        raise TypeError(f"config={config!r} is invalid: must be a FeatureNetConfig")
    Fs = as_array("classifiers", classifiers, ndim=3)
    C = int(data.means.shape[0])
    if Fs.shape[1:] != (C, config.width):
        raise ValueError(f"classifiers has shape {Fs.shape} which is invalid: must be (K, {C}, width={config.width})")
    seeds = check_int("seeds", seeds, minimum=2)
    scale = check_real("scale", scale, positive=True)
    ss = np.random.SeedSequence(rng)
    inits = [int(c.generate_state(1)[0]) for c in ss.spawn(seeds)]
    cfg = config.replace(record_every=config.steps)  # only the first and the last record
    K = Fs.shape[0]
    out = {k: np.empty((K, seeds)) for k in ("test_accuracy", "train_accuracy", "p_min", "nc1")}
    # the K·S runs share the data: one stack (train_fixed_batch gives train_mixture's runs, bit for bit)
    runs = train_fixed_batch(data, cfg, inits * K, np.repeat(scale * Fs, seeds, axis=0))
    for k in range(K):
        for s in range(seeds):
            run = runs[k * seeds + s]
            out["test_accuracy"][k, s] = run.series("test_accuracy")[-1]
            out["train_accuracy"][k, s] = 1.0 - run.series("train_error")[-1]
            out["p_min"][k, s] = run.series("p_min")[-1]
            out["nc1"][k, s] = run.series("nc1")[-1]
    acc = out["test_accuracy"]
    Fstat, p = two_way_anova(acc)
    return ProbeResult(
        kind=kind, classifiers=scale * Fs, coherence=np.array([coherence(F, signed=True) for F in Fs]),
        spread=float(np.ptp(acc.mean(axis=1))), seed_spread=float(np.mean(np.ptp(acc, axis=1))),
        f_statistic=Fstat, p_value=p,
        config={**dataclasses.asdict(config), "seeds": seeds, "scale": scale}, seed_entropy=ss.entropy
        if isinstance(ss.entropy, int) else None, **out)
