"""Linear CNN / FCNN: circulant algebra, gradients, determinism, validation."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

from cnnrank.linear.networks import LinearCNN, LinearFCNN, circulant, circular_conv, shift_index
from cnnrank.testing import check_grad, taylor_slope


@st.composite
def cnn_cases(draw, dims=1):
    n = draw(st.integers(2, 9 if dims == 1 else 5))
    k = draw(st.integers(1, n))
    c = draw(st.integers(1, 3))
    m = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31))
    return LinearCNN(n, m, c, k, dims), np.random.default_rng(seed)


@given(cnn_cases(dims=1))
def test_circular_conv_equals_circulant_product_1d(case):
    net, rng = case
    kern = rng.normal(size=(net.channels, net.taps))
    x = rng.normal(size=(4, net.n_in))
    h_fft = circular_conv(kern, x)
    h_mat = np.einsum("cde,ne->ncd", circulant(kern, net.n), x)
    # FFT vs exact products: agreement to rounding (entries are O(1) sums of <= 9 terms).
    np.testing.assert_allclose(h_fft, h_mat, atol=1e-12)
    # independent oracle: scipy's circulant of the zero-padded kernel (first column = kernel).
    pad = np.zeros(net.n)
    pad[: net.kernel_size] = kern[0]
    np.testing.assert_allclose(circulant(kern[0], net.n), scipy.linalg.circulant(pad), atol=0)


@given(cnn_cases(dims=2))
def test_circular_conv_equals_circulant_product_2d(case):
    net, rng = case
    kern = rng.normal(size=(net.channels, net.taps))
    x = rng.normal(size=(3, net.n_in))
    h_fft = circular_conv(kern, x, dims=2)
    h_mat = np.einsum("cde,ne->ncd", circulant(kern, net.n, dims=2), x)
    np.testing.assert_allclose(h_fft, h_mat, atol=1e-12)
    # oracle: direct double loop over taps with np.roll on the image (2D convolution by definition).
    img = x[0].reshape(net.n, net.n)
    k = net.kernel_size
    direct = sum(kern[0].reshape(k, k)[i, j] * np.roll(img, (i, j), axis=(0, 1)) for i in range(k) for j in range(k))
    np.testing.assert_allclose(h_fft[0, 0], direct.ravel(), atol=1e-12)


def test_circulant_is_diagonal_in_fourier_basis():
    rng = np.random.default_rng(0)
    n, k = 12, 5
    kern = rng.normal(size=k)
    C = circulant(kern, n)
    F = np.fft.fft(np.eye(n)) / np.sqrt(n)  # unitary DFT matrix
    D = F @ C @ F.conj().T
    np.testing.assert_allclose(D, np.diag(np.fft.fft(kern, n=n)), atol=1e-12)


def test_shift_index_and_validation():
    assert shift_index(4, 2).tolist() == [[0, 3], [1, 0], [2, 1], [3, 2]]
    with pytest.raises(ValueError, match="kernel_size=5"):
        LinearCNN(4, 1, 1, 5)
    with pytest.raises(ValueError, match="channels=0"):
        LinearCNN(4, 1, 0, 2)
    with pytest.raises(ValueError, match="hidden=0"):
        LinearFCNN(4, 1, 0)
    with pytest.raises(ValueError, match="must be <= the signal size"):
        circular_conv(np.ones((1, 5)), np.ones((2, 4)))
    net = LinearCNN(4, 2, 1, 2)
    with pytest.raises(ValueError, match="X has shape"):
        net.loss_and_grad(net.init(0.1, rng=0), np.ones((3, 5)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="scale=0"):
        net.init(0.0)


def _data(rng, n_in, n_out, n=7):
    return rng.normal(size=(n, n_in)), rng.normal(size=(n, n_out))


def _flat(params):
    return np.concatenate([p.ravel() for p in params])


def _unflat(x, like):
    out, i = [], 0
    for p in like:
        out.append(x[i : i + p.size].reshape(p.shape))
        i += p.size
    return tuple(out)


@pytest.mark.parametrize(
    "net",
    [LinearCNN(8, 3, 2, 3), LinearCNN(6, 2, 3, 6), LinearCNN(4, 2, 2, 3, dims=2), LinearFCNN(6, 3, 4)],
    ids=["cnn1d-k3", "cnn1d-full", "cnn2d", "fcnn"],
)
def test_gradients_match_finite_differences_and_moment_path(net):
    rng = np.random.default_rng(1)
    params = net.init(0.7, rng=rng)
    X, Y = _data(rng, net.n_in, net.n_out)

    def f(x):
        return net.loss_and_grad(_unflat(x, params), X, Y)[0]

    def g(x):
        return _flat(net.loss_and_grad(_unflat(x, params), X, Y)[1])

    x0 = _flat(params)
    for r in range(3):
        # central difference with eps=1e-6 on an O(1) quadratic-in-parameters loss: error ~1e-10.
        check_grad(f, g, x0, eps=1e-6, rtol=1e-6, atol=1e-9, rng=r)
    # a correct gradient gives a Taylor remainder of slope 2 (a wrong one: 1).
    assert taylor_slope(f, g, x0, rng=5) == pytest.approx(2.0, abs=0.15)
    # the moment path (used in training) equals the sample path, to rounding.
    n = X.shape[0]
    loss_m, grads_m = net.grad_moments(params, X.T @ X / n, Y.T @ X / n, float(np.sum(Y * Y) / n))
    loss_d, grads_d = net.loss_and_grad(params, X, Y)
    assert loss_m == pytest.approx(loss_d, rel=1e-10, abs=1e-12)
    for a, b in zip(grads_m, grads_d):
        np.testing.assert_allclose(a, b, atol=1e-11)


def test_effective_map_matches_forward_pass():
    rng = np.random.default_rng(2)
    for net in (LinearCNN(10, 2, 3, 4), LinearCNN(4, 2, 2, 2, dims=2), LinearFCNN(5, 2, 3)):
        params = net.init(1.0, rng=rng)
        X, Y = _data(rng, net.n_in, net.n_out, n=5)
        W = net.effective(params)
        loss, _ = net.loss_and_grad(params, X, Y)
        assert loss == pytest.approx(0.5 * np.mean(np.sum((X @ W.T - Y) ** 2, axis=1)), rel=1e-12)


def test_init_same_seed_same_bits():
    net = LinearCNN(16, 2, 4, 5)
    a = net.init(0.01, rng=123)
    b = net.init(0.01, rng=123)
    c = net.init(0.01, rng=124)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    # spectrum scale independent of k: E|DFT(κ)_f|² = scale² (check the mean over many channels).
    for k in (2, 16):
        kern, _ = LinearCNN(16, 1, 4000, k).init(1.0, rng=0)
        power = np.abs(np.fft.rfft(kern, n=16, axis=1)) ** 2
        # 4000 channels: the mean of power at f=1 has relative std ~ 1/sqrt(4000) ≈ 1.6%; allow 8%.
        assert power[:, 1].mean() == pytest.approx(1.0, rel=0.08)


def test_kernel_spectra_shapes():
    net = LinearCNN(8, 1, 2, 3)
    kern, _ = net.init(1.0, rng=0)
    spec = net.kernel_spectra(kern)
    assert spec.shape == (2, 5)
    np.testing.assert_allclose(spec, np.abs(np.fft.fft(kern, n=8, axis=1))[:, :5])
    net2 = LinearCNN(4, 1, 2, 2, dims=2)
    assert net2.kernel_spectra(net2.init(1.0, rng=0)[0]).shape == (2, 4, 3)
