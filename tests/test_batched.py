"""Batched runs equal the same runs one by one.

The batch advances every run with the same elementwise operations as a single run and one stacked
product ``(B, M, M) × (B, M, 2m)`` per step (runs on one data set: one wide ``(M, M) × (M, 2mB)``
product); a single run uses an in-place BLAS ``dgemm`` with ``beta = 1`` of shape ``(M, M) × (M, 2m)``.
The same sums, but a BLAS blocks a product by its shape and the CPU, so the last bit may differ (with
OpenBLAS 0.3.31: bit for bit under its Haswell kernels, not under its Nehalem or SkylakeX ones). So
floats agree to :data:`cnnrank.testing.SHAPE_RTOL` relative (normwise), far below any modelling error
and far above rounding after a few hundred steps, and steps, accuracies and the learned dimension are
equal. tests/test_blas_kernels.py runs this file again under another OpenBLAS kernel.
"""

from dataclasses import replace

import numpy as np
import pytest

import cnnrank
from cnnrank.activations import HuberizedReLU, PolyReLU, ReLU
from cnnrank.batched import train_batched
from cnnrank.engines.gram import GramCore, GramProblem
from cnnrank.testing import COUNT_METRICS, SHAPE_RTOL
from cnnrank.train import train_implicit

FIELDS = ("train_loss", "test_loss", "coef", "gamma", "rho", "filter_stable_rank", "learned_stable_rank",
          "W_final")


def rel(a, b):
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a - b)))


def assert_equal_runs(a, b, tol=SHAPE_RTOL):
    """Same records: equal steps and counts (:data:`~cnnrank.testing.COUNT_METRICS`), the floats of
    ``FIELDS`` to ``tol`` relative (normwise)."""
    assert np.array_equal(a.steps, b.steps) and a.engine == b.engine and a.lr == b.lr
    for name in COUNT_METRICS:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None and y is None) or np.array_equal(x, y), (name, x, y)
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if y is None:
            assert x is None, name
        else:
            assert rel(x, y) <= tol, (name, rel(x, y))


@pytest.mark.parametrize("act, chunk_bytes", [(HuberizedReLU(1.0, 3.0), float("inf")), (ReLU(), 1.0),
                                              (PolyReLU(2.0), 1.5 * 2**20), (HuberizedReLU(0.5, 2.0), 1e5)])
def test_batched_equals_sequential_over_seeds_noise_levels_and_step_sizes(act, chunk_bytes):
    # chunk_bytes: everything stacked, one run per group, the default budget, groups of a few runs
    runs = []
    for b, (noise, lr) in enumerate([(0.2, 1.0), (0.8, 0.5), (0.0, 1.0), (1.5, 0.2), (0.5, 2.0)]):
        model = cnnrank.SignalNoiseModel(d=60, K=2, patches=3, signal_norm=3.0, noise_std=noise,
                                         signal_position="random")
        data, test = model.sample(10, rng=b), model.sample(6, rng=100 + b)
        # zero noise gives fewer distinct patches: the batch pads it
        net = cnnrank.TwoLayerCNN.init(m=3, d=60, init_std=0.1, activation=act, rng=200 + b)
        runs.append((net, data, test, lr))
    nets, datas, tests, lrs = map(list, zip(*runs))
    batched = train_batched(nets, datas, lrs, steps=150, record_every=25, test=tests, chunk_bytes=chunk_bytes)
    for (net, data, test, lr), got in zip(runs, batched):
        want = cnnrank.train(net, data, lr=lr, steps=150, record_every=25, test=test, engine="gram")
        assert_equal_runs(got, want)
        assert got.metadata["batch"][1] == 5 and "diverged_at" not in got.metadata


def test_batched_implicit_runs_equal_sequential():
    model = cnnrank.SignalNoiseModel(d=10**7, K=2, patches=3, signal_norm=3.0, noise_std=2e-3)
    act = HuberizedReLU(1.0, 3.0)
    samples = [model.sample_gram(12, 3, 2e-4, n_test=5, rng=s) for s in range(4)]
    batched = train_batched(act, samples, lr=[0.5, 1.0, 1.5, 2.0], steps=120, record_every=30)
    for s, lr, got in zip(samples, [0.5, 1.0, 1.5, 2.0], batched):
        assert_equal_runs(got, train_implicit(act, s, lr=lr, steps=120, record_every=30))


def test_shared_data_and_net_broadcast():
    model = cnnrank.SignalNoiseModel(d=40, K=1, patches=2, noise_std=0.5)
    data = model.sample(8, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=40, init_std=0.1, activation=ReLU(), rng=1)
    out = train_batched(net, data, lr=[0.1, 0.3], steps=30)
    assert len(out) == 2
    for lr, got in zip([0.1, 0.3], out):
        assert_equal_runs(got, cnnrank.train(net, data, lr=lr, steps=30, engine="gram"))


def test_a_diverging_run_does_not_disturb_the_others():
    model = cnnrank.SignalNoiseModel(d=40, K=1, signal_norm=30.0, noise_std=5.0)
    data = model.sample(8, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=40, init_std=1.0, activation=PolyReLU(3.0), rng=0)
    out = train_batched(net, data, lr=[1e-4, 50.0, 2e-4], steps=40, record_every=1, chunk_bytes=float("inf"))
    with pytest.raises(cnnrank.TrainingDiverged) as info:
        cnnrank.train(net, data, lr=50.0, steps=40, record_every=1, engine="gram")
    assert out[1].metadata["diverged_at"] == info.value.step
    assert len(out[1]) == len(info.value.trajectory)
    for b in (0, 2):
        assert "diverged_at" not in out[b].metadata
        assert_equal_runs(out[b], cnnrank.train(net, data, lr=[1e-4, 50.0, 2e-4][b], steps=40,
                                                record_every=1, engine="gram"))


def test_batched_validation():
    model = cnnrank.SignalNoiseModel(d=30, K=1, patches=2)
    d8, d9 = model.sample(8, rng=0), model.sample(9, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=30, init_std=0.1, activation=ReLU(), rng=0)
    with pytest.raises(ValueError, match="one shape"):
        train_batched(net, [d8, d9], lr=0.1, steps=2)
    with pytest.raises(ValueError, match="data has 2 entries which is invalid"):
        train_batched(net, [d8, d8], lr=[0.1, 0.2, 0.3], steps=2)
    other = cnnrank.TwoLayerCNN.init(m=2, d=30, init_std=0.1, activation=PolyReLU(3.0), rng=0)
    with pytest.raises(ValueError, match="same activation"):
        train_batched([net, other], d8, lr=0.1, steps=2)
    with pytest.raises(ValueError, match="chunk_bytes=0"):
        train_batched(net, d8, lr=0.1, steps=2, chunk_bytes=0)
    with pytest.raises(ValueError, match="lr=-1"):
        train_batched(net, d8, lr=-1.0, steps=2)


def test_blas_threads_setting_is_validated_and_recorded():
    model = cnnrank.SignalNoiseModel(d=30, K=1, patches=2)
    data = model.sample(6, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=2, d=30, init_std=0.1, activation=ReLU(), rng=0)
    assert train_batched(net, data, lr=0.1, steps=2)[0].metadata["blas_threads"] == 1  # a tiny step
    assert train_batched(net, data, lr=0.1, steps=2, blas_threads=None)[0].metadata["blas_threads"] is None
    with pytest.raises(ValueError, match="blas_threads=0"):
        train_batched(net, data, lr=0.1, steps=2, blas_threads=0)


# Runs on one data set share one Gram matrix and advance with one wide product per step,
# Zᵀ ← [ΔĈ_1 … ΔĈ_B]ᵀ Gᵀ + Zᵀ: the single run's dgemm call (same K, beta = 1 into Z) with B·2m rows of
# Zᵀ instead of 2m. The same sums, but not the same product shape: OpenBLAS's kernels for some CPUs
# (SkylakeX, Nehalem) round them differently, so to SHAPE_RTOL, not bit for bit.
@pytest.mark.parametrize("m, act, chunk_bytes", [(3, HuberizedReLU(1.0, 3.0), float("inf")),
                                                 (5, PolyReLU(3.0), 1.5 * 2**20), (4, ReLU(), 3e4)])
def test_runs_on_one_data_set_share_the_gram_matrix_and_equal_single_runs(m, act, chunk_bytes):
    model = cnnrank.SignalNoiseModel(d=80, K=2, patches=3, signal_norm=3.0, noise_std=0.6)
    data, test = model.sample(12, rng=0), model.sample(6, rng=1)
    other = model.sample(12, rng=2)  # a second data set: its runs form their own group
    nets = [cnnrank.TwoLayerCNN.init(m=m, d=80, init_std=0.1, activation=act, rng=10 + s) for s in range(5)]
    datas = [data, data, other, data, other, data, data]
    nets7 = nets + nets[:2]
    lrs = [1.0, 0.5, 1.0, 2.0, 0.7, 1.5, 1.0]
    got = train_batched(nets7, datas, lrs, steps=120, record_every=20, test=test, chunk_bytes=chunk_bytes)
    for net, d, lr, g in zip(nets7, datas, lrs, got):
        assert_equal_runs(g, cnnrank.train(net, d, lr=lr, steps=120, record_every=20, test=test, engine="gram"))
    if chunk_bytes == float("inf"):
        assert [g.metadata["stacked"] for g in got] == [5, 5, 2, 5, 2, 5, 5]


def test_shared_gram_core_stores_g_once():
    model = cnnrank.SignalNoiseModel(d=50, K=2, patches=2, noise_std=0.5)
    data = model.sample(8, rng=0)
    p0, rows = GramProblem.from_vectors(cnnrank.TwoLayerCNN.init(m=2, d=50, init_std=0.1, activation=ReLU(), rng=0).W, data)
    W1 = cnnrank.TwoLayerCNN.init(m=2, d=50, init_std=0.1, activation=ReLU(), rng=1).W.reshape(4, -1)
    core = GramCore([p0, replace(p0, Z0=rows.product(W1))], ReLU())
    assert core.shared_G and core.G.shape == (1, p0.M + 1, p0.M + 1)
    assert not GramCore([p0, replace(p0, G=p0.G.copy())], ReLU()).shared_G  # equal, not the same object


def test_equal_samples_share_and_equal_single_implicit_runs():
    model = cnnrank.SignalNoiseModel(d=10**6, K=2, patches=3, signal_norm=3.0, noise_std=2e-3)
    act = HuberizedReLU(1.0, 3.0)
    s = model.sample_gram(10, 3, 2e-4, n_test=4, rng=0)
    got = train_batched(act, [s, s, s], lr=[0.5, 1.0, 2.0], steps=60, record_every=20, chunk_bytes=float("inf"))
    for lr, g in zip([0.5, 1.0, 2.0], got):
        assert g.metadata["stacked"] == 3
        assert_equal_runs(g, train_implicit(act, s, lr=lr, steps=60, record_every=20))


# ---------------------------------------------------------------- noise families (common random numbers)
#: one Gram matrix with row scales instead of each level's own, a different order of the same products:
#: rounding level (at most 3.5e-15 measured under OpenBLAS's Nehalem, Haswell and SkylakeX kernels)
FAMILY_TOL = 1e-11


@pytest.mark.parametrize("basis, project", [("canonical", True), ("random", True), ("canonical", False)])
def test_sample_noise_levels_equals_sample_at_each_level(basis, project):
    model = cnnrank.SignalNoiseModel(d=40, K=2, patches=4, noise_std=0.3, signal_basis=basis,
                                     project_noise=project, signal_position="random", label_noise=0.1)
    levels = [0.0, 0.3, 1.7]
    family = model.sample_noise_levels(12, levels, rng=7)
    for level, data in zip(levels, family):
        want = model.replace(noise_std=level).sample(12, rng=7)
        for name in ("X", "y", "y_true", "signals", "signal_id", "signal_pos"):
            assert np.array_equal(getattr(data, name), getattr(want, name)), name
        assert data.meta["noise_family"]["scale"] == level
    assert len({id(d.meta["noise_family"]["unit_X"]) for d in family}) == 1
    with pytest.raises(ValueError, match="noise_levels"):
        model.sample_noise_levels(12, [0.1, -1.0], rng=0)
    with pytest.raises(ValueError, match="noise_levels"):
        model.sample_noise_levels(12, [], rng=0)


def _family_runs(levels, lrs, n=16, seed=3):
    model = cnnrank.SignalNoiseModel(d=80, K=2, patches=3, signal_norm=4.0, noise_std=0.5, balanced=True)
    act = HuberizedReLU(1.0, 3.0)
    data = model.sample_noise_levels(n, levels, rng=seed)
    test = model.sample_noise_levels(10, levels, rng=seed + 1)
    net = cnnrank.TwoLayerCNN.init(m=4, d=80, init_std=0.05, activation=act, rng=seed + 2)
    return net, data, test, lrs


@pytest.mark.parametrize("chunk_bytes", [float("inf"), 1.5 * 2**20, 1.0])
def test_a_noise_family_shares_one_gram_matrix_and_equals_single_runs(chunk_bytes):
    levels = [0.1, 0.4, 0.9, 2.0]
    net, data, test, lrs = _family_runs(levels, None)
    lrs = [1.0, 0.5, 1.0, 0.25]
    got = train_batched(net, data, lrs, steps=120, record_every=20, test=test, chunk_bytes=chunk_bytes)
    for d, t, lr, g in zip(data, test, lrs, got):
        want = cnnrank.train(net, d, lr=lr, steps=120, record_every=20, test=t, engine="gram")
        assert g.metadata["noise_family_scale"] == d.meta["noise_family"]["scale"]
        for name in FIELDS:
            assert rel(getattr(g, name), getattr(want, name)) <= FAMILY_TOL, (name, rel(getattr(g, name), getattr(want, name)))
        for name in COUNT_METRICS:
            assert np.array_equal(getattr(g, name), getattr(want, name)), name


def test_family_runs_keep_their_own_data_and_seeds():
    # the record's patches are each level's own, and two seeds are two families
    model = cnnrank.SignalNoiseModel(d=80, K=2, patches=3, signal_norm=4.0, balanced=True)
    act = HuberizedReLU(1.0, 3.0)
    runs = []
    for seed in (0, 1):
        for d in model.sample_noise_levels(16, [0.3, 0.8], rng=seed):
            runs.append((cnnrank.TwoLayerCNN.init(m=3, d=80, init_std=0.05, activation=act, rng=10 + seed), d))
    got = train_batched([r[0] for r in runs], [r[1] for r in runs], 1.0, steps=60, record_every=30)
    for (net, d), g in zip(runs, got):
        assert np.array_equal(g.patches, d.X)
        want = cnnrank.train(net, d, lr=1.0, steps=60, record_every=30, engine="gram")
        assert rel(g.coef, want.coef) <= FAMILY_TOL and rel(g.W_final, want.W_final) <= FAMILY_TOL


def test_zero_noise_and_forged_members_are_trained_on_their_own_gram_matrix():
    levels = [0.0, 0.5]
    net, data, test, _ = _family_runs(levels, None)
    # a member whose patches are no longer the family's (replace keeps the marker in meta)
    forged = data[1].replace(X=data[1].X * 1.5)
    got = train_batched(net, [data[0], forged], 1.0, steps=40, record_every=20)
    for d, g in zip([data[0], forged], got):
        assert "noise_family_scale" not in g.metadata
        want = cnnrank.train(net, d, lr=1.0, steps=40, record_every=20, engine="gram")
        assert_equal_runs(g, want)


def test_each_group_is_padded_to_its_own_size_only(monkeypatch):
    """A level σ = 0 (only its 2K signal patches are distinct) stacked beside a noise family runs in its
    own group with its own M, not padded to the family's: the padding would only add zero terms to
    its sums at the family's cost. Control: the family's group holds the family's M."""
    import cnnrank.batched as batched

    cores = []

    class Spy(GramCore):
        def __init__(self, problems, *args, **kwargs):
            super().__init__(problems, *args, **kwargs)
            cores.append((self.B, self.M, self.tG.shape[-2] - 1))

    monkeypatch.setattr(batched, "GramCore", Spy)
    net, data, test, _ = _family_runs([0.0, 0.3, 0.6], None)
    got = train_batched(net, data, 1.0, steps=40, record_every=20, test=test, chunk_bytes=float("inf"))
    alone, _ = GramProblem.from_vectors(net.W, data[0], test[0])
    family, _ = GramProblem.from_vectors(net.W, data[1], test[1])
    assert alone.M == 4 < family.M  # the 2K signal patches only
    assert sorted(cores) == sorted([(1, alone.M, alone.test_G.shape[0]), (2, family.M, family.test_G.shape[0])])
    want = cnnrank.train(net, data[0], lr=1.0, steps=40, record_every=20, test=test[0], engine="gram")
    assert_equal_runs(got[0], want)
    assert "noise_family_scale" not in got[0].metadata and "noise_family_scale" in got[1].metadata


def test_gram_core_rejects_bad_row_scales():
    net, data, _, _ = _family_runs([0.5], None)
    prob, _ = GramProblem.from_vectors(net.W, data[0])
    with pytest.raises(ValueError, match="scales"):
        GramCore([prob], HuberizedReLU(), scales=np.zeros((1, prob.M)))
    with pytest.raises(ValueError, match="scales"):
        GramCore([prob], HuberizedReLU(), scales=np.ones((2, prob.M)))


def test_a_member_with_other_patches_of_the_same_family_shape_is_checked_numerically():
    # replace(X=...) keeps the family marker: patches equal to the family's (a copy) are used, others not
    net, data, _, _ = _family_runs([0.3, 0.6], None)
    copy = data[1].replace(X=np.array(data[1].X))
    other = data[1].replace(X=data[1].X + 1e-6)
    got = train_batched(net, [data[0], copy, other], 1.0, steps=30, record_every=30)
    assert [g.metadata.get("noise_family_scale") for g in got] == [0.3, 0.6, None]
