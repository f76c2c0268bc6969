"""Data model, activations and the network's gradient."""

import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import cnnrank
from cnnrank import HuberizedReLU, PolyReLU, ReLU, SignalNoiseModel, TwoLayerCNN, loss_and_grad
from cnnrank.network import logistic_loss, logistic_loss_derivative, network_output
from cnnrank.testing import check_grad, directional_check, taylor_slope
from cnnrank.testing import strategies as cst

# ---------------------------------------------------------------- activations


@pytest.mark.parametrize("act", [HuberizedReLU(1.0, 3), HuberizedReLU(0.5, 2), ReLU(), PolyReLU(3)])
def test_activation_vanishes_for_nonpositive_inputs(act):
    z = np.array([-1e6, -3.0, -1e-12, 0.0])
    assert np.all(act(z) == 0.0)
    assert np.all(act.grad(z) == 0.0)  # convention σ'(0) = 0


@pytest.mark.parametrize("kappa,q", [(1.0, 3.0), (0.5, 2.0), (2.0, 4.0), (0.3, 1.5)])
def test_huberized_relu_is_c1_at_kappa(kappa, q):
    act = HuberizedReLU(kappa, q)
    h = 1e-9
    # both pieces equal κ/q at κ
    assert act(np.array(kappa)) == pytest.approx(kappa / q, rel=1e-14)
    assert act(np.array(kappa - h)) == pytest.approx(kappa / q, abs=2 * h)
    assert act(np.array(kappa + h)) == pytest.approx(kappa / q, abs=2 * h)
    # derivative is continuous with value 1 at κ
    assert act.grad(np.array([kappa - h, kappa, kappa + h])) == pytest.approx([1.0, 1.0, 1.0], abs=1e-7)
    # closed forms on each piece
    z = np.array([0.25 * kappa, 0.9 * kappa, 3 * kappa])
    expect = [(0.25 * kappa) ** q / (q * kappa ** (q - 1)), (0.9 * kappa) ** q / (q * kappa ** (q - 1)),
              3 * kappa - (1 - 1 / q) * kappa]
    assert act(z) == pytest.approx(expect, rel=1e-14)
    assert act.grad(z) == pytest.approx([0.25 ** (q - 1), 0.9 ** (q - 1), 1.0], rel=1e-14)


@given(cst.activations(), st.floats(0.01, 5.0))
def test_activation_grad_matches_central_difference(act, z):
    assume(all(abs(z - k) > 1e-3 for k in act.kinks()))
    h = 1e-6
    numeric = (act(np.array(z + h)) - act(np.array(z - h))) / (2 * h)
    assert float(act.grad(np.array(z))) == pytest.approx(float(numeric), rel=1e-6, abs=1e-8)


def test_activation_validation():
    with pytest.raises(ValueError, match="kappa=0.0 is invalid"):
        HuberizedReLU(0.0)
    with pytest.raises(ValueError, match="kappa=-1.0 is invalid"):
        HuberizedReLU(-1.0)
    with pytest.raises(ValueError, match="q=0.5 is invalid"):
        HuberizedReLU(1.0, q=0.5)
    with pytest.raises(ValueError, match="q=0.9 is invalid"):
        PolyReLU(0.9)
    with pytest.raises(ValueError, match="kappa=nan is invalid"):
        HuberizedReLU(float("nan"))
    assert cnnrank.activation_from_spec(HuberizedReLU(0.7, 2).spec()) == HuberizedReLU(0.7, 2)


# ---------------------------------------------------------------- loss and gradient


def test_logistic_loss_is_stable_at_large_margins():
    t = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = logistic_loss(t)
        dl = logistic_loss_derivative(t)
    assert loss[0] == pytest.approx(1e4) and loss[-1] == 0.0 and loss[2] == pytest.approx(np.log(2))
    assert dl[0] == -1.0 and dl[-1] == pytest.approx(0.0, abs=1e-300) and dl[2] == -0.5
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(dl))


def test_loss_and_grad_with_huge_margins_gives_no_overflow_warning():
    act = ReLU()
    W = np.zeros((2, 1, 2))
    W[0, 0, 0] = 1e4  # f = ±1e4 on the two samples below
    X = np.array([[[1.0, 0.0]], [[1.0, 0.0]]])
    y = np.array([1.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, grad = loss_and_grad(W, X, y, act)
    assert loss == pytest.approx(0.5 * 1e4)
    assert np.all(np.isfinite(grad))


def _min_distance_to_kinks(W, X, act):
    Z = np.einsum("ipd,jrd->ipjr", X, W)
    return min(np.min(np.abs(Z - k)) for k in act.kinks())


def central_difference_tolerance(W, X, y, act, v, h, d1, d2):
    r"""A bound on ``|D(h) − ⟨∇L, v⟩|`` for the computed central difference ``D(h)`` along the unit ``v``.

    Two errors (``u = 2⁻⁵³`` the unit roundoff):

    * truncation ``D(h) − L'(0) = h² L'''/6 + O(h⁴)`` (``L`` along ``v``): the third derivative is
      not bounded a priori (for the Huberized ReLU with ``q = 1.5``, ``σ''' ∝ z^{−1.5}`` is large near
      0), so it is measured: ``D(2h) − D(h) = h² L'''/2 + O(h⁴)``, i.e. ``T = |D(2h) − D(h)| / 3``
      estimates the truncation of ``D(h)``;
    * rounding: one evaluation of ``L`` is off by at most ``u · C · S`` with ``S`` the loss magnitude
      that rounding scales with, ``S = (1/n) Σ_i [|ℓ_i| + |ℓ'_i| (1/m) Σ_{j,r,p} (|σ(z)| + |σ'(z)|
      Σ_k |w_k x_k|)]`` (the loss, plus the terms of the output sum and of each pre-activation
      through ``ℓ'`` and ``σ'``), and ``C = d + 2mP + n + 8`` the longest chain of roundings (a dot
      product of length ``d``, a sum of ``2mP`` activations, a mean over ``n`` samples, a few for
      ``σ``, ``ℓ``, ``W ± hv`` and the scalings); the difference of two evaluations over ``2h``
      adds ``ρ = u C S / h``. The analytic ``⟨∇L, v⟩`` is off by at most ``u C G`` with ``G`` its
      sum of absolute terms ``(1/n) Σ_i |ℓ'_i| (1/m) Σ_{j,r,p} |σ'(z)| Σ_k |v_k x_k|``.

    The rounding in ``D(2h) − D(h)`` is at most ``1.5 ρ``, so ``|D(h) − L'| ≤ T + ρ/2 + ρ`` and the
    bound is ``T + 1.5ρ + u C G``, doubled for the ``O(h⁴)`` terms and the estimate's own error.
    Here ``h = 1e-6``, ``u C S / h ≈ 4e-9 · S``: the earlier fixed ``atol = 1e-10`` was below the
    rounding of ``D(h)`` alone once ``|L| ≳ 0.5`` (a failure at 1.06e-10 while the gradient was right
    to 2e-13).
    """
    u = np.finfo(float).eps / 2
    n, P, d = X.shape
    m = W.shape[1]
    Z = np.einsum("ipd,jrd->ipjr", X, W)
    margins = y * network_output(W, X, act)
    ell, dell = np.abs(logistic_loss(margins)), np.abs(logistic_loss_derivative(margins))
    s_out = (np.abs(act(Z)) + np.abs(act.grad(Z)) * np.einsum("ipd,jrd->ipjr", np.abs(X), np.abs(W))).sum(axis=(1, 2, 3))
    S = float(np.mean(ell + dell * s_out / m))
    G = float(np.mean(dell * (np.abs(act.grad(Z)) * np.einsum("ipd,jrd->ipjr", np.abs(X), np.abs(v))).sum(axis=(1, 2, 3)) / m))
    C = d + 2 * m * P + n + 8
    T = abs(d2 - d1) / 3
    return 2 * (T + 1.5 * u * C * S / h + u * C * G)


@given(cst.problems())
def test_analytic_gradient_matches_central_differences(problem):
    """Property: ⟨∇L, v⟩ equals the central difference along a fixed random unit direction ``v`` within
    the bound of :func:`central_difference_tolerance` (truncation measured, rounding scaled to the loss).

    Away from kinks (pre-activations at least 1e-4 from 0 and κ) the loss is smooth on the segment
    ``W ± 2hv``: a step of ``2h = 2e-6`` moves a pre-activation by at most ``2h ‖x‖ ≤ 2e-6 · 2√6 < 1e-5``.
    """
    W, X, y, act = problem
    assume(_min_distance_to_kinks(W, X, act) > 1e-4)
    v = np.random.default_rng(0).standard_normal(W.shape)
    v /= np.linalg.norm(v)
    loss = lambda w: loss_and_grad(w, X, y, act)[0]
    h = 1e-6
    d1 = (loss(W + h * v) - loss(W - h * v)) / (2 * h)
    d2 = (loss(W + 2 * h * v) - loss(W - 2 * h * v)) / (4 * h)
    analytic = float(np.sum(loss_and_grad(W, X, y, act)[1] * v))
    tol = central_difference_tolerance(W, X, y, act, v, h, d1, d2)
    assert abs(d1 - analytic) <= tol, (d1, analytic, tol)


def test_gradient_check_catches_a_wrong_gradient():
    rng = np.random.default_rng(3)
    W, X, y = rng.standard_normal((2, 3, 5)), rng.standard_normal((6, 2, 5)), np.sign(rng.standard_normal(6))
    act = HuberizedReLU(1.0, 3)
    fun = lambda w: loss_and_grad(w, X, y, act)[0]
    wrong = lambda w: 1.01 * loss_and_grad(w, X, y, act)[1]
    assert not directional_check(fun, wrong, W, rng=0).passed
    with pytest.raises(AssertionError, match="gradient check failed"):
        check_grad(fun, wrong, W, rng=0)
    right = lambda w: loss_and_grad(w, X, y, act)[1]
    assert taylor_slope(fun, right, W, rng=1) == pytest.approx(2.0, abs=0.15)
    # a 1% error adds a first-order term 0.01·t·<g,v>: the fitted slope falls well below 2
    assert taylor_slope(fun, wrong, W, rng=1) < 1.5


def test_network_output_matches_the_definition():
    rng = np.random.default_rng(0)
    m, n, P, d = 3, 4, 3, 5
    W, X = rng.standard_normal((2, m, d)), rng.standard_normal((n, P, d))
    act = HuberizedReLU(0.8, 3)
    f = network_output(W, X, act)
    loop = [sum(act(W[0, r] @ X[i, p]) - act(W[1, r] @ X[i, p]) for r in range(m) for p in range(P)) / m
            for i in range(n)]
    np.testing.assert_allclose(f, loop, rtol=1e-13)
    net = TwoLayerCNN(W, act)
    np.testing.assert_array_equal(net.output(X), f)


# ---------------------------------------------------------------- data model


def test_sample_shapes_and_bookkeeping():
    model = SignalNoiseModel(d=40, K=3, patches=4, signal_norm=2.0, noise_std=0.7, signal_position="random")
    data = model.sample(50, rng=0)
    assert data.X.shape == (50, 4, 40) and data.noise.shape == (50, 3, 40)
    assert data.signals.shape == (6, 40)
    np.testing.assert_allclose(data.signals @ data.signals.T, 4.0 * np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(data.X[np.arange(50), data.signal_pos], data.signals[data.signal_id])
    np.testing.assert_array_equal(np.where(data.signal_id < 3, 1.0, -1.0), data.y)
    # background is orthogonal to every signal when projected
    assert np.abs(data.noise @ data.signals.T).max() < 1e-12
    clean = data.clean()
    assert np.all(clean.noise == 0) and np.array_equal(clean.X.sum(axis=1), data.signals[data.signal_id])


def test_noise_patches_are_in_patch_order():
    data = SignalNoiseModel(d=9, K=1, patches=4, signal_position="random").sample(30, rng=1)
    for i in range(30):
        bg = [p for p in range(4) if p != data.signal_pos[i]]
        np.testing.assert_array_equal(data.noise[i], data.X[i, bg])


def test_noise_statistics():
    """Per-coordinate variance of projected background noise is σ² off the signal span, 0 on it."""
    model = SignalNoiseModel(d=30, K=2, noise_std=1.5, signal_basis="random")
    data = model.sample(4000, rng=2)
    xi = data.noise.reshape(-1, 30)
    U = data.signals / model.signal_norm
    cov = xi.T @ xi / len(xi)
    expect = 1.5**2 * (np.eye(30) - U.T @ U)
    # 8000 draws: entries of the sample covariance have sd ≈ σ²·√(2/8000) ≈ 0.036; 6 sd margin
    assert np.abs(cov - expect).max() < 6 * 2.25 * np.sqrt(2 / 8000)


def test_balanced_and_label_noise():
    model = SignalNoiseModel(d=20, K=3, balanced=True)
    data = model.sample(60, rng=0)
    assert np.sum(data.y == 1) == 30
    np.testing.assert_array_equal(np.bincount(data.signal_id, minlength=6), np.full(6, 10))
    noisy = SignalNoiseModel(d=20, K=3, label_noise=0.2).sample(5000, rng=1)
    rate = np.mean(noisy.y != noisy.y_true)
    # binomial(5000, 0.2): sd ≈ 0.0057; 5 sd margin
    assert abs(rate - 0.2) < 0.03
    np.testing.assert_array_equal(np.where(noisy.signal_id < 3, 1.0, -1.0), noisy.y_true)


def test_clean_data_have_rank_2K_and_stable_rank_2K_when_balanced():
    data = SignalNoiseModel(d=50, K=4, noise_std=1.0, balanced=True).sample(64, rng=0)
    clean = data.clean().X.reshape(64, -1)
    assert cnnrank.numerical_rank(clean) == 8
    assert cnnrank.stable_rank(clean) == pytest.approx(8.0, rel=1e-12)


def test_same_seed_same_bits():
    model = SignalNoiseModel(d=25, K=2, noise_std=0.9, label_noise=0.1, signal_position="random",
                             signal_basis="random")
    a, b = model.sample(20, rng=7), model.sample(20, rng=np.random.default_rng(7))
    for name in ("X", "y", "signals", "signal_id", "signal_pos", "y_true"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.X, model.sample(20, rng=8).X)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(d=8, K=4), r"d=8 is invalid: with project_noise=True it must be >= 2K \+ 1 = 9"),
        (dict(d=7, K=4, project_noise=False), "d=7 is invalid"),
        (dict(d=20, patches=1), "patches=1 is invalid: must be an integer >= 2"),
        (dict(d=20, K=0), "K=0 is invalid"),
        (dict(d=20, noise_std=-0.1), "noise_std=-0.1 is invalid: must be >= 0"),
        (dict(d=20, noise_std=float("inf")), "noise_std=inf is invalid: must be finite"),
        (dict(d=20, signal_norm=-1.0), "signal_norm=-1.0 is invalid"),
        (dict(d=20, label_noise=0.5), "label_noise=0.5 is invalid: must be < 0.5"),
        (dict(d=20, signal_position=3), "signal_position=3 is invalid"),
        (dict(d=20, signal_position="middle"), "signal_position='middle' is invalid"),
        (dict(d=20, signal_basis="fourier"), "signal_basis='fourier' is invalid"),
        (dict(d=20.5), "d=20.5 is invalid: must be an integer"),
    ],
)
def test_model_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SignalNoiseModel(**kwargs)


def test_patchdata_and_network_validation():
    X = np.zeros((3, 2, 4))
    with pytest.raises(ValueError, match="labels must be -1 or \\+1"):
        cnnrank.PatchData(X=X, y=[1, 0, -1])
    with pytest.raises(ValueError, match=r"y has shape \(2,\)"):
        cnnrank.PatchData(X=X, y=[1, -1])
    with pytest.raises(ValueError, match="X has shape"):
        cnnrank.PatchData(X=np.zeros((3, 4)), y=[1, 1, -1])
    with pytest.raises(ValueError, match="m=0 is invalid"):
        TwoLayerCNN.init(0, 4, 0.1, ReLU())
    with pytest.raises(ValueError, match="init_std=-1.0 is invalid"):
        TwoLayerCNN.init(2, 4, -1.0, ReLU())
    with pytest.raises(ValueError, match="init_std=1e\\+308 is too large"):  # no overflow warning first
        TwoLayerCNN.init(2, 4, 1e308, ReLU(), rng=0)
    with pytest.raises(TypeError, match="activation"):
        TwoLayerCNN(np.zeros((2, 1, 4)), activation=np.tanh)
    with pytest.raises(ValueError, match="W has shape"):
        loss_and_grad(np.zeros((2, 1, 5)), X, np.ones(3), ReLU())
    with pytest.raises(ValueError, match=r"W has shape \(3, 1, 4\)"):
        loss_and_grad(np.zeros((3, 1, 4)), X, np.ones(3), ReLU())
    with pytest.raises(ValueError, match="labels must be"):
        loss_and_grad(np.zeros((2, 1, 4)), X, np.array([1.0, 2.0, 1.0]), ReLU())
    with pytest.raises(ValueError, match="n=0 is invalid"):
        SignalNoiseModel(d=20).sample(0)
    data = SignalNoiseModel(d=20).sample(4, rng=0)
    with pytest.raises(ValueError, match="non-finite"):
        data.replace(X=np.full((4, 3, 20), np.nan))
