"""Patch bookkeeping for the Gram engine: the distinct non-zero training patches, and products with
them taken in column blocks so that no ``(M, d)`` copy is ever formed."""

from __future__ import annotations

import numpy as np

__all__ = ["PatchRows", "distinct_patches"]


def distinct_patches(X2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct non-zero rows of a patch matrix.

    Parameters
    ----------
    X2 : ndarray, shape (N, d)

    Returns
    -------
    reps : ndarray of int, shape (M,)
        Row of the first occurrence of each distinct non-zero row, in increasing order.
    index : ndarray of int, shape (N,)
        ``index[a] = k`` if row ``a`` equals ``X2[reps[k]]``, and ``M`` (a sentinel) if row ``a`` is zero.

    Rows are grouped by a fixed random-looking projection ``Σ_j X2[a, j] v_j`` (one pass, ``O(N d)``)
    and the groups are then checked for exact equality (``==``, so ``-0.0`` equals ``0.0``); should two
    different rows share a projection, the exact ``np.unique`` on the rows decides instead. The
    projection is summed by NumPy in one fixed order for every row, not by a BLAS ``X2 @ v``: a BLAS
    kernel may treat rows differently by their position (OpenBLAS 0.3.31 gave equal rows projections
    one ulp apart under its Nehalem, Sandybridge and SkylakeX kernels: one patch counted twice).
    """
    N, d = X2.shape
    nonzero = np.flatnonzero(np.any(X2 != 0, axis=1))
    index = np.full(N, 0, dtype=np.int64)
    if nonzero.size == 0:
        return np.zeros(0, dtype=np.int64), index
    v = 1.5 + np.cos(np.arange(d) * 0.6180339887498949 + 0.25)  # in [0.5, 2.5]: no zero weight
    keys = _row_keys(X2, v)[nonzero]
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    new_group = np.empty(ks.size, dtype=bool)
    new_group[0] = True
    new_group[1:] = ks[1:] != ks[:-1]
    gid_sorted = np.cumsum(new_group) - 1
    first_sorted = order[new_group]  # stable sort: the first occurrence heads its group
    gid = np.empty_like(gid_sorted)
    gid[order] = gid_sorted
    rep_of_row = first_sorted[gid]
    dup = np.flatnonzero(rep_of_row != np.arange(nonzero.size))
    if dup.size and not np.array_equal(X2[nonzero[dup]], X2[nonzero[rep_of_row[dup]]]):
        _, first, inverse = np.unique(X2[nonzero], axis=0, return_index=True, return_inverse=True)
        first_sorted, gid = first, np.asarray(inverse).reshape(-1)
    rank_order = np.argsort(first_sorted, kind="stable")  # groups in order of first occurrence
    rank = np.empty_like(rank_order)
    rank[rank_order] = np.arange(rank_order.size)
    index[:] = rank_order.size
    index[nonzero] = rank[gid]
    return nonzero[first_sorted[rank_order]], index


def _row_keys(X2: np.ndarray, v: np.ndarray, block_bytes: int = 8 * 2**20) -> np.ndarray:
    """``Σ_j X2[a, j] v_j`` for every row ``a``, equal for equal rows wherever they sit.

    Rows go through one C-ordered ``(rows, d)`` buffer of a fixed shape (at most ``block_bytes``), and
    every block is multiplied and summed along its rows by the same NumPy calls on the same shape,
    so each row's sum takes the same order whatever its position or ``X2``'s memory layout.
    """
    N, d = X2.shape
    rows = max(1, min(N, int(block_bytes // (8 * max(d, 1)))))
    buf = np.empty((rows, d))
    keys = np.empty(N)
    for start in range(0, N, rows):
        stop = min(start + rows, N)
        buf[: stop - start] = X2[start:stop]
        buf[stop - start:] = 0.0  # the last block's unused rows
        np.multiply(buf, v, out=buf)
        keys[start:stop] = np.sum(buf, axis=1)[: stop - start]  # the whole buffer: one shape for every block
    return keys


class PatchRows:
    """The rows ``reps`` of a patch matrix ``X2`` (N, d), used in column blocks instead of copied.

    Each product gathers ``(M, b)`` column blocks (``b`` chosen so that a block is at most
    ``block_bytes``), so a product with the distinct patches never holds an ``(M, d)`` copy.
    """

    def __init__(self, X2: np.ndarray, reps: np.ndarray, block_bytes: int = 16 * 2**20) -> None:
        self.X2, self.reps = X2, reps
        self.M, self.d = reps.size, X2.shape[1]
        self.step = max(1, int(block_bytes // (8 * max(self.M, 1))))

    def blocks(self):
        """``(columns, X2[reps][:, columns])`` for consecutive column blocks."""
        for j in range(0, self.d, self.step):
            cols = slice(j, min(j + self.step, self.d))
            yield cols, self.X2[self.reps, cols]

    def gram(self) -> np.ndarray:
        """``X̂ X̂ᵀ``, shape (M, M)."""
        out = np.zeros((self.M, self.M))
        for _, B in self.blocks():
            out += B @ B.T
        return 0.5 * (out + out.T)

    def product(self, W: np.ndarray) -> np.ndarray:
        """``X̂ Wᵀ`` for ``W`` of shape (k, d); shape (M, k)."""
        out = np.zeros((self.M, W.shape[0]))
        for cols, B in self.blocks():
            out += B @ W[:, cols].T
        return out

    def cross(self, other: PatchRows) -> np.ndarray:
        """``X̂ Ŷᵀ`` with the rows of ``other``; shape (M, other.M)."""
        out = np.zeros((self.M, other.M))
        for cols, B in self.blocks():
            out += B @ other.X2[other.reps, cols].T
        return out

    def combine(self, C: np.ndarray) -> np.ndarray:
        """``Cᵀ X̂`` for ``C`` of shape (M, k); shape (k, d)."""
        out = np.empty((C.shape[1], self.d))
        for cols, B in self.blocks():
            out[:, cols] = C.T @ B
        return out
