r"""The engine of sign descent and Adam: updates that leave the span of the patches (vectors only).

Gradient descent keeps ``W(t) - W(0)`` in the span of the training patches, which is what the patch
coefficients and the Gram engines rest on (docs/theory.md §3). Sign descent and Adam do not: the
update ``sign(∇L)`` or ``m̂ / (√v̂ + ε)`` is an entrywise function of the gradient, so this engine
keeps the filters ``W`` (2m, d) explicit, as the feature engine does, and records no patch
coefficients (docs/theory.md, "Sign descent and Adam"). For every trained parameter ``θ`` (the
filters ``W`` and, with a trainable head, the second layer ``a`` (2m,), class sign included), with
gradient ``g = ∇_θ L_{B_t}`` of the mean logistic loss on the batch ``B_t`` of step ``t = 1, 2, …``
(the whole training set, or a minibatch of SGD's schedule):

.. math::
    \text{gd: } u = g,\qquad \text{sign: } u = \operatorname{sign}(g),\qquad
    \text{adam: } \begin{cases} m \leftarrow \beta_1 m + (1-\beta_1) g,\quad v \leftarrow \beta_2 v + (1-\beta_2) g^2\\
    u = \dfrac{m / (1-\beta_1^t)}{\sqrt{v} / \sqrt{1-\beta_2^t} + \varepsilon}
    = \dfrac{\hat m}{\sqrt{\hat v} + \varepsilon}\end{cases}

and ``θ ← θ − η λ θ − η u`` (weight decay ``λ`` decoupled, as AdamW: it is not fed through the
moments). ``sign(0) = 0``. Adam's update is evaluated in PyTorch's order (``torch.optim.Adam``):
``θ ← θ − (η / (1 − β_1^t)) · m / (√v / √(1 − β_2^t) + ε)``. Each parameter has its own moments.

With a :class:`~cnnrank.engines.base.TrainingVariant` the engine composes these updates with the
exact variants' minibatches and trainable head (docs/theory.md, "Training variants"): the batches are
those of :class:`~cnnrank.engines.base.BatchSchedule` on ``variant.batch_rng`` (the same stream, so the
same batches as gradient descent on the same seed), a step touches only the batch's ``|B| P`` patch
rows, and the head ``a(0) = j a0`` is updated by the same optimizer and decay as ``W``, with
``∇_a L_B = Σ_{i∈B} g_i Σ_p σ(⟨w_{j,r}, x_i^(p)⟩)`` (:func:`cnnrank.network.head_loss_and_grad`).
Records are of the whole training (and test) set.

The learned part is ``Δ = W(t) − s(t) W(0)`` with ``s(t) = (1 − ηλ)^t`` (``Δ = W − W(0)`` without weight
decay): ``W(t) = s(t) W(0) − η Σ_τ (1 − ηλ)^{t−1−τ} u_τ``, what the updates put in, as for gradient
descent with weight decay. At each record the engine reports, besides the losses and the filter Gram
matrices, ``Δ Δᵀ`` and the inner products of ``Δ`` with the signals and the background patches of the
training set (``Δ Vᵀ``, ``V = [μ_1 … μ_2K, ξ_{1,1} …]``), from which
:func:`cnnrank.trajectory.direct.assemble_direct` derives γ, ρ and the learned-subspace diagnostics.
With ``optimizer="gd"`` the engine takes the feature engine's steps: the trajectory's diagnostics then
agree with the coefficient path (the check of the direct formulas), and with minibatches and a
trainable head the exact variants' SGD of the feature engine. Cost per step ``≈ 8 nP d m`` flops, as
the feature engine (``8 |B| P d m`` on a minibatch ``B``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnrank._validation import check_choice, check_real
from cnnrank.activations import Activation
from cnnrank.data import PatchData
from cnnrank.engines.base import (
    BatchSchedule,
    Diverged,
    Engine,
    Snapshot,
    TrainingVariant,
    check_finite,
    fit_record,
    scale_safe_stable_rank,
)
from cnnrank.network import (
    filter_signs,
    forward_flat,
    logistic_loss,
    logistic_loss_derivative,
    patch_gradient_weights,
)

__all__ = ["OPTIMIZERS", "AdaptiveEngine", "DirectSnapshot"]

#: the optimizers of :class:`AdaptiveEngine` (``"gd"``: the W-direct path of gradient descent)
OPTIMIZERS = ("gd", "sign", "adam")


@dataclass
class DirectSnapshot(Snapshot):
    """A :class:`~cnnrank.engines.base.Snapshot` without patch coefficients (``coef`` has shape
    (2, m, 0, 0)), with what the W-direct diagnostics need.

    Attributes
    ----------
    learned_inner : ndarray, shape (2m, 2K + n (P-1)), or None
        ``⟨Δ_{j,r}, v⟩`` for ``v`` the signals ``μ_k`` then the training background patches
        ``ξ_{i,p}`` in the order of :attr:`PatchData.noise` (``None`` for data without signals).
    init_scale : float
        ``s(t) = (1 − ηλ)^t``, the share of ``W(0)`` left under weight decay (1 without).
    weights : ndarray, shape (2, m, d), or None
        The filters at the record; the engine keeps them on its latest snapshot only (the filters of a
        run cut short by a blow-up), so a run holds one copy of ``W`` however many records it has.
    """

    learned_inner: np.ndarray | None = None
    init_scale: float = 1.0
    weights: np.ndarray | None = None

    def is_finite(self) -> bool:
        return super().is_finite() and (self.learned_inner is None or bool(np.all(np.isfinite(self.learned_inner))))


class AdaptiveEngine(Engine):
    """Sign descent or Adam (or, as a check, gradient descent) on explicit filters ``W`` (2, m, d).

    Parameters
    ----------
    W0 : ndarray, shape (2, m, d)
    data : PatchData
    activation : Activation
    test : PatchData, optional
    optimizer : {"gd", "sign", "adam"}
    beta1, beta2 : float
        Adam's decay rates in ``[0, 1)``.
    eps : float
        Adam's ``ε > 0``.
    weight_decay : float
        Decoupled weight decay ``λ >= 0``: ``θ ← θ − η λ θ − η u``.
    variant : TrainingVariant, optional
        Minibatches (``batch_size``, ``batch_rng``) and a trainable head (``head_scale`` = ``a0``); its
        ``weight_decay``, if not 0, must equal ``weight_decay`` when that is not 0 (the decay is the
        one that is set). ``None``: full batch, fixed head ``a = j/m``.

    Attributes
    ----------
    params : list of ndarray
        The trained parameters in order: ``W`` (2m, d), then ``a`` (2m,) with a trainable head.
    schedule : BatchSchedule or None
        The minibatches (``None``: full batch).

    Not registered in :data:`cnnrank.engines.ENGINES` (that table is of the gradient-descent engines
    ``engine=`` names); its trajectories carry ``engine="feature"`` (the same vectors and step cost) and
    ``metadata["optimizer"]``.
    """

    name = "feature"

    def __init__(self, W0: np.ndarray, data: PatchData, activation: Activation, test: PatchData | None = None,
                 optimizer: str = "adam", beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0, variant: TrainingVariant | None = None) -> None:
        super().__init__(W0, data, activation, test, variant=variant)
        self.optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
        self.beta1 = check_real("adam_beta1", beta1, minimum=0.0, below=1.0)
        self.beta2 = check_real("adam_beta2", beta2, minimum=0.0, below=1.0)
        self.eps = check_real("adam_eps", eps, positive=True)
        self.weight_decay = check_real("weight_decay", weight_decay, nonnegative=True)
        v = self.variant
        if v.weight_decay and self.weight_decay and v.weight_decay != self.weight_decay:
            raise ValueError(f"weight_decay={self.weight_decay!r} is invalid with variant.weight_decay="
                             f"{v.weight_decay!r}: give the decay once (or the same value twice)")
        self.weight_decay = self.weight_decay or v.weight_decay
        n, P, d = data.X.shape
        self.n, self.P, self.d = n, P, d
        self.X = data.X.reshape(n * P, d)
        self.y = data.y
        self._W0flat = np.array(W0, dtype=np.float64).reshape(2 * self.m, d)
        self.W = self._W0flat.copy()
        self.train_head = v.head_scale is not None
        # the second layer with its class sign (2m,): a(0) = j a0 (trainable), or the fixed j/m
        self.a = filter_signs(self.m) * (1.0 / self.m if v.head_scale is None else v.head_scale)
        self.schedule = BatchSchedule(n, v.batch_size, v.batch_rng) if v.minibatch(n) else None  # type: ignore[arg-type]
        # fixed head on the full batch: the W-only path of forward_flat (bit for bit as before the variants)
        self._plain = not self.train_head and self.schedule is None
        self.params: list[np.ndarray] = [self.W, self.a] if self.train_head else [self.W]
        self._m1 = [np.zeros_like(p) for p in self.params]
        self._m2 = [np.zeros_like(p) for p in self.params]
        self.t = 0  # steps taken (Adam's bias correction)
        self.init_scale = 1.0  # s(t) = (1 - ηλ)^t: what is left of W(0) under weight decay
        self._Xtest = None if test is None else test.X.reshape(-1, d)
        self._last: DirectSnapshot | None = None
        self._V = None  # the signals and background patches the learned part is projected on
        if data.has_decomposition:
            assert data.signals is not None
            self._V = np.vstack([data.signals, data.noise.reshape(-1, d)])

    @staticmethod
    def cost_per_step(n: int, P: int, d: int, m: int, distinct: int) -> float:
        return 4.0 * n * P * d * 2 * m

    def gradients(self, batch: np.ndarray | None = None) -> tuple[float, np.ndarray, list[np.ndarray]]:
        """Loss, outputs ``f`` and the gradient of each parameter of :attr:`params` (``∇_W L_B`` (2m, d),
        then ``∇_a L_B`` (2m,) with a trainable head) on the samples ``batch`` (sorted indices; ``None``:
        all ``n``); ``f`` and the loss are of those samples."""
        if self._plain and batch is None:
            Z, f = forward_flat(self.W, self.X, self.n, self.activation)
            loss, A = patch_gradient_weights(Z, f, self.y, self.activation)
            return loss, f, [A.T @ self.X]
        P = self.P
        if batch is None:
            Xb, yb = self.X, self.y
        else:  # the batch's |B| P patch rows only
            Xb = self.X[(batch[:, None] * P + np.arange(P)).reshape(-1)]
            yb = self.y[batch]
        b = yb.shape[0]
        val, grad = self.activation.value_and_grad(Xb @ self.W.T)  # (bP, 2m)
        S = val.reshape(b, P, -1).sum(axis=1)  # (b, 2m)
        f = S @ self.a
        loss = float(np.mean(logistic_loss(yb * f)))
        g = logistic_loss_derivative(yb * f) * yb / b
        A = grad
        A *= np.repeat(g, P)[:, None]
        A *= self.a
        grads = [A.T @ Xb]
        if self.train_head:
            grads.append(g @ S)
        return loss, f, grads

    def _update(self, k: int, g: np.ndarray) -> np.ndarray:
        """The update ``u`` of parameter ``k`` from its gradient ``g`` (moments advanced for Adam)."""
        if self.optimizer == "gd":
            return g
        if self.optimizer == "sign":
            return np.sign(g)
        b1, b2, t = self.beta1, self.beta2, self.t
        m1, m2 = self._m1[k], self._m2[k]
        m1 *= b1
        m1 += (1.0 - b1) * g
        m2 *= b2
        m2 += (1.0 - b2) * (g * g)
        bc1, bc2 = 1.0 - b1**t, 1.0 - b2**t
        denom = np.sqrt(m2) / np.sqrt(bc2) + self.eps
        return (m1 / denom) / bc1

    def advance(self, steps: int, lr: float) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            for s in range(steps):
                _, f, grads = self.gradients(None if self.schedule is None else self.schedule.next())
                check_finite(f, s, lr)
                self.t += 1
                self.init_scale *= 1.0 - lr * self.weight_decay
                for k, (p, g) in enumerate(zip(self.params, grads)):
                    u = self._update(k, g)
                    if self.weight_decay:
                        p -= (lr * self.weight_decay) * p
                    p -= lr * u
            if steps and not all(np.all(np.isfinite(p)) for p in self.params):
                raise Diverged(steps, lr)

    def _outputs(self, X: np.ndarray, n: int) -> np.ndarray:
        """Outputs ``f`` (n,) on the flat patches ``X`` (nP, d)."""
        if not self.train_head:
            return forward_flat(self.W, X, n, self.activation)[1]
        return self.activation(X @ self.W.T).reshape(n, self.P, -1).sum(axis=1) @ self.a

    def snapshot(self) -> DirectSnapshot:
        with np.errstate(over="ignore", invalid="ignore"):
            train_loss, train_acc, test_loss, test_acc = fit_record(self._outputs, self.X, self.y, self.n,
                                                                    self._Xtest, self.test)
            dW = self.W - self.init_scale * self._W0flat if self.weight_decay else self.W - self._W0flat
            snap = DirectSnapshot(
                train_loss=train_loss,
                train_acc=train_acc,
                test_loss=test_loss,
                test_acc=test_acc,
                coef=np.zeros((2, self.m, 0, 0)),
                filter_gram=self.W @ self.W.T,
                learned_gram=dW @ dW.T,
                learned_inner=None if self._V is None else dW @ self._V.T,
                init_scale=self.init_scale,
                head_weights=self.a.reshape(2, self.m).copy() if self.train_head else None,
                weights=self.weights(),
            )
        if not snap.is_finite():
            raise Diverged(0)
        if self._last is not None:
            self._last.weights = None  # only the latest record keeps its filters
        self._last = snap
        snap.filter_stable_rank = scale_safe_stable_rank(snap.filter_gram, lambda: self.W)
        snap.learned_stable_rank = scale_safe_stable_rank(snap.learned_gram, lambda: dW)
        return snap

    def weights(self) -> np.ndarray:
        return self.W.reshape(2, self.m, self.d).copy()
