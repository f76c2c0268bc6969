r"""The Gram engine's problem (docs/theory.md §3): the inner products one coefficient-space gradient descent needs.

A :class:`GramProblem` holds the Gram matrix ``G`` of the distinct training patches, the initial
pre-activations ``Z0``, the patch index of every sample's patches and the labels (and the same for a
test set); :class:`~cnnrank.engines.gram_core.GramCore` stacks several of one shape (with the helpers
here that stack and pad them) and :class:`~cnnrank.engines.gram.GramEngine` trains one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnrank.data import PatchData
from cnnrank.engines.patches import PatchRows, distinct_patches
from cnnrank.gram_sample import GramSample

__all__ = ["GramProblem"]


@dataclass(frozen=True, eq=False)
class GramProblem:
    """Gradient descent on the two-layer CNN, written with inner products only.

    ``M`` distinct non-zero training patches, ``2m`` filters, ``n`` samples of ``P`` patches. Index
    ``M`` in ``index`` (and ``Mt`` in ``test_index``) marks a zero patch.

    Attributes
    ----------
    G : ndarray, shape (M, M)
        Gram matrix of the distinct training patches.
    Z0 : ndarray, shape (M, 2m)
        ``⟨w_{j,r}(0), x̂_k⟩``.
    WW0 : ndarray, shape (2m, 2m)
        ``W(0) W(0)ᵀ``.
    index : ndarray of int, shape (n P,)
        Distinct patch of sample-patch ``(i, p)`` (row ``i P + p``).
    y : ndarray, shape (n,)
    P : int
    test_G : ndarray, shape (Mt, M), or None
        Cross-Gram ``⟨x̂_t, x̂_k⟩`` of distinct test patches with distinct training patches.
    test_Z0 : ndarray, shape (Mt, 2m), or None
    test_index : ndarray of int, shape (n_t P,), or None
    test_y : ndarray, shape (n_t,), or None
    """

    G: np.ndarray
    Z0: np.ndarray
    WW0: np.ndarray
    index: np.ndarray
    y: np.ndarray
    P: int
    test_G: np.ndarray | None = None
    test_Z0: np.ndarray | None = None
    test_index: np.ndarray | None = None
    test_y: np.ndarray | None = None

    @property
    def M(self) -> int:
        return self.G.shape[0]

    @property
    def n(self) -> int:
        return self.y.shape[0]

    @property
    def m(self) -> int:
        return self.Z0.shape[1] // 2

    @classmethod
    def from_vectors(cls, W0: np.ndarray, data: PatchData,
                     test: PatchData | None = None) -> tuple[GramProblem, PatchRows]:
        """Build the problem from filters (2, m, d) and patches.

        Returns the problem and the distinct training patches as :class:`PatchRows` (a view: no copy of
        the patches is kept). The products run over column blocks of the patches, so the extra memory
        is ``O(M · block)`` rather than a copy of the ``(M, d)`` distinct patches.
        """
        n, P, d = data.X.shape
        Wf = np.asarray(W0, dtype=np.float64).reshape(-1, d)
        X2 = data.X.reshape(n * P, d)
        reps, index = distinct_patches(X2)
        rows = PatchRows(X2, reps)
        G, Z0 = rows.gram(), rows.product(Wf)
        kw = {}
        if test is not None:
            Xt2 = test.X.reshape(-1, d)
            treps, tindex = distinct_patches(Xt2)
            trows = PatchRows(Xt2, treps)
            kw = dict(test_G=trows.cross(rows), test_Z0=trows.product(Wf), test_index=tindex,
                      test_y=np.asarray(test.y))
        prob = cls(G=G, Z0=Z0, WW0=Wf @ Wf.T, index=index, y=np.asarray(data.y), P=P, **kw)
        return prob, rows

    @classmethod
    def from_sample(cls, sample: GramSample) -> GramProblem:
        """Build the problem from a :class:`~cnnrank.gram_sample.GramSample` (no vector of ``R^d``).

        Sub-blocks of the sample's joint Gram matrix ``𝒢`` at its distinct non-zero patches (signals,
        then training background patches; :meth:`GramSample.patch_layout`): ``G = 𝒢[x̂, x̂]``,
        ``Z0 = 𝒢[x̂, w]``, ``WW0 = 𝒢[w, w]`` and, with a test set, ``test_G = 𝒢[x̂_t, x̂]``,
        ``test_Z0 = 𝒢[x̂_t, w]``.
        """
        gram, lay = sample.gram, sample.patch_layout()
        cols, fcols = lay.columns, lay.filter_columns
        kw = {}
        if lay.test_columns is not None:
            tcols = lay.test_columns
            kw = dict(test_G=gram[np.ix_(tcols, cols)], test_Z0=gram[np.ix_(tcols, fcols)],
                      test_index=lay.test_index, test_y=sample.test_y)
        return cls(G=gram[np.ix_(cols, cols)], Z0=gram[np.ix_(cols, fcols)], WW0=gram[np.ix_(fcols, fcols)],
                   index=lay.index, y=sample.y, P=sample.P, **kw)


def _stack(arrays: Sequence[np.ndarray | None], name: str) -> np.ndarray:
    given = [a for a in arrays if a is not None]
    if len(given) != len(arrays):
        raise ValueError(f"{name} is invalid: every batched problem needs it, or none")
    shapes = {a.shape for a in given}
    if len(shapes) != 1:
        raise ValueError(f"{name} shapes {sorted(shapes)} are invalid: batched problems must have one shape")
    return np.stack(given)


def _pad_sentinel(A: np.ndarray, rows: bool = True, cols: bool = True) -> np.ndarray:
    """Append a zero row and/or column on the last two axes (the zero-patch sentinel)."""
    pad = [(0, 0)] * (A.ndim - 2) + [(0, int(rows)), (0, int(cols))]
    return np.pad(A, pad)
