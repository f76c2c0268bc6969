"""Theory predictions (issue 4): the derived data stable rank against sampling, and the report."""

import numpy as np
import pytest

import cnnrank
from cnnrank import theory
from cnnrank.experiments import RunConfig, run_once


@pytest.mark.parametrize("sigma", [0.0, 0.1, 0.3, 0.6, 1.2])
@pytest.mark.parametrize("position", [0, "random"])
def test_expected_data_stable_rank_matches_sampling(sigma, position):
    """Monte Carlo mean over 6 samples vs the proportional-limit formula.

    At n=96, d=600 the sample-to-sample spread of the stable rank is ~1-2% and the finite-size bias
    of the spiked-Wishart edge is a few percent at the transition, so 8% relative is the tolerance.
    """
    cfg = RunConfig(n=96, d=600, K=3, patches=3, signal_norm=4.0, noise_std=sigma, signal_position=position)
    model = cfg.model()
    vals = [cnnrank.data_rank_report(model.sample(cfg.n, rng=s)) for s in range(6)]
    data = np.mean([v["data_stable_rank"] for v in vals])
    patch = np.mean([v["patch_stable_rank"] for v in vals])
    assert data == pytest.approx(theory.expected_data_stable_rank(cfg), rel=0.08)
    if position == 0:
        assert patch == pytest.approx(theory.expected_patch_stable_rank(cfg), rel=0.08)


def test_prediction_formulas():
    cfg = RunConfig()  # n=128, d=2000, K=4, P=3, ‖μ‖=5, σ_p=0.25, m=40, σ0=0.01, η=2, q=3
    assert theory.snr(cfg) == pytest.approx(5 / (0.25 * np.sqrt(2000)))
    assert theory.benign_indicator(cfg) == pytest.approx(128 * theory.snr(cfg) ** 3)
    assert theory.regime(cfg) == "benign" and theory.regime(cfg.replace(noise_std=2.0)) == "harmful"
    assert theory.noise_takeoff(cfg) == pytest.approx(5 / np.sqrt(2 * 1992))
    assert theory.signal_dominance_limit(cfg) == pytest.approx((128 / 4) ** (1 / 3) * 5 / np.sqrt(2000))
    assert theory.clean_rank(cfg) == 8 and theory.clean_rank(cfg.replace(signal_position="random")) == 24
    assert theory.signal_learning_time(cfg) == pytest.approx(40 / (2 * 0.01 * 125))
    assert theory.time_to_loss(cfg, 0.1) == pytest.approx(16 + 40**3 / (2 * 0.1 * 25))
    assert theory.lr_bound(cfg) == pytest.approx(min(1 / 25, 1 / (0.0625 * 2000)))
    assert theory.expected_data_stable_rank(cfg, 0.0) == 8.0
    curve = theory.expected_data_stable_rank(cfg, np.linspace(0, 2, 30))
    assert curve.shape == (30,) and curve[-1] > 10 * curve[0]
    with pytest.raises(ValueError, match="noise_std"):
        theory.expected_data_stable_rank(cfg, -1.0)
    with pytest.raises(TypeError, match="RunConfig"):
        theory.snr(object())


def test_report_puts_measurements_next_to_predictions():
    cfg = RunConfig(n=32, n_test=32, d=300, K=2, m=6, steps=200, record_every=20, lr=1.0, init_std=0.05)
    out = run_once(cfg, rng=0)
    rows = theory.compare(cfg, out)
    names = [r.quantity for r in rows]
    assert any("data stable rank" in n for n in names) and any("T_1" in n for n in names)
    text = theory.format_report(rows)
    assert "predicted" in text and "measured" in text and len(text.splitlines()) == len(rows) + 2
    meas = {r.quantity: r.measured for r in rows}
    assert meas["data stable rank (n×Pd)"] == pytest.approx(out.data_ranks["data_stable_rank"])
