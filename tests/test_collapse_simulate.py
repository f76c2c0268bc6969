"""Tests of cnnrank.collapse.simulate and probes: gradients, collapse, margins, reproducibility."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnrank.collapse import simplex_etf
from cnnrank.collapse.probes import ProbeResult, classifier_variants, fixed_classifier_probe, two_way_anova
from cnnrank.collapse.simulate import (
    CollapseDivergenceError,
    CollapseRun,
    FeatureNetConfig,
    MixtureConfig,
    UFMConfig,
    cross_entropy,
    feature_net_loss_and_grad,
    init_feature_net,
    sample_mixture,
    train_mixture,
    train_ufm,
    ufm_loss_and_grad,
)
from cnnrank.errors import TrainingDiverged
from cnnrank.testing import check_grad


def _dir_check(f, x, g, rng):
    """Central difference of f along a random unit direction against ⟨g, u⟩ (cnnrank.testing)."""
    # step 1e-6: O(eps²) truncation plus O(1e-16/eps) rounding, so 1e-6 relative is ample
    check_grad(f, lambda _: g, x, eps=1e-6, rtol=1e-6, atol=1e-9, rng=rng)


@pytest.mark.parametrize("activation", ["tanh", "linear", "relu"])
def test_feature_net_gradient(activation):
    rng = np.random.default_rng(0)
    data = sample_mixture(MixtureConfig(num_classes=3, input_dim=5, n_train_per_class=4, n_test_per_class=1), rng=1)
    cfg = FeatureNetConfig(width=6, activation=activation)
    p = init_feature_net(cfg, 5, 3, rng=2)
    p["a"] = 0.3 * rng.standard_normal(6)  # keep ReLU pre-activations away from the kink
    loss, grads, _ = feature_net_loss_and_grad(p, data.X_train, data.y_train, activation, 0.01)
    for key in p:
        def f(x, key=key):
            q = dict(p, **{key: x})
            return feature_net_loss_and_grad(q, data.X_train, data.y_train, activation, 0.01)[0]
        _dir_check(f, p[key], grads[key], rng)


def test_ufm_gradient():
    rng = np.random.default_rng(3)
    cfg = UFMConfig(num_classes=4, n_per_class=3, dim=5, weight_decay_b=0.02)
    H, W, b = rng.standard_normal((12, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    y = np.repeat(np.arange(4), 3)
    _, (gH, gW, gb) = ufm_loss_and_grad(H, W, b, y, cfg)
    _dir_check(lambda x: ufm_loss_and_grad(x, W, b, y, cfg)[0], H, gH, rng)
    _dir_check(lambda x: ufm_loss_and_grad(H, x, b, y, cfg)[0], W, gW, rng)
    _dir_check(lambda x: ufm_loss_and_grad(H, W, x, y, cfg)[0], b, gb, rng)


def test_cross_entropy_stable_for_huge_logits():
    Z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0]])
    loss, G = cross_entropy(Z, np.array([0, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(G)) and np.isclose(loss, 1e4)


def test_ufm_collapses_to_simplex_etf():
    # With weight decay the global minimizers of the UFM are exactly collapsed simplex ETFs (Zhu et
    # al. 2021); gradient descent gets there to ~1e-6 within 4000 steps at these sizes.
    run = train_ufm(UFMConfig(), rng=0)
    last = dict(zip(run.history_names, run.history[-1]))
    first = dict(zip(run.history_names, run.history[0]))
    assert last["train_error"] == 0 and last["nc4_ncc_mismatch"] == 0
    assert first["nc1"] > 1 and last["nc1"] < 1e-8
    for k in ("etf_distance_means", "equinorm_means", "equiangular_means", "nc3_duality"):
        assert last[k] < 1e-6, k
    assert last["etf_distance_classifier"] < 1e-4
    # the classifier is self-dual to the means: rows of W ∝ centred means
    assert last["p_min"] > 0


def test_margins_grow_past_zero_error_on_mixture():
    data = sample_mixture(MixtureConfig(input_dim=64, n_train_per_class=10, n_test_per_class=20), rng=0)
    run = train_mixture(data, FeatureNetConfig(steps=1500, record_every=50), rng=1)
    t0 = run.first_zero_error_step
    assert t0 is not None and t0 <= 300                       # zero training error early ...
    after = run.steps >= t0
    pm = run.series("p_min")[after]
    assert pm[0] > 0 and pm[-1] > 1.3 * pm[0]                 # ... and p_min keeps growing well past it
    assert np.all(np.diff(pm) > 0)                            # monotonically, on these fixed seeds
    assert np.all(run.series("train_error")[after] == 0)
    assert run.series("loss")[-1] < 1e-3
    assert run.series("nc1")[-1] < 0.2 * run.series("nc1")[0]  # within-class variability collapses


def test_same_seed_same_bits_and_roundtrip(tmp_path):
    cfg = UFMConfig(steps=50, record_every=10)
    a, b = train_ufm(cfg, rng=5), train_ufm(cfg, rng=5)
    assert np.array_equal(a.history, b.history, equal_nan=True) and np.array_equal(a.H, b.H)
    data = sample_mixture(MixtureConfig(n_train_per_class=3, n_test_per_class=3), rng=1)
    fc = FeatureNetConfig(steps=30, record_every=10)
    r1, r2 = train_mixture(data, fc, rng=2), train_mixture(data, fc, rng=2)
    assert np.array_equal(r1.history, r2.history) and np.array_equal(r1.W, r2.W)
    r3 = CollapseRun.load(r1.save(tmp_path / "run.npz"))
    assert np.array_equal(r3.history, r1.history) and r3.config == r1.config and r3.seed_entropy == 2
    assert r3.first_zero_error_step == r1.first_zero_error_step


def test_divergence_is_a_training_diverged_with_the_partial_record(tmp_path):
    with pytest.raises(CollapseDivergenceError, match=r"at step \d+ .*smaller lr") as info:
        train_ufm(UFMConfig(lr=1e6, steps=200, record_every=1, weight_decay_H=1.0, weight_decay_W=1.0), rng=0)
    exc = info.value
    assert isinstance(exc, TrainingDiverged) and isinstance(exc, ArithmeticError)
    assert exc.lr == 1e6 and exc.step >= 1 and f"step {exc.step}" in str(exc)
    part = exc.trajectory
    assert isinstance(part, CollapseRun) and part.model == "ufm"
    assert part.steps.tolist() == list(range(part.steps.size)) and part.steps[-1] < exc.step
    assert part.history.shape == (part.steps.size, len(part.history_names))
    assert np.all(np.isfinite(part.H)) and np.all(np.isfinite(part.W))
    back = CollapseRun.load(part.save(tmp_path / "partial.npz"))
    assert np.array_equal(back.steps, part.steps) and np.array_equal(back.H, part.H)
    data = sample_mixture(MixtureConfig(n_train_per_class=3, n_test_per_class=3), rng=1)
    with pytest.raises(TrainingDiverged) as info2:
        train_mixture(data, FeatureNetConfig(lr=1e8, steps=100, record_every=7, init_scale=30.0), rng=0)
    assert isinstance(info2.value, CollapseDivergenceError) and info2.value.trajectory.model == "mixture"
    assert set(info2.value.trajectory.steps.tolist()) <= set(range(0, 101, 7))


def test_record_steps_are_the_core_schedule():
    run = train_ufm(UFMConfig(steps=25, record_every=10), rng=0)
    assert run.steps.tolist() == [0, 10, 20, 25]  # 0, r, 2r, ..., and always the last step
    with pytest.raises(ValueError, match="record_every=0"):
        UFMConfig(record_every=0)


def test_divergence_and_validation():
    with pytest.raises(ValueError, match="lr"):
        UFMConfig(lr=0)
    with pytest.raises(ValueError, match="activation"):
        FeatureNetConfig(activation="gelu")
    data = sample_mixture(MixtureConfig(n_train_per_class=2, n_test_per_class=2), rng=0)
    with pytest.raises(ValueError, match="fixed_classifier"):
        train_mixture(data, FeatureNetConfig(steps=2), fixed_classifier=np.zeros((5, 3)))


def test_classifier_variants_preserve_gram_spectrum():
    M = simplex_etf(5, 4, rng=0)
    for kind in ("permutation", "rotation"):
        V = classifier_variants(M, 4, kind, rng=1)
        assert np.array_equal(V[0], M)
        for F in V:  # all pairwise inner products -1/4: same frame up to symmetry
            np.testing.assert_allclose(F @ F.T, (5 * np.eye(5) - 1) / 4, atol=1e-12)


def test_two_way_anova():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((1, 5))
    assert np.isnan(two_way_anova(np.repeat(base, 3, axis=0))[0])        # assignment irrelevant
    F, p = two_way_anova(np.array([[0.0], [1.0], [2.0]]) + base)            # additive, no residual
    assert F == np.inf and p == 0.0
    acc = rng.standard_normal((4, 6))
    F, p = two_way_anova(acc)
    # oracle: least-squares fit of the additive model with dummy variables
    K, S = acc.shape
    X = np.hstack([np.kron(np.eye(K), np.ones((S, 1))), np.kron(np.ones((K, 1)), np.eye(S))[:, 1:]])
    rss_full = np.sum((acc.ravel() - X @ np.linalg.lstsq(X, acc.ravel(), rcond=None)[0]) ** 2)
    Xr = np.hstack([np.ones((K * S, 1)), X[:, K + 0:]])
    rss_red = np.sum((acc.ravel() - Xr @ np.linalg.lstsq(Xr, acc.ravel(), rcond=None)[0]) ** 2)
    assert np.isclose(F, ((rss_red - rss_full) / (K - 1)) / (rss_full / ((K - 1) * (S - 1))))
    assert 0 < p < 1


@settings(max_examples=60, deadline=None, derandomize=True)
@given(K=st.integers(2, 6), S=st.integers(2, 9), seed=st.integers(0, 2**32 - 1), ties=st.booleans())
def test_two_way_anova_p_value_is_scipy_stats_to_the_bit(K, S, seed, ties):
    """The p-value without importing scipy.stats is scipy.stats.f.sf's, bit for bit (accuracies on a grid
    of 1/10 included: ties, an F of 0)."""
    from scipy import stats

    acc = np.random.default_rng(seed).random((K, S))
    if ties:
        acc = np.round(acc, 1)
    F, p = two_way_anova(acc)
    if np.isfinite(F):
        assert p == float(stats.f.sf(F, K - 1, (K - 1) * (S - 1)))


def test_probe_small_and_roundtrip(tmp_path):
    data = sample_mixture(MixtureConfig(num_classes=3, input_dim=8, n_train_per_class=4, n_test_per_class=10), rng=0)
    Fs = classifier_variants(simplex_etf(3, 2, rng=0), 2, "rotation", rng=1)
    cfg = FeatureNetConfig(width=2, activation="tanh", steps=40)
    r = fixed_classifier_probe(data, Fs, cfg, seeds=2, kind="etf-rotation", rng=3)
    assert r.test_accuracy.shape == (2, 2) and np.allclose(r.coherence, -0.5)
    assert np.isclose(r.spread, np.ptp(r.test_accuracy.mean(1)))
    r2 = fixed_classifier_probe(data, Fs, cfg, seeds=2, kind="etf-rotation", rng=3)
    assert np.array_equal(r.test_accuracy, r2.test_accuracy)
    r3 = ProbeResult.load(r.save(tmp_path / "p.npz"))
    assert np.array_equal(r3.classifiers, r.classifiers) and r3.kind == "etf-rotation"


def test_plot_functions_return_figures():
    import matplotlib.pyplot as plt

    from cnnrank.collapse import grassmannian_frame
    from cnnrank.collapse import plotting as P

    run = train_ufm(UFMConfig(steps=40, record_every=10), rng=0)
    data = sample_mixture(MixtureConfig(num_classes=3, input_dim=8, n_train_per_class=4, n_test_per_class=5), rng=0)
    Fs = classifier_variants(simplex_etf(3, 2, rng=0), 2, "permutation", rng=1)
    pr = fixed_classifier_probe(data, Fs, FeatureNetConfig(width=2, activation="tanh", steps=20), seeds=2, rng=0)
    frames = [grassmannian_frame(3, 2, restarts=1, steps=50, rng=0)]
    for fig in (P.plot_nc_history(run), P.plot_margins(run), P.plot_accuracy(run), P.plot_feature_pca(run),
                P.plot_mean_cosines(run, run), P.plot_probe([pr]), P.plot_frame_gaps(frames),
                P.collapse_figure(run, run), P.probes_figure([pr], [pr], frames)):
        assert fig.axes
        plt.close(fig)
    fig, ax = plt.subplots()
    assert P.plot_margins(run, ax=ax) is fig
    plt.close(fig)
