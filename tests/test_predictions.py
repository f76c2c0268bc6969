"""The theory's published criteria per activation, its prediction from the initialization (the signal
race, docs/theory.md §6.7) and the report's tolerance table (docs/theory.md §4, §6)."""

import numpy as np
import pytest

import cnnrank
from cnnrank import theory
from cnnrank.criteria import BANDS, CONFIRMED_SIDES
from cnnrank.experiments import RunConfig, run_once
from cnnrank.race import gamma_stable_rank

# σ_p = 0: the race is gradient descent, so the prediction is exact
SMALL = RunConfig(n=30, n_test=0, d=120, K=2, m=5, noise_std=0.0, init_std=0.05, lr=0.8, steps=150,
                  record_every=150, engine="feature")


def test_each_activation_gets_its_published_criterion():
    cfg = RunConfig()  # n=128, K=4, d=2000, ‖μ‖=5
    c = theory.criterion(cfg)
    assert c.name == "cao2022" and "Cao" in c.source and c.p == 3
    relu = theory.criterion(cfg.replace(activation="relu"))
    assert relu.name == "kou2023" and "Kou" in relu.source
    # Kou et al.: (n/2K)·‖μ‖⁴ = σ_p⁴ d at the threshold; not the q = 1 extrapolation (n/2K)·‖μ‖/√d
    assert theory.benign_limit(cfg.replace(activation="relu")) == pytest.approx(16 ** 0.25 * 5 / 2000 ** 0.25)
    assert theory.benign_limit(cfg.replace(activation="relu")) != pytest.approx(16 * 5 / np.sqrt(2000))
    assert theory.benign_indicator(cfg.replace(activation="relu")) == pytest.approx(16 * 5**4 / (0.25**4 * 2000))
    assert theory.criterion(cfg.replace(activation="huber2")).name == "kou2023 (extrapolated)"
    assert theory.signal_dominance_limit(cfg) == theory.benign_limit(cfg) == c.threshold


def test_a_registered_activation_uses_its_declared_power():
    cnnrank.register_activation("cube_pred18", lambda z: np.maximum(z, 0) ** 3,
                                lambda z: 3 * np.maximum(z, 0) ** 2, power=3)
    cnnrank.register_activation("nopower_pred18", lambda z: np.maximum(z, 0) ** 3,
                                lambda z: 3 * np.maximum(z, 0) ** 2)
    cube = theory.criterion(RunConfig(activation="cube_pred18"))
    assert cube.name == "cao2022" and cube.threshold == pytest.approx(theory.benign_limit(RunConfig()))
    with pytest.raises(ValueError, match="activation=.*power"):
        theory.regime(RunConfig(activation="nopower_pred18"))


@pytest.mark.parametrize("activation", ["huber3", "relu", "poly4", "huber2"])
def test_regime_has_three_answers_around_the_threshold(activation):
    cfg = RunConfig(activation=activation)
    crit = theory.criterion(cfg)
    star, band = crit.threshold, BANDS[crit.name]
    assert crit.band == band
    # the benign side answers "benign" only where the scorecard confirmed it (docs/calibration.md)
    low = "benign" if "benign" in CONFIRMED_SIDES[crit.name] else "undecided"
    assert low == ("benign" if activation in ("huber3", "poly4") else "undecided")
    assert theory.regime(cfg.replace(noise_std=star / band / 1.01)) == low
    assert theory.regime(cfg.replace(noise_std=star * band * 1.01)) == "harmful"
    assert theory.regime(cfg.replace(noise_std=0.0)) == low
    if band > 1:
        assert theory.regime(cfg.replace(noise_std=star)) == "undecided"
        assert theory.regime(cfg.replace(noise_std=star / band * 1.01)) == "undecided"


@pytest.mark.parametrize("engine, label_noise", [("feature", 0.0), ("feature", 0.2), ("gram", 0.1), ("implicit", 0.0)])
def test_the_prediction_for_a_run_is_exact_without_background_noise(engine, label_noise):
    cfg = SMALL.replace(engine=engine, label_noise=label_noise)
    out = run_once(cfg, rng=4)
    pred = theory.predict_for_run(cfg, out)
    assert pred is not None
    g = out.trajectory.gamma[-1]
    assert np.abs(g).max() > 0.1
    np.testing.assert_allclose(pred.gamma, g, rtol=0, atol=1e-10 * np.abs(g).max())
    norms = np.sqrt(out.data.signal_sq_norms)
    assert pred.learned_stable_rank == pytest.approx(gamma_stable_rank(g, norms), rel=1e-9)
    s = out.scalars()
    assert s["predicted_learned_stable_rank"] == pytest.approx(pred.learned_stable_rank, rel=1e-12)
    assert isinstance(s["predicted_signals_learned"], int) and isinstance(s["predicted_learned_dimension"], int)
    assert s["predicted_signals_learned"] == pred.signals_learned


def test_the_prediction_misses_with_another_initialization():
    """Control: the race from another run's filters does not reproduce this run."""
    out = run_once(SMALL, rng=4)
    other = run_once(SMALL, rng=5).trajectory.W_init
    pred = theory.predict_from_initialization(SMALL, other, data=out.data)
    g = out.trajectory.gamma[-1]
    assert np.abs(pred.gamma - g).max() > 1e-2 * np.abs(g).max()


def test_expected_group_sizes_are_the_balanced_models_counts():
    # n = 30, 2K = 4: groups of 8, 8, 7, 7 (not n/2K = 7.5), and no data needed with a canonical basis
    out = run_once(SMALL, rng=4)
    W0 = out.trajectory.W_init
    with_data = theory.predict_from_initialization(SMALL, W0, data=out.data)
    expected = theory.predict_from_initialization(SMALL, W0)
    np.testing.assert_array_equal(np.bincount(out.data.signal_id), [8, 7, 8, 7])
    np.testing.assert_allclose(expected.gamma, with_data.gamma, rtol=0, atol=1e-12)
    # unbalanced data: n/2K per signal, so this run (whose counts differ) is not reproduced exactly
    loose = SMALL.replace(balanced=False)
    out = run_once(loose, rng=4)
    exp = theory.predict_from_initialization(loose, out.trajectory.W_init)
    act = theory.predict_from_initialization(loose, out.trajectory.W_init, data=out.data)
    assert np.abs(exp.gamma - act.gamma).max() > 1e-6


def test_prediction_arguments_are_checked():
    out = run_once(SMALL, rng=4)
    W0 = out.trajectory.W_init
    with pytest.raises(ValueError, match="W0 has shape"):
        theory.predict_from_initialization(SMALL, W0[:, :3])
    with pytest.raises(ValueError, match="W0 and a0"):
        theory.predict_from_initialization(SMALL, W0, a0=np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match="W0 is invalid"):
        theory.predict_from_initialization(SMALL)
    with pytest.raises(ValueError, match="data is invalid"):
        theory.predict_from_initialization(SMALL.replace(signal_basis="random"), W0)
    with pytest.raises(ValueError, match="data is invalid for config"):
        theory.predict_from_initialization(SMALL.replace(n=31), W0, data=out.data)
    with pytest.raises(ValueError, match="steps"):
        theory.predict_from_initialization(SMALL, W0, steps=-1)
    a0 = cnnrank.race.initial_signal_correlations(W0, out.data.signals)
    assert np.array_equal(theory.predict_from_initialization(SMALL, a0=a0, data=out.data).gamma,
                          theory.predict_from_initialization(SMALL, W0, data=out.data).gamma)


def test_compare_uses_the_tolerance_table_and_says_where_no_range_is_documented():
    cfg = SMALL.replace(n_test=32, noise_std=0.02)
    rows = {r.quantity: r for r in theory.compare(cfg, run_once(cfg, rng=4))}
    srank = rows["learned stable rank (from the initialization)"]
    assert srank.tolerance == theory.TOLERANCES["learned_stable_rank"] and srank.verdict == "agrees"
    assert rows["learned dimension (from the initialization)"].verdict == "agrees"
    assert rows["data stable rank (n×Pd)"].tolerance == theory.TOLERANCES["data_stable_rank"]
    assert rows["signals learned (from the initialization)"].predicted == 4
    # inside the band: the regime has no documented range, and the learned-filter rows then
    # apply only to a run measured benign
    star = theory.benign_limit(cfg)
    near = cfg.replace(noise_std=star)
    rows = {r.quantity: r for r in theory.compare(near, run_once(near, rng=4))}
    reg = next(r for name, r in rows.items() if name.startswith("regime: cao2022"))
    assert reg.verdict == "outside the documented range" and "predicted undecided" in reg.note
    relu = cfg.replace(activation="relu")
    rows = {r.quantity: r for r in theory.compare(relu, run_once(relu, rng=4))}
    assert rows["T_1 (steps to max γ ≥ 1)"].verdict == "outside the documented range"
    assert any(name.startswith("regime: kou2023") for name in rows)


def test_compare_says_the_data_rank_is_outside_its_range_above_K_4():
    """docs/calibration.md: the data's stable rank is documented within 5 % for K <= 4 only."""
    small = RunConfig(n=40, n_test=10, d=200, m=4, steps=20, record_every=20, noise_std=0.5)
    for K, inside in ((2, True), (5, False)):
        cfg = small.replace(K=K)
        row = next(r for r in theory.compare(cfg, run_once(cfg, rng=0)) if r.quantity.startswith("data stable rank"))
        assert (row.verdict == "outside the documented range") is not inside, (K, row)
