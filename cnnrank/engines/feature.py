"""The feature-space engine: gradient descent on ``W`` with the patches as an ``(nP, d)`` matrix.

One product forward (``Z = X W^T``, ``(nP, 2m)``), one backward (``grad = A^T X``). The per-patch
weights ``A`` are the patch-coefficient increments of docs/theory.md §3 (``c ← c - η A``), so the
coefficients are accumulated from the gradient's own weights at the cost of one ``(nP, 2m)`` update.
Cost per step: ``≈ 4 · nP · d · 2m`` flops.

With a :class:`~cnnrank.engines.base.TrainingVariant` (docs/theory.md, "Training variants") a step on the
batch ``B`` (its ``|B| P`` patch rows only) is ``W ← q W - η A_Bᵀ X_B``, ``c ← q c - η A_B`` (zero outside
the batch), ``a ← q a - η ∇_a L_B`` with ``q = 1 - ηλ``, and ``s ← q s``.
"""

from __future__ import annotations

import numpy as np

from cnnrank.activations import Activation
from cnnrank.data import PatchData
from cnnrank.engines.base import (
    BatchSchedule,
    DecayScale,
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
    logistic_loss_derivative,
    patch_gradient_weights,
)


class FeatureEngine(Engine):
    """Gradient descent in feature space (``W`` explicit), tracking the patch coefficients."""

    name = "feature"

    def __init__(self, W0: np.ndarray, data: PatchData, activation: Activation,
                 test: PatchData | None = None, variant: TrainingVariant | None = None) -> None:
        super().__init__(W0, data, activation, test, variant)
        n, P, d = data.X.shape
        self.n, self.P, self.d = n, P, d
        self.X = data.X.reshape(n * P, d)
        self.y = data.y
        self._W0flat = np.array(W0, dtype=np.float64).reshape(2 * self.m, d)
        self.W = self._W0flat.copy()
        self.C = np.zeros((n * P, 2 * self.m))  # coefficients, layout (i p, j r)
        self._Xtest = None if test is None else test.X.reshape(-1, d)
        v = self.variant
        self._plain = v.plain_for(n)
        # the second layer with its class sign (2m,): a(0) = j a0, or the fixed j/m
        self.a = filter_signs(self.m) * (1.0 / self.m if v.head_scale is None else v.head_scale)
        self.steps_done = 0
        self.scale_power = 1.0  # s(t) = (1 - ηλ)^t
        self._decay = DecayScale()
        self.schedule = BatchSchedule(n, v.batch_size, v.batch_rng) if v.minibatch(n) else None  # type: ignore[arg-type]

    @staticmethod
    def cost_per_step(n: int, P: int, d: int, m: int, distinct: int) -> float:
        return 4.0 * n * P * d * 2 * m

    def advance(self, steps: int, lr: float) -> None:
        if not self._plain:
            self._advance_variant(steps, lr)
            return
        X, y, act, n = self.X, self.y, self.activation, self.n
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(steps):
                Z, f = forward_flat(self.W, X, n, act)
                check_finite(f, t, lr)
                _, A = patch_gradient_weights(Z, f, y, act)
                self.W -= lr * (A.T @ X)
                self.C -= lr * A
            if steps and not np.all(np.isfinite(self.W)):
                raise Diverged(steps, lr)

    def _advance_variant(self, steps: int, lr: float) -> None:
        """Steps of the training variants (docs/theory.md, "Training variants"), on the batch's rows."""
        v, P, act = self.variant, self.P, self.activation
        q = v.decay_factor(lr)
        train_head = v.head_scale is not None
        offsets = np.arange(P)
        with np.errstate(over="ignore", invalid="ignore"):
            for t in range(steps):
                if self.schedule is None:
                    Xb, yb, rows = self.X, self.y, None
                else:
                    idx = self.schedule.next()
                    rows = (idx[:, None] * P + offsets).reshape(-1)
                    Xb, yb = self.X[rows], self.y[idx]
                b = yb.shape[0]
                Z = Xb @ self.W.T
                val, grad = act.value_and_grad(Z)
                S = val.reshape(b, P, -1).sum(axis=1)  # (b, 2m)
                f = S @ self.a
                check_finite(f, t, lr)
                g = logistic_loss_derivative(yb * f) * yb / b
                A = grad
                A *= np.repeat(g, P)[:, None]
                A *= self.a
                if q != 1.0:
                    self.W *= q
                    self.C *= q
                self.W -= lr * (A.T @ Xb)
                if rows is None:
                    self.C -= lr * A
                else:
                    self.C[rows] -= lr * A
                if train_head:
                    grad_a = g @ S
                    if q != 1.0:
                        self.a *= q
                    self.a -= lr * grad_a
                self.steps_done += 1
            self.scale_power = self._decay.advance(q, steps)
            if steps and not (np.all(np.isfinite(self.W)) and np.all(np.isfinite(self.a))):
                raise Diverged(steps, lr)

    def _outputs(self, X: np.ndarray, n: int) -> np.ndarray:
        if self._plain:
            return forward_flat(self.W, X, n, self.activation)[1]
        val = self.activation(X @ self.W.T)
        return val.reshape(n, self.P, -1).sum(axis=1) @ self.a

    def snapshot(self) -> Snapshot:
        with np.errstate(over="ignore", invalid="ignore"):
            train_loss, train_acc, test_loss, test_acc = fit_record(self._outputs, self.X, self.y, self.n,
                                                                    self._Xtest, self.test)
            dW = self.W - self._W0flat if self.variant.weight_decay == 0.0 else self.W - self.scale_power * self._W0flat
            snap = Snapshot(
                train_loss=train_loss,
                train_acc=train_acc,
                test_loss=test_loss,
                test_acc=test_acc,
                coef=self.C.T.reshape(2, self.m, self.n, self.P).copy(),
                filter_gram=self.W @ self.W.T,
                learned_gram=dW @ dW.T,
                init_scale=None if self.variant.weight_decay == 0.0 else self.scale_power,
                head_weights=None if self.variant.head_scale is None else self.a.reshape(2, self.m).copy(),
            )
        if not snap.is_finite():  # e.g. filters of scale 1e200: finite outputs, W Wᵀ overflows
            raise Diverged(0)
        snap.filter_stable_rank = scale_safe_stable_rank(snap.filter_gram, lambda: self.W)
        snap.learned_stable_rank = scale_safe_stable_rank(snap.learned_gram, lambda: dW)
        return snap

    def weights(self) -> np.ndarray:
        return self.W.reshape(2, self.m, self.d).copy()
