"""The trajectory file format: the data's bookkeeping a file keeps, and γ and ρ derived from it on load."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.data import PatchData
from cnnrank.gram_sample import GramSample
from cnnrank.trajectory.decomposition import _gamma_rho

__all__ = ["TRAJECTORY_FORMAT"]


#: the data's bookkeeping a trajectory keeps, from which γ and ρ are derived (:func:`_gamma_rho`)
_BOOKKEEPING = ("signal_id", "signal_pos", "signal_sq_norms", "noise_sq_norms")

#: the trajectory file format :meth:`Trajectory.save` writes (``trajectory_format`` in the metadata):
#: 1 stored γ and ρ; 2 stores the bookkeeping instead and derives them on load. Both are read.
TRAJECTORY_FORMAT = 2


def _bookkeeping(data: PatchData | GramSample) -> dict[str, np.ndarray | None]:
    """``signal_id``, ``signal_pos``, ``signal_sq_norms`` and ``noise_sq_norms`` of ``data`` (``None``
    for data without the signal/background bookkeeping)."""
    if not data.has_decomposition:
        return dict.fromkeys(_BOOKKEEPING)
    return {"signal_id": np.array(data.signal_id), "signal_pos": np.array(data.signal_pos),
            "signal_sq_norms": np.array(data.signal_sq_norms), "noise_sq_norms": np.array(data.noise_sq_norms)}


def _checked_bookkeeping(values: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """``coef`` and the bookkeeping arrays of a trajectory's fields (``values``), their kinds, shapes
    and index ranges checked; raises ``ValueError`` naming the field."""
    coef = values.get("coef")
    if not isinstance(coef, np.ndarray) or coef.ndim != 5 or coef.dtype.kind != "f":
        raise ValueError(f"coef has shape {getattr(coef, 'shape', coef)} which is invalid: must be a float "
                         "array (R, 2, m, n, P) to derive gamma and rho")
    n, P = coef.shape[3:]
    sid, spos, sq, nsq = (values.get(k) for k in _BOOKKEEPING)
    for name, a, kinds, rule in (("signal_id", sid, "iu", (n,)), ("signal_pos", spos, "iu", (n,)),
                                 ("signal_sq_norms", sq, "f", None), ("noise_sq_norms", nsq, "f", (n, P - 1))):
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{name}={a!r} is invalid: gamma and rho are derived from it")
        bad = a.ndim != 1 or a.shape[0] < 2 or a.shape[0] % 2 if rule is None else a.shape != rule
        if a.dtype.kind not in kinds or bad:
            want = "(2K,)" if rule is None else str(rule)
            raise ValueError(f"{name} has shape {a.shape} and dtype {a.dtype} which is invalid: must be "
                             f"{'integer' if kinds == 'iu' else 'float'} {want} (n={n}, P={P})")
    assert isinstance(sid, np.ndarray) and isinstance(spos, np.ndarray) and isinstance(sq, np.ndarray)
    assert isinstance(nsq, np.ndarray)
    if n and (sid.min() < 0 or sid.max() >= sq.shape[0]):
        raise ValueError(f"signal_id is invalid: entries must lie in [0, {sq.shape[0]})")
    if n and (spos.min() < 0 or spos.max() >= P):
        raise ValueError(f"signal_pos is invalid: entries must lie in [0, {P})")
    return coef, sid, spos, sq, nsq


def _derive_gamma_rho(values: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """γ and ρ from ``coef`` and the bookkeeping arrays of a trajectory's fields (``values``)
    (:func:`_checked_bookkeeping`, then :func:`_gamma_rho`)."""
    checked = _checked_bookkeeping(values)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # a diverged run's records
        return _gamma_rho(*checked)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
