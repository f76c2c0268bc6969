r"""The loop over records shared by every engine (layer 4): advance an engine to each record step, take a
:class:`~cnnrank.engines.Snapshot`, handle divergence, and assemble the
:class:`~cnnrank.trajectory.Trajectory`. Re-exported by :mod:`cnnrank.train`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnrank._progress import progress_bar
from cnnrank._schedule import record_steps
from cnnrank.engines import Diverged, Engine, Snapshot
from cnnrank.errors import TrainingDiverged
from cnnrank.trajectory import Trajectory

__all__ = ["run_records"]


_STEP0_HINT = ("the run is not finite before the first step: the initial filters or the data are too "
               "large for float64 (their outputs or Gram matrices overflow); scale them down")


def run_records(eng: Engine, lr: float, steps: int, record_every: int, progress: bool | None,
                callback: Callable[[int, Snapshot], None] | None,
                assemble: Callable[..., Trajectory]) -> Trajectory:
    """The loop over records shared by every engine.

    Advances ``eng`` to each step of :func:`~cnnrank._schedule.record_steps` ``(steps, record_every)``,
    takes a :class:`~cnnrank.engines.base.Snapshot` there and calls ``callback(step, snapshot)``;
    returns ``assemble(snapshots, record_steps, True)`` (the last argument: the run finished).

    On a blow-up — non-finite outputs, filters, coefficients or filter Gram matrices, with any
    activation and engine, or a non-finite γ, ρ or stable rank in the assembled records — raises
    :class:`~cnnrank.errors.TrainingDiverged` carrying ``assemble(snapshots, steps, False)`` of the
    records before it, every one of them finite.
    """
    at = record_steps(steps, record_every)
    snaps: list[Snapshot] = []
    bar = progress_bar(steps, desc=f"train[{eng.name}]", enabled=progress)
    current = 0

    def diverged(step: int) -> TrainingDiverged:
        with np.errstate(over="ignore", invalid="ignore"):  # ‖x‖² of huge data may overflow
            traj = assemble(snaps, at[: len(snaps)], False)
            k = traj.finite_records()
            if k < len(snaps):  # a record finite in the engine but not once γ, ρ and the ranks are derived
                step = int(at[k])
                del snaps[k:]
                traj = assemble(snaps, at[:k], False)
        return TrainingDiverged(step, lr, traj, hint=_STEP0_HINT if step == 0 else None)

    try:
        for target in at:
            try:
                eng.advance(int(target - current), lr)
            except Diverged as exc:
                raise diverged(current + exc.steps_done) from None
            try:
                snap = eng.snapshot()
            except Diverged:
                raise diverged(int(target)) from None
            current = int(target)
            snaps.append(snap)
            bar.update(int(target - (at[len(snaps) - 2] if len(snaps) > 1 else 0)))
            if callback is not None:
                callback(current, snap)
    finally:
        bar.close()
    with np.errstate(over="ignore", invalid="ignore"):
        traj = assemble(snaps, at, True)
    if traj.finite_records() < len(traj):
        raise diverged(int(at[traj.finite_records()]))
    return traj
