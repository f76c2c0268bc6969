"""Per-signal strengths ``signal_norms`` (docs/theory.md, "Unequal signal norms")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import cnnrank
from cnnrank import theory
from cnnrank.experiments import RunConfig, config_from_dict
from cnnrank.gram_sample import gram_sample_from_data
from cnnrank.train import train, train_implicit

NORMS = (1.0, 2.5, 4.0, 0.5)


def _model(**kw):
    base = dict(d=40, K=2, patches=3, signal_norm=2.5, noise_std=0.7)
    base.update(kw)
    return cnnrank.SignalNoiseModel(**base)


def test_sampling_gives_the_requested_norms():
    model = _model(signal_norms=NORMS, signal_basis="random")
    data = model.sample(20, rng=3)
    np.testing.assert_allclose(np.linalg.norm(data.signals, axis=1), NORMS, rtol=1e-14)
    sig = data.X[np.arange(data.n), data.signal_pos]
    np.testing.assert_allclose(np.linalg.norm(sig, axis=1), np.asarray(NORMS)[data.signal_id], rtol=1e-14)
    assert np.max(np.abs(data.noise.reshape(-1, 40) @ data.signals.T)) < 1e-12  # projected noise
    np.testing.assert_allclose(data.signal_sq_norms, np.square(NORMS), rtol=1e-14)
    gs = model.sample_gram(6, 2, 0.1, rng=4)
    np.testing.assert_allclose(gs.signal_sq_norms, np.square(NORMS), rtol=1e-15)
    np.testing.assert_array_equal(model.norms, NORMS)


def test_none_gives_the_draws_of_before():
    # the draws before the field existed (same seed, same model), stored by the release before it on the
    # default OpenBLAS kernel (SHA-256 of X 4400dcb1..., of the Gram 89d443b8..., equal bit for bit there):
    # compared to rounding level, since the random basis and the projections are BLAS products whose last
    # bits depend on the kernel (bit-identity across releases: benchmarks/hash_defaults.py)
    from cnnrank.testing import SHAPE_RTOL

    ref = np.load(Path(__file__).parent / "data" / "signal_norms_none_reference.npz")
    model = _model(signal_basis="random")
    x = model.sample(9, rng=11)
    g = model.sample_gram(6, 2, 0.3, n_test=3, rng=12)
    np.testing.assert_allclose(x.X, ref["X"], rtol=SHAPE_RTOL, atol=SHAPE_RTOL * np.abs(ref["X"]).max())
    np.testing.assert_allclose(g.gram, ref["gram"], rtol=SHAPE_RTOL, atol=SHAPE_RTOL * np.abs(ref["gram"]).max())
    assert list(RunConfig().to_dict()) == ["n", "n_test", "d", "K", "patches", "signal_norm", "noise_std",
                                           "project_noise", "label_noise", "balanced", "signal_position", "m",
                                           "init_std", "activation", "kappa", "lr", "steps", "record_every",
                                           "engine"]


@pytest.mark.parametrize("bad, match", [
    ((1.0, 2.0), "2K=4"),
    ((1.0, 2.0, 3.0, float("nan")), "finite"),
    ((1.0, 2.0, 3.0, 0.0), "> 0"),
    ((1.0, 2.0, 3.0, -1.0), "> 0"),
    ("1234", "sequence"),
    (3.0, "sequence"),
])
def test_invalid_norms_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        _model(signal_norms=bad)


def test_runconfig_round_trip_through_json():
    c = RunConfig(n=8, d=30, K=2, signal_norms=[1, 2, 3, 4])
    assert c.signal_norms == (1.0, 2.0, 3.0, 4.0)
    back = config_from_dict(json.loads(json.dumps(c.to_dict())))
    assert back == c and isinstance(back.signal_norms, tuple)
    assert "signal_norms" not in RunConfig().to_dict()


def test_feature_gram_implicit_agree_with_unequal_norms():
    model = _model(signal_norms=NORMS, noise_std=0.3)
    act = cnnrank.HuberizedReLU(kappa=1.0, q=3)
    data = model.sample(10, rng=0)
    net = cnnrank.TwoLayerCNN.init(3, 40, 0.2, act, rng=1)
    a = train(net, data, lr=0.3, steps=40, record_every=10, engine="feature")
    b = train(net, data, lr=0.3, steps=40, record_every=10, engine="gram")
    c = train_implicit(act, gram_sample_from_data(model, data, net.W), lr=0.3, steps=40, record_every=10)
    for other in (b, c):
        for name in ("train_loss", "gamma", "rho", "learned_singular_values", "signal_strength"):
            x, y = getattr(a, name), getattr(other, name)
            np.testing.assert_allclose(y, x, rtol=1e-9, atol=1e-12 * np.max(np.abs(x)), err_msg=name)
    # the signal strengths are per signal: the learned part against μ_k / ‖μ_k‖
    dW = (a.W_final - a.W_init).reshape(6, 40)
    direct = dW @ (data.signals / np.asarray(NORMS)[:, None]).T  # (2m, 2K)
    own = np.concatenate([direct[:3, :2], direct[3:, 2:]], axis=1)
    np.testing.assert_allclose(a.signal_strength[-1], np.linalg.norm(own, axis=0), rtol=1e-10)


def test_theory_reads_the_documented_norm(monkeypatch):
    c = RunConfig(n=64, d=200, K=2, noise_std=0.5, signal_norms=(2.0, 3.0, 4.0, 5.0))
    weakest, strongest = c.replace(signal_norms=None, signal_norm=2.0), c.replace(signal_norms=None, signal_norm=5.0)
    rms = c.replace(signal_norms=None, signal_norm=float(np.sqrt(np.mean(np.square([2.0, 3.0, 4.0, 5.0])))))
    assert theory.benign_indicator(c) == theory.benign_indicator(weakest)
    assert theory.lr_bound(c) == theory.lr_bound(strongest)
    assert theory.signal_learning_time(c) == theory.signal_learning_time(strongest)
    assert theory.noise_takeoff(c) == theory.noise_takeoff(rms)
    assert theory.expected_data_stable_rank(c) == theory.expected_data_stable_rank(rms)
    assert c.model().snr == weakest.model().snr
    # the race is per signal: the initialization prediction reads each ‖μ_k‖²
    import cnnrank.race as race

    seen = []
    real = race.predict_race
    monkeypatch.setattr(race, "predict_race", lambda *a, **kw: seen.append(kw["signal_sq_norms"]) or real(*a, **kw))
    net = cnnrank.TwoLayerCNN.init(c.m, c.d, c.init_std, c.make_activation(), rng=0)
    theory.predict_from_initialization(c, W0=net.W)
    np.testing.assert_array_equal(seen[-1], np.square([2.0, 3.0, 4.0, 5.0]))


def test_the_race_is_gradient_descent_with_unequal_norms():
    """At σ_p = 0 the race is gradient descent (docs/theory.md §6.7), signal by signal: with unequal
    norms too, and with the norms read from the model (no data given)."""
    from cnnrank.race import initial_signal_correlations, signal_race

    norms = (2.0, 4.0, 3.0, 5.0, 1.5, 3.5)
    model = cnnrank.SignalNoiseModel(d=120, K=3, patches=3, signal_norm=4.0, noise_std=0.0, signal_norms=norms)
    data = model.sample(40, rng=0)
    act = cnnrank.HuberizedReLU(1.0, 3.0)
    net = cnnrank.TwoLayerCNN.init(m=5, d=120, init_std=0.05, activation=act, rng=3)
    traj = train(net, data, lr=0.5, steps=120, record_every=120, engine="feature")
    k2 = 6
    clean = np.bincount(data.signal_id, minlength=k2)
    a0 = initial_signal_correlations(net.W, data.signals)
    a = signal_race(act, a0, lr=0.5, steps=120, n=40, clean=clean, flipped=np.zeros(k2),
                    signal_sq_norms=model.norms**2)
    g = traj.gamma[-1]
    assert np.abs(g).max() > 0.1
    np.testing.assert_allclose(a - a0, g, rtol=0, atol=1e-11 * np.abs(g).max())
