"""Data with designed structure: ``Σyx = U diag(s) Vᵀ`` with whitened inputs and Fourier-built modes.

Each input mode ``v_α`` (a unit vector of ``R^N``) is assembled from real Fourier components::

    e_f(φ)[n] = √(2/N) cos(2π f n / N + φ)   for 0 < f < N/2,
    e_0[n]    = 1/√N,   e_{N/2}[n] = (−1)ⁿ/√N  (N even),
    v_α       = Σ_i √p_{α,i} e_{f_{α,i}}(φ_{α,i}),

so ``v_α`` carries the energy share ``p_{α,i}`` at frequency ``f_{α,i}`` (shares sum to 1). Modes
with disjoint frequency sets are exactly orthogonal, which is required here so that the shares are
exactly the designed ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from cnnrank._validation import as_array, check_int, check_real

__all__ = [
    "DesignedTask",
    "designed_task",
    "designed_task_2d",
    "fourier_mode",
    "fourier_mode_2d",
    "frequency_energy",
    "frequency_energy_2d",
    "sample_dataset",
]


def fourier_mode(n: int, freqs: Sequence[int], shares: Sequence[float], phases: Sequence[float] | None = None) -> np.ndarray:
    """Unit vector of length ``n`` with energy share ``shares[i]`` at frequency ``freqs[i]``.

    Parameters
    ----------
    n : int
        Signal length ``N``.
    freqs : sequence of int, distinct, each in ``0..N//2``
    shares : sequence of float, same length, ``>= 0``, summing to 1 (to 1e-9)
    phases : sequence of float, optional
        Phase ``φ_i`` of each cosine (ignored for ``f = 0`` and ``f = N/2``); zeros by default.

    Returns
    -------
    ndarray, shape (N,)
        ``v = Σ_i √shares[i] e_{freqs[i]}(phases[i])``, with ``‖v‖ = 1``.
    """
    n = check_int("n", n, minimum=2)
    f = np.asarray(freqs)
    if f.ndim != 1 or f.size == 0 or f.dtype.kind not in "iu":
        raise ValueError(f"freqs={list(np.ravel(freqs))!r} is invalid: must be a non-empty list of integers")
    if np.any(f < 0) or np.any(f > n // 2):
        raise ValueError(f"freqs={f.tolist()!r} is invalid: each must be in 0..{n // 2} (N={n})")
    if np.unique(f).size != f.size:
        raise ValueError(f"freqs={f.tolist()!r} is invalid: frequencies must be distinct")
    p = as_array("shares", shares, shape=(f.size,))
    if np.any(p < 0) or abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"shares={p.tolist()!r} is invalid: must be >= 0 and sum to 1")
    ph = np.zeros(f.size) if phases is None else as_array("phases", phases, shape=(f.size,))
    t = np.arange(n)
    comps = np.sqrt(2.0 / n) * np.cos(2 * np.pi * np.outer(f, t) / n + ph[:, None])
    edge = (f == 0) | (2 * f == n)
    comps[edge] = np.cos(np.pi * np.outer(f[edge], t) * 2 / n) / np.sqrt(n)
    return np.sqrt(p) @ comps


def frequency_energy(v: np.ndarray) -> np.ndarray:
    """Energy share of a signal at each frequency ``0..N//2`` (the pair ``±f`` counted together).

    Parameters
    ----------
    v : ndarray, shape (N,) or (R, N)
        Rows are signals (modes).

    Returns
    -------
    ndarray, shape (N//2 + 1,) or (R, N//2 + 1)
        ``E_f = w_f |DFT(v)_f|² / (N ‖v‖²)`` with ``w_f = 2`` for ``0 < f < N/2`` and 1 otherwise;
        rows sum to 1 (a zero signal gives zeros).
    """
    arr = as_array("v", v)
    if arr.ndim not in (1, 2):
        raise ValueError(f"v has shape {arr.shape} which is invalid: must be (N,) or (R, N)")
    n = arr.shape[-1]
    e = np.abs(np.fft.rfft(arr, axis=-1)) ** 2
    e[..., 1 : (n + 1) // 2] *= 2.0
    tot = e.sum(axis=-1, keepdims=True)
    return np.divide(e, tot, out=np.zeros_like(e), where=tot > 0)


def _canonical_2d(n: int, f) -> tuple[int, int]:
    """Representative of the real frequency pair ``{f, −f}`` (mod n): the lexicographic minimum."""
    a = (int(f[0]) % n, int(f[1]) % n)
    b = ((-a[0]) % n, (-a[1]) % n)
    return min(a, b)


def fourier_mode_2d(n: int, freqs: Sequence[tuple[int, int]], shares: Sequence[float],
                    phases: Sequence[float] | None = None) -> np.ndarray:
    """Unit ``n × n`` image (flattened row-major) with energy share ``shares[i]`` at 2D frequency ``freqs[i]``.

    ``e_f(φ)[a1, a2] = √(2/n²) cos(2π (f1 a1 + f2 a2)/n + φ)``; for the self-conjugate
    frequencies (each ``f_i ∈ {0, n/2}``) the component is ``cos(2π (f1 a1 + f2 a2)/n) / n``.
    ``f`` and ``−f`` (mod ``n``) are the same real component and must not both be listed.

    Returns
    -------
    ndarray, shape (n²,)
    """
    n = check_int("n", n, minimum=2)
    fr = np.asarray(freqs)
    if fr.ndim != 2 or fr.shape[1] != 2 or fr.shape[0] == 0 or fr.dtype.kind not in "iu":
        raise ValueError(f"freqs={np.asarray(freqs).tolist()!r} is invalid: must be a non-empty list of integer pairs")
    canon = [_canonical_2d(n, f) for f in fr]
    if len(set(canon)) != len(canon):
        raise ValueError(f"freqs={fr.tolist()!r} is invalid: frequencies must be distinct up to sign (mod n={n})")
    p = as_array("shares", shares, shape=(fr.shape[0],))
    if np.any(p < 0) or abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"shares={p.tolist()!r} is invalid: must be >= 0 and sum to 1")
    ph = np.zeros(fr.shape[0]) if phases is None else as_array("phases", phases, shape=(fr.shape[0],))
    a1, a2 = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    arg = 2 * np.pi * (fr[:, 0, None, None] * a1 + fr[:, 1, None, None] * a2) / n
    selfconj = np.all((2 * fr) % n == 0, axis=1)
    comps = np.where(selfconj[:, None, None], np.cos(arg) / n,
                     np.sqrt(2.0) / n * np.cos(arg + ph[:, None, None]))
    return np.sqrt(p) @ comps.reshape(fr.shape[0], n * n)


def frequency_energy_2d(v: np.ndarray) -> np.ndarray:
    """Energy share of ``n × n`` images at each 2D frequency pair ``{f, −f}``.

    Parameters
    ----------
    v : ndarray, shape (n²,) or (R, n²)

    Returns
    -------
    ndarray, shape (n, n) or (R, n, n)
        ``G[f] = (|V_f|² + |V_{−f}|²) / (n² ‖v‖²)`` for ``f ≠ −f`` and ``|V_f|² / (n² ‖v‖²)`` for
        self-conjugate ``f`` (``V = DFT2(v)``); symmetric, so each pair appears at ``f`` and ``−f``.
    """
    arr = as_array("v", v)
    side = int(round(np.sqrt(arr.shape[-1])))
    if arr.ndim not in (1, 2) or side * side != arr.shape[-1]:
        raise ValueError(f"v has shape {arr.shape} which is invalid: must be (n²,) or (R, n²)")
    img = arr.reshape(*arr.shape[:-1], side, side)
    e = np.abs(np.fft.fft2(img)) ** 2
    mirror = np.roll(np.flip(e, axis=(-2, -1)), 1, axis=(-2, -1))  # e[-f]
    idx = np.arange(side)
    selfconj = ((2 * idx[:, None]) % side == 0) & ((2 * idx[None, :]) % side == 0)
    g = np.where(selfconj, e, e + mirror)
    tot = e.sum(axis=(-2, -1), keepdims=True)
    return np.divide(g, tot, out=np.zeros_like(g), where=tot > 0)


@dataclasses.dataclass(frozen=True)
class DesignedTask:
    """An input–output correlation ``Σyx = U diag(s) Vᵀ`` for whitened inputs (``Σxx = I``).

    Attributes
    ----------
    s : ndarray, shape (R,)
        Mode strengths (singular values), ``> 0``.
    U : ndarray, shape (M, R)
        Output modes, orthonormal columns.
    V : ndarray, shape (D, R)
        Input modes, orthonormal columns (``D = N`` for signals, ``N²`` for images).
    dims : {1, 2}
        Whether the inputs are 1D signals or ``N × N`` images flattened row-major.
    """

    s: np.ndarray
    U: np.ndarray
    V: np.ndarray
    dims: int = 1

    def __post_init__(self) -> None:
        check_int("dims", self.dims, minimum=1, maximum=2)
        s = as_array("s", self.s, ndim=1)
        if np.any(s <= 0):
            raise ValueError(f"s={s.tolist()!r} is invalid: mode strengths must be > 0")
        r = s.size
        u = as_array("U", self.U, shape=(None, r))
        v = as_array("V", self.V, shape=(None, r))
        for name, m in (("U", u), ("V", v)):
            if not np.allclose(m.T @ m, np.eye(r), atol=1e-9):
                raise ValueError(f"{name} is invalid: its columns must be orthonormal")
        object.__setattr__(self, "s", s)
        object.__setattr__(self, "U", u)
        object.__setattr__(self, "V", v)
        if self.dims == 2 and int(round(np.sqrt(v.shape[0]))) ** 2 != v.shape[0]:
            raise ValueError(f"V has {v.shape[0]} rows which is invalid: must be a square for dims=2")

    @property
    def n(self) -> int:
        """Signal length (1D) or image side (2D)."""
        return self.V.shape[0] if self.dims == 1 else int(round(np.sqrt(self.V.shape[0])))

    @property
    def sigma_yx(self) -> np.ndarray:
        """``Σyx = U diag(s) Vᵀ``, shape ``(M, N)``."""
        return (self.U * self.s) @ self.V.T

    @property
    def energy(self) -> np.ndarray:
        """Energy share of each input mode per frequency: shape ``(R, N//2 + 1)`` (1D) or ``(R, N, N)`` (2D)."""
        return frequency_energy(self.V.T) if self.dims == 1 else frequency_energy_2d(self.V.T)

    @property
    def dominant_frequency(self) -> np.ndarray:
        """Frequency carrying the largest share of each mode: shape ``(R,)`` (1D) or ``(R, 2)`` (2D, the
        canonical representative of the pair ``±f``)."""
        e = self.energy
        if self.dims == 1:
            return np.argmax(e, axis=1)
        flat = np.argmax(e.reshape(e.shape[0], -1), axis=1)
        return np.array([_canonical_2d(self.n, divmod(int(i), self.n)) for i in flat], dtype=int).reshape(-1, 2)

    @property
    def dominant_share(self) -> np.ndarray:
        """That largest share, shape ``(R,)``."""
        return np.max(self.energy.reshape(self.s.size, -1), axis=1)


def _check_modes(strengths, mode_freqs, mode_shares):
    """Validated strengths (R,) and per-mode shares (equal shares by default)."""
    s = as_array("strengths", strengths, ndim=1)
    r = s.size
    if len(mode_freqs) != r:
        raise ValueError(f"mode_freqs has {len(mode_freqs)} entries which is invalid: must have one per strength ({r})")
    if mode_shares is None:
        mode_shares = [np.full(len(fs), 1.0 / len(fs)) for fs in mode_freqs]
    if len(mode_shares) != r:
        raise ValueError(f"mode_shares has {len(mode_shares)} entries which is invalid: must have one per strength ({r})")
    return s, mode_shares


def designed_task(
    n: int,
    strengths: Sequence[float],
    mode_freqs: Sequence[Sequence[int]],
    mode_shares: Sequence[Sequence[float]] | None = None,
    *,
    n_out: int | None = None,
    rng=None,
) -> DesignedTask:
    """Build a :class:`DesignedTask` whose input modes have the given frequency content.

    Parameters
    ----------
    n : int
        Signal length ``N``.
    strengths : sequence of float, length R
        Singular values ``s_α``.
    mode_freqs : sequence of R sequences of int
        Frequencies of each mode; the sets must be disjoint (so the modes are orthogonal).
    mode_shares : sequence of R sequences of float, optional
        Energy share at each frequency; equal shares by default.
    n_out : int, optional
        Output dimension ``M >= R``. Default ``R`` with ``U = I``; otherwise ``U`` is a random
        orthonormal ``M × R`` matrix.
    rng : seed or Generator
        Draws the cosine phases (uniform on ``[0, 2π)``) and ``U`` when ``n_out > R``.

    Returns
    -------
    DesignedTask
    """
    rng = np.random.default_rng(rng)
    s, mode_shares = _check_modes(strengths, mode_freqs, mode_shares)
    r = s.size
    seen: set[int] = set()
    for fs in mode_freqs:
        overlap = seen.intersection(int(f) for f in fs)
        if overlap:
            raise ValueError(f"mode_freqs={[list(m) for m in mode_freqs]!r} is invalid: frequency sets must be disjoint (shared: {sorted(overlap)})")
        seen.update(int(f) for f in fs)
    cols = [
        fourier_mode(n, list(fs), list(ps), rng.uniform(0.0, 2 * np.pi, len(fs)))
        for fs, ps in zip(mode_freqs, mode_shares)
    ]
    V = np.stack(cols, axis=1)
    m = r if n_out is None else check_int("n_out", n_out, minimum=r)
    if m == r:
        U = np.eye(r)
    else:
        U, _ = np.linalg.qr(rng.normal(size=(m, r)))
    return DesignedTask(s=s, U=U, V=V)


def designed_task_2d(
    n: int,
    strengths: Sequence[float],
    mode_freqs: Sequence[Sequence[tuple[int, int]]],
    mode_shares: Sequence[Sequence[float]] | None = None,
    *,
    n_out: int | None = None,
    rng=None,
) -> DesignedTask:
    """The 2D analogue of :func:`designed_task`: modes are ``n × n`` images built by :func:`fourier_mode_2d`.

    Frequency pairs ``{f, −f}`` of different modes must be disjoint. Returns a task with ``dims=2``
    and ``V`` of shape ``(n², R)``.
    """
    rng = np.random.default_rng(rng)
    s, mode_shares = _check_modes(strengths, mode_freqs, mode_shares)
    r = s.size
    seen: set[tuple[int, int]] = set()
    for fs in mode_freqs:
        canon = {_canonical_2d(n, f) for f in fs}
        if seen & canon:
            raise ValueError(f"mode_freqs is invalid: frequency sets must be disjoint up to sign (shared: {sorted(seen & canon)})")
        seen |= canon
    cols = [fourier_mode_2d(n, [(f[0], f[1]) for f in fs], list(ps), rng.uniform(0.0, 2 * np.pi, len(fs)))
            for fs, ps in zip(mode_freqs, mode_shares)]
    V = np.stack(cols, axis=1)
    m = r if n_out is None else check_int("n_out", n_out, minimum=r)
    U = np.eye(r) if m == r else np.linalg.qr(rng.normal(size=(m, r)))[0]
    return DesignedTask(s=s, U=U, V=V, dims=2)


def sample_dataset(task: DesignedTask, n_samples: int, *, noise: float = 0.0, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """A dataset realizing ``task``: exactly whitened inputs and ``y = Σyx x (+ noise)``.

    ``X = √n Q`` with ``Q`` the orthonormal factor of a Gaussian ``n × N`` matrix, so
    ``XᵀX / n = I`` exactly and (for ``noise = 0``) ``YᵀX / n = Σyx`` exactly.

    Parameters
    ----------
    task : DesignedTask
    n_samples : int, ``>= N``
    noise : float, ``>= 0``
        Standard deviation of i.i.d. Gaussian output noise.
    rng : seed or Generator

    Returns
    -------
    X : ndarray, shape (n_samples, N)
    Y : ndarray, shape (n_samples, M)
    """
    n_in = task.V.shape[0]
    n_samples = check_int("n_samples", n_samples, minimum=n_in)
    noise = check_real("noise", noise, nonnegative=True)
    rng = np.random.default_rng(rng)
    q, _ = np.linalg.qr(rng.normal(size=(n_samples, n_in)))
    X = np.sqrt(n_samples) * q
    Y = X @ task.sigma_yx.T
    if noise > 0:
        Y = Y + noise * rng.normal(size=Y.shape)
    return X, Y
