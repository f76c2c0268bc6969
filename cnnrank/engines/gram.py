r"""The Gram engine: gradient descent on the patch coefficients (docs/theory.md §3), independent of ``d``.

Every gradient is a combination of training patches, so ``W(t) = W(0) + Σ_k Ĉ_{k,(j,r)} x̂_k`` over the
``M`` *distinct* non-zero training patches ``x̂_k`` (a signal vector shared by many samples is one
column; zero patches are dropped: they never move a filter and contribute ``σ(0) = 0``). With

* ``G = X̂ X̂ᵀ`` (M, M), the Gram matrix of the distinct patches, and
* ``Z0 = X̂ W(0)ᵀ`` (M, 2m), the initial pre-activations,

both computed once, the pre-activations are ``Z = Z0 + G Ĉ`` and one step of size ``η`` is

.. math::
    f_i = \frac1m \sum_p \sum_{j,r} j\,\sigma(Z_{k(i,p),(j,r)}),\qquad
    g_i = \frac{\ell'(y_i f_i)\, y_i}{n m},\qquad h_k = \sum_{(i,p):\,k(i,p)=k} g_i,

.. math::
    \Delta\hat C_{k,(j,r)} = -\eta\, j\, h_k\, \sigma'(Z_{k,(j,r)}),\qquad
    \hat C \leftarrow \hat C + \Delta\hat C,\qquad Z \leftarrow Z + G\,\Delta\hat C .

One ``(M, M) × (M, 2m)`` product per step: ``4 M² m`` flops against the feature engine's
``8 nP d m``. The per-sample-patch coefficients ``c_{j,r,i,p}`` of docs/theory.md §3 equal ``Ĉ_k`` for a
patch that occurs once; for a patch shared by several samples they differ by sample (``g_i`` differs)
and are accumulated separately, only for those rows.

At a record the filter Gram matrices come from ``2m × 2m`` and ``M``-sized products only:

.. math::
    W Wᵀ = W_0 W_0ᵀ + \hat Cᵀ Z_0 + Z_0ᵀ \hat C + \hat Cᵀ G \hat C,\qquad
    (W - W_0)(W - W_0)ᵀ = \hat Cᵀ G \hat C,

and test outputs from the cross-Gram ``G_t = X̂_t X̂ᵀ`` with the distinct test patches:
``Z_t = Z_{t,0} + G_t Ĉ``. Weights are rebuilt on request, ``W = W_0 + Ĉᵀ X̂`` (the only ``d``-sized
work after the set-up).

:class:`GramCore` runs ``B`` problems of the same shape at once (leading batch axis, one stacked
product per step); :class:`GramEngine` is the single-run engine on top of it, and
:mod:`cnnrank.batched` the sweep interface. The pieces live in one module per idea and are re-exported
here: :mod:`cnnrank.engines.gram_problem` (:class:`GramProblem`), :mod:`cnnrank.engines.gram_core`
(:class:`GramCore`, the state and the step) and :mod:`cnnrank.engines.gram_variants` (the training
variants of one run); this module holds :class:`GramEngine`.
"""

from __future__ import annotations

import numpy as np

from cnnrank.activations import Activation
from cnnrank.data import PatchData
from cnnrank.engines.base import (
    Diverged,
    Engine,
    Snapshot,
    TrainingVariant,
    scale_safe_stable_rank,
)
from cnnrank.engines.gram_core import GramCore
from cnnrank.engines.gram_problem import GramProblem
from cnnrank.engines.gram_problem import _pad_sentinel as _pad_sentinel
from cnnrank.engines.gram_problem import _stack as _stack
from cnnrank.engines.gram_variants import GramVariants as GramVariants
from cnnrank.engines.patches import PatchRows, distinct_patches

__all__ = ["GramCore", "GramEngine", "GramProblem", "PatchRows", "distinct_patches"]


class GramEngine(Engine):
    """Gradient descent on the patch coefficients with the Gram matrix of the distinct patches."""

    name = "gram"

    def __init__(self, W0: np.ndarray, data: PatchData, activation: Activation,
                 test: PatchData | None = None, variant: TrainingVariant | None = None) -> None:
        super().__init__(W0, data, activation, test, variant)
        self._W0 = np.array(W0, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):  # huge data or filters: a blow-up at step 0
            self.problem, self._rows = GramProblem.from_vectors(self._W0, data, test)
            self.core = GramCore([self.problem], activation)
        self.core.set_variant(self.variant)

    @staticmethod
    def cost_per_step(n: int, P: int, d: int, m: int, distinct: int) -> float:
        """``4 M² m`` flops of the product plus ~``40 M m`` of elementwise work (measured weight)."""
        return 4.0 * distinct**2 * m + 40.0 * distinct * m + 20.0 * n * P * m

    @staticmethod
    def setup_cost(n: int, P: int, d: int, m: int, distinct: int) -> float:
        """Flops of the one-time ``G``, ``Z0`` and weight rebuild: ``2 M d (M + 4m) + 8 m² d``."""
        return 2.0 * distinct * d * (distinct + 4 * m) + 8.0 * m * m * d

    def advance(self, steps: int, lr: float) -> None:
        bad = self.core.advance(steps, lr)
        if bad[0] >= 0:
            raise Diverged(int(bad[0]), lr)
        if steps and not (np.all(np.isfinite(self.core.Cd))
                          and (self.core.head is None or np.all(np.isfinite(self.core.head)))):
            raise Diverged(steps, lr)

    def snapshot(self) -> Snapshot:
        loss, acc, tloss, tacc = self.core.losses()
        if not np.isfinite(loss[0]) or (tloss is not None and not np.isfinite(tloss[0])):
            raise Diverged(0)
        fg, lg = self.core.filter_grams()
        snap = Snapshot(
            train_loss=float(loss[0]),
            train_acc=float(acc[0]),
            test_loss=None if tloss is None else float(tloss[0]),
            test_acc=None if tacc is None else float(tacc[0]),
            coef=self.core.coefficients()[0],
            filter_gram=fg[0],
            learned_gram=lg[0],
            init_scale=None if self.variant.weight_decay == 0.0 else self.core.init_scale,
            head_weights=None if self.core.head is None else self.core.head.reshape(2, self.m).copy(),
        )
        if not snap.is_finite():  # e.g. a finite loss but an overflowing W Wᵀ
            raise Diverged(0)
        snap.filter_stable_rank = scale_safe_stable_rank(snap.filter_gram, self._flat_weights)
        snap.learned_stable_rank = scale_safe_stable_rank(snap.learned_gram, self._flat_learned)
        return snap

    def _flat_weights(self) -> np.ndarray | None:
        W = self.weights()
        return None if W is None else W.reshape(2 * self.m, -1)

    def _flat_learned(self) -> np.ndarray | None:
        rows = getattr(self, "_rows", None)
        return None if rows is None else rows.combine(self.core.Cd[0, :-1])

    def weights(self) -> np.ndarray | None:
        """``W = s W(0) + Ĉᵀ X̂`` (2, m, d), rebuilt from the coefficients (``d``-sized work; ``s = 1``
        without weight decay)."""
        W0 = self._W0.reshape(2 * self.m, -1)
        if self.core.init_scale != 1.0:
            W0 = self.core.init_scale * W0
        W = W0 + self._rows.combine(self.core.Cd[0, :-1])
        return W.reshape(self._W0.shape)
