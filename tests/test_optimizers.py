"""Sign descent and Adam (docs/theory.md, "Sign descent and Adam"): the updates, the trajectory without
patch coefficients and its W-direct diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnnrank
from cnnrank.engines.adaptive import AdaptiveEngine
from cnnrank.engines.base import BatchSchedule, TrainingVariant
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


@pytest.mark.xdist_group("torch")  # torch takes seconds to import: its tests share one worker
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


# ---- sign descent and Adam composed with minibatches and a trainable head (docs/theory.md, "Sign descent and Adam")


def _recording(eng):
    """Make ``eng`` keep the sample indices of each batch its schedule hands out (in ``eng.batches``)."""
    eng.batches = []
    draw = eng.schedule.next

    def next_batch():
        idx = draw()
        eng.batches.append(idx.copy())
        return idx

    eng.schedule.next = next_batch
    return eng


def _torch_peer(torch, data, W0, a0, batches, lr, optimizer, wd, b1=0.9, b2=0.999, eps=1e-8):
    """float64 PyTorch: the filters and the head (class sign inside) trained on the given batches by
    ``torch.optim.Adam`` (no decay) / ``AdamW`` (decoupled decay), or by sign descent written out."""
    X = torch.tensor(data.X, dtype=torch.float64)
    y = torch.tensor(data.y, dtype=torch.float64)
    W = torch.tensor(W0, dtype=torch.float64, requires_grad=True)  # (2, m, d)
    m = W0.shape[1]
    a = torch.tensor(np.repeat([[a0], [-a0]], m, axis=1), dtype=torch.float64, requires_grad=True)  # (2, m)
    opt = None
    if optimizer == "adam":
        cls = torch.optim.AdamW if wd else torch.optim.Adam
        opt = cls([W, a], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)

    def sigma(z, kappa=1.0, q=3.0):  # huber3 (cnnrank.HuberizedReLU)
        zc = torch.clamp(z, 0.0, kappa)
        return zc**q / (q * kappa ** (q - 1)) + torch.clamp(z - kappa, min=0.0)

    for idx in batches:
        ib = torch.tensor(idx)
        W.grad = a.grad = None
        Z = torch.einsum("npd,jrd->njrp", X[ib], W)
        f = torch.einsum("njr,jr->n", sigma(Z).sum(dim=3), a)
        torch.nn.functional.softplus(-y[ib] * f).mean().backward()
        if opt is not None:
            opt.step()
        else:
            with torch.no_grad():
                for p in (W, a):
                    p -= lr * wd * p
                    p -= lr * torch.sign(p.grad)
    return W.detach().numpy(), a.detach().numpy()


@pytest.mark.xdist_group("torch")  # torch takes seconds to import: its tests share one worker
@pytest.mark.parametrize("optimizer, wd", [("adam", 0.0), ("adam", 0.2), ("sign", 0.0), ("sign", 0.2)])
def test_minibatch_trainable_head_agrees_with_torch(optimizer, wd):
    """Adam (``torch.optim.Adam``/``AdamW``) and sign descent on ``W`` and the head, on the batches of
    the engine's own schedule (20 samples, batches of 6: the last of each epoch has 2), 80 steps."""
    torch = pytest.importorskip("torch", reason="the float64 PyTorch peer needs torch")
    _, data, _, net = _problem(n=20)
    lr, steps, a0 = 0.005, 80, 0.4
    variant = TrainingVariant(head_scale=a0, batch_size=6, batch_rng=7)
    eng = _recording(AdaptiveEngine(net.W, data, ACT, optimizer=optimizer, weight_decay=wd, variant=variant))
    eng.advance(steps, lr)
    assert [len(b) for b in eng.batches[:4]] == [6, 6, 6, 2] and len(eng.batches) == steps
    # the batches are those of the exact variants' schedule on the same stream
    ref = BatchSchedule(20, 6, 7)
    assert all(np.array_equal(b, ref.next()) for b in eng.batches)
    W, a = _torch_peer(torch, data, net.W, a0, eng.batches, lr, optimizer, wd)
    rel_W = np.max(np.abs(eng.weights() - W)) / np.max(np.abs(W - net.W))
    a_init = np.repeat([[a0], [-a0]], net.m, axis=1)
    rel_a = np.max(np.abs(eng.a.reshape(2, -1) - a)) / np.max(np.abs(a - a_init))
    assert rel_W <= 1e-12 and rel_a <= 1e-12, (rel_W, rel_a)


def test_engine_gradients_are_the_head_network_gradients():
    """The engine's minibatch gradients (W and head) are those of :func:`cnnrank.network.head_loss_and_grad`
    (whose formula is checked against finite differences in tests/test_variants_exact.py)."""
    from cnnrank.network import head_loss_and_grad

    _, data, _, net = _problem(n=12)
    rng = np.random.default_rng(3)
    for head in (None, 0.7):
        eng = AdaptiveEngine(net.W, data, ACT, optimizer="adam",
                             variant=TrainingVariant(head_scale=head, batch_size=5, batch_rng=1))
        if head:  # a head away from its initial values, so that every entry matters
            eng.a[:] = rng.standard_normal(eng.a.shape)
        for idx in (np.array([0, 3, 4, 9, 11]), np.arange(12)):
            loss, f, grads = eng.gradients(idx)
            ref_loss, gW, ga = head_loss_and_grad(net.W, eng.a.reshape(2, -1), data.X[idx], data.y[idx], ACT)
            assert len(grads) == (2 if head else 1) and f.shape == (len(idx),)
            assert abs(loss - ref_loss) <= 1e-14
            np.testing.assert_allclose(grads[0], gW.reshape(grads[0].shape), rtol=1e-12, atol=1e-15)
            if head:
                np.testing.assert_allclose(grads[1], ga.reshape(-1), rtol=1e-12, atol=1e-15)


def _variant_config(**kw):
    base = dict(n=16, n_test=6, d=40, K=2, m=3, steps=30, record_every=10, lr=0.01, optimizer="adam")
    base.update(kw)
    return RunConfig(**base)


@pytest.mark.parametrize("optimizer", ["sign", "adam"])
def test_composition_runs_and_records(optimizer):
    c = _variant_config(optimizer=optimizer, head="trainable", a0=0.5, batch_size=5, weight_decay=0.1)
    out = run_once(c, rng=4)
    t = out.trajectory
    assert t.head_weights.shape == (4, 2, 3) and not t.has_coefficients
    np.testing.assert_array_equal(t.head_weights[0], np.repeat([[0.5], [-0.5]], 3, axis=1))
    assert np.all(t.head_weights[-1] != t.head_weights[0])
    assert abs(t.init_scale[-1] - (1 - 0.01 * 0.1) ** 30) <= 1e-15
    # the records are of the whole training set, with the head of the record
    a = t.head_weights[-1]
    Z = np.einsum("npd,jrd->njrp", out.data.X, t.W_final)
    f = np.einsum("njr,jr->n", ACT(Z).sum(axis=3), a)
    assert abs(t.train_loss[-1] - np.mean(cnnrank.network.logistic_loss(out.data.y * f))) <= 1e-12
    assert config_from_dict(t.metadata["config"]) == c
    # the plumbing of run_once: the fourth SeedSequence child seeds the batches
    from cnnrank.experiments.runs import _batch_seed

    gen = np.random.default_rng(4)
    g_data, g_test, g_init = gen.spawn(3)
    data = c.model().sample(c.n, rng=g_data)
    net = c.network.init(c.d, rng=g_init)
    direct = train_adaptive(net, data, lr=c.lr, steps=c.steps, optimizer=optimizer, record_every=10,
                            weight_decay=c.weight_decay, variant=c.training_variant(_batch_seed(gen, c)))
    assert direct.W_final.tobytes() == t.W_final.tobytes()
    assert direct.head_weights.tobytes() == t.head_weights.tobytes()


@pytest.mark.parametrize("head", ["fixed", "trainable"])
def test_minibatches_follow_the_exact_variants_batches(head):
    """``optimizer="gd"`` through the adaptive engine, minibatches (and head) included, is the exact
    variants' SGD of :func:`train` on the same seed: same batches, same steps, to rounding."""
    kw = dict(head=head, batch_size=5, weight_decay=0.2, lr=0.3)
    a = run_once(_variant_config(optimizer="gd", engine="feature", **kw), rng=2).trajectory
    from cnnrank.experiments.runs import _batch_seed

    c = _variant_config(optimizer="gd", **kw)
    gen = np.random.default_rng(2)
    g_data, _, g_init = gen.spawn(3)
    data = c.model().sample(c.n, rng=g_data)
    net = c.network.init(c.d, rng=g_init)
    direct = train_adaptive(net, data, lr=c.lr, steps=c.steps, optimizer="gd", record_every=10,
                            weight_decay=c.weight_decay, variant=c.training_variant(_batch_seed(gen, c)))
    np.testing.assert_allclose(direct.W_final, a.W_final, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(direct.train_loss, a.train_loss, rtol=1e-12)
    assert np.max(np.abs(direct.gamma - a.gamma)) <= 1e-10 * np.max(np.abs(a.gamma))
    if head == "trainable":
        np.testing.assert_allclose(direct.head_weights, a.head_weights, rtol=1e-12)


@pytest.mark.parametrize("head", ["fixed", "trainable"])
@pytest.mark.parametrize("optimizer", ["sign", "adam"])
def test_a_batch_of_n_is_the_full_batch_bit_for_bit(optimizer, head):
    full = run_once(_variant_config(optimizer=optimizer, head=head), rng=3).trajectory
    whole = run_once(_variant_config(optimizer=optimizer, head=head, batch_size=16), rng=3).trajectory
    for name in ("train_loss", "test_loss", "gamma", "rho", "W_final"):
        assert getattr(full, name).tobytes() == getattr(whole, name).tobytes(), name
    if head == "fixed":
        assert full.head_weights is None and whole.head_weights is None
    else:
        assert full.head_weights.tobytes() == whole.head_weights.tobytes()


def test_fixed_head_full_batch_variant_is_the_old_path_bit_for_bit():
    """A variant with only weight decay (what run_once passes) changes nothing on the fixed-head,
    full-batch path: the same bits as the ``weight_decay`` argument alone, and as no variant."""
    _, data, _, net = _problem()
    for opt in ("sign", "adam"):
        old = AdaptiveEngine(net.W, data, ACT, optimizer=opt, weight_decay=0.3)
        new = AdaptiveEngine(net.W, data, ACT, optimizer=opt, weight_decay=0.3,
                             variant=TrainingVariant(weight_decay=0.3, batch_size=10, batch_rng=9))
        alone = AdaptiveEngine(net.W, data, ACT, optimizer=opt, variant=TrainingVariant(weight_decay=0.3))
        for e in (old, new, alone):
            e.advance(25, 0.01)
        assert new.schedule is None and new.params == [new.W]
        assert old.weights().tobytes() == new.weights().tobytes() == alone.weights().tobytes()
    with pytest.raises(ValueError, match="weight_decay=0.3 is invalid with variant.weight_decay=0.2"):
        AdaptiveEngine(net.W, data, ACT, weight_decay=0.3, variant=TrainingVariant(weight_decay=0.2))


@pytest.mark.parametrize("optimizer", ["sign", "adam"])
def test_minibatch_same_seed_same_bits_other_batch_size_differs(optimizer):
    c = _variant_config(optimizer=optimizer, head="trainable", batch_size=4)
    a, b = run_once(c, rng=6).trajectory, run_once(c, rng=6).trajectory
    for name in ("train_loss", "gamma", "rho", "W_final", "head_weights"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    other = run_once(c.replace(batch_size=5), rng=6).trajectory
    seed = run_once(c, rng=7).trajectory
    np.testing.assert_array_equal(other.W_init, a.W_init)  # the data and init streams are untouched
    assert np.max(np.abs(other.W_final - a.W_final)) > 1e-6
    assert np.max(np.abs(seed.W_final - a.W_final)) > 1e-6
