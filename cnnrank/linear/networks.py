"""Two-layer linear networks: a circular-convolution CNN and a fully connected baseline.

Both compute ``ŷ = W_eff x`` for an input ``x`` of dimension ``D`` (``D = N`` for 1D signals of
length ``N``, ``D = N²`` for ``N × N`` images flattened row-major) and an output of dimension ``M``.

* :class:`LinearFCNN` -- ``W_eff = W2 W1`` with ``W1`` of shape ``(H, D)`` and ``W2`` of shape
  ``(M, H)``.
* :class:`LinearCNN` -- ``C`` channels of ``k``-tap (``k × k`` in 2D) *circular* convolutions
  followed by a fully connected readout::

      h_c[a] = Σ_j κ_c[j] x[(a − j) mod N]          (h_c = Circ(κ_c) x)
      ŷ      = Σ_c R_c h_c,    W_eff = Σ_c R_c Circ(κ_c)

  with kernels ``κ`` of shape ``(C, K)`` (``K = k`` or ``k²``) and readout ``R`` of shape
  ``(M, C, D)``. ``Circ(κ)`` is the ``D × D`` circulant (block-circulant in 2D) matrix of the
  zero-padded kernel; it is diagonal in the Fourier basis with eigenvalues ``DFT(κ)``.

Loss (squared, full batch)::

    L = (1/2n) Σ_i ‖y_i − W_eff x_i‖² = ½ tr(W_eff Σxx W_effᵀ) − tr(W_eff Σyxᵀ) + ½ tr(Σyy)

with ``Σxx = XᵀX/n``, ``Σyx = YᵀX/n``; its gradient with respect to ``W_eff`` is
``G = W_eff Σxx − Σyx``, and the chain rule gives every parameter's gradient from ``G``. The
``*_moments`` methods use the moments (one small matrix product per step, what training uses); the
data methods use the samples themselves (FFT convolutions for the CNN) and serve as an independent
check.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property

import numpy as np

from cnnrank._validation import as_array, check_int, check_real

__all__ = [
    "LinearCNN",
    "LinearFCNN",
    "circulant",
    "circular_conv",
    "shift_index",
]


def shift_index(n: int, k: int, dims: int = 1) -> np.ndarray:
    """Index table ``b[a, j]`` of the input position read by kernel tap ``j`` at output position ``a``.

    For 1D, ``b[a, j] = (a − j) mod n`` (shape ``(n, k)``). For 2D, positions and taps are flattened
    row-major: ``a = (a1, a2)``, ``j = (j1, j2)``, ``b = ((a1 − j1) mod n, (a2 − j2) mod n)``
    (shape ``(n², k²)``). Then ``Circ(κ)[a, b[a, j]] = κ[j]``.
    """
    n = check_int("n", n, minimum=1)
    k = check_int("k", k, minimum=1, maximum=n)
    dims = check_int("dims", dims, minimum=1, maximum=2)
    a = np.arange(n)
    j = np.arange(k)
    one = (a[:, None] - j[None, :]) % n
    if dims == 1:
        return one
    # (a1, a2, j1, j2) -> flattened
    b = one[:, None, :, None] * n + one[None, :, None, :]
    return b.reshape(n * n, k * k)


def _weff(read: np.ndarray, circ: np.ndarray) -> np.ndarray:
    """``W_eff = Σ_c R_c Circ(κ_c)`` (shape ``(M, D)``) from ``read`` (M, C, D) and ``circ`` (C, D, D).

    The contraction ``einsum("mcd,cde->me", read, circ, optimize=True)`` as NumPy (2.x) performs it: the
    operands swapped, one matrix product ``(D, C·D) @ (C·D, M)`` of the same views, transposed. Written
    out, it skips ``einsum``'s path search on every call (about 60 % of a linear-CNN step at the
    sweeps' sizes) and gives the same bits (``tests/test_linear_dynamics.py`` compares the two, and
    the gradients' two other contractions, with ``np.einsum`` to the bit).
    """
    M, C, D = read.shape
    return (circ.transpose(2, 0, 1).reshape(D, C * D) @ read.transpose(1, 2, 0).reshape(C * D, M)).T


def circulant(kernels: np.ndarray, n: int, dims: int = 1) -> np.ndarray:
    """Circulant matrices of zero-padded kernels.

    Parameters
    ----------
    kernels : ndarray, shape (C, K) or (K,)
        ``K = k`` taps (1D) or ``k²`` taps flattened row-major (2D).
    n : int
        Signal length (1D) or image side (2D).
    dims : {1, 2}

    Returns
    -------
    ndarray, shape (C, D, D) or (D, D)
        ``Circ(κ)[a, b] = κ[a − b mod n]`` (taps beyond ``k`` are zero), ``D = n**dims``.
    """
    kern = as_array("kernels", kernels)
    single = kern.ndim == 1
    kern = np.atleast_2d(kern)
    if kern.ndim != 2:
        raise ValueError(f"kernels has shape {np.shape(kernels)} which is invalid: must be (C, K) or (K,)")
    k = _side(kern.shape[1], dims, "kernels")
    idx = shift_index(n, k, dims)
    d = idx.shape[0]
    out = np.zeros((kern.shape[0], d, d))
    rows = np.broadcast_to(np.arange(d)[:, None], idx.shape)
    out[:, rows, idx] = kern[:, None, :]
    return out[0] if single else out


def circular_conv(kernels: np.ndarray, x: np.ndarray, dims: int = 1) -> np.ndarray:
    """Circular convolution by FFT: ``h[..., c, a] = Σ_j κ_c[j] x[..., a − j]``.

    Parameters
    ----------
    kernels : ndarray, shape (C, K)
    x : ndarray, shape (n_samples, D)
        ``D = N`` (1D) or ``N²`` flattened row-major (2D).

    Returns
    -------
    ndarray, shape (n_samples, C, D)
    """
    kern = as_array("kernels", kernels, ndim=2)
    x = as_array("x", x, ndim=2)
    n = _side(x.shape[1], dims, "x")
    k = _side(kern.shape[1], dims, "kernels")
    if k > n:
        raise ValueError(f"kernel size k={k} is invalid: must be <= the signal size N={n}")
    if dims == 1:
        kf = np.fft.rfft(kern, n=n)
        return np.fft.irfft(kf[None] * np.fft.rfft(x)[:, None], n=n)
    kimg = kern.reshape(-1, k, k)
    kf = np.fft.rfft2(kimg, s=(n, n))
    xf = np.fft.rfft2(x.reshape(-1, n, n))
    h = np.fft.irfft2(kf[None] * xf[:, None], s=(n, n))
    return h.reshape(x.shape[0], kern.shape[0], n * n)


def _side(size: int, dims: int, name: str) -> int:
    if dims == 1:
        return size
    side = int(round(np.sqrt(size)))
    if side * side != size:
        raise ValueError(f"{name} has {size} entries per row which is invalid: must be a square for dims=2")
    return side


def _moments(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    n = X.shape[0]
    return X.T @ X / n, Y.T @ X / n, float(np.sum(Y * Y) / n)


@dataclasses.dataclass(frozen=True)
class LinearFCNN:
    """Two-layer linear fully connected network ``W_eff = W2 W1``.

    Parameters
    ----------
    n_in : int
        Input dimension ``D``.
    n_out : int
        Output dimension ``M``.
    hidden : int
        Hidden width ``H``.

    Parameters of the network are the tuple ``(W1, W2)`` with shapes ``(H, D)`` and ``(M, H)``.
    """

    n_in: int
    n_out: int
    hidden: int

    def __post_init__(self) -> None:
        check_int("n_in", self.n_in, minimum=1)
        check_int("n_out", self.n_out, minimum=1)
        check_int("hidden", self.hidden, minimum=1)

    def init(self, scale: float, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """Small random init: entries i.i.d. ``N(0, scale² / D)`` (``W1``) and ``N(0, scale² / H)`` (``W2``)."""
        scale = check_real("scale", scale, positive=True)
        rng = np.random.default_rng(rng)
        w1 = rng.normal(0.0, scale / np.sqrt(self.n_in), (self.hidden, self.n_in))
        w2 = rng.normal(0.0, scale / np.sqrt(self.hidden), (self.n_out, self.hidden))
        return w1, w2

    def effective(self, params) -> np.ndarray:
        """``W_eff = W2 W1``, shape ``(M, D)``."""
        w1, w2 = params
        return w2 @ w1

    def grad_moments(self, params, sxx: np.ndarray, syx: np.ndarray, syy: float = 0.0):
        """Loss and gradients from the moments: ``∇W1 = W2ᵀ G``, ``∇W2 = G W1ᵀ``, ``G = W_eff Σxx − Σyx``.

        Returns ``(loss, (gW1, gW2))``; ``loss`` includes ``½ syy`` (pass ``tr(Σyy)``).
        """
        w1, w2 = params
        weff = w2 @ w1
        g = weff @ sxx - syx
        loss = 0.5 * np.sum(weff * (weff @ sxx)) - np.sum(weff * syx) + 0.5 * syy
        return float(loss), (w2.T @ g, g @ w1.T)

    def loss_and_grad(self, params, X: np.ndarray, Y: np.ndarray):
        """Loss ``(1/2n) Σ‖y_i − W2 W1 x_i‖²`` and its gradients, from the samples.

        ``X`` has shape ``(n, D)``, ``Y`` shape ``(n, M)``. Returns ``(loss, (gW1, gW2))``.
        """
        X = as_array("X", X, shape=(None, self.n_in))
        Y = as_array("Y", Y, shape=(X.shape[0], self.n_out))
        w1, w2 = params
        h = X @ w1.T
        r = h @ w2.T - Y
        n = X.shape[0]
        loss = 0.5 * np.sum(r * r) / n
        gw2 = r.T @ h / n
        gw1 = (r @ w2).T @ X / n
        return float(loss), (gw1, gw2)


@dataclasses.dataclass(frozen=True)
class LinearCNN:
    """Two-layer linear CNN: ``C`` circular ``k``-tap convolutions, then a fully connected readout.

    Parameters
    ----------
    n : int
        Signal length ``N`` (1D) or image side (2D); the input dimension is ``D = n**dims``.
    n_out : int
        Output dimension ``M``.
    channels : int
        Number of convolution channels ``C``.
    kernel_size : int
        Taps per kernel ``k`` (``1 <= k <= n``); in 2D the kernels are ``k × k``.
    dims : {1, 2}

    Parameters of the network are ``(kernels, readout)`` with shapes ``(C, K)`` (``K = k**dims``)
    and ``(M, C, D)``; ``W_eff = Σ_c readout[:, c, :] @ Circ(kernels[c])``.
    """

    n: int
    n_out: int
    channels: int
    kernel_size: int
    dims: int = 1

    def __post_init__(self) -> None:
        check_int("n", self.n, minimum=1)
        check_int("n_out", self.n_out, minimum=1)
        check_int("channels", self.channels, minimum=1)
        check_int("dims", self.dims, minimum=1, maximum=2)
        check_int("kernel_size", self.kernel_size, minimum=1, maximum=self.n)

    @property
    def n_in(self) -> int:
        """Input dimension ``D = n**dims``."""
        return self.n**self.dims

    @property
    def taps(self) -> int:
        """Number of kernel entries ``K = k**dims``."""
        return self.kernel_size**self.dims

    @cached_property
    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        idx = shift_index(self.n, self.kernel_size, self.dims)
        rows = np.broadcast_to(np.arange(idx.shape[0])[:, None], idx.shape)
        return rows, idx

    def init(self, scale: float, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """Small random init with a size-independent spectrum.

        Kernel taps are i.i.d. ``N(0, scale² / K)``, so every Fourier coefficient of a kernel has
        ``E|DFT(κ)_f|² = scale²`` whatever ``k``; readout entries are i.i.d. ``N(0, scale² / (C D))``.
        """
        scale = check_real("scale", scale, positive=True)
        rng = np.random.default_rng(rng)
        kern = rng.normal(0.0, scale / np.sqrt(self.taps), (self.channels, self.taps))
        read = rng.normal(0.0, scale / np.sqrt(self.channels * self.n_in), (self.n_out, self.channels, self.n_in))
        return kern, read

    @cached_property
    def _tap_of(self) -> np.ndarray:
        """``(D, D)`` table: the tap ``j`` that ``Circ(κ)[a, b]`` holds, or ``K`` (a zero slot) where none."""
        rows, idx = self._index
        d, k = self.n_in, self.taps
        tap = np.full((d, d), k, dtype=np.intp)
        tap[rows, idx] = np.arange(k)[None, :]
        return tap

    def circulants(self, kernels: np.ndarray) -> np.ndarray:
        """``Circ(κ_c)`` for every channel, shape ``(C, D, D)``.

        Long kernels (``2K ≥ D``) gather every entry from the zero-padded kernel through :attr:`_tap_of`
        (5 times faster at ``K = D = 32``); short ones scatter their ``K`` taps into zeros. Both give the
        same array, in the same (C) memory order: the products that read it depend on its layout.
        """
        d = self.n_in
        if 2 * self.taps >= d:
            padded = np.zeros((kernels.shape[0], self.taps + 1))
            padded[:, : self.taps] = kernels
            return np.take(padded, self._tap_of, axis=1)  # C-ordered, as the scatter's array
        rows, idx = self._index
        out = np.zeros((kernels.shape[0], d, d))
        out[:, rows, idx] = kernels[:, None, :]
        return out

    def effective(self, params) -> np.ndarray:
        """``W_eff = Σ_c R_c Circ(κ_c)``, shape ``(M, D)``."""
        kern, read = params
        return _weff(read, self.circulants(kern))

    def grad_moments(self, params, sxx: np.ndarray, syx: np.ndarray, syy: float = 0.0):
        """Loss and gradients from the moments.

        With ``G = W_eff Σxx − Σyx`` (shape ``(M, D)``)::

            ∇R_c    = G Circ(κ_c)ᵀ
            ∇κ_c[j] = Σ_a (R_cᵀ G)[a, (a − j) mod N]      (a circular diagonal sum)

        Returns ``(loss, (g_kernels, g_readout))``; ``loss`` includes ``½ syy``.
        """
        kern, read = params
        M, C, D = read.shape
        circ = self.circulants(kern)
        weff = _weff(read, circ)
        ws = weff @ sxx
        g = ws - syx
        loss = 0.5 * (weff * ws).sum() - (weff * syx).sum() + 0.5 * syy
        # einsum("me,cde->mcd", g, circ) and einsum("mcd,me->cde", read, g), as _weff says
        g_read = (circ.reshape(C * D, D) @ g.T).reshape(C, D, M).transpose(2, 0, 1)
        h = (g.T @ read.reshape(M, C * D)).reshape(D, C, D).transpose(1, 2, 0)
        rows, idx = self._index
        g_kern = h[:, rows, idx].sum(axis=1)
        return float(loss), (g_kern, g_read)

    def loss_and_grad(self, params, X: np.ndarray, Y: np.ndarray):
        """Loss ``(1/2n) Σ‖y_i − ŷ_i‖²`` and gradients from the samples, convolutions by FFT.

        ``X`` has shape ``(n, D)``, ``Y`` shape ``(n, M)``. The kernel gradient is the circular
        cross-correlation of the back-propagated error ``δ = ∂L/∂h`` with the inputs, restricted
        to the first ``k`` lags. Returns ``(loss, (g_kernels, g_readout))``.
        """
        X = as_array("X", X, shape=(None, self.n_in))
        Y = as_array("Y", Y, shape=(X.shape[0], self.n_out))
        kern, read = params
        n = X.shape[0]
        h = circular_conv(kern, X, self.dims)  # (n, C, D)
        r = np.einsum("ncd,mcd->nm", h, read) - Y
        loss = 0.5 * np.sum(r * r) / n
        g_read = np.einsum("nm,ncd->mcd", r, h) / n
        delta = np.einsum("nm,mcd->ncd", r, read) / n  # (n, C, D)
        if self.dims == 1:
            corr = np.fft.irfft(
                np.einsum("ncf,nf->cf", np.fft.rfft(delta), np.conj(np.fft.rfft(X))), n=self.n
            )
            g_kern = corr[:, : self.kernel_size]
        else:
            s = (self.n, self.n)
            df = np.fft.rfft2(delta.reshape(n, -1, *s))
            xf = np.fft.rfft2(X.reshape(n, *s))
            corr = np.fft.irfft2(np.einsum("ncuv,nuv->cuv", df, np.conj(xf)), s=s)
            k = self.kernel_size
            g_kern = corr[:, :k, :k].reshape(kern.shape[0], k * k)
        return float(loss), (g_kern, g_read)

    def kernel_spectra(self, kernels: np.ndarray) -> np.ndarray:
        """``|DFT(κ_c)|`` of the zero-padded kernels.

        ``kernels`` has shape ``(..., C, K)``; returns shape ``(..., C, N//2 + 1)`` (1D, the
        frequencies ``0..N/2``) or ``(..., C, N, N//2 + 1)`` (2D).
        """
        kern = np.asarray(kernels, dtype=float)
        if self.dims == 1:
            return np.abs(np.fft.rfft(kern, n=self.n, axis=-1))
        k = self.kernel_size
        img = kern.reshape(*kern.shape[:-1], k, k)
        return np.abs(np.fft.rfft2(img, s=(self.n, self.n)))
