"""The fast paths of the trajectory assembly give exactly the numbers of the direct computations.

:func:`cnnrank.trajectory.signal_noise_coefficients` gathers on the flattened patch axis,
:func:`cnnrank.trajectory.stable_ranks` takes precomputed eigenvalues and screens the scale of all the
matrices at once, :meth:`Trajectory.finite_records` checks each record without reshaping copies and
:meth:`Trajectory.from_snapshots` stacks the coefficients in C order: each is compared bit for bit with
the plain computation (``np.take_along_axis``, one eigenvalue call per matrix, a per-record loop).
"""

import numpy as np
import pytest

import cnnrank
from cnnrank.engines.base import Snapshot
from cnnrank.rank import stable_rank_from_gram
from cnnrank.trajectory import Trajectory, signal_noise_coefficients, stable_ranks

ACT = cnnrank.HuberizedReLU(1.0, 3.0)
MODEL = cnnrank.SignalNoiseModel(d=60, K=2, patches=3, signal_norm=5.0, noise_std=0.8, balanced=True)


def _reference_gamma_rho(coef, data):
    """γ and ρ by ``take_along_axis`` with broadcast indices (the direct form of docs/theory.md §4)."""
    n = data.n
    pos = np.broadcast_to(np.asarray(data.signal_pos)[:, None], coef.shape[:-1] + (1,))
    c_sig = np.take_along_axis(coef, pos, axis=-1)[..., 0]
    onehot = np.zeros((n, data.signal_sq_norms.shape[0]))
    onehot[np.arange(n), np.asarray(data.signal_id)] = 1.0
    bg = np.broadcast_to(data.background_index, coef.shape[:-2] + data.background_index.shape)
    return (c_sig @ onehot) * data.signal_sq_norms, np.take_along_axis(coef, bg, axis=-1) * data.noise_sq_norms


@pytest.mark.parametrize("layout", ["C", "F", "permuted", "strided"])
def test_signal_noise_coefficients_match_take_along_axis(layout):
    data = MODEL.sample(10, rng=0)
    coef = np.random.default_rng(1).standard_normal((4, 2, 3, 10, 3))
    if layout == "F":
        coef = np.asfortranarray(coef)
    elif layout == "permuted":  # the filter axis fastest, as some engines lay their state out
        coef = np.moveaxis(np.ascontiguousarray(np.moveaxis(coef, 2, -1)), -1, 2)
    elif layout == "strided":
        coef = np.repeat(coef, 2, axis=0)[::2]
    gamma, rho = signal_noise_coefficients(coef, data)
    ref_gamma, ref_rho = _reference_gamma_rho(coef, data)
    assert np.array_equal(gamma, ref_gamma) and np.array_equal(rho, ref_rho)
    assert gamma.shape == (4, 2, 3, 4) and rho.shape == (4, 2, 3, 10, 2)


def test_stable_ranks_with_eigenvalues_and_odd_scales():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((6, 5, 9))
    grams = [a @ a.T for a in A]
    grams[1] = grams[1] * 1e-300  # under the exact range: the rescaled path
    grams[2] = np.zeros((5, 5))
    grams[3] = grams[3].copy()
    grams[3][0, 1] = np.inf  # a blown-up record
    out = stable_ranks(grams)
    for i, G in enumerate(grams):
        if i == 3:
            assert np.isnan(out[i])
        else:
            assert out[i] == pytest.approx(stable_rank_from_gram(G), rel=1e-12)
    G = np.stack([grams[k] for k in (0, 4, 5)])
    sym = 0.5 * (G + G.transpose(0, 2, 1))
    eig = np.linalg.eigvalsh(sym)
    assert np.array_equal(stable_ranks(G, eig), stable_ranks(list(G)))
    with pytest.raises(ValueError, match="eigenvalues"):
        stable_ranks(G, eig[:, :2])
    assert stable_ranks([]).shape == (0,)


def _trajectory(R=5, m=2):
    data = MODEL.sample(8, rng=3)
    net = cnnrank.TwoLayerCNN.init(m=m, d=60, init_std=0.01, activation=ACT, rng=4)
    return cnnrank.train(net, data, lr=1.0, steps=R - 1, record_every=1, engine="gram"), data


def test_finite_records_per_field_and_layout():
    traj, _ = _trajectory()
    R = len(traj)
    assert traj.finite_records() == R
    traj.coef = np.asfortranarray(traj.coef)
    traj.rho = traj.rho.transpose(0, 1, 2, 4, 3).copy().transpose(0, 1, 2, 4, 3)
    assert traj.finite_records() == R
    traj.rho[3, 1, 0, 2, 1] = np.nan
    assert traj.finite_records() == 3
    traj.coef[2, 0, 1, 0, 0] = -np.inf
    assert traj.finite_records() == 2
    traj.learned_stable_rank[0] = np.nan
    assert traj.finite_records() == 0


def test_from_snapshots_layout_does_not_change_numbers():
    traj, data = _trajectory()
    snaps = [Snapshot(float(traj.train_loss[k]), float(traj.train_acc[k]), None, None, traj.coef[k],
                      np.eye(4) * (k + 1.0), np.diag([3.0, 2.0, 1.0, 0.5]) * (k + 1.0)) for k in range(len(traj))]
    permuted = [Snapshot(s.train_loss, s.train_acc, None, None, np.asfortranarray(s.coef), s.filter_gram,
                         s.learned_gram) for s in snaps]
    a = Trajectory.from_snapshots(snaps, traj.steps, data, 2, 1.0, ACT, "gram")
    b = Trajectory.from_snapshots(permuted, traj.steps, data, 2, 1.0, ACT, "gram")
    assert b.coef.flags.c_contiguous
    for name in ("coef", "gamma", "rho", "filter_stable_rank", "learned_stable_rank", "learned_singular_values",
                 "learned_dimension", "signal_energy_fraction", "signal_overlap", "signal_angles"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.learned_singular_values[0], [np.sqrt(3.0), np.sqrt(2.0), 1.0, np.sqrt(0.5)])
    assert np.allclose(a.learned_stable_rank, 6.5 / 3.0)
