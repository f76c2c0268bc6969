"""Consistency of a loaded trajectory: shapes, and every stored diagnostic within its documented range."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.activations import activation_from_spec
from cnnrank.trajectory.fileformat import _BOOKKEEPING, _checked_bookkeeping

__all__ = ["check_loaded", "check_ranges"]


from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnrank.trajectory.record import Trajectory


def check_loaded(traj: Trajectory) -> None:
    """Consistency of a loaded file: every per-record array has ``R`` rows and the shapes agree
    (coef (R, 2, m, n, P), gamma (R, 2, m, 2K), rho (R, 2, m, n, P-1), ranks (R,), W_init/W_final
    (2, m, d), patches (n, P, d)); a valid activation and a known engine; then every stored
    diagnostic within its documented range (:func:`check_ranges`). Raises ``ValueError`` naming the
    field (:meth:`SavableResult.load` reports it with the file)."""
    from cnnrank.engines import ENGINES

    def fail(name: str, value: Any, rule: str) -> ValueError:
        shape = getattr(value, "shape", value)
        return ValueError(f"{name} has shape {shape} which is invalid: {rule}")

    steps = traj.steps
    if steps.ndim != 1:
        raise fail("steps", steps, "must be 1-D (R,)")
    R = steps.shape[0]
    if steps.dtype.kind not in "iu" or (R and (steps[0] < 0 or np.any(np.diff(steps) <= 0))):
        raise ValueError("steps is invalid: must be increasing integers >= 0")
    coef = traj.coef
    # (R, 2, m, 0, 0): a run without patch coefficients (sign descent, Adam; cnnrank.trajectory.direct)
    direct = coef.ndim == 5 and coef.shape[3:] == (0, 0)
    if coef.ndim != 5 or coef.shape[0] != R or coef.shape[1] != 2 or coef.shape[2] < 1 or (
            not direct and min(coef.shape[3:]) < 1):
        raise fail("coef", coef, f"must be (R, 2, m, n, P) with R={R} records (len(steps)), or (R, 2, m, 0, 0) "
                                 "for a run without patch coefficients")
    _, _, m, n, P = coef.shape
    if direct:  # the data's sizes from ρ or the kept bookkeeping
        src = traj.rho if traj.rho is not None and traj.rho.ndim == 5 else None
        if src is not None:
            n, P = src.shape[3], src.shape[4] + 1
        elif traj.noise_sq_norms is not None and traj.noise_sq_norms.ndim == 2:
            n, P = traj.noise_sq_norms.shape[0], traj.noise_sq_norms.shape[1] + 1

    def want(name: str, shape: tuple, optional: bool = False) -> None:
        value = getattr(traj, name)
        if value is None:
            if not optional:
                raise ValueError(f"{name}=None is invalid: the field is required")
            return
        if value.shape != shape:
            raise fail(name, value, f"must be {shape} (R={R} records, m={m}, n={n}, P={P})")

    for name in ("train_loss", "train_acc", "filter_stable_rank", "learned_stable_rank"):
        want(name, (R,))
    for name in ("test_loss", "test_acc", "learned_dimension", "signal_energy_fraction", "signal_overlap"):
        want(name, (R,), optional=True)
    if (traj.test_loss is None) != (traj.test_acc is None):
        raise ValueError("test_loss/test_acc are invalid: give both or neither")
    want("learned_singular_values", (R, 2 * m))
    if traj.gamma is not None:
        g = traj.gamma
        if g.ndim != 4 or g.shape[:3] != (R, 2, m) or g.shape[3] < 2 or g.shape[3] % 2:
            raise fail("gamma", g, f"must be (R, 2, m, 2K) = ({R}, 2, {m}, 2K)")
    want("rho", (R, 2, m, n, P - 1), optional=True)
    if (traj.gamma is None) != (traj.rho is None):
        raise ValueError("gamma/rho are invalid: give both or neither")
    kept = [getattr(traj, k) for k in _BOOKKEEPING]
    if any(a is None for a in kept) and any(a is not None for a in kept):
        raise ValueError(f"{'/'.join(_BOOKKEEPING)} are invalid: give all or none")
    if kept[0] is not None:
        shape_of = np.zeros((0, 2, m, n, P)) if direct else coef  # only its shape is read
        sq = _checked_bookkeeping({"coef": shape_of, **dict(zip(_BOOKKEEPING, kept))})[3]
        if traj.gamma is not None and sq.shape[0] != traj.gamma.shape[3]:
            raise fail("signal_sq_norms", sq, f"must be (2K,) with 2K={traj.gamma.shape[3]}")
    if traj.signal_angles is not None and (traj.signal_angles.ndim != 2 or traj.signal_angles.shape[0] != R):
        raise fail("signal_angles", traj.signal_angles, f"must be (R, k) with R={R}")
    for name in ("signals_learned", "learned_rank", "gamma_stable_rank"):
        want(name, (R,), optional=True)
    want("class_overlaps", (R, 2), optional=True)
    want("init_scale", (R,), optional=True)
    want("head_weights", (R, 2, m), optional=True)
    if traj.init_scale is not None and not np.all((traj.init_scale > 0) & (traj.init_scale <= 1)):
        raise ValueError("init_scale is invalid: s(t) = (1 - lr weight_decay)^t must lie in (0, 1]")
    if traj.signal_strength is not None:
        K2 = None if traj.gamma is None else traj.gamma.shape[3]
        if traj.signal_strength.ndim != 2 or traj.signal_strength.shape[0] != R or (
                K2 is not None and traj.signal_strength.shape[1] != K2):
            raise fail("signal_strength", traj.signal_strength, f"must be (R, 2K) with R={R} and 2K={K2}")
    d = None
    for name in ("W_init", "W_final"):
        W = getattr(traj, name)
        if W is not None:
            if W.ndim != 3 or W.shape[:2] != (2, m) or (d is not None and W.shape[2] != d):
                raise fail(name, W, f"must be (2, m, d) = (2, {m}, d)")
            d = W.shape[2]
    if traj.patches is not None:
        if traj.patches.ndim != 3 or traj.patches.shape[:2] != (n, P) or (d is not None and traj.patches.shape[2] != d):
            raise fail("patches", traj.patches, f"must be (n, P, d) = ({n}, {P}, {d if d else 'd'})")
    if direct and traj.patches is not None:
        raise ValueError("patches are invalid for a run without patch coefficients: must be None")
    if not direct and (traj.W_init is None) != (traj.patches is None):
        raise ValueError("W_init/patches are invalid: give both (weights_at needs them) or neither")
    if direct and (traj.W_init is None) != (traj.W_final is None):
        raise ValueError("W_init/W_final are invalid for a run without patch coefficients: give both or neither")
    try:
        activation_from_spec(traj.activation)  # its message names the activation
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from None
    if traj.engine not in ENGINES:
        raise ValueError(f"engine={traj.engine!r} is invalid: must be one of {sorted(ENGINES)}")
    if not (isinstance(traj.lr, (int, float)) and np.isfinite(traj.lr) and traj.lr > 0):
        raise ValueError(f"lr={traj.lr!r} is invalid: must be a finite number > 0")
    check_ranges(traj, m, d)



def check_ranges(traj: Trajectory, m: int, d: int | None) -> None:
    """The documented range of every stored diagnostic (shapes already checked): losses ``>= 0``,
    accuracies in ``[0, 1]``, stable ranks 0 (a zero matrix) or in ``[1, min(2m, d)]``, singular
    values ``>= 0`` and descending, the learned dimension an integer in ``[0, min(2m, 2K)]`` (the
    rank of the signals when ``signal_angles`` shows it), the energy fraction in ``[0, 1]``, the
    overlap (a mean cosine) in ``[-1, 1]``, angles in ``[0, π/2]``; NaN where a diverged run leaves
    it. Bounds allow rounding (:data:`cnnrank.results.RANGE_RTOL`)."""
    from cnnrank.results import check_values

    rank_bound, rank_rule = (2 * m, "2m") if d is None or d >= 2 * m else (d, "d")
    for name in ("train_loss", "test_loss"):
        if getattr(traj, name) is not None:
            check_values(name, getattr(traj, name), lo=0.0)
    for name in ("train_acc", "test_acc"):
        if getattr(traj, name) is not None:
            check_values(name, getattr(traj, name), lo=0.0, hi=1.0)
    for name in ("filter_stable_rank", "learned_stable_rank"):
        check_values(name, getattr(traj, name), lo=1.0, hi=rank_bound, zero=True, rule=f"min(2m, d) = {rank_rule}")
    sv = traj.learned_singular_values
    check_values("learned_singular_values", sv, lo=0.0)
    if sv.shape[1] > 1 and np.any(np.diff(sv, axis=1) > 0):  # NaN rows compare False
        r = int(np.flatnonzero(np.any(np.diff(sv, axis=1) > 0, axis=1))[0])
        raise ValueError(f"learned_singular_values at record {r} are invalid: must be in descending order")
    if traj.learned_dimension is not None:
        bound, rule = 2 * m, "2m"
        if traj.signal_angles is not None:
            bound, rule = traj.signal_angles.shape[1], "min(2m, rank of the signals)"
        elif traj.gamma is not None:
            bound, rule = min(2 * m, traj.gamma.shape[3]), "min(2m, 2K)"
        check_values("learned_dimension", traj.learned_dimension, lo=0, hi=bound, integer=True, nan=False,
                     rule=f"{rule}, m={m}")
    if traj.signal_energy_fraction is not None:
        check_values("signal_energy_fraction", traj.signal_energy_fraction, lo=0.0, hi=1.0)
    if traj.signal_overlap is not None:
        check_values("signal_overlap", traj.signal_overlap, lo=-1.0, hi=1.0, rule="a mean cosine")
    if traj.signal_angles is not None:
        check_values("signal_angles", traj.signal_angles, lo=0.0, hi=float(np.pi / 2), rule="radians, 0 to π/2")
    K2 = None
    for arr in (traj.gamma, traj.signal_strength):
        if arr is not None:
            K2 = arr.shape[-1]
            break
    if traj.signal_strength is not None:
        check_values("signal_strength", traj.signal_strength, lo=0.0)
    if traj.signals_learned is not None:
        check_values("signals_learned", traj.signals_learned, lo=0, hi=K2, integer=True, nan=False,
                     rule="2K" if K2 is not None else "")
    if traj.learned_rank is not None:
        check_values("learned_rank", traj.learned_rank, lo=0, hi=rank_bound, integer=True, nan=False,
                     rule=f"min(2m, d) = {rank_rule}")
    if traj.gamma_stable_rank is not None:
        check_values("gamma_stable_rank", traj.gamma_stable_rank, lo=1.0, hi=K2, zero=True,
                     rule="2K" if K2 is not None else "")
    if traj.class_overlaps is not None:
        check_values("class_overlaps", traj.class_overlaps, lo=-1.0, hi=1.0, rule="mean cosines")
