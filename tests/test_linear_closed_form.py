"""Saxe closed form, balanced decoupled init, GD against the closed form, CNN mode rates, data."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnrank.linear.closed_form import (
    balanced_decoupled_init,
    cnn_mode_rate,
    saxe_learning_time,
    saxe_mode_strength,
)
from cnnrank.linear.data import designed_task, fourier_mode, frequency_energy, sample_dataset
from cnnrank.linear.diagnostics import half_times, mode_strengths
from cnnrank.linear.networks import LinearFCNN
from cnnrank.linear.training import GDConfig, train


@given(st.floats(0.2, 5.0), st.floats(1e-4, 0.1), st.floats(0.5, 3.0))
def test_saxe_curve_solves_its_ode(s, u0_frac, tau):
    u0 = u0_frac * s
    assert saxe_mode_strength(0.0, s, u0, tau) == pytest.approx(u0, rel=1e-12)
    assert saxe_mode_strength(1e4, s, u0, tau) == pytest.approx(s, rel=1e-12)
    t = np.linspace(0.1, 5.0, 7) * tau / s
    h = 1e-6 * tau / s
    du = (saxe_mode_strength(t + h, s, u0, tau) - saxe_mode_strength(t - h, s, u0, tau)) / (2 * h)
    u = saxe_mode_strength(t, s, u0, tau)
    # τ du/dt = 2u(s − u); central difference error O(h²) relative ~1e-9.
    np.testing.assert_allclose(tau * du, 2 * u * (s - u), rtol=1e-5, atol=1e-9 * s * s)
    for f in (0.1, 0.5, 0.9):
        tf = saxe_learning_time(s, u0, tau, f)
        assert saxe_mode_strength(tf, s, u0, tau) == pytest.approx(f * s, rel=1e-9)


def test_saxe_validation():
    with pytest.raises(ValueError, match="u0=2.0"):
        saxe_mode_strength(1.0, 1.0, 2.0)
    with pytest.raises(ValueError, match="fraction=1.0"):
        saxe_learning_time(1.0, 0.1, fraction=1.0)
    with pytest.raises(ValueError, match="t is invalid"):
        saxe_mode_strength([-1.0], 1.0, 0.1)


def test_balanced_decoupled_init_is_balanced_and_decoupled():
    task = designed_task(12, [2.0, 1.0], [[1], [3, 4]], n_out=3, rng=0)
    u0 = np.array([0.01, 0.02])
    w1, w2 = balanced_decoupled_init(task.U, task.V, u0, hidden=5, rng=1)
    np.testing.assert_allclose(w2 @ w1, task.U @ np.diag(u0) @ task.V.T, atol=1e-14)
    np.testing.assert_allclose(w1 @ w1.T, w2.T @ w2, atol=1e-14)


def test_fcnn_follows_saxe_within_one_percent_of_s():
    """Small-step GD from the balanced decoupled init follows the closed form.

    Euler steps of the logistic ODE make an O(η s) relative error in the rate; with η = 0.002 the
    measured worst deviation is 0.45% of s for s = 3 (0.28%, 0.12% for s = 2, 1). Tolerance: 1%.
    """
    task = designed_task(16, [3.0, 2.0, 1.0], [[1], [2, 3], [4, 5, 6]], n_out=4, rng=0)
    u0 = 1e-3
    net = LinearFCNN(16, 4, 8)
    params = balanced_decoupled_init(task.U, task.V, u0, 8, rng=0)
    traj = train(net, params, np.eye(16), task.sigma_yx, GDConfig(0.002, 5000, 10))
    u = mode_strengths(traj.weff, task.U, task.V)
    pred = np.stack([saxe_mode_strength(traj.times, s, u0) for s in task.s], axis=1)
    err = np.max(np.abs(u - pred), axis=0) / task.s
    assert np.all(err < 0.01), err
    # the deviation is the discretization error: it halves (within 10%) when η is halved.
    traj2 = train(net, params, np.eye(16), task.sigma_yx, GDConfig(0.004, 2500, 5))
    u2 = mode_strengths(traj2.weff, task.U, task.V)
    err2 = np.max(np.abs(u2 - pred), axis=0) / task.s
    np.testing.assert_allclose(err2 / err, 2.0, rtol=0.1)
    # off-diagonal coupling stays zero (decoupled), half-times match the closed form to 1%.
    full = np.einsum("tmd,mr,dq->trq", traj.weff, task.U, task.V)
    off = full - np.einsum("tr,rq->trq", np.einsum("trr->tr", full), np.eye(3))
    assert np.abs(off).max() < 1e-8
    ht = half_times(traj.times, u, task.s)
    np.testing.assert_allclose(ht, [saxe_learning_time(s, u0) for s in task.s], rtol=0.01)


def test_cnn_mode_rate_limits():
    n = 16
    v = fourier_mode(n, [3], [1.0], [0.4])
    # k = 1: a scalar kernel -> the fully connected rate s.
    assert cnn_mode_rate(v, 2.0, 1) == pytest.approx(2.0)
    # k = N: s max_f |DFT(v)_f| = s sqrt(N/2) for a single frequency 0 < f < N/2.
    assert cnn_mode_rate(v, 2.0, n) == pytest.approx(2.0 * np.sqrt(n / 2))
    spread = fourier_mode(n, [2, 4, 6, 7], [0.25] * 4, [0.1, 0.2, 0.3, 0.4])
    assert cnn_mode_rate(spread, 1.0, n) == pytest.approx(np.sqrt(n * 0.25 / 2))
    # the rate grows with k (more taps can only help)
    r = [cnn_mode_rate(spread, 1.0, k) for k in range(1, n + 1)]
    assert np.all(np.diff(r) >= -1e-12)


@given(st.integers(8, 40), st.data())
def test_fourier_mode_has_designed_shares(n, data):
    nf = data.draw(st.integers(1, 4))
    freqs = data.draw(st.lists(st.integers(0, n // 2), min_size=nf, max_size=nf, unique=True))
    w = np.array(data.draw(st.lists(st.floats(0.05, 1.0), min_size=nf, max_size=nf)))
    shares = w / w.sum()
    phases = data.draw(st.lists(st.floats(0, 6.3), min_size=nf, max_size=nf))
    v = fourier_mode(n, freqs, shares, phases)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-12)
    e = frequency_energy(v)
    np.testing.assert_allclose(e[freqs], shares, atol=1e-12)
    assert e.sum() == pytest.approx(1.0)


def test_designed_task_and_dataset():
    task = designed_task(32, [1.0, 2.0], [[2], list(range(4, 16))], rng=3)
    np.testing.assert_allclose(task.V.T @ task.V, np.eye(2), atol=1e-12)
    assert task.dominant_frequency[0] == 2 and task.dominant_share[0] == pytest.approx(1.0)
    assert task.dominant_share[1] == pytest.approx(1 / 12)
    X, Y = sample_dataset(task, 100, rng=4)
    np.testing.assert_allclose(X.T @ X / 100, np.eye(32), atol=1e-12)
    np.testing.assert_allclose(Y.T @ X / 100, task.sigma_yx, atol=1e-12)
    X2, Y2 = sample_dataset(task, 100, rng=4)
    assert np.array_equal(X, X2) and np.array_equal(Y, Y2)
    t2 = designed_task(32, [1.0, 2.0], [[2], list(range(4, 16))], rng=3)
    assert np.array_equal(task.V, t2.V)
    with pytest.raises(ValueError, match="must be disjoint"):
        designed_task(16, [1.0, 2.0], [[2, 3], [3, 4]])
    with pytest.raises(ValueError, match="shares="):
        fourier_mode(16, [1, 2], [0.5, 0.6])
    with pytest.raises(ValueError, match="n_samples=10"):
        sample_dataset(task, 10)
