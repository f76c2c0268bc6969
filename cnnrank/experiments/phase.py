"""The JSON record of the phase diagram (``phase_diagram.json``), built from a sweep over ``n × σ_p``.

:func:`phase_record` puts the measured means over seeds (2-D arrays, rows ``n``, columns ``σ_p``) next
to the theory's benign boundary ``σ_p*(n)`` of the activation's published criterion
(:func:`cnnrank.theory.benign_limit`; ``(n/2K)^{1/q} ‖μ‖/√d`` for a power head ``q > 2``; the
criterion's name in ``criterion``, docs/theory.md §4) and the measured one: the ``σ_p`` where the
test accuracy first falls below :data:`ACCURACY_LEVEL` along each row, linearly interpolated
(:func:`measured_boundary`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

import cnnrank.theory as theory
from cnnrank.experiments.runs import RunConfig

if TYPE_CHECKING:  # only a type: sweeps imports the experiments package
    from cnnrank.sweeps import SweepResult

__all__ = ["ACCURACY_LEVEL", "PHASE_KEYS", "measured_boundary", "phase_record"]

#: the test accuracy whose contour is the measured boundary
ACCURACY_LEVEL = 0.9

#: the 2-D arrays of the record (means over seeds; rows: n, columns: σ_p)
PHASE_KEYS = ("test_acc", "signal_energy_fraction", "learned_dimension", "data_stable_rank",
              "filter_stable_rank", "learned_stable_rank", "train_acc")


def _clean(x: float) -> float | None:
    """A JSON number (``None`` for NaN or infinity: the record is strict JSON)."""
    return float(x) if math.isfinite(x) else None


def measured_boundary(noise: Sequence[float], acc: Sequence[float], level: float = ACCURACY_LEVEL) -> float | None:
    """The ``σ_p`` where ``acc`` (along increasing ``noise``) first falls from ``>= level`` to ``< level``,
    linearly interpolated between the two levels; ``None`` when it is never crossed (above ``level``
    everywhere, or already below it at the smallest noise)."""
    s = np.asarray(noise, dtype=float)
    a = np.asarray(acc, dtype=float)
    if a.size == 0 or not a[0] >= level:
        return None
    for i in range(1, a.size):
        if a[i] < level:
            t = (a[i - 1] - level) / (a[i - 1] - a[i])
            return float(s[i - 1] + t * (s[i] - s[i - 1]))
    return None


def phase_record(res: SweepResult, base: RunConfig, ns: Sequence[int], noise: Sequence[float]) -> dict[str, Any]:
    """The ``phase_diagram.json`` record of a sweep whose grid is ``{"n": ns, "noise_std": noise}``.

    Holds the axes ``n`` and ``noise_std``; the means over seeds of :data:`PHASE_KEYS` as lists of rows
    (one per ``n``); ``theory_boundary``, ``measured_boundary`` and ``boundary_ratio`` (measured /
    predicted, ``None`` where the contour is not crossed or the prediction is 0) per ``n``; ``criterion``
    (the name of the criterion of :func:`cnnrank.theory.criterion`); ``noise_takeoff`` (σ_p where the
    data's stable rank leaves ``2K``, docs/theory.md §6), ``clean_rank`` (2K), ``accuracy_level`` and the
    base configuration. No timings: two runs of one command write byte-identical JSON.
    """
    if tuple(res.values["test_acc"].shape[:2]) != (len(ns), len(noise)):
        raise ValueError(f"sweep shape {res.values['test_acc'].shape[:2]} is invalid: expected "
                         f"(len(n), len(noise_std)) = ({len(ns)}, {len(noise)})")
    out: dict[str, Any] = {"n": [int(n) for n in ns], "noise_std": [float(s) for s in noise]}
    for k in PHASE_KEYS:
        if k in res.values:
            out[k] = [[_clean(v) for v in row] for row in res.mean(k).tolist()]
    configs = [replace(base, n=int(n)) for n in ns]
    theory_b = [theory.benign_limit(c) for c in configs]
    acc = res.mean("test_acc")
    meas = [measured_boundary(noise, acc[i]) for i in range(len(ns))]
    out["theory_boundary"] = theory_b
    out["measured_boundary"] = meas
    out["boundary_ratio"] = [None if m is None or not t > 0 else _clean(m / t) for m, t in zip(meas, theory_b)]
    out["criterion"] = theory.criterion(base).name
    out["noise_takeoff"] = [theory.noise_takeoff(c) for c in configs]
    out["clean_rank"] = theory.clean_rank(base)
    out["K"] = base.K
    out["accuracy_level"] = ACCURACY_LEVEL
    out["config"] = base.to_dict()
    return out
