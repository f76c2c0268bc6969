"""Sign descent and Adam (docs/theory.md, "Sign descent and Adam"): the updates, the trajectory without
patch coefficients and its W-direct diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnnrank
from cnnrank.engines.adaptive import AdaptiveEngine
from cnnrank.experiments import RunConfig, config_from_dict, run_once
from cnnrank.network import loss_and_grad
from cnnrank.train import train, train_adaptive

ACT = cnnrank.HuberizedReLU(kappa=1.0, q=3)


def _problem(d=50, n=10, m=3, noise_std=0.4, init_std=0.2, **kw):
    model = cnnrank.SignalNoiseModel(d=d, K=2, patches=3, signal_norm=3.0, noise_std=noise_std, **kw)
    data = model.sample(n, rng=0)
    test = model.sample(6, rng=1)
    net = cnnrank.TwoLayerCNN.init(m, d, init_std, ACT, rng=2)
    return model, data, test, net


def _reference(W, data, lr, steps, optimizer, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    """Plain NumPy loop of the documented updates."""
    W = W.copy()
    m1 = np.zeros_like(W)
    m2 = np.zeros_like(W)
    for t in range(1, steps + 1):
        _, g = loss_and_grad(W, data.X, data.y, ACT)
        if optimizer == "sign":
            u = np.sign(g)
        else:
            m1 = b1 * m1 + (1 - b1) * g
            m2 = b2 * m2 + (1 - b2) * g * g
            u = (m1 / (1 - b1**t)) / (np.sqrt(m2 / (1 - b2**t)) + eps)
        W = W - lr * wd * W - lr * u
    return W


@pytest.mark.parametrize("optimizer, wd", [("sign", 0.0), ("adam", 0.0), ("sign", 0.3), ("adam", 0.3)])
def test_first_steps_match_a_plain_loop(optimizer, wd):
    _, data, _, net = _problem()
    lr = 0.01
    for steps in (1, 2, 3):
        eng = AdaptiveEngine(net.W, data, ACT, optimizer=optimizer, weight_decay=wd)
        eng.advance(steps, lr)
        ref = _reference(net.W, data, lr, steps, optimizer, wd=wd)
        np.testing.assert_allclose(eng.weights(), ref, rtol=1e-13, atol=1e-15)
    # sign descent moves every entry with a non-zero gradient by exactly lr (no decay)
    if optimizer == "sign" and wd == 0.0:
        eng = AdaptiveEngine(net.W, data, ACT, optimizer="sign")
        eng.advance(1, lr)
        step = np.abs(eng.weights() - net.W)
        _, g = loss_and_grad(net.W, data.X, data.y, ACT)
        np.testing.assert_allclose(step[g != 0], lr, rtol=1e-12)
        assert np.all(step[g == 0] == 0)


def test_adam_agrees_with_torch():
    torch = pytest.importorskip("torch", reason="the float64 PyTorch peer of Adam needs torch")
    _, data, _, net = _problem()
    lr, steps, wd = 0.005, 100, 0.05
    for decay, opt_cls in ((0.0, torch.optim.Adam), (wd, torch.optim.AdamW)):
        eng = AdaptiveEngine(net.W, data, ACT, optimizer="adam", weight_decay=decay)
        eng.advance(steps, lr)
        X = torch.tensor(data.X, dtype=torch.float64)  # (n, P, d)
        y = torch.tensor(data.y, dtype=torch.float64)
        W = torch.tensor(net.W, dtype=torch.float64, requires_grad=True)  # (2, m, d)
        opt = opt_cls([W], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=decay)

        def sigma(z, kappa=1.0, q=3.0):  # huber3 (cnnrank.HuberizedReLU)
            zc = torch.clamp(z, 0.0, kappa)
            return zc**q / (q * kappa ** (q - 1)) + torch.clamp(z - kappa, min=0.0)

        m = W.shape[1]
        for _ in range(steps):
            opt.zero_grad()
            Z = torch.einsum("npd,jrd->njrp", X, W)
            S = sigma(Z).sum(dim=(2, 3))  # (n, 2)
            f = (S[:, 0] - S[:, 1]) / m
            loss = torch.nn.functional.softplus(-y * f).mean()
            loss.backward()
            opt.step()
        ref = W.detach().numpy()
        rel = np.max(np.abs(eng.weights() - ref)) / np.max(np.abs(ref - net.W))
        assert rel <= 1e-12, (opt_cls.__name__, rel)


def test_gd_through_the_direct_path_matches_the_coefficients():
    _, data, test, net = _problem(d=60, n=12, m=4, noise_std=0.3, init_std=0.1)
    a = train(net, data, lr=0.5, steps=60, record_every=10, test=test, engine="feature")
    b = train_adaptive(net, data, lr=0.5, steps=60, optimizer="gd", record_every=10, test=test)
    assert a.has_coefficients and not b.has_coefficients
    for name in ("train_loss", "test_loss", "gamma", "rho", "learned_singular_values", "learned_stable_rank",
                 "filter_stable_rank", "signal_energy_fraction", "signal_angles", "signal_strength",
                 "gamma_stable_rank", "class_overlaps", "signal_overlap"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.max(np.abs(x - y)) <= 1e-10 * max(np.max(np.abs(x)), 1e-300), name
    for name in ("learned_dimension", "signals_learned", "learned_rank"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_allclose(b.W_final, a.W_final, rtol=1e-12)


def test_gamma_is_the_inner_product_with_the_signals():
    _, data, _, net = _problem(d=60, n=12, m=4)
    t = train_adaptive(net, data, lr=0.02, steps=20, optimizer="adam", record_every=10)
    dW = (t.W_final - t.W_init).reshape(8, 60)
    np.testing.assert_allclose(t.gamma[-1].reshape(8, 4), dW @ data.signals.T, rtol=1e-10,
                               atol=1e-12 * np.max(np.abs(dW @ data.signals.T)))
    Q = cnnrank.subspace.orthonormal_basis(data.signals.T)
    frac = np.sum((dW @ Q) ** 2) / np.sum(dW**2)
    assert abs(t.signal_energy_fraction[-1] - frac) <= 1e-12


def test_trajectory_without_coefficients(tmp_path):
    _, data, test, net = _problem()
    t = train_adaptive(net, data, lr=0.01, steps=30, optimizer="adam", record_every=10, test=test)
    assert t.coef.shape == (4, 2, 3, 0, 0) and t.patches is None and not t.has_coefficients
    assert t.metadata["optimizer"] == {"name": "adam", "weight_decay": 0.0, "beta1": 0.9, "beta2": 0.999,
                                       "eps": 1e-8}
    s = t.summary()
    assert s["step"] == 30 and {"max_gamma", "max_rho_pos", "learned_dimension", "signals_learned"} <= set(s)
    assert "n=10, P=3" in repr(t)
    np.testing.assert_array_equal(t.weights_at(-1), t.W_final)
    np.testing.assert_array_equal(t.weights_at(0), net.W)
    with pytest.raises(ValueError, match="keeps the filters of step 0 and of the last record"):
        t.weights_at(1)
    path = tmp_path / "adam.npz"
    t.save(path)
    back = cnnrank.Trajectory.load(path)
    assert not back.has_coefficients and back.summary() == s
    for name in ("gamma", "rho", "W_final", "signal_strength", "learned_singular_values"):
        np.testing.assert_array_equal(getattr(back, name), getattr(t, name))
    pytest.importorskip("pandas")
    from cnnrank.tidy import to_dataframe

    df = to_dataframe(back)
    assert len(df) == 4 and "train_loss" in df.columns
    import matplotlib.pyplot as plt

    from cnnrank.plotting import training_figure

    plt.close(training_figure(back, data=data))


def test_checks_refuse_a_corrupt_direct_file(tmp_path):
    from cnnrank.results import ResultsFileError

    _, data, _, net = _problem()
    t = train_adaptive(net, data, lr=0.01, steps=10, optimizer="sign", record_every=5)
    t.patches = np.zeros((10, 3, 50))
    t.save(tmp_path / "a.npz")
    with pytest.raises(ResultsFileError, match="patches are invalid for a run without patch coefficients"):
        cnnrank.Trajectory.load(tmp_path / "a.npz")
    t.patches, t.W_final = None, None
    t.save(tmp_path / "b.npz")
    with pytest.raises(ResultsFileError, match="W_init/W_final"):
        cnnrank.Trajectory.load(tmp_path / "b.npz")
    t.W_final, t.rho = t.W_init.copy(), t.rho[:, :, :, :4]
    t.save(tmp_path / "c.npz")
    with pytest.raises(ResultsFileError, match="noise_sq_norms|signal_id"):
        cnnrank.Trajectory.load(tmp_path / "c.npz")


def test_divergence_is_detected(tmp_path):
    _, data, _, net = _problem()
    with pytest.raises(cnnrank.TrainingDiverged) as info:
        train_adaptive(net, data, lr=1e300, steps=20, optimizer="sign", record_every=1)
    traj = info.value.trajectory
    assert traj is not None and 0 < len(traj) < 21 and traj.finite_records() == len(traj)
    traj.save(tmp_path / "diverged.npz")  # the records before the blow-up are a valid file
    assert len(cnnrank.Trajectory.load(tmp_path / "diverged.npz")) == len(traj)


def test_same_seed_same_bits_and_config():
    c = RunConfig(n=12, n_test=6, d=40, K=2, m=3, steps=20, record_every=10, lr=0.01, optimizer="adam",
                  adam_beta1=0.8)
    a, b = run_once(c, rng=5).trajectory, run_once(c, rng=5).trajectory
    for name in ("train_loss", "gamma", "rho", "W_final"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
    d = c.to_dict()
    assert d["optimizer"] == "adam" and d["adam_beta1"] == 0.8 and "adam_beta2" not in d
    assert config_from_dict(d) == c
    assert run_once(c, rng=5).predicted() == {}  # the race predicts gradient descent only


@pytest.mark.parametrize("changes, match", [
    ({"optimizer": "rmsprop"}, "optimizer='rmsprop' is invalid"),
    ({"adam_beta1": 1.0}, "adam_beta1"),
    ({"adam_beta2": -0.1}, "adam_beta2"),
    ({"adam_eps": 0.0}, "adam_eps"),
    ({"optimizer": "adam", "engine": "gram"}, "engine='gram' is invalid with optimizer='adam'"),
    ({"optimizer": "sign", "engine": "implicit"}, "engine='implicit' is invalid with optimizer='sign'"),
])
def test_settings_are_validated(changes, match):
    with pytest.raises(ValueError, match=match):
        RunConfig(**changes)


def test_train_adaptive_refuses_gram():
    _, data, _, net = _problem()
    with pytest.raises(ValueError, match="engine='gram' is invalid with optimizer='adam'"):
        train_adaptive(net, data, lr=0.01, steps=2, optimizer="adam", engine="gram")


@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 6), P=st.integers(2, 4), K=st.integers(1, 2),
       m=st.integers(1, 3), project=st.booleans(), random_basis=st.booleans())
def test_direct_gamma_rho_of_a_patch_combination(seed, n, P, K, m, project, random_basis):
    """For ``Δ = C X`` (any coefficients) the W-direct γ and ρ are those of the coefficients; with
    projected noise, ``γ = Δ μᵀ`` for any ``Δ``."""
    from cnnrank.trajectory.decomposition import signal_noise_coefficients
    from cnnrank.trajectory.direct import direct_gamma_rho

    d = 2 * K + n * (P - 1) + 5  # the distinct patches are linearly independent
    model = cnnrank.SignalNoiseModel(d=d, K=K, patches=P, signal_norm=2.0, noise_std=0.7, project_noise=project,
                                     signal_basis="random" if random_basis else "canonical",
                                     signal_norms=tuple(np.linspace(0.5, 3.0, 2 * K)))
    rng = np.random.default_rng(seed)
    data = model.sample(n, rng=rng)
    C = rng.standard_normal((2, 2, m, n, P))  # two records
    delta = C.reshape(2, 2 * m, n * P) @ data.X.reshape(n * P, d)
    V = np.vstack([data.signals, data.noise.reshape(-1, d)])
    gamma, rho = direct_gamma_rho(delta @ V.T, data)
    g_ref, r_ref = signal_noise_coefficients(C, data)
    scale = np.max(np.abs(g_ref)) + np.max(np.abs(r_ref))
    assert np.max(np.abs(gamma - g_ref)) <= 1e-9 * scale
    assert np.max(np.abs(rho - r_ref)) <= 1e-9 * scale
    if project:
        any_delta = rng.standard_normal((1, 2 * m, d))
        g_any, _ = direct_gamma_rho(any_delta @ V.T, data)
        np.testing.assert_allclose(g_any.reshape(2 * m, 2 * K), any_delta[0] @ data.signals.T, rtol=1e-9,
                                   atol=1e-10 * np.max(np.abs(any_delta[0] @ data.signals.T)))


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_weight_decay_learned_part_is_what_the_updates_put_in(optimizer):
    """Under decoupled weight decay the learned part is ``W − s(t) W(0)``, ``s(t) = (1 − ηλ)^t``; for
    gradient descent it lies in the span of the patches, so γ and ρ rebuild it exactly."""
    _, data, _, net = _problem(d=60, n=8, init_std=0.5)
    lr, wd, steps = 0.05, 0.5, 30
    t = train_adaptive(net, data, lr=lr, steps=steps, optimizer=optimizer, weight_decay=wd, record_every=10)
    s = t.init_scale
    assert len(s) == 4 and s[0] == 1.0 and abs(s[-1] - (1 - lr * wd) ** steps) <= 1e-14
    delta = (t.W_final - s[-1] * t.W_init).reshape(6, 60)
    np.testing.assert_allclose(t.gamma[-1].reshape(6, 4), delta @ data.signals.T, rtol=1e-10,
                               atol=1e-12 * np.max(np.abs(delta)))
    rebuilt = (t.gamma[-1].reshape(6, 4) / data.signal_sq_norms) @ data.signals + (
        t.rho[-1].reshape(6, -1) / data.noise_sq_norms.reshape(-1)) @ data.noise.reshape(-1, 60)
    err = np.max(np.abs(rebuilt - delta)) / np.max(np.abs(delta))
    if optimizer == "gd":
        assert err <= 1e-10
    else:  # Adam leaves the span of the patches
        assert err > 1e-3


@pytest.mark.parametrize("extra", [{"head": "trainable"}, {"batch_size": 8}])
@pytest.mark.parametrize("optimizer", ["sign", "adam"])
def test_sign_and_adam_refuse_the_head_and_minibatches_they_do_not_train(optimizer, extra):
    from cnnrank.experiments.runs import RunConfig

    with pytest.raises(ValueError, match=f"invalid with optimizer='{optimizer}'"):
        RunConfig(n=16, optimizer=optimizer, **extra)
    RunConfig(n=16, **extra)  # the control: gradient descent trains them
