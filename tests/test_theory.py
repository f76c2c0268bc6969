"""Theory predictions (docs/theory.md §6): formulas, the data stable rank against sampling, the report."""

import numpy as np
import pytest

import cnnrank
from cnnrank import theory
from cnnrank.experiments import RunConfig, run_once

# Tolerances of the data-rank formula against the Monte Carlo mean of 6 draws (n=96, d=600, K=3, P=3,
# ‖μ‖=4). Measured relative errors over σ_p ∈ {0, .05, .1, .2, .3, .45, .6, .9, 1.2, 2}, K ∈ {1, 3},
# both positions: noise-dominated end (σ_p >= 1.2, top eigenvalue at the Marchenko-Pastur edge)
# <= 1.2% (data) and 1.7% (patch); clean end with a fixed position <= 0.6%; the spiked transition
# (σ_p 0.3-0.6) up to 5.5% (finite-size smoothing of the BBP transition); random position at low noise
# up to 4.2% (the 6 draws' own group sizes vary). The 2.5% tolerance at the noise-dominated end is the
# worst error seen plus a margin, and is tight enough to catch a 5% error in the edge (1 + √c)².
DATA_RANK_TOL = {  # (position, σ_p) -> relative tolerance
    (0, 0.0): 0.01, (0, 0.1): 0.01, (0, 0.3): 0.07, (0, 0.6): 0.07, (0, 1.2): 0.025, (0, 2.0): 0.025,
    ("random", 0.0): 0.06, ("random", 0.1): 0.06, ("random", 0.3): 0.06, ("random", 0.6): 0.06,
    ("random", 1.2): 0.025, ("random", 2.0): 0.025,
}


@pytest.mark.parametrize("sigma", [0.0, 0.1, 0.3, 0.6, 1.2, 2.0])
@pytest.mark.parametrize("position", [0, "random"])
def test_expected_data_stable_rank_matches_sampling(sigma, position):
    """Monte Carlo mean over 6 samples vs the proportional-limit formula (tolerances above)."""
    cfg = RunConfig(n=96, d=600, K=3, patches=3, signal_norm=4.0, noise_std=sigma, signal_position=position)
    model = cfg.model()
    vals = [cnnrank.data_rank_report(model.sample(cfg.n, rng=s)) for s in range(6)]
    data = np.mean([v["data_stable_rank"] for v in vals])
    patch = np.mean([v["patch_stable_rank"] for v in vals])
    tol = DATA_RANK_TOL[(position, sigma)]
    assert data == pytest.approx(theory.expected_data_stable_rank(cfg), rel=tol)
    if position == 0:
        assert patch == pytest.approx(theory.expected_patch_stable_rank(cfg), rel=max(tol, 0.025))


def test_prediction_formulas():
    cfg = RunConfig()  # n=128, d=2000, K=4, P=3, ‖μ‖=5, σ_p=0.25, m=40, σ0=0.01, η=2, q=3, κ=1
    assert theory.snr(cfg) == pytest.approx(5 / (0.25 * np.sqrt(2000))) == pytest.approx(cfg.model().snr)
    assert theory.benign_indicator(cfg) == pytest.approx(128 / 8 * theory.snr(cfg) ** 3)
    assert theory.benign_limit(cfg) == pytest.approx((128 / 8) ** (1 / 3) * 5 / np.sqrt(2000))
    assert theory.benign_limit(cfg) == pytest.approx(0.2817, abs=1e-4)  # the measured transition σ_p ≈ 0.28
    assert theory.signal_dominance_limit(cfg) == theory.benign_limit(cfg)
    assert theory.benign_indicator(cfg.replace(noise_std=theory.benign_limit(cfg))) == pytest.approx(1.0)
    # σ_p* ≈ 0.28 and Cao et al.'s band: undecided within a factor criteria.BANDS["cao2022"] of it
    assert theory.regime(cfg) == "undecided" and theory.regime(cfg.replace(noise_std=0.15)) == "benign"
    assert theory.regime(cfg.replace(noise_std=0.5)) == "harmful"
    assert theory.benign_indicator(cfg.replace(noise_std=0.0)) == np.inf
    assert theory.noise_takeoff(cfg) == pytest.approx(5 / np.sqrt(2 * 1992))
    assert theory.clean_rank(cfg) == 8 and theory.clean_rank(cfg.replace(signal_position="random")) == 24
    assert theory.lr_bound(cfg) == pytest.approx(min(1 / 25, 1 / (0.0625 * 2000)))
    assert theory.expected_data_stable_rank(cfg, 0.0) == 8.0
    curve = theory.expected_data_stable_rank(cfg, np.linspace(0, 2, 30))
    assert curve.shape == (30,) and curve[-1] > 10 * curve[0]
    with pytest.raises(ValueError, match="noise_std"):
        theory.expected_data_stable_rank(cfg, -1.0)
    with pytest.raises(TypeError, match="RunConfig"):
        theory.snr(object())


def test_signal_learning_time_formula():
    """T_1 by hand (docs/theory.md §6): rate A = η‖μ‖²/(4Km), start a0 = σ0‖μ‖Φ⁻¹(2^(−1/2mK))."""
    from scipy.stats import norm

    cfg = RunConfig()
    A = 2 * 25 / (4 * 4 * 40)
    a0 = 0.01 * 5 * norm.ppf(0.5 ** (1 / (2 * 40 * 4)))
    head = (1 / a0 - 1) / A  # κ=1, q=3: κ^(q−1)(a0^(2−q) − κ^(2−q)) / (A(q−2))
    tail = (a0 + 1 - 1) / A  # from κ to a0 + level, linear
    assert theory.signal_learning_time(cfg) == pytest.approx(head + tail)
    assert theory.time_to_loss(cfg, 0.1) == pytest.approx(head + tail + 40**3 / (2 * 0.1 * 25))
    # K slows it (each signal seen by n/2K samples); larger κ and smaller σ0 slow it; η speeds it.
    t = [theory.signal_learning_time(cfg.replace(K=K)) for K in (1, 2, 4, 8)]
    assert t == sorted(t) and 4 < t[3] / t[0] < 8
    assert theory.signal_learning_time(cfg.replace(kappa=2.0)) > theory.signal_learning_time(cfg)
    assert theory.signal_learning_time(cfg.replace(init_std=0.001)) > theory.signal_learning_time(cfg)
    assert theory.signal_learning_time(cfg.replace(lr=4.0)) == pytest.approx(theory.signal_learning_time(cfg) / 2)
    assert theory.signal_learning_time(cfg.replace(label_noise=0.25)) == pytest.approx(
        2 * theory.signal_learning_time(cfg))
    poly = cfg.replace(activation="poly3")  # σ'(a) = 3a²: t = (1/a0 − 1/(a0+1)) / (3A)
    assert theory.signal_learning_time(poly) == pytest.approx((1 / a0 - 1 / (a0 + 1)) / (3 * A))
    assert theory.signal_learning_time(cfg.replace(init_std=0.0)) == np.inf
    for act in ("relu", "huber2", "poly2"):
        with pytest.raises(ValueError, match=r"q=.*q > 2"):
            theory.signal_learning_time(cfg.replace(activation=act))
    with pytest.raises(ValueError, match="q > 2"):
        theory.signal_learning_time(cfg.replace(activation="huber1.5", init_std=0.0))
    assert np.isnan(theory.predictions(cfg.replace(activation="relu"))["signal_learning_time"])


def test_expected_filter_stable_rank():
    assert theory.expected_filter_stable_rank(4, 0.0) == 8.0
    assert theory.expected_filter_stable_rank(4, 1.0) == 2.0
    assert theory.expected_filter_stable_rank(2, 0.2) == pytest.approx(4 / 1.2)
    assert theory.expected_filter_stable_rank(1, 0.7) == 2.0 == theory.expected_filter_stable_rank(1, -1.0)
    c = np.array([[0.0, 0.25], [0.5, 1.0]])
    out = theory.expected_filter_stable_rank(8, c)
    assert out.shape == (2, 2) and out == pytest.approx(16 / (1 + 7 * c))
    # negative overlap: the top eigenvalue is a²(1 − c)
    assert theory.expected_filter_stable_rank(3, -0.5) == pytest.approx(6 / 1.5)
    for bad in (-0.6, 1.1, np.nan, np.inf):
        with pytest.raises(ValueError, match="overlap"):
            theory.expected_filter_stable_rank(3, bad)
    for K in (0, 2.0, True, "2"):
        with pytest.raises(ValueError, match="K="):
            theory.expected_filter_stable_rank(K, 0.1)


def _learned_part(pos, neg, d=40, scale=3.0):
    """``W − W0 = scale · G μ`` with ``G`` (2m × 2K) block-diagonal by class (own-class columns ``pos``
    and ``neg``, each (m, K)) and ``μ`` (2K × d) orthonormal rows; also ``γ`` (2, m, 2K) of that ``G``."""
    m, K = pos.shape
    G = np.zeros((2 * m, 2 * K))
    G[:m, :K], G[m:, K:] = pos, neg
    mu = np.linalg.qr(np.random.default_rng(1).standard_normal((d, 2 * K)))[0].T  # orthonormal rows
    return scale * G @ mu, scale * G.reshape(2, m, 2 * K)


def _columns(norms, cos, m=10, seed=0):
    """``K`` columns of length ``m`` with the given norms and pairwise cosines (``cos``: K × K, unit
    diagonal): the columns of ``Lᵀ`` for the Cholesky factor ``L`` of the Gram, in a random basis."""
    norms = np.asarray(norms, dtype=float)
    gram = np.asarray(cos, dtype=float) * np.outer(norms, norms)
    K = len(norms)
    L = np.linalg.cholesky(gram + 1e-12 * np.eye(K))
    basis = np.linalg.qr(np.random.default_rng(seed).standard_normal((m, m)))[0][:, :K]
    return basis @ L.T


def _equal(K, c):
    return (1 - c) * np.eye(K) + c * np.ones((K, K))


def _exact_identity(pos, neg):
    """``(tr G₊ + tr G₋) / max(λ₁(G₊), λ₁(G₋))`` for the own-class Grams ``G_± = colsᵀ cols``: the
    stable rank of a learned part whose Gram is block-diagonal by class (docs/theory.md §5)."""
    gp, gn = pos.T @ pos, neg.T @ neg
    return (np.trace(gp) + np.trace(gn)) / max(np.linalg.eigvalsh(gp)[-1], np.linalg.eigvalsh(gn)[-1])


@pytest.mark.parametrize("K,c", [(1, 0.0), (2, 0.3), (4, 0.2), (8, 0.05), (3, -0.4)])
def test_expected_filter_stable_rank_matches_its_derivation(K, c):
    """Equal norms and one cosine ``c`` in both classes: ``2K/(1+(K−1)c)`` is exact (and so is the
    identity, and the library's overlap is ``c``)."""
    from cnnrank.rank import stable_rank
    from cnnrank.subspace import signal_overlap

    cols = _columns(np.ones(K), _equal(K, c))
    A, gamma = _learned_part(cols, cols)
    assert signal_overlap(gamma) == pytest.approx(c if K > 1 else 0.0, abs=1e-9)
    assert stable_rank(A) == pytest.approx(_exact_identity(cols, cols), rel=1e-9)
    assert stable_rank(A) == pytest.approx(theory.expected_filter_stable_rank(K, c), rel=1e-6)


# Unequal classes: (norms, cosines) of the class +1 columns, then of the class −1 columns. The formula,
# fed the library's class-averaged overlap, is off both ways; the identity is exact.
UNEQUAL = {
    # K = 3, unequal norms within and between the classes, different cosines: formula too high
    "K3-mixed": (([1.0, 2.0, 0.5], [[1, 0.1, 0.4], [0.1, 1, 0.2], [0.4, 0.2, 1]]),
                 ([1.5, 1.5, 1.0], [[1, 0.6, 0.0], [0.6, 1, 0.3], [0.0, 0.3, 1]])),
    # K = 2, c₊ = 1 (one filter direction, small norm) and c₋ = 0 (orthogonal, unit norm): identity
    # 2(0.7²) + 2 over max(2·0.7², 1) = 2.98, formula 4/(1 + 0.5) = 2.67, so the formula is not a bound
    "K2-c1-c0": (([0.7, 0.7], _equal(2, 1.0)), ([1.0, 1.0], _equal(2, 0.0))),
    # K = 2, same norms in both classes but c₊ = 0.8, c₋ = 0: the averaging alone (c = 0.4) misleads
    "K2-avg": (([1.0, 1.0], _equal(2, 0.8)), ([1.0, 1.0], _equal(2, 0.0))),
}


@pytest.mark.parametrize("case", sorted(UNEQUAL))
def test_learned_stable_rank_identity_with_unequal_classes(case):
    """Stable rank = (tr G₊ + tr G₋)/max(λ₁(G₊), λ₁(G₋)) holds exactly; ``2K/(1+(K−1)c)`` with the
    class-averaged overlap ``c`` (what :attr:`Trajectory.signal_overlap` holds) misses it by > 10 %."""
    from cnnrank.rank import stable_rank
    from cnnrank.subspace import signal_overlap

    (np_, cp), (nn, cn) = UNEQUAL[case]
    pos, neg = _columns(np_, cp, seed=0), _columns(nn, cn, seed=2)
    K = pos.shape[1]
    A, gamma = _learned_part(pos, neg)
    identity = _exact_identity(pos, neg)
    assert stable_rank(A) == pytest.approx(identity, rel=1e-9)
    c_pos, c_neg = (np.mean(np.asarray(cos)[~np.eye(K, dtype=bool)]) for cos in (cp, cn))
    c = signal_overlap(gamma)
    assert c == pytest.approx((c_pos + c_neg) / 2, abs=1e-9)
    formula = theory.expected_filter_stable_rank(K, c)
    assert abs(identity / formula - 1) > 0.1, (identity, formula)
    if case == "K2-c1-c0":
        assert identity == pytest.approx(2 * 0.49 + 2, rel=1e-9) and identity > formula


def test_measured_signal_learning_time_reads_the_own_class():
    """A trajectory where the wrong-class blocks of γ reach the level earlier than the own-class ones."""
    from types import SimpleNamespace

    K, m, R = 2, 3, 6
    steps = np.arange(R) * 10
    gamma = np.zeros((R, 2, m, 2 * K))
    gamma[1:, 0, :, K:] = 5.0   # class +1 filters on class −1 signals: from step 10
    gamma[2:, 1, :, :K] = 5.0   # class −1 filters on class +1 signals: from step 20
    gamma[4:, 0, 1, 0] = 1.5    # own class +1: step 40
    gamma[3:, 1, 2, K + 1] = 0.9  # own class −1 stays below 1 …
    gamma[5:, 1, 2, K + 1] = 1.0  # … until step 50
    traj = SimpleNamespace(gamma=gamma, steps=steps)
    assert theory.measured_signal_learning_time(traj) == 40.0
    gamma[4:, 0, 1, 0] = 0.0
    assert theory.measured_signal_learning_time(traj) == 50.0
    assert theory.measured_signal_learning_time(traj, level=2.0) is None
    assert theory.measured_signal_learning_time(SimpleNamespace(gamma=None, steps=steps)) is None


def test_verdict():
    assert theory.verdict(10.0, 10.5, 1.1) == "agrees"
    assert theory.verdict(10.0, 9.2, 1.1) == "agrees"
    assert theory.verdict(10.0, 5.0, 1.1) == "off by a factor 2"
    assert theory.verdict(10.0, 0.0, 2.0) == "off by a factor inf"
    assert theory.verdict(float("nan"), 3.0, 2.0) == "does not apply"
    assert theory.verdict(3.0, None, 2.0) == "not measured"
    assert theory.verdict(4.0, 4.0, 1.0) == "agrees" and theory.verdict(4.0, 3.0, 1.0).startswith("off")
    with pytest.raises(ValueError, match="tolerance"):
        theory.verdict(1.0, 1.0, 0.5)


def test_report_puts_measurements_next_to_predictions():
    cfg = RunConfig(n=32, n_test=32, d=300, K=2, m=6, steps=200, record_every=20, lr=1.0, init_std=0.05)
    out = run_once(cfg, rng=0)
    rows = theory.compare(cfg, out)
    names = [r.quantity for r in rows]
    assert any("data stable rank" in n for n in names) and any("T_1" in n for n in names)
    text = theory.format_report(rows)
    assert "predicted" in text and "measured" in text and len(text.splitlines()) == len(rows) + 2
    assert "tolerance" in text and "verdict" in text
    assert all(r.verdict for r in rows) and all(r.verdict in text for r in rows)
    meas = {r.quantity: r.measured for r in rows}
    assert meas["data stable rank (n×Pd)"] == pytest.approx(out.data_ranks["data_stable_rank"])
