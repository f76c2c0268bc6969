"""The exact training variants (docs/theory.md, "Training variants"): a trainable second layer, minibatch
SGD and weight decay, alone and together, for gradient descent.

Their gradients against central differences; the feature, Gram and implicit engines against each other
(every combination, 500 steps); seeds, batch sizes and the weight-decay scale ``s(t) = (1 - ηλ)^t``;
divergence and memory refusals; files, sweeps and the command line; and a float64 PyTorch peer.
"""

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnnrank
from cnnrank.activations import HuberizedReLU, PolyReLU
from cnnrank.engines.base import BatchSchedule, TrainingVariant
from cnnrank.experiments.runs import RunConfig, run_group, run_once
from cnnrank.gram_sample import gram_sample_from_data
from cnnrank.network import fixed_head, head_loss_and_grad
from cnnrank.rank import stable_rank
from cnnrank.testing import assert_sweeps_equal, check_grad
from cnnrank.testing import strategies as cst
from cnnrank.train import train, train_implicit

MODEL = cnnrank.SignalNoiseModel(d=30, K=2, patches=3, signal_norm=3.0, noise_std=0.6)
ACT = HuberizedReLU(1.0, 3)
COMBOS = list(itertools.product([None, 0.3], [None, 5], [0.0, 0.02]))  # head a0 × batch size × weight decay
IDS = [f"head={h}-batch={b}-wd={w}" for h, b, w in COMBOS]


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


def _problem(n=12):
    data, test = MODEL.sample(n, rng=1), MODEL.sample(8, rng=2)
    net = cnnrank.TwoLayerCNN.init(4, MODEL.d, 0.05, ACT, rng=3)
    return data, test, net


# ------------------------------------------------------------------ gradients
@given(cst.problems(max_n=6, max_P=3, max_d=5, max_m=3,
                    activation=st.just(PolyReLU(3.0))),  # C²: central differences exact to O(h²)
       st.floats(0.0, 0.5), st.integers(0, 2**16), st.booleans())
def test_variant_gradients_match_central_differences(problem, weight_decay, seed, train_head):
    """Trainable head (wrt W and a), weight decay and a minibatch: the analytic gradient of
    :func:`head_loss_and_grad` is the derivative of its loss (one random direction, central differences)."""
    W, X, y, act = problem
    rng = np.random.default_rng(seed)
    batch = np.sort(rng.choice(X.shape[0], size=max(1, X.shape[0] // 2), replace=False))
    a = rng.uniform(-1.0, 1.0, size=(2, W.shape[1]))
    Xb, yb = X[batch], y[batch]
    shape = W.size

    def fun(x):
        return head_loss_and_grad(x[:shape].reshape(W.shape), x[shape:].reshape(a.shape), Xb, yb, act,
                                  weight_decay, train_head)[0]

    def grad(x):
        _, gW, ga = head_loss_and_grad(x[:shape].reshape(W.shape), x[shape:].reshape(a.shape), Xb, yb, act,
                                       weight_decay, train_head)
        return np.concatenate([gW.ravel(), ga.ravel()])

    check_grad(fun, grad, np.concatenate([W.ravel(), a.ravel()]), rng=seed, rtol=1e-5, atol=1e-8)


def test_the_fixed_head_is_the_theorem_network():
    rng = np.random.default_rng(0)
    W, X, y = rng.standard_normal((2, 3, 5)), rng.standard_normal((6, 2, 5)), np.sign(rng.standard_normal(6))
    loss, gW, _ = head_loss_and_grad(W, fixed_head(3), X, y, ACT, train_head=False)
    ref_loss, ref_grad = cnnrank.network.loss_and_grad(W, X, y, ACT)
    assert loss == pytest.approx(ref_loss, rel=1e-14)
    np.testing.assert_allclose(gW, ref_grad, rtol=1e-12, atol=1e-15)


def test_a_wrong_variant_gradient_is_caught():
    rng = np.random.default_rng(1)
    W, X, y = rng.standard_normal((2, 3, 5)), rng.standard_normal((6, 2, 5)), np.sign(rng.standard_normal(6))
    a = rng.standard_normal((2, 3))
    fun = lambda x: head_loss_and_grad(W, x, X, y, ACT, 0.1)[0]
    wrong = lambda x: head_loss_and_grad(W, x, X, y, ACT, 0.0)[2]  # the decay term forgotten
    with pytest.raises(AssertionError, match="gradient check failed"):
        check_grad(fun, wrong, a, rng=0)


# ------------------------------------------------------------------ engines
@pytest.mark.parametrize(("head", "batch", "wd"), COMBOS, ids=IDS)
def test_feature_gram_and_implicit_engines_agree_for_every_variant(head, batch, wd):
    data, test, net = _problem()
    v = TrainingVariant(head_scale=head, weight_decay=wd, batch_size=batch, batch_rng=7)
    runs = {e: train(net, data, 0.5, 500, record_every=100, test=test, engine=e, variant=v)
            for e in ("feature", "gram")}
    sample = gram_sample_from_data(MODEL, data, net.W, test)
    runs["implicit"] = train_implicit(ACT, sample, 0.5, 500, record_every=100, variant=v)
    ref = runs["feature"]
    assert ref.train_loss[-1] < 0.5 * ref.train_loss[0]  # it trains
    for name in ("gram", "implicit"):
        other = runs[name]
        for field in ("coef", "train_loss", "test_loss", "filter_stable_rank", "learned_stable_rank",
                      "learned_singular_values", "gamma", "rho", "signal_energy_fraction"):
            assert _rel(getattr(other, field), getattr(ref, field)) <= 1e-12, (name, field)
        assert np.array_equal(other.train_acc, ref.train_acc) and np.array_equal(other.test_acc, ref.test_acc)
        assert np.array_equal(other.learned_dimension, ref.learned_dimension)
        if head is None:
            assert other.head_weights is None and ref.head_weights is None
        else:
            assert _rel(other.head_weights, ref.head_weights) <= 1e-12
        if wd == 0.0:
            assert other.init_scale is None and ref.init_scale is None
        else:
            assert np.array_equal(other.init_scale, ref.init_scale)
    assert _rel(runs["gram"].W_final, ref.W_final) <= 1e-12
    # the learned part is W - s W(0) = Σ c x: its stable rank from the vectors equals the record's
    s = 1.0 if ref.init_scale is None else ref.init_scale[-1]
    learned = (ref.W_final - s * ref.W_init).reshape(8, -1)
    assert ref.learned_stable_rank[-1] == pytest.approx(stable_rank(learned), rel=1e-10)
    np.testing.assert_allclose(ref.weights_at(-1), ref.W_final, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(runs["gram"].weights_at(-1), runs["gram"].W_final, rtol=1e-12, atol=1e-14)


def test_sgd_steps_touch_only_the_batch():
    """One SGD step changes the coefficients of the batch's samples only (and decays the others)."""
    data, _, net = _problem()
    v = TrainingVariant(batch_size=4, batch_rng=11, weight_decay=0.1)
    first = BatchSchedule(data.n, 4, 11).next()
    for engine in ("feature", "gram"):
        traj = train(net, data, 0.5, 1, record_every=1, engine=engine, variant=v)
        moved = np.flatnonzero(np.any(traj.coef[1] != 0.0, axis=(0, 1, 3)))
        assert moved.tolist() == first.tolist(), engine


def test_batch_schedule_is_a_permutation_per_epoch():
    sched = BatchSchedule(10, 4, rng=3)
    epoch = [sched.next() for _ in range(3)]
    assert [b.size for b in epoch] == [4, 4, 2]
    assert sorted(np.concatenate(epoch).tolist()) == list(range(10))
    assert all(np.all(np.diff(b) > 0) for b in epoch)


# ------------------------------------------------------------------ seeds, batch sizes, decay
SMALL = RunConfig(n=16, n_test=8, d=40, K=2, m=4, steps=40, record_every=10, lr=0.5)


def test_same_seed_same_bits_and_other_batch_sizes_differ():
    c = SMALL.replace(batch_size=4, head="trainable", a0=0.2, weight_decay=0.01)
    a, b = run_once(c, rng=5).trajectory, run_once(c, rng=5).trajectory
    assert a.coef.tobytes() == b.coef.tobytes() and a.head_weights.tobytes() == b.head_weights.tobytes()
    other = run_once(c.replace(batch_size=5), rng=5).trajectory
    assert not np.allclose(other.coef[-1], a.coef[-1])
    seed = run_once(c, rng=6).trajectory
    assert not np.allclose(seed.coef[-1], a.coef[-1])


@pytest.mark.parametrize("engine", ["feature", "gram", "implicit"])
def test_batch_size_n_is_full_batch_exactly(engine):
    """A batch of all ``n`` samples is full-batch gradient descent, bit for bit (the same code path: every
    epoch is one batch of every sample, in order)."""
    full = run_once(SMALL.replace(engine=engine), rng=2).trajectory
    same = run_once(SMALL.replace(engine=engine, batch_size=SMALL.n), rng=2).trajectory
    for field in ("coef", "train_loss", "filter_stable_rank", "learned_stable_rank"):
        assert getattr(full, field).tobytes() == getattr(same, field).tobytes(), field


@pytest.mark.parametrize("engine", ["feature", "gram"])
def test_the_variant_code_path_without_an_effective_variant_is_gradient_descent(engine):
    """A weight decay so small that ``1 - ηλ == 1.0`` runs the variants' step loop (the second layer
    applied per filter, ``g_i = ℓ' y / n``) with nothing to decay: gradient descent to rounding (the
    factor ``j/(nm)`` is formed in another order)."""
    data, test, net = _problem()
    plain = train(net, data, 0.5, 300, record_every=100, test=test, engine=engine)
    tiny = train(net, data, 0.5, 300, record_every=100, test=test, engine=engine,
                 variant=TrainingVariant(weight_decay=1e-300))
    assert tiny.init_scale.tolist() == [1.0] * 4  # recorded by the variants' path only
    assert plain.init_scale is None
    assert _rel(tiny.coef, plain.coef) <= 1e-13 and _rel(tiny.train_loss, plain.train_loss) <= 1e-13


def test_weight_decay_scale_is_the_power_and_zero_decay_is_todays_bits():
    c = SMALL.replace(weight_decay=0.05, engine="gram")
    traj = run_once(c, rng=1).trajectory
    q = 1.0 - c.lr * c.weight_decay
    assert traj.init_scale.tolist() == [q ** int(t) for t in traj.steps]
    data, test, net = _problem()
    plain = train(net, data, 0.5, 60, record_every=20, test=test, engine="gram")
    for v in (TrainingVariant(weight_decay=0.0), None):
        again = train(net, data, 0.5, 60, record_every=20, test=test, engine="gram", variant=v)
        assert again.coef.tobytes() == plain.coef.tobytes() and again.init_scale is None
    assert run_once(SMALL.replace(weight_decay=0.0), rng=1).trajectory.coef.tobytes() == \
        run_once(SMALL, rng=1).trajectory.coef.tobytes()
    assert RunConfig(weight_decay=0.0, head="fixed", batch_size=None).to_dict() == RunConfig().to_dict()


def test_decay_shrinks_the_initialization_and_the_head():
    c = SMALL.replace(weight_decay=0.2, head="trainable", engine="feature", steps=200, record_every=50)
    traj = run_once(c, rng=3).trajectory
    assert traj.init_scale[-1] == pytest.approx((1 - 0.1) ** 200)
    assert traj.head_weights[0].tolist() == [[1 / c.m] * c.m, [-1 / c.m] * c.m]  # a(0) = j a0, a0 = 1/m
    assert np.all(traj.head_weights[:, 0] > 0) and np.all(traj.head_weights[:, 1] < 0)


# ------------------------------------------------------------------ validation, divergence, memory
@pytest.mark.parametrize(("kw", "needle"), [
    (dict(a0=0.5), "a0=0.5 is invalid with head='fixed'"),
    (dict(head="trainable", a0=0.0), "a0=0.0 is invalid: must be > 0"),
    (dict(head="trainable", a0=float("nan")), "a0=nan is invalid: must be finite"),
    (dict(head="linear"), "head='linear' is invalid"),
    (dict(batch_size=0), "batch_size=0 is invalid"),
    (dict(batch_size=17), "batch_size=17 is invalid: must be <= n=16"),
    (dict(batch_size=2.5), "batch_size=2.5 is invalid"),
    (dict(weight_decay=-0.1), "weight_decay=-0.1 is invalid"),
    (dict(weight_decay=2.0), "weight_decay=2.0 is invalid with lr=0.5: lr \\* weight_decay must be < 1"),
])
def test_variant_fields_are_validated_with_one_line(kw, needle):
    with pytest.raises(ValueError, match=needle) as info:
        SMALL.replace(**kw)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("engine", ["feature", "gram", "implicit"])
def test_a_blow_up_of_a_variant_raises_training_diverged(engine):
    data, test, net = _problem()
    v = TrainingVariant(head_scale=0.5, weight_decay=1e-210, batch_size=4, batch_rng=1)
    with pytest.raises(cnnrank.TrainingDiverged) as info:
        if engine == "implicit":
            train_implicit(ACT, gram_sample_from_data(MODEL, data, net.W, test), 1e200, 6, record_every=1,
                           variant=v)
        else:
            train(net, data, 1e200, 6, record_every=1, test=test, engine=engine, variant=v)
    traj = info.value.trajectory
    assert 1 <= len(traj) <= info.value.step + 1 and traj.finite_records() == len(traj)
    assert np.all(np.isfinite(traj.head_weights)) and np.all(np.isfinite(traj.init_scale))


def test_a_variant_that_cannot_fit_is_refused_before_training(monkeypatch):
    from cnnrank import _memory
    from cnnrank._memory import InsufficientMemory

    data, test, net = _problem()
    v = TrainingVariant(head_scale=0.5, batch_size=4, batch_rng=1, weight_decay=0.01)
    with pytest.raises(InsufficientMemory, match=r"records .*; record_every="):
        train(net, data, 0.1, 10**15, record_every=1, variant=v)
    monkeypatch.setattr(_memory, "available_bytes", lambda: 40_000)  # the records fit, the Gram matrix not
    with pytest.raises(InsufficientMemory, match="engine='gram'.*engine='feature' needs"):
        train(net, data, 0.1, 1, record_every=1, engine="gram", variant=v)


# ------------------------------------------------------------------ files, groups, sweeps, CLI
def test_the_variant_fields_round_trip_and_default_files_lack_them(tmp_path):
    c = SMALL.replace(batch_size=4, head="trainable", weight_decay=0.01, engine="gram")
    traj = run_once(c, rng=0).trajectory
    traj.save(tmp_path / "v.npz")
    back = cnnrank.Trajectory.load(tmp_path / "v.npz")
    assert back.init_scale.tobytes() == traj.init_scale.tobytes()
    assert back.head_weights.tobytes() == traj.head_weights.tobytes()
    np.testing.assert_array_equal(back.weights_at(-1), traj.weights_at(-1))
    plain = run_once(SMALL, rng=0).trajectory
    plain.save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as f:
        assert "init_scale" not in f.files and "head_weights" not in f.files
    assert b"init_scale" not in plain.to_npz_bytes() and b"head_weights" not in plain.to_npz_bytes()
    loaded = cnnrank.Trajectory.load(tmp_path / "p.npz")
    assert loaded.init_scale is None and loaded.head_weights is None
    assert cnnrank.experiments.config_from_dict(c.to_dict()) == c


def test_run_group_trains_variants_alone_with_run_once_bits():
    configs = [SMALL.replace(batch_size=4, weight_decay=0.02, noise_std=s, engine="gram") for s in (0.2, 0.5)]
    grouped = run_group(configs, rng=np.random.SeedSequence(9))
    for c, out in zip(configs, grouped):
        alone = run_once(c, rng=np.random.SeedSequence(9)).trajectory
        assert out.trajectory.coef.tobytes() == alone.coef.tobytes()
        assert out.trajectory.init_scale.tobytes() == alone.init_scale.tobytes()


def test_a_sweep_over_variants_gives_the_same_bits_grouped_or_not():
    from cnnrank.sweeps import SweepSpec, run_sweep
    from cnnrank.sweeps.planner import _group_key

    base = SMALL.replace(engine="gram", head="trainable", steps=20)
    spec = SweepSpec(base=base, grid={"noise_std": [0.2, 0.5], "batch_size": [4, 16]}, seeds=1, root_seed=2)
    grouped, alone = run_sweep(spec, progress=False), run_sweep(spec, progress=False, group=False)
    assert_sweeps_equal(grouped, alone)  # bit for bit
    with ThreadPoolExecutor(2) as ex:
        assert_sweeps_equal(run_sweep(spec, executor=ex, progress=False), grouped)
    assert _group_key(base.to_dict(), 0) is None and _group_key(SMALL.replace(engine="gram").to_dict(), 0)


def test_a_sweep_file_takes_the_variant_fields_in_the_base_axes_and_config_axis(tmp_path):
    from cnnrank.sweeps import run_sweep, sweep_from_file

    path = tmp_path / "variants.toml"
    path.write_text("seeds = 1\n[base]\nn = 16\nn_test = 0\nd = 30\nK = 2\nm = 3\nsteps = 10\nrecord_every = 5\n"
                    "lr = 0.5\nhead = \"trainable\"\na0 = 1\n[grid]\nbatch_size = [4, 16]\n"
                    "config = [{weight_decay = 0}, {weight_decay = 0.01}]\n")
    spec = sweep_from_file(path)
    assert spec.base.a0 == 1.0 and isinstance(spec.base.a0, float)
    result = run_sweep(spec, progress=False)
    loss = result.values["train_loss"]
    assert loss.shape[:2] == (2, 2) and np.all(np.isfinite(loss)) and len(np.unique(loss)) == loss.size
    path.write_text("seeds = 1\n[base]\nn = 16\nbatch_size = 17\n")
    with pytest.raises(ValueError, match="batch_size=17 is invalid: must be <= n=16"):
        sweep_from_file(path)


def test_the_command_line_takes_the_variant_options(tmp_path, capsys):
    from cnnrank.cli import main

    code = main(["simulate", "--n", "12", "--n-test", "4", "--d", "30", "--K", "2", "--m", "3", "--steps", "20",
                 "--record-every", "10", "--lr", "0.5", "--head", "trainable", "--a0", "0.2", "--batch-size",
                 "4", "--weight-decay", "0.01", "--no-save", "--quiet"])
    assert code == 0
    assert main(["simulate", "--a0", "0.2", "--no-save", "--quiet"]) == 2
    assert "a0=0.2 is invalid with head='fixed'" in capsys.readouterr().err


# ------------------------------------------------------------------ PyTorch peer
@pytest.mark.xdist_group("torch")  # torch takes seconds to import: its tests share one worker
def test_pytorch_peer_trainable_head_sgd_and_weight_decay():
    """The same SGD in float64 PyTorch (autograd, the batches of the same schedule): ≤ 1e-12 relative."""
    torch = pytest.importorskip("torch", reason="the PyTorch peer needs torch (optional, not in the test extra)")
    data, test, net = _problem()
    lr, wd, steps, bs, a0 = 0.5, 0.02, 100, 5, 0.3
    v = TrainingVariant(head_scale=a0, weight_decay=wd, batch_size=bs, batch_rng=4)
    ours = train(net, data, lr, steps, record_every=steps, engine="gram", variant=v)
    m, d, P = net.m, net.d, data.P
    X = torch.tensor(data.X, dtype=torch.float64)
    y = torch.tensor(data.y, dtype=torch.float64)
    W = torch.tensor(net.W.reshape(2 * m, d), dtype=torch.float64, requires_grad=True)
    a = torch.tensor(np.repeat([a0, -a0], m), dtype=torch.float64, requires_grad=True)
    kappa = 1.0

    def sigma(z):  # Huberized ReLU, q = 3, κ = 1
        zp = torch.clamp(z, min=0.0)
        return torch.where(zp <= kappa, zp**3 / (3 * kappa**2), zp - kappa + kappa / 3)

    def outputs(Xs):
        return sigma(Xs.reshape(-1, d) @ W.T).reshape(Xs.shape[0], P, 2 * m).sum(dim=1) @ a

    sched = BatchSchedule(data.n, bs, 4)
    for _ in range(steps):
        idx = torch.as_tensor(sched.next())
        loss = torch.nn.functional.softplus(-y[idx] * outputs(X[idx])).mean()
        gW, ga = torch.autograd.grad(loss, (W, a))
        with torch.no_grad():
            W.mul_(1 - lr * wd).sub_(lr * gW)
            a.mul_(1 - lr * wd).sub_(lr * ga)
    with torch.no_grad():
        full = torch.nn.functional.softplus(-y * outputs(X)).mean().item()
    assert _rel(ours.W_final.reshape(2 * m, d), W.detach().numpy()) <= 1e-12
    assert _rel(ours.head_weights[-1].reshape(-1), a.detach().numpy()) <= 1e-12
    assert ours.train_loss[-1] == pytest.approx(full, rel=1e-12)
