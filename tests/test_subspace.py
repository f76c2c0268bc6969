"""Learned-subspace diagnostics (docs/theory.md §5): definitions against direct computations."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.linalg import subspace_angles

from cnnrank import HuberizedReLU, SignalNoiseModel, TwoLayerCNN, train
from cnnrank.gram_sample import gram_sample_from_data
from cnnrank.rank import principal_angles, top_right_subspace
from cnnrank.subspace import (
    LEARNED_FLOOR,
    energy_fraction,
    learned_dimension,
    learned_subspace_from_grams,
    learned_subspace_report,
    measured_regime,
    orthonormal_basis,
    principal_subspace,
    signal_overlap,
)
from cnnrank.train import train_implicit

floats = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


def test_principal_angles_known_cases():
    e = np.eye(4)
    assert np.allclose(principal_angles(e[:, :2], e[:, :2] * 7.0), 0.0)
    assert np.allclose(principal_angles(e[:, :2], e[:, 2:]), np.pi / 2)
    t = 0.3
    v = np.array([[np.cos(t)], [np.sin(t)], [0.0], [0.0]])
    assert np.allclose(principal_angles(e[:, :1], v), t)
    with pytest.raises(ValueError, match="as many rows"):
        principal_angles(e, np.eye(3))


@settings(max_examples=30)
@given(arrays(np.float64, (6, 9), elements=floats), arrays(np.float64, (9, 3), elements=floats))
def test_grams_route_equals_the_explicit_definitions(A, V):
    """From A Aᵀ and A Q alone: singular values, energy share, memorization edge, angles."""
    s_true = np.linalg.svd(A, compute_uv=False)
    if s_true[0] < 1e-6:
        return
    Q = orthonormal_basis(V)
    out = learned_subspace_from_grams((A @ A.T)[None], (A @ Q)[None])
    scale = s_true[0]
    assert np.allclose(out["singular_values"][0], s_true, atol=1e-6 * scale)
    assert np.isclose(out["energy_fraction"][0], np.sum((A @ Q) ** 2) / np.sum(A * A), atol=1e-10)
    M = A - A @ Q @ Q.T
    assert np.isclose(out["memorization_edge"][0], np.linalg.norm(M, 2), atol=1e-6 * scale)
    # the counts against their thresholds, away from ties (within 1e-6 of s_1)
    tau = max(np.linalg.norm(M, 2), LEARNED_FLOOR * scale)
    s_in = np.linalg.svd(A @ Q, compute_uv=False)
    if np.all(np.abs(s_in - tau) > 1e-6 * scale) and np.all(np.abs(s_true - LEARNED_FLOOR * scale) > 1e-6 * scale):
        assert out["learned_dimension"][0] == np.sum(s_in > tau)
        assert out["learned_rank"][0] == np.sum(s_true > LEARNED_FLOOR * scale)
        assert np.isclose(out["learned_threshold"][0], tau, atol=1e-6 * scale)
    # angles between the top-r right singular subspace and span(Q), where that subspace is well defined
    r = Q.shape[1]
    if r and s_true[r - 1] > 1e-3 * scale and (r == s_true.size or s_true[r - 1] - s_true[r] > 1e-3 * scale):
        ref = np.sort(subspace_angles(top_right_subspace(A, r), Q))
        assert np.allclose(out["principal_angles"][0], ref, atol=1e-5)


def test_learned_dimension_counts_reference_directions_above_the_memorized_part():
    A = np.diag([3.0, 2.0, 0.5, 0.1])
    ref = np.eye(4)[:, :3]
    assert learned_dimension(A, ref) == 3  # 3, 2 and 0.5 all exceed the memorized 0.1
    assert learned_dimension(np.diag([3.0, 2.0, 0.5, 0.6]), ref) == 2  # 0.5 is below the memorized 0.6
    assert learned_dimension(np.diag([3.0, 2.0, 0.0, 0.0]), ref) == 2  # exact zeros are not counted
    assert learned_dimension(np.diag([0.1, 0.1, 0.1, 5.0]), ref) == 0  # memorization dominates
    rep = learned_subspace_report(np.diag([3.0, 2.0, 0.5, 0.6]), ref)
    assert rep["reference_dimension"] == 3 and np.isclose(rep["memorization_edge"], 0.6)
    assert np.isclose(rep["energy_fraction"], (9 + 4 + 0.25) / (9 + 4 + 0.25 + 0.36))


def test_learned_rank_and_the_relative_floor():
    ref = np.eye(5)[:, :3]
    # in the span 3, 2, 0.2; outside 0.1 and 0.05: everything above the edge 0.1 and 0.1·3 = 0.3 counts
    rep = learned_subspace_report(np.diag([3.0, 2.0, 0.2, 0.1, 0.05]), ref)
    assert LEARNED_FLOOR == 0.1 and np.isclose(rep["learned_threshold"], 0.3)
    assert rep["learned_dimension"] == 2 and rep["learned_rank"] == 2
    assert learned_subspace_report(np.diag([3.0, 2.0, 0.2, 0.1, 0.05]), ref, floor=0.0)["learned_dimension"] == 3
    # learned directions outside the span (as in the harmful regime): the rank counts every singular
    # value of A above the floor (1.005 and 0.3 > 0.1005), not capped by the edge or by dim Q; the
    # dimension counts none (the in-span 0.1 is below the edge 1.0)
    rep = learned_subspace_report(np.array([[0.1, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.3]]), ref)
    assert (rep["learned_dimension"], rep["learned_rank"]) == (0, 2)
    B = np.zeros((6, 8))
    B[:, 2:] = np.diag([1.0, 0.9, 0.8, 0.7, 0.6, 0.05])  # six memorized directions, the span e_0, e_1 empty
    rep = learned_subspace_report(B, np.eye(8)[:, :2])
    assert (rep["learned_dimension"], rep["learned_rank"]) == (0, 5)  # 5 > dim Q = 2
    # no memorized part (edge 0): without the floor a direction at 0.5 % of s_1 would count
    A = np.diag([1.5, 1.0, 0.007, 0.0, 0.0])
    assert learned_dimension(A, ref) == 2 and learned_dimension(A, ref, floor=0.0) == 3
    assert learned_subspace_report(A, ref)["learned_rank"] == 2
    with pytest.raises(ValueError, match="floor"):
        learned_subspace_from_grams((A @ A.T)[None], (A @ ref)[None], floor=1.5)


def test_principal_subspace_is_the_smallest_holding_the_share():
    X = np.diag([4.0, 2.0, 1.0, 1.0]) @ np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0]
    total = 16 + 4 + 1 + 1
    basis, k = principal_subspace(X, energy=0.7)
    assert k == 1 and basis.shape == (4, 1)  # 16/22 = 0.727 >= 0.7
    _, k = principal_subspace(X, energy=20 / total)
    assert k == 2  # exactly the share of the first two counts
    _, k = principal_subspace(X, energy=1.0)
    assert k == 4
    assert np.isclose(energy_fraction(X, principal_subspace(X, 0.9)[0]), 20 / 22)
    with pytest.raises(ValueError, match="energy"):
        principal_subspace(X, energy=0.0)


def test_signal_overlap_is_the_within_class_mean_cosine():
    m, K = 3, 2
    g = np.zeros((2, m, 2 * K))
    g[0, :, 0], g[0, :, 1] = [1, 0, 0], [1, 1, 0]  # cos 1/√2
    g[1, :, 2], g[1, :, 3] = [0, 1, 0], [0, 0, 2]  # cos 0
    g[0, :, 2:] = 5.0  # other-class columns do not enter
    assert np.isclose(signal_overlap(g), 0.5 * (1 / np.sqrt(2) + 0.0))
    assert signal_overlap(np.ones((2, 4, 2))) == 0.0  # K = 1: no pairs
    assert signal_overlap(np.zeros((2, 4, 6))) == 0.0  # nothing learned
    with pytest.raises(ValueError, match="gamma"):
        signal_overlap(np.zeros((3, 4, 6)))


def test_measured_regime_needs_both_accuracy_and_signal_energy():
    assert measured_regime([0.95], [0.5]) == "benign"
    assert measured_regime([0.949], [0.9]) == "harmful"
    assert measured_regime([1.0], [0.49]) == "harmful"  # generalizes, but learned mostly noise
    assert list(measured_regime([[1.0, 1.0], [1.0, 0.9]], [[0.9, 0.9], [0.9, 0.9]])) == ["benign", "harmful"]


def test_every_engine_reports_the_same_learned_subspace():
    model = SignalNoiseModel(d=80, K=2, patches=3, signal_norm=4.0, noise_std=0.3, balanced=True)
    data, test = model.sample(24, rng=0), model.sample(16, rng=1)
    net = TwoLayerCNN.init(m=6, d=80, init_std=0.05, activation=HuberizedReLU(1.0, 3), rng=2)
    kw = dict(lr=0.5, steps=120, record_every=40)
    ref = train(net, data, test=test, engine="feature", **kw)
    others = [train(net, data, test=test, engine="gram", **kw),
              train_implicit(HuberizedReLU(1.0, 3), gram_sample_from_data(model, data, net.W, test), **kw)]
    A = (ref.W_final - ref.W_init).reshape(12, -1)
    explicit = learned_subspace_report(A, data.signals.T)
    assert ref.learned_dimension[-1] == explicit["learned_dimension"]
    assert np.isclose(ref.signal_energy_fraction[-1], explicit["energy_fraction"], atol=1e-10)
    assert np.allclose(ref.signal_angles[-1], explicit["principal_angles"], atol=1e-6)
    for tr in others:
        assert np.array_equal(tr.learned_dimension, ref.learned_dimension)
        assert np.allclose(tr.signal_energy_fraction, ref.signal_energy_fraction, atol=1e-9)
        assert np.allclose(tr.signal_overlap, ref.signal_overlap, atol=1e-9)
        assert np.allclose(tr.learned_singular_values, ref.learned_singular_values, atol=1e-7 * ref.learned_singular_values.max())
        assert np.allclose(tr.signal_angles[1:], ref.signal_angles[1:], atol=1e-5)
        for key in ("signals_learned", "learned_rank"):
            assert np.array_equal(getattr(tr, key), getattr(ref, key)), key
        for key in ("signal_strength", "gamma_stable_rank", "class_overlaps"):
            assert np.allclose(getattr(tr, key), getattr(ref, key), rtol=1e-8, atol=1e-12), key
    assert ref.learned_rank[-1] == explicit["learned_rank"]
    # strengths: the own-class column norms of ⟨w − w(0), μ_k⟩/‖μ_k‖ (γ, up to the noise's overlap
    # with the signals, which the engines' γ leaves out); the count: those above the threshold
    K = 2
    corr = (ref.W_final - ref.W_init) @ data.signals.T / np.linalg.norm(data.signals, axis=1)  # (2, 6, 2K)
    own = np.concatenate([corr[0, :, :K], corr[1, :, K:]], axis=1)
    gam = np.concatenate([ref.gamma[-1, 0, :, :K], ref.gamma[-1, 1, :, K:]], axis=1) / np.linalg.norm(data.signals, axis=1)
    assert np.allclose(ref.signal_strength[-1], np.linalg.norm(gam, axis=0), rtol=1e-12)
    assert np.allclose(ref.signal_strength[-1], np.linalg.norm(own, axis=0), rtol=0.05)
    assert ref.signals_learned[-1] == np.sum(ref.signal_strength[-1] > explicit["learned_threshold"])


def test_trajectory_files_without_the_per_signal_fields_load_with_them_derived(tmp_path):
    from cnnrank import Trajectory
    from cnnrank.results import load_npz, save_npz

    model = SignalNoiseModel(d=60, K=2, patches=3, signal_norm=4.0, noise_std=0.3, balanced=True)
    data = model.sample(16, rng=0)
    net = TwoLayerCNN.init(m=4, d=60, init_std=0.05, activation=HuberizedReLU(1.0, 3), rng=2)
    tr = train(net, data, lr=0.5, steps=60, record_every=30)
    tr.metadata["config"] = {"signal_norm": 4.0}
    arrays, meta = load_npz(tr.save(tmp_path / "new.npz"))
    for k in ("signal_strength", "signals_learned", "learned_rank", "gamma_stable_rank", "class_overlaps"):
        arrays.pop(k, None)
        meta["fields"].pop(k, None)
    save_npz(tmp_path / "old.npz", arrays, meta)
    old = Trajectory.load(tmp_path / "old.npz")
    assert old.signals_learned is None and old.learned_rank is None  # they need the memorization edge
    assert np.allclose(old.signal_strength, tr.signal_strength) and np.allclose(old.class_overlaps, tr.class_overlaps)
    assert np.allclose(old.gamma_stable_rank, tr.gamma_stable_rank)
    assert "signals_learned" not in old.summary() and "overlap_pos" in old.summary()
    new = Trajectory.load(tmp_path / "new.npz")
    assert np.array_equal(new.signals_learned, tr.signals_learned) and new.summary() == tr.summary()
    bad = dataclasses.replace(tr, signals_learned=tr.signals_learned + 10)
    with pytest.raises(ValueError, match=r"signals_learned=1\d .*\[0, 4\]"):
        Trajectory.load(bad.save(tmp_path / "bad.npz"))


def test_trajectory_without_signals_has_no_signal_diagnostics():
    rng = np.random.default_rng(0)
    from cnnrank import PatchData

    data = PatchData(X=rng.normal(size=(8, 2, 5)), y=np.array([1, -1] * 4))
    tr = train(TwoLayerCNN.init(m=2, d=5, init_std=0.1, activation=HuberizedReLU(1.0, 3), rng=1), data,
               lr=0.1, steps=10, record_every=5)
    assert tr.learned_dimension is None and tr.signal_energy_fraction is None and tr.signal_angles is None
    assert tr.learned_singular_values.shape == (3, 4)
