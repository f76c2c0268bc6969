r"""The signal vectors of the data model (docs/theory.md §1): ``2K`` mutually orthogonal vectors
:math:`\mu_k` of ``R^d`` (:func:`make_signals`) and the check of per-signal norms. Re-exported by
:mod:`cnnrank.data`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank._validation import check_choice, check_int, check_real, check_rng

__all__ = ["make_signals"]


def make_signals(d: int, K: int, norm: float, basis: str = "canonical", rng: Any = None) -> np.ndarray:
    """``2K`` mutually orthogonal vectors of norm ``norm`` in ``R^d``, shape (2K, d).

    ``basis="canonical"`` uses ``norm * e_0, ..., norm * e_{2K-1}``; ``basis="random"`` a uniformly
    random orthonormal frame (QR of a Gaussian matrix, sign-fixed) drawn from ``rng``.
    """
    d = check_int("d", d, minimum=1)
    K = check_int("K", K, minimum=1)
    if 2 * K > d:
        raise ValueError(f"K={K} is invalid: 2K orthogonal signals need d >= 2K (d={d})")
    norm = check_real("signal_norm", norm, nonnegative=True)
    check_choice("signal_basis", basis, ("canonical", "random"))
    if basis == "canonical":
        S = np.zeros((2 * K, d))
        S[np.arange(2 * K), np.arange(2 * K)] = 1.0
    else:
        rng = np.random.default_rng(check_rng("rng", rng))
        Q, R = np.linalg.qr(rng.standard_normal((d, 2 * K)))
        S = (Q * np.sign(np.diag(R))).T
    return norm * S


def _check_signal_norms(value: Any, K: int) -> tuple[float, ...] | None:
    """``signal_norms`` as a tuple of ``2K`` positive finite floats, or ``None``; one-line errors."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise ValueError(f"signal_norms={value!r:.80} is invalid: must be None or a sequence of 2K={2 * K} "
                         "positive finite numbers")
    items = list(np.asarray(value, dtype=object).ravel()) if isinstance(value, np.ndarray) else list(value)
    if len(items) != 2 * K:
        raise ValueError(f"signal_norms has {len(items)} entries which is invalid: must have 2K={2 * K} (one "
                         f"per signal, class +1 first)")
    return tuple(check_real(f"signal_norms[{i}]", v, positive=True) for i, v in enumerate(items))
