"""Training, patch coefficients, the signal-noise decomposition, ranks and results."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnrank
from cnnrank import HuberizedReLU, PatchData, ReLU, SignalNoiseModel, TwoLayerCNN, train
from cnnrank.testing import strategies as cst


def _small_run(noise_std=0.5, project=True, steps=60, seed=0, **kw):
    model = SignalNoiseModel(d=60, K=2, patches=3, signal_norm=3.0, noise_std=noise_std,
                             project_noise=project, signal_position="random")
    data = model.sample(16, rng=seed)
    net = TwoLayerCNN.init(m=5, d=60, init_std=0.1, activation=HuberizedReLU(0.5, 3), rng=seed + 1)
    return data, net, train(net, data, lr=0.5, steps=steps, record_every=10, **kw)


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@settings(max_examples=15)
@given(cst.problems(max_n=5, max_P=3, max_d=7, max_m=3), st.integers(1, 15))
def test_weights_are_initial_weights_plus_patch_combination_for_arbitrary_data(problem, steps):
    """W(t) = W(0) + Σ c x holds for any data at all (here: arbitrary, non-orthogonal patches)."""
    W, X, y, act = problem
    data = PatchData(X=X, y=y)
    try:
        traj = train(TwoLayerCNN(W, act), data, lr=0.3, steps=steps, record_every=1)
        diverged = False
    except cnnrank.TrainingDiverged as exc:  # a polynomial activation can blow up at this lr:
        traj, diverged = exc.trajectory, True  # the identity must then hold on the records taken
    for k in range(len(traj)):
        # direct GD in W with loss_and_grad as an independent oracle
        Wd = _weights_gd(W, X, y, act, traj.steps[k])
        scale = max(np.abs(Wd).max(), 1e-12)
        assert np.abs(traj.weights_at(k) - Wd).max() <= 1e-10 * scale
    if not diverged:
        assert np.abs(traj.W_final - Wd).max() <= 1e-10 * scale


def _weights_gd(W, X, y, act, steps):
    W = W.copy()
    for _ in range(steps):
        W -= 0.3 * cnnrank.loss_and_grad(W, X, y, act)[1]
    return W


@pytest.mark.parametrize("project", [True, False])
def test_coefficient_identity_on_model_data(project):
    data, net, traj = _small_run(project=project)
    for k in (0, 3, -1):
        W_rebuilt = traj.weights_at(k)
        if k == -1:
            assert _rel(W_rebuilt, traj.W_final) < 1e-10
    assert np.all(traj.coef[0] == 0)


def test_gamma_equals_signal_correlation_with_projected_noise():
    data, net, traj = _small_run(project=True)
    for k in range(len(traj)):
        dW = traj.weights_at(k) - traj.W_init
        corr = np.einsum("jrd,kd->jrk", dW, data.signals)
        assert np.abs(corr - traj.gamma[k]).max() <= 1e-10 * max(np.abs(corr).max(), 1.0)
    assert traj.gamma[-1].max() > 0.1  # signal learning actually happened


@pytest.mark.parametrize("project", [True, False])
def test_gamma_rho_reconstruct_the_weights(project):
    """w(t) = w(0) + Σ_k γ μ_k/‖μ_k‖² + Σ_{i,p} ρ ξ_{i,p}/‖ξ_{i,p}‖² (docs/theory.md §4)."""
    data, net, traj = _small_run(project=project)
    mu2 = np.sum(data.signals**2, axis=1)
    xi = data.noise
    xi2 = np.sum(xi**2, axis=2)
    for k in (1, len(traj) - 1):
        W = (traj.W_init + np.einsum("jrk,kd->jrd", traj.gamma[k] / mu2, data.signals)
             + np.einsum("jrip,ipd->jrd", traj.rho[k] / xi2, xi))
        assert _rel(W, traj.weights_at(k)) < 1e-10
    # memorization split: ρ̄ ≥ 0 and ρ̲ ≤ 0, summing to ρ
    assert np.all(traj.rho_pos >= 0) and np.all(traj.rho_neg <= 0)
    np.testing.assert_array_equal(traj.rho_pos + traj.rho_neg, traj.rho)


def test_rho_follows_its_update_rule_for_one_step():
    """ρ_{j,r,i,p} after one step = -(η j/(nm)) ℓ'_i y_i σ'(⟨w_{j,r}, ξ_{i,p}⟩) ‖ξ_{i,p}‖²."""
    data, net, traj = _small_run(steps=1)
    n, m, eta = data.n, net.m, traj.lr
    f = net.output(data.X)
    lp = cnnrank.network.logistic_loss_derivative(data.y * f)
    z = np.einsum("jrd,ipd->jrip", net.W, data.noise)
    j = np.array([1.0, -1.0])[:, None, None, None]
    expect = -(eta * j / (n * m)) * (lp * data.y)[None, None, :, None] * net.activation.grad(z) \
        * np.sum(data.noise**2, axis=2)
    assert _rel(traj.rho[1], expect) < 1e-12


def test_records_losses_accuracies_and_ranks():
    model = SignalNoiseModel(d=200, K=2, noise_std=0.2, balanced=True)
    data, test = model.sample(32, rng=0), model.sample(64, rng=1)
    net = TwoLayerCNN.init(8, 200, 0.01, HuberizedReLU(1.0, 3), rng=2)
    traj = train(net, data, lr=1.0, steps=300, record_every=50, test=test)
    np.testing.assert_array_equal(traj.steps, [0, 50, 100, 150, 200, 250, 300])
    assert traj.train_loss[0] == pytest.approx(np.log(2), abs=1e-3)
    assert traj.train_loss[-1] < traj.train_loss[0] and traj.train_acc[-1] == 1.0
    assert traj.test_acc[-1] > 0.9
    # stable rank from the 2m x 2m Gram equals the SVD definition on the final filters
    assert traj.filter_stable_rank[-1] == pytest.approx(
        cnnrank.stable_rank(cnnrank.filter_matrix(traj.W_final)), rel=1e-10)
    assert traj.learned_stable_rank[-1] == pytest.approx(
        cnnrank.stable_rank(cnnrank.filter_matrix(traj.W_final, W_init=traj.W_init)), rel=1e-10)
    assert traj.gamma.shape == (7, 2, 8, 4) and traj.rho.shape == (7, 2, 8, 32, 2)
    s = traj.summary()
    assert set(s) >= {"train_loss", "max_gamma", "max_rho_pos", "min_rho_neg", "filter_stable_rank", "test_acc"}


def test_same_seed_gives_bit_identical_trajectories():
    a = _small_run(seed=3)[2]
    b = _small_run(seed=3)[2]
    for name in ("train_loss", "coef", "gamma", "rho", "filter_stable_rank", "W_final"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = _small_run(seed=4)[2]
    assert not np.array_equal(a.W_final, c.W_final)


def test_divergence_raises_with_step_and_partial_trajectory():
    model = SignalNoiseModel(d=30, K=1, signal_norm=50.0, noise_std=10.0)
    data = model.sample(8, rng=0)
    net = TwoLayerCNN.init(2, 30, 1.0, cnnrank.PolyReLU(3), rng=0)
    with pytest.raises(cnnrank.TrainingDiverged, match=r"diverged at step \d+ with step size lr=1e\+06") as info:
        train(net, data, lr=1e6, steps=50, record_every=1)
    err = info.value
    assert err.lr == 1e6 and 0 < err.step <= 50
    assert len(err.trajectory) == err.step  # records 0..step-1 were finite
    assert np.all(np.isfinite(err.trajectory.train_loss))


def test_train_validation():
    data, net, _ = _small_run(steps=1)
    with pytest.raises(ValueError, match="lr=0.0 is invalid: must be > 0"):
        train(net, data, lr=0.0, steps=1)
    with pytest.raises(ValueError, match="lr=-1.0 is invalid"):
        train(net, data, lr=-1.0, steps=1)
    with pytest.raises(ValueError, match="lr=nan is invalid"):
        train(net, data, lr=float("nan"), steps=1)
    with pytest.raises(ValueError, match="steps=-1 is invalid"):
        train(net, data, lr=0.1, steps=-1)
    with pytest.raises(ValueError, match="record_every=0 is invalid"):
        train(net, data, lr=0.1, steps=1, record_every=0)
    with pytest.raises(ValueError, match="engine='magic' is invalid"):
        train(net, data, lr=0.1, steps=1, engine="magic")
    other = TwoLayerCNN.init(2, 61, 0.1, ReLU(), rng=0)
    with pytest.raises(ValueError, match="data.d=60 is invalid: must equal the network's patch dimension d=61"):
        train(other, data, lr=0.1, steps=1)
    with pytest.raises(TypeError, match="data="):
        train(net, data.X, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="test.d="):
        train(net, data, lr=0.1, steps=1, test=SignalNoiseModel(d=30, K=2).sample(3, rng=0))


def test_trajectory_round_trip(tmp_path):
    data, net, traj = _small_run(steps=20)
    traj.metadata["seed"] = 123
    path = traj.save(tmp_path / "traj.npz")
    back = cnnrank.Trajectory.load(path)
    for f in ("steps", "train_loss", "coef", "gamma", "rho", "W_init", "W_final", "patches"):
        np.testing.assert_array_equal(getattr(back, f), getattr(traj, f))
    assert back.activation == traj.activation and back.metadata["seed"] == 123 and back.lr == traj.lr
    np.testing.assert_array_equal(back.weights_at(-1), traj.weights_at(-1))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(cnnrank.ResultsFileError, match="bad.npz"):
        cnnrank.Trajectory.load(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, a=np.arange(3))
    with pytest.raises(cnnrank.ResultsFileError, match="foreign.npz.*not a cnnrank result"):
        cnnrank.Trajectory.load(foreign)


# ---------------------------------------------------------------- ranks


@given(st.integers(2, 7), st.integers(2, 7), st.integers(0, 2**31), st.floats(1e-3, 1e3))
def test_stable_rank_properties(a, b, seed, scale):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((a, b)) * rng.random(b) ** 3  # uneven spectrum
    s = cnnrank.stable_rank(A)
    assert 1.0 - 1e-12 <= s <= cnnrank.numerical_rank(A) + 1e-12
    assert cnnrank.stable_rank(scale * A) == pytest.approx(s, rel=1e-10)
    Q1, _ = np.linalg.qr(rng.standard_normal((a, a)))
    Q2, _ = np.linalg.qr(rng.standard_normal((b, b)))
    assert cnnrank.stable_rank(Q1 @ A @ Q2) == pytest.approx(s, rel=1e-9)
    assert 1.0 - 1e-12 <= cnnrank.effective_rank(A) <= cnnrank.numerical_rank(A) + 1e-9
    assert cnnrank.effective_rank(scale * A) == pytest.approx(cnnrank.effective_rank(A), rel=1e-9)


def test_rank_conventions_and_known_values():
    assert cnnrank.stable_rank(np.zeros((3, 4))) == 0.0
    assert cnnrank.effective_rank(np.zeros((3, 4))) == 0.0
    assert cnnrank.numerical_rank(np.zeros((3, 4))) == 0
    assert cnnrank.stable_rank(np.diag([2.0, 1.0, 1.0])) == pytest.approx(1.5)
    assert cnnrank.effective_rank(np.eye(5)) == pytest.approx(5.0)
    assert cnnrank.numerical_rank(np.diag([1.0, 1e-3, 1e-20])) == 2
    assert cnnrank.numerical_rank(np.diag([1.0, 1e-3]), tol=1e-2) == 1
    with pytest.raises(ValueError, match="A has shape"):
        cnnrank.stable_rank(np.zeros(3))
    W = np.arange(24.0).reshape(2, 3, 4)
    assert cnnrank.filter_matrix(W).shape == (6, 4)
    np.testing.assert_array_equal(cnnrank.filter_matrix(W, "negative"), W[1])
    np.testing.assert_array_equal(cnnrank.filter_matrix(W, W_init=W), np.zeros((6, 4)))
    with pytest.raises(ValueError, match="part='middle' is invalid"):
        cnnrank.filter_matrix(W, "middle")
    X = np.arange(24.0).reshape(2, 3, 4)
    assert cnnrank.data_matrix(X).shape == (2, 12) and cnnrank.patch_matrix(X).shape == (6, 4)


def test_data_stable_rank_grows_with_noise_while_clean_rank_is_2K():
    base = SignalNoiseModel(d=300, K=2, noise_std=0.0, balanced=True)
    ranks = [cnnrank.data_rank_report(base.replace(noise_std=s).sample(64, rng=0)) for s in (0.0, 0.5, 1.0)]
    assert ranks[0]["data_stable_rank"] == pytest.approx(4.0)
    assert all(r["clean_data_stable_rank"] == pytest.approx(4.0) for r in ranks)
    assert ranks[2]["data_stable_rank"] > 5 * ranks[0]["data_stable_rank"]


def test_blas_thread_limit_is_validated_restored_and_harmless():
    from cnnrank import _blas

    data, net, ref = _small_run(steps=30)
    one = train(net, data, lr=0.5, steps=30, record_every=10, blas_threads=1)
    assert one.metadata["blas_threads"] == 1
    # a different BLAS blocking changes rounding only
    assert _rel(one.W_final, ref.W_final) < 1e-12
    with pytest.raises(ValueError, match="blas_threads=0 is invalid"):
        train(net, data, lr=0.5, steps=1, blas_threads=0)
    from threadpoolctl import threadpool_info

    before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    with _blas.blas_threads(1):
        assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"] == before
    assert _blas.resolve("auto", 1e6) == 1 and _blas.resolve("auto", 1e8) is None
    assert _blas.resolve("auto", 1e8, shared=True) == 1 and _blas.resolve(3, 1.0) == 3
    for bad in (True, 0, "two", 1.5):
        with pytest.raises(ValueError, match="blas_threads="):
            _blas.resolve(bad, 1.0)


def test_one_training_contract_default_engine_and_exports():
    import inspect

    from cnnrank.errors import TrainingDiverged as Base
    from cnnrank.train import TrainingDiverged, train_implicit

    assert TrainingDiverged is Base and cnnrank.TrainingDiverged is Base
    assert inspect.signature(train).parameters["engine"].default == "auto"
    assert list(inspect.signature(train).parameters)[:2] == ["net", "data"]
    assert list(inspect.signature(train_implicit).parameters)[:2] == ["activation", "sample"]
    data, net, traj = _small_run(steps=20)
    assert traj.metadata["engine_choice"].startswith("auto: ")


def test_trajectory_is_assembled_from_snapshots_by_one_public_function():
    from cnnrank.trajectory import Trajectory

    snaps = []
    data, net, traj = _small_run(steps=30, engine="gram", callback=lambda step, snap: snaps.append(snap))
    again = Trajectory.from_snapshots(snaps, traj.steps, data, net.m, traj.lr, net.activation, "gram",
                                      W_init=net.W, W_final=traj.W_final)
    for name in ("coef", "gamma", "rho", "filter_stable_rank", "learned_singular_values", "learned_dimension",
                 "signal_energy_fraction", "signal_overlap", "signal_angles", "W_init", "W_final", "patches"):
        np.testing.assert_array_equal(getattr(again, name), getattr(traj, name), err_msg=name)


# ---------------------------------------------------------------- trajectory file formats
_V1_FILE = __import__("pathlib").Path(__file__).parent / "data" / "trajectory_v1.npz"
_KEPT = ("signal_id", "signal_pos", "signal_sq_norms", "noise_sq_norms")


def _raw_npz(path):
    import json

    with np.load(path, allow_pickle=False) as z:
        raw = {k: z[k] for k in z.files}
    return raw, json.loads(str(raw.pop("__metadata__")))


def _same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_a_format_1_file_of_the_previous_release_still_loads():
    """tests/data/trajectory_v1.npz was written by the release that stored γ and ρ: SignalNoiseModel(d=12,
    K=2, patches=3, signal_norm=3, noise_std=0.5, signal_position="random"), n=6 (rng 0), 4 test samples
    (rng 2), m=2, init_std=0.1, HuberizedReLU(0.5, 3) (rng 1), lr=0.5, 20 steps recorded every 10."""
    raw, meta = _raw_npz(_V1_FILE)
    assert "trajectory_format" not in meta and {"gamma", "rho"} <= set(raw)  # really format 1
    traj = cnnrank.Trajectory.load(_V1_FILE)
    for name, a in raw.items():
        assert _same_bits(getattr(traj, name), a), name
    assert all(getattr(traj, k) is None for k in _KEPT) and traj.metadata["seed"] == 0 and len(traj) == 3
    assert traj.gamma.shape == (3, 2, 2, 4) and traj.rho.shape == (3, 2, 2, 6, 2)


def test_trajectory_file_format_2_derives_gamma_rho_bit_for_bit(tmp_path):
    from cnnrank.results import ResultsFileError, npz_bytes
    from cnnrank.trajectory import signal_noise_coefficients

    data, net, traj = _small_run(steps=20)
    g, r = signal_noise_coefficients(traj.coef, data)
    assert _same_bits(g, traj.gamma) and _same_bits(r, traj.rho)
    model = SignalNoiseModel(d=60, K=2, patches=3, signal_norm=3.0, noise_std=0.5)
    implicit = cnnrank.train_implicit(HuberizedReLU(0.5, 3), model.sample_gram(8, 3, 0.1, rng=0), 0.5, 20,
                                      record_every=10)
    for i, t in enumerate((traj, implicit)):
        path = t.save(tmp_path / f"t{i}.npz")
        raw, meta = _raw_npz(path)
        assert meta["trajectory_format"] == 2 and meta["derived"] == ["gamma", "rho"]
        assert "gamma" not in raw and "rho" not in raw and set(_KEPT) <= set(raw)
        back = cnnrank.Trajectory.load(path)
        for f in __import__("dataclasses").fields(t):
            a, b = getattr(t, f.name), getattr(back, f.name)
            if isinstance(a, np.ndarray):
                assert _same_bits(a, b), f.name  # stored arrays, and γ/ρ recomputed: the same bits
            else:
                assert a == b, f.name
    # γ that the bookkeeping does not reproduce is stored, and comes back as saved
    odd = cnnrank.Trajectory(**{f.name: getattr(traj, f.name) for f in __import__("dataclasses").fields(traj)})
    odd.gamma = traj.gamma.copy()
    odd.gamma[-1, 0, 0, 0] = np.nextafter(odd.gamma[-1, 0, 0, 0], np.inf)
    raw, meta = _raw_npz(odd.save(tmp_path / "odd.npz"))
    assert meta["derived"] == [] and "gamma" in raw
    assert _same_bits(cnnrank.Trajectory.load(tmp_path / "odd.npz").gamma, odd.gamma)
    # damaged bookkeeping or format: one clear error naming the file and the field
    raw, meta = _raw_npz(tmp_path / "t0.npz")
    bad = tmp_path / "bad.npz"
    for key, value, message in (("signal_pos", raw["signal_pos"] + 3, "signal_pos is invalid"),
                                ("noise_sq_norms", raw["noise_sq_norms"][:, :1], "noise_sq_norms has shape"),
                                ("signal_id", raw["signal_id"].astype(np.float64), "signal_id has shape")):
        bad.write_bytes(npz_bytes({**raw, key: value}, meta))
        with pytest.raises(ResultsFileError, match=f"bad.npz.*{message}"):
            cnnrank.Trajectory.load(bad)
    bad.write_bytes(npz_bytes(raw, {**meta, "trajectory_format": 3}))
    with pytest.raises(ResultsFileError, match="bad.npz.*trajectory_format=3"):
        cnnrank.Trajectory.load(bad)
    bad.write_bytes(npz_bytes({k: v for k, v in raw.items() if k != "signal_id"}, meta))
    with pytest.raises(ResultsFileError, match="bad.npz.*signal_id=None is invalid"):
        cnnrank.Trajectory.load(bad)
