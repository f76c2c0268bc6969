"""The feature-space engine: gradient descent on ``W`` with the patches as an ``(nP, d)`` matrix.

One product forward (``Z = X W^T``, ``(nP, 2m)``), one backward (``grad = A^T X``). The per-patch
weights ``A`` are the patch-coefficient increments of docs/theory.md §3 (``c ← c - η A``), so the
coefficients are accumulated from the gradient's own weights at the cost of one ``(nP, 2m)`` update.
Cost per step: ``≈ 4 · nP · d · 2m`` flops.
"""

from __future__ import annotations

import numpy as np

from cnnrank.activations import Activation
from cnnrank.data import PatchData
from cnnrank.engines.base import Diverged, Engine, Snapshot, accuracy, check_finite, scale_safe_stable_rank
from cnnrank.network import forward_flat, logistic_loss, patch_gradient_weights


class FeatureEngine(Engine):
    """Gradient descent in feature space (``W`` explicit), tracking the patch coefficients."""

    name = "feature"

    def __init__(self, W0: np.ndarray, data: PatchData, activation: Activation,
                 test: PatchData | None = None) -> None:
        super().__init__(W0, data, activation, test)
        n, P, d = data.X.shape
        self.n, self.P, self.d = n, P, d
        self.X = data.X.reshape(n * P, d)
        self.y = data.y
        self._W0flat = np.array(W0, dtype=np.float64).reshape(2 * self.m, d)
        self.W = self._W0flat.copy()
        self.C = np.zeros((n * P, 2 * self.m))  # coefficients, layout (i p, j r)
        self._Xtest = None if test is None else test.X.reshape(-1, d)

    @staticmethod
    def cost_per_step(n: int, P: int, d: int, m: int, distinct: int) -> float:
        return 4.0 * n * P * d * 2 * m

    def advance(self, steps: int, lr: float) -> None:
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

    def snapshot(self) -> Snapshot:
        with np.errstate(over="ignore", invalid="ignore"):
            _, f = forward_flat(self.W, self.X, self.n, self.activation)
            check_finite(f, 0)
            test_loss = test_acc = None
            if self.test is not None:
                assert self._Xtest is not None
                _, ft = forward_flat(self.W, self._Xtest, self.test.n, self.activation)
                check_finite(ft, 0)
                test_loss = float(np.mean(logistic_loss(self.test.y * ft)))
                test_acc = accuracy(ft, self.test.y)
            dW = self.W - self._W0flat
            snap = Snapshot(
                train_loss=float(np.mean(logistic_loss(self.y * f))),
                train_acc=accuracy(f, self.y),
                test_loss=test_loss,
                test_acc=test_acc,
                coef=self.C.T.reshape(2, self.m, self.n, self.P).copy(),
                filter_gram=self.W @ self.W.T,
                learned_gram=dW @ dW.T,
            )
        if not snap.is_finite():  # e.g. filters of scale 1e200: finite outputs, W Wᵀ overflows
            raise Diverged(0)
        snap.filter_stable_rank = scale_safe_stable_rank(snap.filter_gram, lambda: self.W)
        snap.learned_stable_rank = scale_safe_stable_rank(snap.learned_gram, lambda: dW)
        return snap

    def weights(self) -> np.ndarray:
        return self.W.reshape(2, self.m, self.d).copy()
