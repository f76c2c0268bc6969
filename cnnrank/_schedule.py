"""The one training schedule of the package: step size, number of steps and record steps (layer 0).

Every trainer (core, batched, linear, collapse) validates ``lr``, ``steps`` and ``record_every`` with
:func:`check_schedule` and records at :func:`record_steps`.
"""

from __future__ import annotations

import numpy as np

from cnnrank._validation import check_int, check_real

__all__ = ["check_schedule", "record_steps"]


def check_schedule(lr: float, steps: int, record_every: int | None = None,
                   min_steps: int = 0) -> tuple[float, int, int]:
    """Validated ``(lr, steps, record_every)``: ``lr > 0`` finite, ``steps >= min_steps``,
    ``record_every >= 1`` (default ``max(1, steps // 100)``)."""
    lr = check_real("lr", lr, positive=True)
    steps = check_int("steps", steps, minimum=min_steps)
    if record_every is None:
        record_every = max(1, steps // 100)
    record_every = check_int("record_every", record_every, minimum=1)
    return lr, steps, record_every


def record_steps(steps: int, record_every: int) -> np.ndarray:
    """The step counts at which records are taken: ``0, r, 2r, …`` and always ``steps``."""
    s = np.arange(0, steps + 1, record_every)
    return s if s[-1] == steps else np.append(s, steps)
