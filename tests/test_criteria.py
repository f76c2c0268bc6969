"""The published criteria (cnnrank.criteria, docs/theory.md §4)."""

import math

import pytest

from cnnrank.criteria import BANDS, CONFIRMED_SIDES, criterion_for


def test_cao_threshold_is_the_documented_default():
    c = criterion_for(3.0, n=128, K=4, d=2000, signal_norm=5.0, noise_std=0.1)
    assert c.name == "cao2022" and "Cao" in c.source
    assert c.threshold == pytest.approx((128 / 8) ** (1 / 3) * 5 / math.sqrt(2000), rel=1e-12)
    assert c.indicator == pytest.approx(16 * (5 / (0.1 * math.sqrt(2000))) ** 3, rel=1e-12)


def test_kou_threshold_for_relu():
    c = criterion_for(1.0, n=128, K=4, d=2000, signal_norm=5.0, noise_std=1.0, relu=True)
    assert c.name == "kou2023" and "Kou" in c.source
    # n‖μ‖⁴ = σ⁴ d with n → n/2K
    assert c.threshold == pytest.approx(5 * (16 / 2000) ** 0.25, rel=1e-12)
    assert c.indicator == pytest.approx(16 * 5**4 / 2000, rel=1e-12)
    q2 = criterion_for(2.0, n=128, K=4, d=2000, signal_norm=5.0, noise_std=1.0)
    assert q2.name == "kou2023 (extrapolated)" and q2.threshold == pytest.approx(c.threshold)


@pytest.mark.parametrize("q, relu", [(3.0, False), (4.5, False), (1.0, True), (2.0, False)])
def test_regime_is_undecided_inside_the_band_and_on_unconfirmed_sides(q, relu):
    base = criterion_for(q, n=100, K=2, d=1000, signal_norm=4.0, noise_std=0.1, relu=relu)
    s, b = base.threshold, base.band
    assert b == BANDS[base.name]
    low = "benign" if "benign" in CONFIRMED_SIDES[base.name] else "undecided"
    assert low == ("benign" if q > 2 else "undecided")  # the ReLU/q = 2 forms: harmful side only

    def reg(sig):
        return criterion_for(q, n=100, K=2, d=1000, signal_norm=4.0, noise_std=sig, relu=relu).regime

    assert reg(s / b * 0.999) == low and reg(0.0) == low
    assert reg(s * b * 1.001) == "harmful"
    if b > 1:
        assert reg(s / b * 1.001) == "undecided" and reg(s) == "undecided" and reg(s * b * 0.999) == "undecided"


def test_indicator_is_one_at_the_threshold_and_extreme_powers_do_not_overflow():
    for q in (2.5, 3.0, 8.0, 60.0):
        t = criterion_for(q, n=300, K=3, d=4000, signal_norm=7.0, noise_std=1.0).threshold
        c = criterion_for(q, n=300, K=3, d=4000, signal_norm=7.0, noise_std=t)
        assert c.indicator == pytest.approx(1.0, rel=1e-9)
    # beyond the largest float the indicator is its limit, inf (as theory.benign_indicator always gave),
    # with no OverflowError or warning; the threshold stays finite
    far = criterion_for(200.0, n=300, K=3, d=10**6, signal_norm=1e3, noise_std=1e-3)
    assert far.indicator == math.inf and math.isfinite(far.threshold) and far.regime == "benign"


def test_bad_arguments():
    with pytest.raises(ValueError, match="power"):
        criterion_for(0.5, n=10, K=1, d=10, signal_norm=1.0, noise_std=0.1)
    with pytest.raises(ValueError, match="noise_std"):
        criterion_for(3.0, n=10, K=1, d=10, signal_norm=1.0, noise_std=-0.1)
    with pytest.raises(ValueError, match="band"):
        criterion_for(3.0, n=10, K=1, d=10, signal_norm=1.0, noise_std=0.1, band=0.5)
