"""The Gram engine against the feature engine, and ``engine="auto"``.

Both engines run the same gradient descent in exact arithmetic (docs/theory.md §3): the Gram engine only
reorders floating-point sums, so on small problems they agree to rounding (~1e-15 relative after a few
hundred steps). 1e-9 relative (normwise: max |a - b| / max |b|) leaves room for the growth of rounding
differences over the run while failing on any real bug (a wrong coefficient moves results by >1e-3).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnrank
from cnnrank.activations import HuberizedReLU, PolyReLU, ReLU
from cnnrank.activations.base import power_off_fixed_points
from cnnrank.data import PatchData
from cnnrank.engines import ENGINES, choose_engine, distinct_patches
from cnnrank.engines.base import Engine
from cnnrank.engines.gram import GramEngine, PatchRows
from cnnrank.engines.implicit import ImplicitEngine

TOL = 1e-9


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = np.max(np.abs(b)) if b.size else 0.0
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a - b), initial=0.0))


def assert_same_run(a, b, data, test=None, tol=TOL):
    assert np.array_equal(a.steps, b.steps)
    # accuracies count y f > 0; an output driven to a tie (f ~ 1e-58 vs 0: a pre-activation decaying
    # geometrically to 0 under σ'(z) ∝ z) may fall on either side by rounding. Where the accuracies
    # differ, every flipped sample must be such a tie of the reference run.
    for name, ds in (("train_acc", data), ("test_acc", test)):
        x, y = getattr(a, name), getattr(b, name)
        if y is None:
            assert x is None
            continue
        for k in np.flatnonzero(x != y):
            f = cnnrank.network_output(b.weights_at(k), ds.X, cnnrank.activation_from_spec(b.activation))
            ties = np.sum(np.abs(f) <= 1e-12 * max(1.0, np.max(np.abs(f))))
            assert round(abs(x[k] - y[k]) * ds.n) <= ties, (name, k, x[k], y[k])
    for name in ("train_loss", "coef", "gamma", "rho", "filter_stable_rank",
                 "learned_stable_rank", "test_loss", "W_final"):
        x, y = getattr(a, name), getattr(b, name)
        if y is None:
            assert x is None, name
            continue
        assert rel(x, y) <= tol, (name, rel(x, y))
    assert rel(a.weights_at(len(a) // 2), b.weights_at(len(b) // 2)) <= tol


def run_both(net, data, **kw):
    """Both engines; a genuine blow-up (cubic activations at lr ~ 1) must happen at the same step."""
    out = {}
    for name in ("gram", "feature"):
        try:
            out[name] = cnnrank.train(net, data, engine=name, **kw)
        except cnnrank.TrainingDiverged as exc:
            out[name] = exc
    a, b = out["gram"], out["feature"]
    assert type(a) is type(b)
    if isinstance(a, cnnrank.TrainingDiverged):
        assert a.step == b.step
        a, b = a.trajectory, b.trajectory
        if len(b) == 0:
            return
        for name in ("train_loss", "coef", "filter_stable_rank"):
            assert rel(getattr(a, name), getattr(b, name)) <= TOL, name
        return
    assert_same_run(a, b, data, kw.get("test"))


ACTS = st.sampled_from([HuberizedReLU(1.0, 3.0), HuberizedReLU(0.5, 2.0), HuberizedReLU(1.0, 2.5),
                        ReLU(), PolyReLU(3.0), PolyReLU(2.0)])


def stable_lr(frac, act, X, m):
    """``frac`` times ``1/L`` with ``L = P max‖x‖² max|σ''| / m`` bounding the gradient's Lipschitz
    constant per filter. Past ``2/L`` gradient descent amplifies rounding differences exponentially
    (two correct engines then drift apart like two chaotic orbits), so equivalence to 1e-9 is a claim
    about the stable regime, the one the theory uses (docs/theory.md §6: small η)."""
    curv = {"huberized_relu": max(act.power - 1.0, 1.0) / getattr(act, "kappa", 1.0),
            "poly_relu": act.power * max(act.power - 1.0, 1.0)}.get(act.name, 1.0)
    max_sq = float(np.max(np.sum(X**2, axis=-1)))
    return frac * m / (X.shape[1] * max(max_sq, 1e-12) * curv)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 12), P=st.integers(2, 4), K=st.integers(1, 3), m=st.integers(1, 4),
    extra_d=st.integers(1, 30), noise=st.sampled_from([0.0, 0.3, 1.0]), act=ACTS,
    project=st.booleans(), pos=st.sampled_from([0, "random"]), label_noise=st.sampled_from([0.0, 0.2]),
    frac=st.floats(0.05, 1.0), seed=st.integers(0, 2**32 - 1), with_test=st.booleans(),
)
def test_gram_equals_feature_on_synthetic_data(n, P, K, m, extra_d, noise, act, project, pos,
                                               label_noise, frac, seed, with_test):
    d = 2 * K + extra_d
    model = cnnrank.SignalNoiseModel(d=d, K=K, patches=P, signal_norm=2.0, noise_std=noise,
                                     project_noise=project, label_noise=label_noise, signal_position=pos)
    ss = np.random.SeedSequence(seed).spawn(3)
    data = model.sample(n, rng=ss[0])
    test = model.sample(5, rng=ss[1]) if with_test else None
    net = cnnrank.TwoLayerCNN.init(m=m, d=d, init_std=0.3, activation=act, rng=ss[2])
    run_both(net, data, lr=stable_lr(frac, act, data.X, m), steps=60, record_every=7, test=test)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 8), P=st.integers(1, 3), d=st.integers(1, 6), m=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_gram_equals_feature_with_repeated_and_zero_patches(n, P, d, m, seed):
    # generic data (no signal bookkeeping) drawn from a small pool of rows, zero row included, so
    # many patches repeat across and within samples
    rng = np.random.default_rng(seed)
    pool = np.vstack([np.zeros(d), rng.standard_normal((3, d))])
    X = pool[rng.integers(0, 4, size=(n, P))]
    y = rng.choice([-1.0, 1.0], size=n)
    data = PatchData(X=X, y=y)
    net = cnnrank.TwoLayerCNN.init(m=m, d=d, init_std=0.5, activation=HuberizedReLU(1.0, 3.0), rng=rng)
    kw = dict(lr=0.3, steps=40, record_every=10, test=PatchData(X=X[::-1], y=y[::-1]))
    a, b = cnnrank.train(net, data, engine="gram", **kw), cnnrank.train(net, data, engine="feature", **kw)
    assert a.gamma is None and b.gamma is None
    assert_same_run(a, b, data, kw["test"])


def test_gram_equals_feature_in_the_paper_regime_small():
    model = cnnrank.SignalNoiseModel(d=400, K=4, patches=3, signal_norm=5.0, noise_std=0.8, balanced=True)
    data, test = model.sample(32, rng=0), model.sample(20, rng=1)
    net = cnnrank.TwoLayerCNN.init(m=8, d=400, init_std=0.01, activation=HuberizedReLU(1.0, 3.0), rng=2)
    kw = dict(lr=2.0, steps=300, record_every=50, test=test)
    a, b = cnnrank.train(net, data, engine="gram", **kw), cnnrank.train(net, data, engine="feature", **kw)
    assert_same_run(a, b, data, test)
    assert np.array_equal(a.train_acc, b.train_acc) and np.array_equal(a.test_acc, b.test_acc)


def test_distinct_patches_dedupes_and_drops_zero_rows():
    X = np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 3.0], [1.0, 0.0], [0.0, 0.0], [2.0, 3.0], [5.0, 5.0]])
    reps, index = distinct_patches(X)
    assert reps.tolist() == [0, 2, 6]
    assert index.tolist() == [0, 3, 1, 0, 3, 1, 2]  # 3 = M marks a zero row
    reps, index = distinct_patches(np.zeros((3, 2)))
    assert reps.size == 0 and index.tolist() == [0, 0, 0]


def test_distinct_patches_survives_projection_collisions():
    # two different rows with the same value of the grouping projection: the exact check catches it
    v = 1.5 + np.cos(np.arange(2) * 0.6180339887498949 + 0.25)
    a, b = np.array([1.0, 0.0]), np.array([0.0, v[0] / v[1]])
    assert a @ v == b @ v
    reps, index = distinct_patches(np.vstack([a, b, a, 2 * b, np.zeros(2), -0.0 * a]))
    assert reps.tolist() == [0, 1, 3] and index.tolist() == [0, 1, 0, 2, 3, 3]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 25), d=st.integers(1, 4))
def test_distinct_patches_is_exact(seed, N, d):
    rng = np.random.default_rng(seed)
    pool = np.vstack([np.zeros(d), rng.integers(-2, 3, (4, d)).astype(float)])
    X = pool[rng.integers(0, 5, N)]
    reps, index = distinct_patches(X)
    M = reps.size
    assert reps.tolist() == sorted(reps.tolist()) and all(X[r].any() for r in reps)
    assert len({tuple(X[r]) for r in reps}) == M
    for i in range(N):  # every row maps to an equal representative, zero rows to the sentinel
        assert np.array_equal(X[i], X[reps[index[i]]]) if index[i] < M else not X[i].any()
        assert index[i] < M or not X[i].any()


@pytest.mark.parametrize("d", [1, 3, 4, 7, 33, 200])
def test_equal_rows_are_one_patch_wherever_they_sit(d):
    # the grouping projection of a row must not depend on its position: a BLAS X @ v did (OpenBLAS's
    # Nehalem, Sandybridge and SkylakeX kernels gave equal rows projections one ulp apart, so one patch
    # counted twice); tests/test_blas_kernels.py runs this file under the Nehalem kernel too
    rng = np.random.default_rng(d)
    pool = rng.integers(-2, 3, (3, d)).astype(float)
    pool[:, 0] = [1.0, 2.0, -1.0]  # three different non-zero rows
    which = rng.integers(0, 3, 41)
    for X in (pool[which], np.asfortranarray(pool[which])):
        reps, index = distinct_patches(X)
        first = sorted(int(np.flatnonzero(which == k)[0]) for k in np.unique(which))
        assert reps.tolist() == first
        assert np.array_equal(X[reps[index]], X)


def test_patch_rows_blocked_products_match_dense():
    rng = np.random.default_rng(0)
    X2, W = rng.standard_normal((9, 37)), rng.standard_normal((4, 37))
    reps = np.array([0, 3, 4, 8])
    for block_bytes in (8, 100, 10**9):  # one column per block, a few columns, everything at once
        rows = PatchRows(X2, reps, block_bytes=block_bytes)
        Xd = X2[reps]
        np.testing.assert_allclose(rows.gram(), Xd @ Xd.T, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(rows.product(W), Xd @ W.T, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(rows.cross(PatchRows(X2, np.array([1, 2]))), Xd @ X2[[1, 2]].T,
                                   rtol=1e-13, atol=1e-13)
        C = rng.standard_normal((4, 3))
        np.testing.assert_allclose(rows.combine(C), C.T @ Xd, rtol=1e-13, atol=1e-13)


def test_gram_matrix_counts_shared_signals_once():
    model = cnnrank.SignalNoiseModel(d=50, K=2, patches=3, noise_std=1.0)
    data = model.sample(30, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=50, init_std=0.1, activation=ReLU(), rng=1)
    eng = GramEngine(net.W, data, net.activation)
    assert eng.problem.M == len(np.unique(data.signal_id)) + 30 * 2
    clean = GramEngine(net.W, data.clean(), net.activation)
    assert clean.problem.M == len(np.unique(data.signal_id))  # zero background patches cost nothing


@pytest.mark.parametrize("act", [HuberizedReLU(1.0, 3.0), HuberizedReLU(2.0, 1.0), HuberizedReLU(0.7, 2.5),
                                 ReLU(), PolyReLU(3.0), PolyReLU(1.0)])
def test_fused_activation_matches_the_activation(act):
    z = np.linspace(-3, 3, 601)
    val, grad = act.value_and_grad(z)
    np.testing.assert_allclose(val, act(z), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(grad, act.grad(z), rtol=1e-14, atol=1e-15)
    # into caller buffers: the same bits; the terms add up to the value
    buffers = tuple(np.full_like(z, np.nan) for _ in range(3))
    terms, g2 = act.terms_and_grad(z, out=buffers)
    assert np.array_equal(g2, grad)
    total = sum(t * (1.0 / c) if c != 1.0 else t for c, t in terms)
    assert np.array_equal(total, val)


#: where ``pow`` is fixed by C99 (±0, 1) and where it is not (NaN, ±inf, negative, subnormal, large)
_POW_SPECIAL = np.array([0.0, -0.0, 1.0, np.nan, np.inf, -np.inf, -1.0, -0.5, 5e-324, 1e-300, 0.5, 2.0, 1e300])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(e=st.sampled_from([3.0, 2.5, 0.5, 1.5, 4.0, 5.0, 1.0, 0.0, -1.0, -2.5, np.nan, np.inf])
       | st.floats(-8, 8, allow_nan=False), seed=st.integers(0, 2**32 - 1), zeros=st.floats(0, 1))
def test_power_off_fixed_points_is_np_power_to_the_bit(e, seed, zeros):
    """The pow skipped at ±0 and 1 (C99's fixed values written directly) gives np.power's bits, signed
    zeros and NaNs included, in place and into another buffer."""
    with np.errstate(all="ignore"):  # 1e300 ** 3 overflows, (-1) ** 2.5 is invalid: as in np.power
        _check_power_off_fixed_points(e, seed, zeros)


def _check_power_off_fixed_points(e: float, seed: int, zeros: float) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (3, 7, 11))
    x[rng.random(x.shape) < zeros] = 0.0
    x[rng.random(x.shape) < 0.1] = 1.0
    x.reshape(-1)[: len(_POW_SPECIAL)] = _POW_SPECIAL
    want = np.power(x, e)
    out = np.full_like(x, 7.0)
    assert power_off_fixed_points(x, e, out) is out
    assert np.array_equal(out.view(np.int64), want.view(np.int64))
    y = x.copy()
    power_off_fixed_points(y, e, y)
    assert np.array_equal(y.view(np.int64), want.view(np.int64))
    # a non-contiguous x falls back to np.power itself
    strided = np.empty((3, 7, 22))[:, :, ::2]
    strided[...] = x
    assert np.array_equal(power_off_fixed_points(strided, e, np.empty_like(x)).view(np.int64), want.view(np.int64))


def test_power_off_fixed_points_control_signed_zeros():
    """Control: -0.0 ** 2.5 is +0.0 but -0.0 ** 3.0 is -0.0, so copying x at the zeros for every exponent
    (or clearing them for every exponent) would differ from np.power in the sign bit."""
    x = np.array([-0.0, 0.0, 0.25])
    assert np.signbit(np.power(x, 3.0)[0]) and not np.signbit(np.power(x, 2.5)[0])
    for e in (3.0, 2.5):  # the helper agrees with np.power at both
        assert np.array_equal(power_off_fixed_points(x, e, np.empty(3)).view(np.int64),
                              np.power(x, e).view(np.int64))


def test_auto_picks_gram_when_d_is_large_and_feature_when_small():
    act = HuberizedReLU(1.0, 3.0)
    big = cnnrank.SignalNoiseModel(d=3000, K=2, patches=3).sample(16, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=4, d=3000, init_std=0.01, activation=act, rng=0)
    assert choose_engine(net, big)[0] == "gram"
    traj = cnnrank.train(net, big, lr=0.1, steps=3, engine="auto")
    assert traj.engine == "gram" and traj.metadata["engine_choice"].startswith("auto: gram")
    # tiny d, many distinct patches: the (M, M) product is dearer than the (nP, d) one
    small = cnnrank.SignalNoiseModel(d=5, K=1, patches=4).sample(200, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=4, d=5, init_std=0.01, activation=act, rng=0)
    assert choose_engine(net, small)[0] == "feature"
    assert cnnrank.train(net, small, lr=0.1, steps=2, engine="auto").engine == "feature"


def test_registry_and_requested_reason():
    assert ENGINES["gram"] is GramEngine and ENGINES["implicit"] is ImplicitEngine
    assert all(issubclass(e, Engine) for e in ENGINES.values())
    assert [k for k, e in ENGINES.items() if not e.needs_vectors] == ["implicit"]
    data = cnnrank.SignalNoiseModel(d=20, K=1).sample(4, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=20, init_std=0.1, activation=ReLU(), rng=0)
    assert cnnrank.train(net, data, lr=0.1, steps=2, engine="gram").metadata["engine_choice"] == "requested"


def test_gram_engine_raises_training_diverged_like_feature():
    model = cnnrank.SignalNoiseModel(d=40, K=1, signal_norm=30.0, noise_std=5.0)
    data = model.sample(8, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=40, init_std=1.0, activation=PolyReLU(3.0), rng=0)
    steps = {}
    for name in ("feature", "gram"):
        with pytest.raises(cnnrank.TrainingDiverged) as info:
            cnnrank.train(net, data, lr=50.0, steps=200, record_every=1, engine=name)
        steps[name] = info.value.step
        assert len(info.value.trajectory) <= info.value.step + 1
    assert steps["feature"] == steps["gram"]


def test_train_points_the_dimension_free_path_to_train_implicit():
    model = cnnrank.SignalNoiseModel(d=20, K=1)
    data = model.sample(4, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=20, init_std=0.1, activation=ReLU(), rng=0)
    with pytest.raises(ValueError, match="train_implicit"):
        cnnrank.train(net, data, lr=0.1, steps=1, engine="implicit")
    with pytest.raises(TypeError, match="train_implicit"):
        cnnrank.train(net, model.sample_gram(4, 2, 0.1, rng=0), lr=0.1, steps=1)
    with pytest.raises(TypeError, match="train_implicit"):
        cnnrank.train(ReLU(), model.sample_gram(4, 2, 0.1, rng=0), lr=0.1, steps=1)


def test_implicit_engine_is_an_engine_built_from_the_sample():
    model = cnnrank.SignalNoiseModel(d=30, K=1, patches=3)
    sample = model.sample_gram(6, 2, 0.1, n_test=2, rng=0)
    eng = ImplicitEngine(sample, ReLU())
    assert isinstance(eng, Engine) and eng.m == 2 and eng.data is sample and eng.W0 is None
    assert eng.weights() is None and eng.problem.M == sample.n_distinct == 2 + 6 * 2
