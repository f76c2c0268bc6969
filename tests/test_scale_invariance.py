"""The learned-subspace diagnostics and the theory's predictions do not depend on the scale of their
inputs where the mathematics does not (docs/theory.md §5, "Scale"): the same answer from 1e-300 to
1e300, through the functions and through training."""

import numpy as np
import pytest

import cnnrank
from cnnrank import theory
from cnnrank.experiments import RunConfig
from cnnrank.gram_sample import gram_sample_from_data
from cnnrank.subspace import (
    energy_fraction,
    learned_dimension,
    learned_subspace_from_grams,
    learned_subspace_report,
    orthonormal_basis,
    principal_subspace,
    signal_overlap,
)
from cnnrank.train import train_implicit

SCALES = [1e-300, 1e-200, 1e-170, 1e-100, 1e100, 1e155, 1e200, 1e300]


def _matrix(seed=0):
    """A (6, 10) matrix with a weak part in the reference span e_0..e_3: learned dimension 0, energy 0.05."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((6, 10))
    A[:, :4] *= 0.3
    return A, np.eye(10)[:, :4]


def _benign_matrix(seed=1):
    """Strong reference directions above a weak bulk: learned dimension 4."""
    rng = np.random.default_rng(seed)
    A = 0.05 * rng.standard_normal((6, 10))
    A[:4, :4] += np.diag([5.0, 4.0, 3.0, 2.0])
    return A, np.eye(10)[:, :4]


@pytest.mark.parametrize("scale", SCALES)
def test_explicit_diagnostics_are_scale_invariant(scale):
    for A, Q in (_matrix(), _benign_matrix()):
        ref = learned_subspace_report(A, Q)
        rep = learned_subspace_report(A * scale, Q)
        assert learned_dimension(A * scale, Q) == learned_dimension(A, Q) == ref["learned_dimension"]
        assert rep["learned_dimension"] == ref["learned_dimension"]
        assert energy_fraction(A * scale, Q) == pytest.approx(energy_fraction(A, Q), rel=1e-12)
        assert rep["energy_fraction"] == pytest.approx(ref["energy_fraction"], rel=1e-12)
        assert np.allclose(rep["principal_angles"], ref["principal_angles"], rtol=1e-10, atol=1e-12)
        # the two quantities with units scale with A
        assert np.allclose(rep["singular_values"] / scale, ref["singular_values"], rtol=1e-10)
        assert rep["memorization_edge"] / scale == pytest.approx(ref["memorization_edge"], rel=1e-10)
    assert learned_dimension(_benign_matrix()[0], np.eye(10)[:, :4]) == 4
    assert learned_dimension(_matrix()[0], np.eye(10)[:, :4]) == 0


@pytest.mark.parametrize("scale", [1e-300, 1e-250, 1e-150, 1e150, 1e250, 1e300])
def test_the_gram_route_rescales_gram_matrices_at_the_edges_of_float64(scale):
    A, Q = _benign_matrix()
    G, S = (A @ A.T)[None], (A @ Q)[None]
    ref = learned_subspace_from_grams(G, S)
    out = learned_subspace_from_grams(G * scale, S * np.sqrt(scale))
    assert out["learned_dimension"][0] == ref["learned_dimension"][0] == 4
    assert out["energy_fraction"][0] == pytest.approx(ref["energy_fraction"][0], rel=1e-12)
    assert np.allclose(out["principal_angles"], ref["principal_angles"], atol=1e-10)
    assert np.allclose(out["singular_values"] / np.sqrt(scale), ref["singular_values"], rtol=1e-10)


def test_ordinary_scales_are_not_rescaled():
    # inside the safe range the results are those of the unscaled computation, to the bit
    A, Q = _benign_matrix()
    out = learned_subspace_from_grams((A @ A.T)[None], (A @ Q)[None])
    lam = np.linalg.eigh(0.5 * (A @ A.T + (A @ A.T).T))[0][::-1]
    assert np.array_equal(out["singular_values"][0], np.sqrt(np.maximum(lam, 0.0)))


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1.0, 1e200, 1e300])
def test_signal_overlap_is_scale_invariant(scale):
    g = np.random.default_rng(2).standard_normal((2, 5, 4)) + 1.0
    assert signal_overlap(g * scale) == pytest.approx(signal_overlap(g), rel=1e-12)
    K = 2
    own = [g[0, :, :K], g[1, :, K:]]  # the own-class signal columns, (m, K) per class
    cos = [float(o[:, 0] @ o[:, 1] / np.linalg.norm(o[:, 0]) / np.linalg.norm(o[:, 1])) for o in own]
    assert signal_overlap(g) == pytest.approx(np.mean(cos), rel=1e-12)
    # columns of very different scales: each column's cosine is its own
    h = g.copy()
    h[:, :, 0] *= 1e-250
    h[:, :, 3] *= 1e250
    assert signal_overlap(h) == pytest.approx(signal_overlap(g), rel=1e-12)


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1.0, 1e200, 1e300])
def test_principal_subspace_is_scale_invariant(scale):
    assert principal_subspace(np.eye(3) * scale, 0.9)[1] == 3
    X = np.diag([4.0, 2.0, 1.0, 1.0]) @ np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0]
    basis, k = principal_subspace(X * scale, 0.7)
    ref, k_ref = principal_subspace(X, 0.7)
    assert k == k_ref == 1
    assert np.allclose(np.abs(basis.T @ ref), 1.0)
    assert orthonormal_basis(X * scale).shape == (4, 4)


def _run(data, net, lr, engine, steps=30):
    return cnnrank.train(net, data, lr=lr, steps=steps, record_every=10, engine=engine)


def _setup():
    model = cnnrank.SignalNoiseModel(d=40, K=2, noise_std=0.5, signal_norm=5.0)
    data = model.sample(16, rng=1)
    net = cnnrank.TwoLayerCNN.init(m=3, d=40, init_std=0.1, activation=cnnrank.HuberizedReLU(1.0, 3), rng=0)
    return data, net


@pytest.mark.parametrize("scale", [1e-150, 1e-100, 1e100, 1e150])
def test_training_on_scaled_data_with_consistently_scaled_init_gives_the_same_subspace(scale):
    # x → s x, W(0) → W(0) / s, lr → lr / s²: every ⟨w, x⟩ is unchanged, the learned part scales by 1/s
    data, net = _setup()
    ref = _run(data, net, 0.5, "gram")
    scaled = data.replace(X=data.X * scale, signals=data.signals * scale)
    for engine in ("feature", "gram"):
        got = _run(scaled, net.with_weights(net.W / scale), 0.5 / scale**2, engine)
        assert np.array_equal(got.learned_dimension, ref.learned_dimension)
        assert np.allclose(got.signal_energy_fraction, ref.signal_energy_fraction, rtol=1e-9, atol=1e-12)
        assert np.allclose(got.learned_stable_rank, ref.learned_stable_rank, rtol=1e-9)
        assert np.allclose(got.signal_overlap, ref.signal_overlap, rtol=1e-9, atol=1e-12)
    assert ref.learned_dimension[-1] >= 1  # something was learned: the comparison is not of zeros


@pytest.mark.parametrize("scale", [1e-150, 1e-100])
def test_a_learned_part_below_the_rounding_of_the_filters_is_measured_from_the_coefficients(scale):
    # data scaled alone: the learned part C X (about 1e-300) is far below the rounding of W(0) ~ 0.1,
    # so W - W(0) is 0 and its Gram matrix underflows; the diagnostics come from the rescaled
    # coefficients, agree between engines and with the explicit definition (they used to report
    # learned dimension 4 with energy fraction 0)
    data, net = _setup()
    scaled = data.replace(X=data.X * scale, signals=data.signals * scale)
    runs = [_run(scaled, net, 0.5, engine) for engine in ("feature", "gram")]
    coef = runs[1].coef
    n, P = data.n, data.P
    for k in range(len(runs[1])):
        C = coef[k].reshape(6, n * P)
        h = 2.0 ** np.frexp(np.max(np.abs(C)))[1]
        A = (C / h) @ (data.X.reshape(n * P, -1) * scale)  # the learned part, divided by h (exact)
        want = learned_subspace_report(A, data.signals.T)
        for t in runs:
            assert t.learned_dimension[k] == want["learned_dimension"]
            assert t.signal_energy_fraction[k] == pytest.approx(want["energy_fraction"], rel=1e-9, abs=1e-12)
            assert 0.0 <= t.signal_energy_fraction[k] <= 1.0
    assert np.array_equal(runs[0].learned_dimension, runs[1].learned_dimension)
    assert np.allclose(runs[0].learned_stable_rank, runs[1].learned_stable_rank, rtol=1e-9)
    assert runs[1].learned_dimension[-1] >= 1 and runs[1].signal_energy_fraction[-1] > 0.5


def test_the_implicit_engine_recomputes_underflowed_learned_parts_too():
    data, net = _setup()
    scale = 1e-100
    scaled = data.replace(X=data.X * scale, signals=data.signals * scale)
    model = cnnrank.SignalNoiseModel(d=40, K=2, noise_std=0.5 * scale, signal_norm=5.0 * scale)
    sample = gram_sample_from_data(model, scaled, net.W, init_std=0.1)
    imp = train_implicit(net.activation, sample, lr=0.5, steps=30, record_every=10)
    gram = _run(scaled, net, 0.5, "gram")
    assert np.array_equal(imp.learned_dimension, gram.learned_dimension)
    assert np.allclose(imp.signal_energy_fraction, gram.signal_energy_fraction, rtol=1e-8, atol=1e-12)
    assert imp.learned_dimension[-1] >= 1 and imp.signal_energy_fraction[-1] > 0.5


@pytest.mark.parametrize("sigma", [1e-200, 1e-100, 1e100, 1e200])
def test_theory_predictions_at_extreme_noise_levels_are_the_limits(sigma):
    cfg = RunConfig()
    for f in (theory.expected_data_stable_rank, theory.expected_patch_stable_rank):
        got = f(cfg, sigma)
        assert np.isfinite(got) and got > 0
        if sigma < 1:  # no noise left next to the signal: the clean value
            assert got == pytest.approx(f(cfg, 0.0), rel=1e-9)
        else:  # pure noise: the value at a level where the signal is already negligible
            assert got == pytest.approx(f(cfg, 1e8), rel=1e-9)
    for name in ("benign_indicator", "benign_limit", "lr_bound", "signal_learning_time"):
        value = getattr(theory, name)(RunConfig(noise_std=sigma))
        assert not np.isnan(value), name
    assert theory.regime(RunConfig(noise_std=sigma)) == ("benign" if sigma < 1 else "harmful")
    assert theory.regime(RunConfig(signal_norm=1e200)) == "benign"


def test_theory_values_at_ordinary_levels_are_unchanged():
    cfg = RunConfig()
    # computed from ‖μ‖/σ instead of ‖μ‖² and σ²: the same numbers to rounding
    n, mu2 = cfg.n, cfg.signal_norm**2
    model = cfg.model()
    rows, de = n * (model.patches - 1), model.d - 2 * model.K
    G = theory.expected_max_group(cfg, by_position=False)
    for s in (0.05, 0.25, 1.0, 3.0):
        want = (n * mu2 + rows * s**2 * de) / max(mu2 * G, s**2 * (np.sqrt(de) + np.sqrt(rows)) ** 2)
        assert theory.expected_patch_stable_rank(cfg, s) == pytest.approx(want, rel=1e-13)


def test_theory_data_stable_rank_where_the_spike_overflows():
    # many samples per group against a small background (G / D ≈ 280): ℓ = r G / D overflows before
    # r = ‖μ‖²/σ² does, which gave inf/inf = NaN (and a RuntimeWarning) near σ = 1e-153
    cfg = RunConfig(n=10000, d=20, K=1, patches=2, m=2)
    clean = theory.expected_data_stable_rank(cfg, 0.0)
    levels = np.logspace(-156, -150, 25)
    got = theory.expected_data_stable_rank(cfg, levels)
    assert np.all(np.isfinite(got)) and np.allclose(got, clean, rtol=1e-9)
