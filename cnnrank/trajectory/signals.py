"""The per-signal diagnostics of a trajectory (docs/theory.md §5): strengths, signals learned, the
stable rank and overlaps of the own-class γ columns; derived for files written before they existed."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.subspace import _pow2

__all__ = ["signal_strengths"]


#: the per-signal fields, added after the first file format: a file without them loads with them
#: derived where the stored fields allow it (:meth:`Trajectory.load`)
_SIGNAL_FIELDS = ("signal_strength", "signals_learned", "learned_rank", "gamma_stable_rank", "class_overlaps")


def signal_strengths(gamma: np.ndarray, signal_norms: np.ndarray) -> np.ndarray:
    r"""Learned strength of each signal: ``‖γ_{j(k), :, k}‖₂ / ‖μ_k‖`` (docs/theory.md §5), shape (R, 2K).

    The norm over the ``m`` filters of the signal's own class ``j(k)`` (signals ``0..K-1`` belong to
    class +1, ``K..2K-1`` to class −1) of ``⟨w_{j,r} − w_{j,r}(0), μ_k⟩ / ‖μ_k‖`` (exactly that when the
    background is orthogonal to the signals): the length of the signal's own-class column.

    Parameters
    ----------
    gamma : ndarray, shape (R, 2, m, 2K)
    signal_norms : ndarray, shape (2K,)
        ``‖μ_k‖`` (a zero norm gives strength 0).
    """
    K = gamma.shape[-1] // 2
    own = np.concatenate([gamma[:, 0, :, :K], gamma[:, 1, :, K:]], axis=-1)  # (R, m, 2K)
    with np.errstate(invalid="ignore", over="ignore"):
        h = _pow2(np.max(np.abs(own), axis=1))  # (R, 2K): exact rescaling, no under- or overflow
        norms = np.linalg.norm(own / h[:, None, :], axis=1) * h
    safe = np.where(signal_norms > 0, signal_norms, 1.0)
    return np.where(signal_norms > 0, norms / safe, 0.0)


def _signal_fields(gamma: np.ndarray, signal_norms: np.ndarray | None, threshold: np.ndarray | None
                   ) -> dict[str, np.ndarray | None]:
    """``signal_strength``, ``signals_learned``, ``gamma_stable_rank`` and ``class_overlaps`` of a
    stack of ``γ`` (R, 2, m, 2K) (:mod:`cnnrank.race`; docs/theory.md §5). Without the signals'
    norms the first three are ``None``; without the learned threshold ``τ`` (R,) ``signals_learned``
    is. A non-finite record (a blow-up) gives NaN, and 0 signals learned."""
    from cnnrank.subspace import class_overlaps, gamma_stable_rank

    R, K2 = gamma.shape[0], gamma.shape[-1]
    ok = np.all(np.isfinite(gamma), axis=(1, 2, 3))
    g = np.where(ok[:, None, None, None], gamma, 0.0)
    overlaps = np.where(ok[:, None], class_overlaps(g) if R else np.zeros((0, 2)), np.nan)
    out: dict[str, np.ndarray | None] = {"class_overlaps": overlaps, "signal_strength": None,
                                         "signals_learned": None, "gamma_stable_rank": None}
    if signal_norms is None or not np.all(np.isfinite(signal_norms)):  # ‖μ‖ beyond float64: nothing to divide by
        return out
    norms = np.broadcast_to(np.asarray(signal_norms, dtype=np.float64), (K2,))
    strength = np.where(ok[:, None], signal_strengths(g, norms), np.nan)
    out["signal_strength"] = strength
    safe = np.where(norms > 0, norms, 1.0)
    out["gamma_stable_rank"] = np.where(ok, gamma_stable_rank(g, safe) if R else np.zeros(0), np.nan)
    if threshold is not None:
        with np.errstate(invalid="ignore"):
            out["signals_learned"] = np.sum(strength > threshold[:, None], axis=1).astype(np.int64)
    return out


def _stored_signal_norm(metadata: Any) -> float | None:
    """``‖μ‖`` (every signal's norm) from a trajectory's metadata (``config`` or ``sample.model``), if any."""
    if not isinstance(metadata, dict):
        return None
    for src in (metadata.get("config"), (metadata.get("sample") or {}).get("model")
                if isinstance(metadata.get("sample"), dict) else None):
        if isinstance(src, dict):
            v = src.get("signal_norm")
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0:
                return float(v)
    return None


def _derived_signal_fields(values: dict[str, Any], missing: set[str]) -> dict[str, Any]:
    """The per-signal fields a file written before them lacks, derived from its ``γ`` where possible."""
    out: dict[str, Any] = dict.fromkeys(missing)
    gamma = values.get("gamma")
    if isinstance(gamma, np.ndarray) and gamma.ndim == 4 and gamma.shape[1] == 2 and gamma.shape[3] % 2 == 0 \
            and gamma.shape[3] and gamma.dtype.kind in "fiu":
        norm = _stored_signal_norm(values.get("metadata"))
        sig = _signal_fields(gamma.astype(np.float64), None if norm is None else np.full(gamma.shape[3], norm), None)
        out.update({k: v for k, v in sig.items() if k in missing})
    return out
