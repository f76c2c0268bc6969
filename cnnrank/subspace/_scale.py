"""Scale (docs/theory.md §5): the power of two a matrix is divided by before it is squared, so that every
diagnostic of :mod:`cnnrank.subspace` gives the same result at any scale float64 holds (1 at ordinary
scales: results unchanged to the bit)."""

from __future__ import annotations

from typing import Any

import numpy as np

#: a vector-like array is rescaled when its largest entry lies outside [2^-460, 2^460] (about 1e±138),
#: a Gram matrix when outside [2^-920, 2^920] (about 1e±277): squares and sums stay normal floats inside
_VEC_EXP, _GRAM_EXP = 460, 920


def _pow2(top: Any) -> np.ndarray:
    """``2^e`` with ``top ∈ [2^(e-1), 2^e)`` (1 where ``top`` is 0): dividing by it is exact."""
    return np.ldexp(1.0, np.frexp(np.asarray(top, dtype=np.float64))[1])


def _vector_scale(A: np.ndarray) -> float:
    """The power of two to divide ``A`` by before squaring it: 1 at ordinary scales."""
    top = float(np.max(np.abs(A))) if A.size else 0.0
    if top == 0 or 2.0**-_VEC_EXP <= top <= 2.0**_VEC_EXP:
        return 1.0
    return float(_pow2(top))
