r"""The Gram engine's state and step (docs/theory.md §3): ``B`` coefficient-space gradient descents of one
shape advanced together, ``Z ← Z + G ΔĈ``, and what a record reads from them.

:class:`GramCore` is used by :class:`~cnnrank.engines.gram.GramEngine` (one run) and
:mod:`cnnrank.batched` (many runs); the training variants of one run (trainable second layer,
minibatches, weight decay) are its base :class:`~cnnrank.engines.gram_variants.GramVariants`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.linalg.blas import dgemm as _dgemm

from cnnrank.activations import Activation
from cnnrank.engines.base import (
    BatchSchedule,
    DecayScale,
    TrainingVariant,
)
from cnnrank.engines.gram_problem import GramProblem, _pad_sentinel, _stack
from cnnrank.engines.gram_variants import GramVariants
from cnnrank.network import filter_signs, logistic_loss, logistic_loss_derivative

__all__ = ["GramCore"]


class GramCore(GramVariants):
    r"""``B`` coefficient-space gradient descents of one shape, advanced together.

    The state is stored filter-major: ``Zᵀ`` and ``Ĉᵀ`` of every run as ``(B, 2m, M+1)`` arrays, so that
    the per-patch factors of a step (``h_k``, the row scales) broadcast along the contiguous axis and
    the two filter signs are two contiguous halves. A step is one product ``Z += G ΔĈ`` per run (one
    wide ``dgemm`` ``[Z_1 … Z_B] += G [ΔĈ_1 … ΔĈ_B]`` when the runs share ``G``, or a single run) plus
    elementwise work on ``(B, 2m, M+1)``. Column ``M`` is the zero-patch sentinel (zero Gram row and
    column, so its pre-activation stays 0 and ``σ(0) = 0``).

    **Row scales** (noise sweeps with common random numbers, :mod:`cnnrank.batched`): with
    ``scales`` (B, M) the problems are given in unit coordinates ``x̂'_k = x̂_k / s_k`` (background
    patches at ``σ = 1``, so that runs at different noise levels hold the same ``G``), and run ``b``
    trains on ``x̂_k = s_{b,k} x̂'_k``:

    .. math::
        G_b = S_b G S_b,\quad Z_b = S_b Z'_b,\quad \hat C'_b = S_b \hat C_b,\quad
        Z'_b \leftarrow Z'_b + G\,\Delta\hat C'_b,\quad \Delta\hat C'_b = S_b \Delta\hat C_b,

    i.e. one extra row scaling of ``Z'`` per step and ``h_k s_k`` in place of ``h_k``; equal to the
    run on ``G_b`` to rounding. ``Cd`` then holds ``Ĉ'`` (so ``W = W_0 + Ĉ'ᵀ X̂'``), and
    :meth:`coefficients` reports ``Ĉ = S⁻¹ Ĉ'``.

    Parameters
    ----------
    problems : sequence of GramProblem
        Same ``M``, ``m``, ``n``, ``P`` (and test sizes) for all.
    activation : Activation
    scales, test_scales : ndarray, shape (B, M) and (B, Mt), optional
        Positive row scales of the training (test) distinct patches; ``None`` means all ones.
    """

    def __init__(self, problems: Sequence[GramProblem], activation: Activation,
                 scales: np.ndarray | None = None, test_scales: np.ndarray | None = None) -> None:
        if len(problems) < 1:
            raise ValueError("problems=[] is invalid: need at least one problem")
        p0 = problems[0]
        self.activation = activation
        self.B, self.M, self.m, self.n, self.P = len(problems), p0.M, p0.m, p0.n, p0.P
        B, M, m = self.B, self.M, self.m
        # one Gram matrix for runs on the same data (the same array object): stored once, and the
        # step's product is one wide ``dgemm`` G [ΔĈ_1 … ΔĈ_B]
        self.shared_G = B > 1 and all(p.G is p0.G for p in problems)
        if self.shared_G:
            self.G = _pad_sentinel(np.asarray(p0.G, dtype=np.float64))[None]
        else:
            self.G = _pad_sentinel(_stack([p.G for p in problems], "G"))
        self.Z0 = _pad_sentinel(_stack([p.Z0 for p in problems], "Z0"), cols=False)
        self.WW0 = _stack([p.WW0 for p in problems], "WW0")
        self.index = _stack([p.index for p in problems], "index")
        self.y = _stack([p.y for p in problems], "y")
        self.s = filter_signs(m)
        self.scales = None if scales is None else self._scales(scales, M, "scales")
        self.ZT = np.ascontiguousarray(self.Z0.transpose(0, 2, 1))  # (B, 2m, M+1): Zᵀ (or Z'ᵀ)
        self.CdT = np.zeros_like(self.ZT)
        # rows (i, p) whose distinct patch is shared: per-sample coefficients tracked separately,
        # padded across the batch with (row nP, sentinel patch) entries that never move
        nP = self.n * self.P
        counts = [np.bincount(ix, minlength=M + 1) for ix in self.index]
        shared = [np.flatnonzero((c[ix] > 1) & (ix < M)) for c, ix in zip(counts, self.index)]
        S = max(len(r) for r in shared)
        self.srow = np.full((B, S), nP, dtype=np.int64)
        self.spatch = np.full((B, S), M, dtype=np.int64)
        for b, r in enumerate(shared):  # set-up only
            self.srow[b, : len(r)] = r
            self.spatch[b, : len(r)] = self.index[b, r]
        self.ssample = np.minimum(self.srow // self.P, self.n - 1)
        self.CsT = np.zeros((B, 2 * m, S))  # per-sample coefficients of the shared rows, filter-major
        self._kernel: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
        # the training variants (docs/theory.md, "Training variants"): set by :meth:`set_variant`
        self.variant = TrainingVariant()
        self.head: np.ndarray | None = None  # (2m,) trainable second layer, class sign included
        self.init_scale = 1.0  # s(t) = (1 - ηλ)^t
        self._decay = DecayScale()
        self.schedule: BatchSchedule | None = None
        self.has_test = p0.test_G is not None
        if self.has_test:
            if all(p.test_G is p0.test_G for p in problems):  # stored once, broadcast in the product
                self.tG = _pad_sentinel(np.asarray(p0.test_G, dtype=np.float64))[None]
            else:
                self.tG = _pad_sentinel(_stack([p.test_G for p in problems], "test_G"))
            self.tZ0 = _pad_sentinel(_stack([p.test_Z0 for p in problems], "test_Z0"), cols=False)
            self.tindex = _stack([p.test_index for p in problems], "test_index")
            self.ty = _stack([p.test_y for p in problems], "test_y")
            self.test_scales = (None if test_scales is None
                                else self._scales(test_scales, self.tG.shape[-2] - 1, "test_scales"))

    def _scales(self, scales: np.ndarray, size: int, name: str) -> np.ndarray:
        """Row scales (B, size) checked and padded with a 1 for the sentinel: (B, size + 1)."""
        a = np.asarray(scales, dtype=np.float64)
        if a.shape != (self.B, size) or not np.all(np.isfinite(a)) or not np.all(a > 0):
            raise ValueError(f"{name} has shape {a.shape} which is invalid: must be ({self.B}, {size}), finite "
                             f"and > 0")
        return np.concatenate([a, np.ones((self.B, 1))], axis=1)

    # ---------------------------------------------------------------- views of the state
    @property
    def Z(self) -> np.ndarray:
        """Pre-activations ``Z`` (B, M+1, 2m) (a copy when scaled; a view of the state otherwise)."""
        Z = self.ZT if self.scales is None else self.ZT * self.scales[:, None, :]
        return Z.transpose(0, 2, 1)

    @property
    def Cd(self) -> np.ndarray:
        """Coefficients of the distinct patches in the problems' coordinates, (B, M+1, 2m) (a view):
        ``Ĉ``, or ``Ĉ' = S Ĉ`` with row scales (``W = W_0 + Cdᵀ X̂'`` either way)."""
        return self.CdT.transpose(0, 2, 1)

    # ---------------------------------------------------------------- pieces of a step
    def _outputs(self, ZT: np.ndarray, index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``f`` (B, n) plus ``σ(Z)`` and ``σ'(Z)`` (filter-major, reference path used at records)."""
        m = self.m
        val, grad = self.activation.value_and_grad(ZT)
        if self.head is None:
            T = (val[:, :m].sum(axis=1) - val[:, m:].sum(axis=1)) / m  # (B, M+1)
        else:  # the trainable second layer: T_k = Σ_{j,r} a_{j,r} σ(Z_{k,(j,r)})
            T = self.head @ val
        flat = (index + (np.arange(ZT.shape[0]) * ZT.shape[2])[:, None]).reshape(-1)
        f = np.take(T.reshape(-1), flat).reshape(ZT.shape[0], n, -1).sum(axis=-1)
        return f, val, grad

    def _make_kernel(self) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """A function ``Zᵀ -> (T, σ'(Zᵀ))`` writing into preallocated buffers.

        ``T[b, k] = (1/m) Σ_{j,r} j σ(Z[b, k, (j,r)])`` from :meth:`Activation.terms_and_grad`
        (``σ = Σ_k t_k / c_k``: each term is folded into ``T`` with the weights ``j / (m c_k)``); the
        derivative is returned without the sign ``j`` (the step applies it to each half).
        """
        act, m, shape = self.activation, self.m, self.ZT.shape
        s_m = self.s / m
        B, M1 = shape[0], shape[2]
        pair = np.empty((B, 4 * m, M1))  # two work buffers side by side: two terms folded in one product
        buffers = (pair[:, 2 * m:], pair[:, : 2 * m], np.empty(shape))
        T = np.empty((B, M1))
        weights: dict[float, np.ndarray] = {1.0: s_m}
        both: dict[tuple[float, float], np.ndarray] = {}

        def kernel(ZT: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            terms, grad = act.terms_and_grad(ZT, out=buffers)
            if len(terms) == 2 and terms[0][1] is buffers[1] and terms[1][1] is buffers[0]:
                key = (terms[0][0], terms[1][0])
                w2 = both.get(key)
                if w2 is None:
                    w2 = both[key] = np.concatenate([s_m / key[0], s_m / key[1]])
                np.matmul(w2, pair, out=T)
                return T, grad
            for k, (c, t) in enumerate(terms):
                w = weights.get(c)
                if w is None:
                    w = weights[c] = s_m / c
                if k == 0:
                    np.matmul(w, t, out=T)
                else:
                    np.add(T, w @ t, out=T)
            return T, grad
        return kernel

    def _make_update(self) -> Callable[[np.ndarray], None]:
        """``Z += G D`` in place. Runs sharing ``G`` (and a single run): one BLAS ``dgemm`` with
        ``beta = 1`` on the column-major ``(M+1, B·2m)`` view of the state, ``[Z_1 … Z_B] += G [D_1 … D_B]``
        (a single run is the case ``B = 1``); other batches: one stacked ``matmul``."""
        B, m, M1 = self.B, self.m, self.M + 1
        if self.shared_G or B == 1:
            GT = self.G[0].T  # Fortran-ordered view of the symmetric G: passed with trans_a
            Z_F = self.ZT.reshape(B * 2 * m, M1).T

            def wide(DT: np.ndarray) -> None:
                out = _dgemm(1.0, GT, DT.reshape(B * 2 * m, M1).T, 1.0, Z_F, trans_a=1, overwrite_c=1)
                if out is not Z_F and not np.shares_memory(out, Z_F):  # pragma: no cover - BLAS quirk
                    Z_F[...] = out
            return wide
        tmp = np.empty_like(self.ZT)
        GT = self.G.transpose(0, 2, 1)

        def update(DT: np.ndarray) -> None:
            np.matmul(DT, GT, out=tmp)
            self.ZT += tmp
        return update

    def _make_shared(self) -> tuple[Callable[[np.ndarray, np.ndarray, np.ndarray], None], Callable[[], None]]:
        """``(push, flush)`` for the rows whose distinct patch is shared by several samples.

        Row ``r`` (sample ``i``, distinct patch ``k``) moves at each step by
        ``j σ'(Z_{k,(j,r)}) · (-η g_i)``. ``push`` stores a step's signed derivatives at the ``U``
        distinct shared patches, ``A_t`` (2m, U), and ``E_t`` (U, S) holding ``-η g_i`` at ``(u(r), r)``
        (zeros elsewhere); ``flush`` adds ``Σ_t A_t E_t`` for the stored steps to ``Cs`` as one product
        ``[A_1 … A_L] [E_1; …; E_L]`` (so the per-step cost is ``O(2m U + S)``, not ``O(2m S)``).
        """
        B, m, M1 = self.B, self.m, self.M + 1
        S = self.srow.shape[1]
        ushared = [np.unique(sp) for sp in self.spatch]
        U = max(len(u) for u in ushared)
        upatch = np.full((B, U), self.M, dtype=np.int64)
        where = np.empty((B, S), dtype=np.int64)
        for b, u in enumerate(ushared):  # set-up only
            upatch[b, : len(u)] = u
            where[b] = np.searchsorted(u, self.spatch[b])
        rows = (np.arange(B)[:, None, None] * 2 * m + np.arange(2 * m)[None, :, None]) * M1
        flat_u = (rows + upatch[:, None, :]).reshape(-1)
        flat_e = ((np.arange(B)[:, None] * U + where) * S + np.arange(S)[None, :]).reshape(-1)
        flat_ssample = (self.ssample + (np.arange(B) * self.n)[:, None]).reshape(-1)
        L = max(1, min(64, (2**18) // max(1, B * U * (2 * m + S))))  # steps held (~2 MiB at most)
        HA = np.empty((L, B, 2 * m, U))  # unsigned σ' at the shared patches, per held step
        He = np.empty((L, B, S))  # -η g_i of each shared row, per held step
        E = np.zeros((L, B, U, S))  # He scattered to (u(r), r); the other entries stay 0
        flat_E = (np.arange(L)[:, None] * (B * U * S) + flat_e[None, :]).reshape(-1)
        held = [0]

        def push(grad: np.ndarray, g: np.ndarray, lr_s: np.ndarray) -> None:
            t = held[0]
            np.take(grad.reshape(-1), flat_u, out=HA[t].reshape(-1))
            np.multiply(np.take(g.reshape(-1), flat_ssample), lr_s, out=He[t].reshape(-1))
            held[0] = t + 1
            if t + 1 == L:
                flush()

        def flush() -> None:
            t = held[0]
            if t:
                E.reshape(-1)[flat_E[: t * B * S]] = He[:t].reshape(-1)
                A = HA[:t].transpose(1, 2, 0, 3).reshape(B, 2 * m, t * U)
                A[:, m:] *= -1.0
                self.CsT += A @ E[:t].transpose(1, 0, 2, 3).reshape(B, t * U, S)
                held[0] = 0
        return push, flush

    def advance(self, steps: int, lr: float | np.ndarray) -> np.ndarray:
        """``steps`` gradient steps; ``lr`` scalar or (B,).

        Returns the step (within this call) at which each run's outputs first became non-finite,
        ``-1`` for runs that stayed finite. A run that diverged keeps going on NaNs without touching
        the others.
        """
        if not self.variant.is_plain:
            return self._advance_variant(steps, float(np.asarray(lr).reshape(-1)[0]))
        B, n, P, m, M1 = self.B, self.n, self.P, self.m, self.M + 1
        neg_lr = -np.broadcast_to(np.asarray(lr, dtype=np.float64), (B,))
        if self._kernel is None:
            self._Zs = None if self.scales is None else np.empty_like(self.ZT)
            self._kernel, self._update = self._make_kernel(), self._make_update()
            self._push, self._flush = self._make_shared()
            self._flat_index = (self.index + (np.arange(B) * M1)[:, None]).reshape(-1)
        kernel: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] = self._kernel
        update, push, Zs, scales = self._update, self._push, self._Zs, self.scales
        flat_index, y = self._flat_index, self.y
        lr_s = np.repeat(neg_lr, self.srow.shape[1])
        hneg = np.empty((B, 1, M1))
        bad = np.full(B, -1, dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(steps):
                if scales is None:
                    T, grad = kernel(self.ZT)
                else:
                    assert Zs is not None
                    T, grad = kernel(np.multiply(self.ZT, scales[:, None, :], out=Zs))
                f = np.take(T.reshape(-1), flat_index).reshape(B, n, P).sum(axis=2)
                if not np.isfinite(f).all():
                    bad[(~np.isfinite(f).all(axis=1)) & (bad < 0)] = t
                g = logistic_loss_derivative(y * f) * y / (n * m)  # (B, n)
                h: np.ndarray = np.bincount(flat_index, weights=np.repeat(g, P, axis=1).reshape(-1),
                                            minlength=B * M1).reshape(B, 1, M1)
                h *= neg_lr[:, None, None]
                push(grad, g, lr_s)
                if scales is not None:
                    h *= scales[:, None, :]
                np.negative(h, out=hneg)
                DT = grad  # ΔĈ = -η j h_k σ'(Z) in place of σ'(Z), the sign j per half
                np.multiply(grad[:, :m], h, out=DT[:, :m])
                np.multiply(grad[:, m:], hneg, out=DT[:, m:])
                self.CdT += DT
                update(DT)
            self._flush()
        return bad

    # ---------------------------------------------------------------- records
    def losses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Train loss and accuracy (B,), test loss and accuracy (B,) or None."""
        with np.errstate(over="ignore", invalid="ignore"):
            ZT = self.ZT if self.scales is None else self.ZT * self.scales[:, None, :]
            f = self._outputs(ZT, self.index, self.n)[0]
            loss = logistic_loss(self.y * f).mean(axis=1)
            acc = (self.y * f > 0).mean(axis=1)
            if not self.has_test:
                return loss, acc, None, None
            tZ0T = self.tZ0.transpose(0, 2, 1)
            if self.init_scale != 1.0:
                tZ0T = self.init_scale * tZ0T
            ZtT = tZ0T + np.matmul(self.CdT, self.tG.transpose(0, 2, 1))
            if self.test_scales is not None:
                ZtT *= self.test_scales[:, None, :]
            ft = self._outputs(ZtT, self.tindex, self.ty.shape[1])[0]
            return loss, acc, logistic_loss(self.ty * ft).mean(axis=1), (self.ty * ft > 0).mean(axis=1)

    def filter_grams(self) -> tuple[np.ndarray, np.ndarray]:
        """``W Wᵀ`` and ``(W - W0)(W - W0)ᵀ``, each (B, 2m, 2m), from ``2m``- and ``M``-sized products
        (in the problems' coordinates: ``Ĉ'ᵀ G Ĉ' = Ĉᵀ G_b Ĉ`` with row scales)."""
        CdT = self.CdT[:, :, :-1]
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged run of a batch gives inf/nan
            learned = (CdT @ self.G[:, :-1, :-1]) @ CdT.transpose(0, 2, 1)
            learned = 0.5 * (learned + learned.transpose(0, 2, 1))
            cross = CdT @ self.Z0[:, :-1]
            if self.init_scale != 1.0:  # W = s W0 + Ĉᵀ X̂ (weight decay)
                s = self.init_scale
                return (s * s) * self.WW0 + s * (cross + cross.transpose(0, 2, 1)) + learned, learned
            return self.WW0 + cross + cross.transpose(0, 2, 1) + learned, learned

    def coefficients(self) -> np.ndarray:
        """Patch coefficients ``c_{j,r,i,p}``, shape (B, 2, m, n, P)."""
        B, n, P, m = self.B, self.n, self.P, self.m
        CdT = self.CdT if self.scales is None else self.CdT / self.scales[:, None, :]
        C = np.empty((B, 2 * m, n * P + 1))
        C[:, :, :-1] = np.take_along_axis(CdT, self.index[:, None, :], axis=2)
        np.put_along_axis(C, np.broadcast_to(self.srow[:, None, :], self.CsT.shape), self.CsT, axis=2)
        return C[:, :, :-1].reshape(B, 2, m, n, P)
