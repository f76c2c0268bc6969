r"""Samples as patches (docs/theory.md §1): :class:`PatchData`, the container training reads.

Each of ``n`` samples is ``P`` patches in :math:`\mathbb{R}^d` (``X`` of shape (n, P, d)) with a
label; a sample drawn by :class:`~cnnrank.data.SignalNoiseModel` also says what each patch is (signal
ids and positions, the clean signal part, the noise, label flips). For real images
(``cnnrank.datasets``) only ``X`` and ``y`` are given and the synthetic bookkeeping fields are
``None``. Re-exported by :mod:`cnnrank.data`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnrank._validation import as_array, check_labels
from cnnrank.subspace import orthonormal_basis

__all__ = ["PatchData"]


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is not None:
        a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class PatchData:
    """Samples as patches, with what each patch is.

    Attributes
    ----------
    X : ndarray, shape (n, P, d)
        The patches of each sample.
    y : ndarray, shape (n,)
        Observed labels in {-1, +1} (after label noise).
    signals : ndarray, shape (2K, d), or None
        The signal vectors; rows ``0..K-1`` are class +1, rows ``K..2K-1`` class -1.
    signal_id : ndarray of int, shape (n,), or None
        Which row of ``signals`` sample ``i`` carries.
    signal_pos : ndarray of int, shape (n,), or None
        The patch index of the signal patch of sample ``i``.
    y_true : ndarray, shape (n,), or None
        Labels before label noise (the class of the signal). Defaults to ``y``.

    The arrays are read-only. ``noise`` (background patches in patch order, the signal patch left
    out) and ``clean()`` need ``signal_pos``.
    """

    X: np.ndarray
    y: np.ndarray
    signals: np.ndarray | None = None
    signal_id: np.ndarray | None = None
    signal_pos: np.ndarray | None = None
    y_true: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        X = as_array("X", self.X, ndim=3)
        n, P, d = X.shape
        if n < 1 or P < 1 or d < 1:
            raise ValueError(f"X has shape {X.shape} which is invalid: all sizes must be >= 1")
        y = check_labels("y", self.y)
        if y.shape != (n,):
            raise ValueError(f"y has shape {y.shape} which is invalid: must have shape ({n},) to match X")
        y_true = y if self.y_true is None else check_labels("y_true", self.y_true)
        if y_true.shape != (n,):
            raise ValueError(f"y_true has shape {y_true.shape} which is invalid: must have shape ({n},)")
        signals = None if self.signals is None else as_array("signals", self.signals, shape=(None, d))
        if signals is not None and (signals.shape[0] < 2 or signals.shape[0] % 2):
            raise ValueError(
                f"signals has shape {signals.shape} which is invalid: must have 2K >= 2 rows"
            )
        signal_id = None
        if self.signal_id is not None:
            signal_id = as_array("signal_id", self.signal_id, shape=(n,), dtype=np.int64)
            if signals is None:
                raise ValueError("signal_id is invalid without signals: give both or neither")
            if signal_id.min() < 0 or signal_id.max() >= signals.shape[0]:
                raise ValueError(f"signal_id is invalid: entries must lie in [0, {signals.shape[0]})")
        signal_pos = None
        if self.signal_pos is not None:
            signal_pos = as_array("signal_pos", self.signal_pos, shape=(n,), dtype=np.int64)
            if signal_pos.min() < 0 or signal_pos.max() >= P:
                raise ValueError(f"signal_pos is invalid: entries must lie in [0, {P})")
        for name, value in (("X", X), ("y", y), ("y_true", y_true), ("signals", signals),
                            ("signal_id", signal_id), ("signal_pos", signal_pos)):
            if value is not None and value is getattr(self, name):
                value = value.copy()
            object.__setattr__(self, name, _readonly(value))

    # ------------------------------------------------------------------ sizes
    @property
    def n(self) -> int:
        """Number of samples."""
        return self.X.shape[0]

    @property
    def P(self) -> int:
        """Patches per sample."""
        return self.X.shape[1]

    @property
    def d(self) -> int:
        """Patch dimension."""
        return self.X.shape[2]

    @property
    def K(self) -> int | None:
        """Signals per class (``None`` without signals)."""
        return None if self.signals is None else self.signals.shape[0] // 2

    @property
    def has_decomposition(self) -> bool:
        """Whether the signal/background bookkeeping of docs/theory.md §4 is available."""
        return self.signals is not None and self.signal_id is not None and self.signal_pos is not None

    # ------------------------------------------------------------------ views
    @property
    def background_index(self) -> np.ndarray:
        """Patch indices of the background patches, shape (n, P-1), in patch order."""
        if self.signal_pos is None:
            raise ValueError("background_index is unavailable: this PatchData has no signal_pos")
        pos = np.broadcast_to(np.arange(self.P), (self.n, self.P))
        keep = pos != self.signal_pos[:, None]
        return pos[keep].reshape(self.n, self.P - 1)

    @property
    def noise(self) -> np.ndarray:
        """Background patches, shape (n, P-1, d), in patch order with the signal patch left out."""
        idx = self.background_index
        return np.take_along_axis(self.X, idx[:, :, None], axis=1)

    @property
    def signal_sq_norms(self) -> np.ndarray:
        """``‖μ_k‖²`` of each signal, shape (2K,) (docs/theory.md §4)."""
        if self.signals is None:
            raise ValueError("signal_sq_norms is unavailable: this PatchData has no signals")
        return np.sum(self.signals**2, axis=1)

    @property
    def noise_sq_norms(self) -> np.ndarray:
        """``‖ξ_{i,p}‖²`` of each background patch, shape (n, P-1), in the order of :attr:`noise`."""
        return np.sum(self.noise**2, axis=2)

    def patch_signal_coordinates(self) -> np.ndarray:
        """Coordinates of every patch in an orthonormal basis ``Q`` of the signal span (docs/theory.md §5).

        ``Z = X Q`` with ``X`` the (nP, d) patch matrix and ``Q`` (d, 2K) from
        :func:`cnnrank.subspace.orthonormal_basis` of the signals; then ``(W - W0) Q = C Z`` for patch
        coefficients ``C`` (2m, nP).

        Returns
        -------
        ndarray, shape (n P, rank of the signals)
        """
        if self.signals is None:
            raise ValueError("data has no signals: the signal span is undefined")
        Q = orthonormal_basis(np.asarray(self.signals).T)
        return np.asarray(self.X).reshape(-1, self.d) @ Q

    def clean(self) -> PatchData:
        """The same data with every background patch set to zero."""
        if self.signal_pos is None:
            raise ValueError("clean() is unavailable: this PatchData has no signal_pos")
        mask = np.arange(self.P)[None, :] == self.signal_pos[:, None]
        return self.replace(X=self.X * mask[:, :, None])

    def replace(self, **changes: Any) -> PatchData:
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def subset(self, index: np.ndarray | slice) -> PatchData:
        """The samples selected by ``index`` (an index array, boolean mask or slice)."""
        pick = lambda a: None if a is None else a[index]
        return PatchData(X=self.X[index], y=self.y[index], signals=self.signals,
                         signal_id=pick(self.signal_id), signal_pos=pick(self.signal_pos),
                         y_true=pick(self.y_true), meta=dict(self.meta))
