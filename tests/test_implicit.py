"""Dimension-free sampling (``sample_gram``, :mod:`cnnrank.gram_sample`) and ``train_implicit``.

Moment tests: a Gram matrix of ``d`` i.i.d. Gaussian coordinates is Wishart, ``E = d Σ`` and
``Var G_ij = d (Σ_ii Σ_jj + Σ_ij²)``. With ``R`` independent draws the sample mean of an entry has
standard error ``sqrt(Var / R)`` and the sample variance has standard error
``Var · sqrt((2 + κ) / R)`` with ``κ`` the excess kurtosis of the entry (``6/d`` for an off-diagonal
entry, ``12/d`` for a diagonal one; we bound it by ``12/d_min``). Every check allows 5 standard errors:
with the fixed seeds used here the tests are deterministic, and a real error in the law (a wrong
degree of freedom, a missing projection, a wrong scale) moves the statistic by far more.
"""

import numpy as np
import pytest
from scipy import stats

import cnnrank
from cnnrank.activations import HuberizedReLU
from cnnrank.engines.gram import GramProblem
from cnnrank.gram_sample import GramSample, gram_sample_from_data, sample_gram, wishart_bartlett
from cnnrank.train import train_implicit


def _check_mean_var(draws, mean, var, dmin, R, label):
    """Sample mean and variance of ``draws`` (R, ...) against the formulas, 5 standard errors."""
    se_mean = np.sqrt(var / R)
    m_hat, v_hat = draws.mean(axis=0), draws.var(axis=0, ddof=1)
    assert np.all(np.abs(m_hat - mean) <= 5 * se_mean + 1e-12 * np.abs(mean)), (label, m_hat, mean)
    se_var = var * np.sqrt((2 + 12 / dmin) / R)
    assert np.all(np.abs(v_hat - var) <= 5 * se_var), (label, v_hat, var)


@pytest.mark.parametrize("dof, N", [(7, 4), (3, 5), (10**9, 3)])
def test_wishart_bartlett_moments(dof, N):
    R = 4000
    rng = np.random.default_rng(11)
    H = np.stack([wishart_bartlett(dof, N, rng) for _ in range(R)])
    assert np.allclose(H, H.transpose(0, 2, 1))
    eye = np.eye(N)
    _check_mean_var(H, dof * eye, dof * (1 + eye), dof, R, "wishart")  # Σ = I: Var = d (1 + δ_ij)


@pytest.mark.parametrize("project", [True, False])
@pytest.mark.parametrize("d", [40, 10**9])
def test_sample_gram_moments_match_wishart_formulas(project, d):
    # vectors: 2K = 2 signals, n (P-1) = 2 training noise, n_test (P-1) = 1 test noise, 2m = 2 filters
    mu, sp = 2.0, 0.7 / np.sqrt(d) * np.sqrt(40)
    s0 = 0.3 / np.sqrt(d) * np.sqrt(40)
    model = cnnrank.SignalNoiseModel(d=d, K=1, patches=2, signal_norm=mu, noise_std=sp, project_noise=project)
    R = 3000
    ss = np.random.SeedSequence(5).spawn(R)
    Gs = np.stack([sample_gram(model, n=2, m=1, init_std=s0, n_test=1, rng=s).gram for s in ss])
    sig, noise, filt = slice(0, 2), slice(2, 5), slice(5, 7)
    dn = d - 2 if project else d  # noise lives in the complement of the signals when projected
    # signals: deterministic
    assert np.allclose(Gs[:, sig, sig], mu**2 * np.eye(2))
    eye3, eye2 = np.eye(3), np.eye(2)
    _check_mean_var(Gs[:, noise, noise], sp**2 * dn * eye3, sp**4 * dn * (1 + eye3), dn, R, "noise")
    _check_mean_var(Gs[:, filt, filt], s0**2 * d * eye2, s0**4 * d * (1 + eye2), d, R, "filters")
    _check_mean_var(Gs[:, noise, filt], 0.0, sp**2 * s0**2 * dn, dn, R, "noise-filter")
    _check_mean_var(Gs[:, sig, filt], 0.0, mu**2 * s0**2, 1, R, "signal-filter")
    if project:
        assert np.all(Gs[:, sig, noise] == 0.0)
    else:
        _check_mean_var(Gs[:, sig, noise], 0.0, mu**2 * sp**2, 1, R, "signal-noise")


def test_implicit_engine_on_explicit_inner_products_equals_feature_engine():
    # same inner products => the same trajectory to rounding (bookkeeping of γ, ρ, test, ranks)
    model = cnnrank.SignalNoiseModel(d=120, K=2, patches=3, signal_norm=3.0, noise_std=0.5,
                                     signal_position="random", label_noise=0.1)
    data, test = model.sample(14, rng=0), model.sample(9, rng=1)
    net = cnnrank.TwoLayerCNN.init(m=3, d=120, init_std=0.1, activation=HuberizedReLU(1.0, 3.0), rng=2)
    a = cnnrank.train(net, data, lr=0.5, steps=150, record_every=30, test=test, engine="feature")
    gs = gram_sample_from_data(model, data, net.W, test)
    b = train_implicit(net.activation, gs, lr=0.5, steps=150, record_every=30)
    for name in ("train_loss", "train_acc", "test_loss", "test_acc", "coef", "gamma", "rho",
                 "filter_stable_rank", "learned_stable_rank"):
        x, y = getattr(b, name), getattr(a, name)
        assert np.max(np.abs(x - y)) <= 1e-9 * np.max(np.abs(y)), name
    assert b.W_final is None and b.W_init is None and b.patches is None
    with pytest.raises(ValueError, match="keeps no vectors"):
        b.weights_at(-1)
    assert gs.data_stable_rank() == pytest.approx(cnnrank.stable_rank(data.X.reshape(14, -1)), rel=1e-9)
    assert gs.data_stable_rank(clean=True) == pytest.approx(
        cnnrank.stable_rank(data.clean().X.reshape(14, -1)), rel=1e-9)


def test_training_outcome_distribution_implicit_vs_explicit_sampling():
    # R seeds each: final filter stable rank and train loss from sample_gram vs from explicit vectors.
    # Two-sample KS test at level 1e-3 plus means within 5 standard errors of the difference; the two
    # laws are identical, so only sampling noise separates them (R = 60 resolves shifts of ~0.3 sd).
    d, n, m, s0 = 150, 12, 3, 0.1
    model = cnnrank.SignalNoiseModel(d=d, K=2, patches=3, signal_norm=2.0, noise_std=0.15)
    act = HuberizedReLU(1.0, 3.0)
    kw = dict(lr=1.0, steps=120, record_every=120)
    R = 60
    imp, exp = [], []
    for s in np.random.SeedSequence(2024).spawn(R):
        a, b, c = s.spawn(3)
        t = train_implicit(act, model.sample_gram(n, m, s0, rng=a), **kw)
        imp.append((t.filter_stable_rank[-1], t.train_loss[-1]))
        net = cnnrank.TwoLayerCNN.init(m=m, d=d, init_std=s0, activation=act, rng=b)
        t = cnnrank.train(net, model.sample(n, rng=c), engine="gram", **kw)
        exp.append((t.filter_stable_rank[-1], t.train_loss[-1]))
    imp, exp = np.array(imp), np.array(exp)
    for k in range(2):
        assert stats.ks_2samp(imp[:, k], exp[:, k]).pvalue > 1e-3
        se = np.sqrt(imp[:, k].var(ddof=1) / R + exp[:, k].var(ddof=1) / R)
        assert abs(imp[:, k].mean() - exp[:, k].mean()) <= 5 * se


def test_implicit_at_a_billion_dimensions_is_cheap_and_sane():
    d = 10**9
    model = cnnrank.SignalNoiseModel(d=d, K=2, patches=3, signal_norm=4.0, noise_std=0.5 / np.sqrt(d / 500))
    gs = model.sample_gram(16, 4, init_std=0.01 / np.sqrt(d / 500), n_test=16, rng=0)
    assert isinstance(gs, GramSample) and gs.n_distinct == 4 + 16 * 2
    assert np.allclose(gs.noise_sq_norms.mean() / (0.25 * 500), 1, atol=0.01)  # σ_p² (d - 2K)
    t = train_implicit(HuberizedReLU(1.0, 3.0), gs, lr=1.0, steps=200)
    assert t.engine == "implicit" and t.test_loss is not None and np.all(np.isfinite(t.train_loss))
    assert t.train_loss[-1] < t.train_loss[0]
    assert t.gamma.shape == (len(t), 2, 4, 4) and t.rho.shape == (len(t), 2, 4, 16, 2)


def test_zero_noise_and_zero_signal_patches_are_dropped():
    m0 = cnnrank.SignalNoiseModel(d=30, K=2, patches=3, signal_norm=2.0, noise_std=0.0)
    assert m0.sample_gram(10, 2, 0.1, rng=0).n_distinct == 4
    m1 = cnnrank.SignalNoiseModel(d=30, K=2, patches=3, signal_norm=0.0, noise_std=1.0)
    gs = m1.sample_gram(10, 2, 0.1, n_test=3, rng=0)
    problem = GramProblem.from_sample(gs)
    assert problem.M == 20 and problem.test_G.shape == (6, 20)
    t = train_implicit(cnnrank.ReLU(), gs, lr=0.1, steps=5)
    assert t.engine == "implicit" and t.metadata["engine_choice"] == "requested"


def test_same_seed_same_bits_and_validation():
    model = cnnrank.SignalNoiseModel(d=50, K=1, patches=2)
    a, b = model.sample_gram(5, 2, 0.1, n_test=2, rng=3), model.sample_gram(5, 2, 0.1, n_test=2, rng=3)
    assert np.array_equal(a.gram, b.gram) and np.array_equal(a.y, b.y)
    with pytest.raises(ValueError, match="n=0"):
        model.sample_gram(0, 2, 0.1)
    with pytest.raises(ValueError, match="init_std"):
        model.sample_gram(3, 2, -1.0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=50, init_std=0.1, activation=cnnrank.ReLU(), rng=0)
    with pytest.raises(TypeError, match="pass the Activation"):
        train_implicit(net, a, lr=0.1, steps=1)
    with pytest.raises(TypeError, match="sample=PatchData is invalid"):
        train_implicit(cnnrank.ReLU(), model.sample(2, rng=0), lr=0.1, steps=1)
    with pytest.raises(ValueError, match="lr=0"):
        train_implicit(cnnrank.ReLU(), a, lr=0.0, steps=1)
    with pytest.raises(TypeError, match="train_implicit"):
        cnnrank.train(cnnrank.ReLU(), a, lr=0.1, steps=1, engine="gram")
    with pytest.raises(TypeError, match="train_implicit"):
        cnnrank.train(net, a, lr=0.1, steps=1)  # train needs vectors


def test_implicit_trajectory_saves_and_loads(tmp_path):
    model = cnnrank.SignalNoiseModel(d=10**6, K=1, noise_std=1e-3)
    t = train_implicit(cnnrank.ReLU(), model.sample_gram(6, 2, 1e-4, n_test=3, rng=0), lr=0.5, steps=10)
    u = cnnrank.Trajectory.load(t.save(tmp_path / "t.npz"))
    assert u.engine == "implicit" and u.W_final is None and np.array_equal(u.coef, t.coef)
    assert u.metadata["sample"]["model"]["d"] == 10**6


def test_the_dimension_free_draws_are_those_of_sample():
    # sample_gram and sample share SignalNoiseModel.draw_labels' draws: same labels, ids, positions
    model = cnnrank.SignalNoiseModel(d=40, K=2, patches=4, signal_position="random", label_noise=0.2)
    data, gs = model.sample(25, rng=np.random.default_rng(1)), model.sample_gram(25, 2, 0.1, rng=7)
    rng = np.random.default_rng(7)
    y, y_true, sid, pos = model.draw_labels(25, rng)
    for got, want in ((gs.y, y), (gs.y_true, y_true), (gs.signal_id, sid), (gs.signal_pos, pos)):
        assert np.array_equal(got, want)
    rng = np.random.default_rng(1)
    model.signals(rng)
    y_true, sid = model.draw_classes(25, rng)
    assert np.array_equal(data.signal_id, sid) and np.array_equal(data.signal_pos, model.draw_positions(25, rng))


def test_gamma_rho_from_the_sample_equal_those_from_the_vectors():
    model = cnnrank.SignalNoiseModel(d=60, K=2, patches=3, signal_position="random")
    data = model.sample(9, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=60, init_std=0.1, activation=HuberizedReLU(), rng=1)
    gs = gram_sample_from_data(model, data, net.W)
    coef = np.random.default_rng(2).standard_normal((3, 2, 2, 9, 3))
    for a, b in zip(cnnrank.signal_noise_coefficients(coef, data), cnnrank.signal_noise_coefficients(coef, gs)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert np.array_equal(gs.background_index, data.background_index)

