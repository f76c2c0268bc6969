r"""The Gram engine's training variants (docs/theory.md, "Training variants"): a trainable second layer,
minibatch SGD and weight decay, for one coefficient-space gradient descent.

:class:`GramVariants` is the base of :class:`~cnnrank.engines.gram_core.GramCore` that holds the
variants' set-up and step; it reads and updates the state :class:`~cnnrank.engines.gram_core.GramCore`
builds (the attributes declared below).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg.blas import dgemm as _dgemm

from cnnrank.activations import Activation
from cnnrank.engines.base import BatchSchedule, DecayScale, TrainingVariant
from cnnrank.network import filter_signs, logistic_loss_derivative

__all__ = ["GramVariants"]


class GramVariants:
    """The training variants of :class:`~cnnrank.engines.gram_core.GramCore` (one run, ``B = 1``)."""

    # the state of GramCore these methods use (set in GramCore.__init__ and by set_variant)
    activation: Activation
    B: int
    M: int
    m: int
    n: int
    P: int
    G: np.ndarray
    index: np.ndarray
    y: np.ndarray
    scales: np.ndarray | None
    ZT: np.ndarray
    CdT: np.ndarray
    CsT: np.ndarray
    srow: np.ndarray
    spatch: np.ndarray
    ssample: np.ndarray
    variant: TrainingVariant
    head: np.ndarray | None
    init_scale: float
    _decay: DecayScale
    schedule: BatchSchedule | None
    _a_fixed: np.ndarray
    _vpush: Callable[[np.ndarray, np.ndarray, float, float], None]
    _vflush: Callable[[], None]
    _vupatch: np.ndarray

    # ---------------------------------------------------------------- training variants
    def set_variant(self, variant: TrainingVariant) -> None:
        r"""Train with the exact variants of docs/theory.md ("Training variants"): a trainable second layer
        ``a`` (2m,), minibatch SGD, weight decay ``λ``. One run, without row scales (``B = 1``).

        The state becomes ``W = s W_0 + Ĉᵀ X̂`` with ``s = (1 - ηλ)^t``, so ``Z = s Z_0 + G Ĉ``, and a step
        on the batch's distinct patches ``U`` (all of them for full batch), with ``q = 1 - ηλ`` and
        ``g_i = ℓ'(y_i f_i) y_i / |B|`` for ``i`` in the batch,

        .. math::
            h_k = \sum_{(i,p) \in B:\, k(i,p) = k} g_i,\quad
            \Delta\hat C_{k,(j,r)} = -\eta\, a_{j,r} h_k σ'(Z_{k,(j,r)}),\quad
            \hat C \leftarrow q \hat C + \Delta\hat C,\quad
            Z \leftarrow q Z + G_{:,U} \Delta\hat C_U,\quad
            a \leftarrow q a - η \sum_k h_k σ(Z_{k,:}),

        one ``(M, |U|) × (|U|, 2m)`` product (``dgemm`` with ``beta = q``) and elementwise work on the
        batch's ``(|U|, 2m)`` pre-activations only.
        """
        if not isinstance(variant, TrainingVariant):
            raise TypeError(f"variant={type(variant).__name__} is invalid: must be a TrainingVariant")
        if variant.plain_for(self.n):
            return
        if self.B != 1 or self.scales is not None:
            raise ValueError(f"variant={variant!r:.80} is invalid for a batch of {self.B} runs or row scales: the "
                             "training variants run one at a time")
        self.variant = variant
        m = self.m
        if variant.head_scale is not None:
            self.head = filter_signs(m) * float(variant.head_scale)
        self._a_fixed = filter_signs(m) / m
        if variant.minibatch(self.n):
            self.schedule = BatchSchedule(self.n, variant.batch_size, variant.batch_rng)  # type: ignore[arg-type]
        self._make_variant_shared()

    def _make_variant_shared(self) -> None:
        """``(push, flush)`` of the training variants for the rows whose distinct patch is shared.

        Row ``r`` (sample ``i``, distinct patch ``k``) moves at step ``t`` by ``-η g_i(t) a_{j,r}(t)
        σ'(Z_{k,(j,r)}(t))`` (``g_i = 0`` outside the batch) and decays by ``q``. ``push`` keeps a step's
        ``A_t = a ∘ σ'`` at the ``U`` distinct shared patches (2m, U) and ``-η g_i`` of each shared row;
        ``flush`` adds them for the ``L`` steps held as one product, ``Cs ← q^L Cs + Σ_t A_t E_t q^{L-1-t}``
        (``E_t`` (U, S) holding the row's ``-η g_i`` at ``(u(r), r)``), so a step costs ``O(2m U + S)``.
        """
        m, S = self.m, self.srow.shape[1]
        upatch = np.unique(self.spatch[0])
        U = upatch.size
        where = np.searchsorted(upatch, self.spatch[0])
        L = max(1, min(64, (2**18) // max(1, U * (2 * m + S))))
        HA = np.empty((L, 2 * m, U))
        He = np.empty((L, S))
        E = np.zeros((L, U, S))
        flat_E = (np.arange(L)[:, None] * (U * S) + (where * S + np.arange(S))[None, :]).reshape(-1)
        ssample = self.ssample[0]
        held, factor = [0], [1.0]  # steps held, and their decay factor q
        CsT = self.CsT[0]  # a view: updated in place

        def push(A: np.ndarray, g_full: np.ndarray, lr: float, q: float) -> None:
            t = held[0]
            if t and q != factor[0]:
                flush()
                t = 0
            factor[0] = q
            HA[t] = A
            np.multiply(np.take(g_full, ssample), -lr, out=He[t])
            held[0] = t + 1
            if t + 1 == L:
                flush()

        def flush() -> None:
            t, q = held[0], factor[0]
            if not t:
                return
            if q != 1.0:  # the step k of t held decays t - 1 - k more times; the older coefficients t times
                He[:t] *= (q ** np.arange(t - 1, -1, -1.0))[:, None]
                np.multiply(CsT, q ** t, out=CsT)
            E.reshape(-1)[flat_E[: t * S]] = He[:t].reshape(-1)
            np.add(CsT, HA[:t].transpose(1, 0, 2).reshape(2 * m, t * U) @ E[:t].reshape(t * U, S), out=CsT)
            held[0] = 0

        self._vpush, self._vflush, self._vupatch = push, flush, upatch

    def _advance_variant(self, steps: int, lr: float) -> np.ndarray:
        """:meth:`advance` for the training variants (:meth:`set_variant`); ``B = 1``."""
        v, act, n, P = self.variant, self.activation, self.n, self.P
        q = v.decay_factor(lr)
        ZT, CdT = self.ZT[0], self.CdT[0]
        Z_F = ZT.T  # (M+1, 2m), Fortran-ordered view of the state
        G = self.G[0]
        GT = G.T  # Fortran-ordered: no copy in the product
        M1 = G.shape[0]
        index, y = self.index[0], self.y[0]
        push, upatch, shared = self._vpush, self._vupatch, self.srow.shape[1] > 0
        offsets = np.arange(P)
        mask = np.zeros(M1, dtype=bool)
        g_full = np.zeros(n)
        bad = np.full(1, -1, dtype=np.int64)
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(steps):
                a = self._a_fixed if self.head is None else self.head
                if self.schedule is None:  # every distinct patch
                    idx = u = None
                    Zu, inv, yb = ZT, index, y
                else:
                    idx = self.schedule.next()
                    bidx = index[(idx[:, None] * P + offsets).reshape(-1)]
                    mask[bidx] = True
                    u = np.flatnonzero(mask)  # the batch's distinct patches, in order
                    inv = (np.cumsum(mask) - 1)[bidx]
                    mask[u] = False
                    Zu, yb = np.take(ZT, u, axis=1), y[idx]
                b = yb.shape[0]
                val, grad = act.value_and_grad(Zu)
                T = a @ val
                f = T[inv].reshape(b, P).sum(axis=1)
                if bad[0] < 0 and not np.isfinite(f).all():
                    bad[0] = t
                g = logistic_loss_derivative(yb * f) * yb / b
                h = np.bincount(inv, weights=np.repeat(g, P), minlength=Zu.shape[1])
                neg_a = -lr * a
                if shared:
                    if idx is None:
                        A, g_full = grad[:, upatch] * a[:, None], g
                    else:
                        A = act.grad(np.take(ZT, upatch, axis=1)) * a[:, None]
                        g_full[:] = 0.0
                        g_full[idx] = g
                    push(A, g_full, lr, q)
                DT = grad
                DT *= neg_a[:, None]
                DT *= h
                if self.head is not None:
                    grad_a = val @ h
                    if q != 1.0:
                        self.head *= q
                    self.head -= lr * grad_a
                if q != 1.0:
                    CdT *= q
                if u is None:
                    CdT += DT
                    out = _dgemm(1.0, GT, DT.T, q, Z_F, trans_a=1, overwrite_c=1)
                else:
                    CdT[:, u] += DT
                    out = _dgemm(1.0, np.take(G, u, axis=0).T, DT.T, q, Z_F, overwrite_c=1)
                if out is not Z_F and not np.shares_memory(out, Z_F):  # pragma: no cover - BLAS quirk
                    Z_F[...] = out
            self._vflush()
            self.init_scale = self._decay.advance(q, steps)
        return bad
