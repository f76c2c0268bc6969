"""The sweeps of the linear-CNN figure (docs/theory.md §7): the half-times of the modes across one
parameter (the share of the dominant frequency, the kernel size or the channels), over seeds (:func:`sweep` → :class:`Sweep`), and their
grids (:data:`SHARES`, :data:`KERNELS`, :data:`CHANNELS`, :data:`QUICK`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any, ClassVar

import numpy as np

from cnnrank._parallel import map_ordered
from cnnrank._validation import check_int
from cnnrank.linear.data import DesignedTask
from cnnrank.linear.runs import ordering_task, run_cnn, seed_streams, share_task
from cnnrank.results import SavableResult

#: sweep grids of :func:`linear_cnn_experiment` (``quick=False``) and of ``quick=True``
SHARES = (1 / 9, 0.2, 0.4, 0.6, 0.8, 1.0)


KERNELS = (1, 2, 4, 8, 16, 32)


CHANNELS = (1, 2, 4, 8, 16)


QUICK = {"share": (1 / 9, 0.4, 0.8, 1.0), "kernel_size": (1, 4, 16, 32), "channels": (1, 4, 16)}


_PARAMETERS = ("share", "kernel_size", "channels")


@dataclasses.dataclass
class Sweep(SavableResult):
    """Half-times of the modes across one parameter.

    Attributes
    ----------
    parameter : str
        ``"share"``, ``"kernel_size"`` or ``"channels"``.
    values : ndarray, shape (P,)
    half_times : ndarray, shape (P, S, R)
        Per value, seed and mode.
    rates : ndarray, shape (P, R)
        Predicted early growth rates (:func:`~cnnrank.linear.closed_form.cnn_mode_rate`).
    isolated_half_times : ndarray, shape (P, S, R) or (0, S, R)
        Half-time of each mode when it is the *only* mode of the task (same ``v_α``, ``s_α``,
        network and seed); empty unless the sweep was run with ``isolated=True``.
    s : ndarray, shape (R,)
    seeds : list of int
        Replicate seeds; replicate ``s`` draws its task from ``seed_streams(s, 2)[0]`` and its
        initialization from ``seed_streams(s, 2)[1]``, the same at every value (a paired comparison).
    settings : dict
    """

    _kind: ClassVar[str] = "linear-sweep"
    #: documented ranges, checked by ``load`` (:func:`cnnrank.results.check_values`)
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {"half_times": {"lo": 0.0},
                                                          "isolated_half_times": {"lo": 0.0}}

    parameter: str
    values: np.ndarray
    half_times: np.ndarray
    rates: np.ndarray
    isolated_half_times: np.ndarray
    s: np.ndarray
    seeds: list
    settings: dict


def _sweep_point(item: tuple) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """One (value, replicate) of :func:`sweep`: everything it needs, its seed included, is in ``item``."""
    parameter, v, seed, n, channels, kernel_size, t_end, init_scale, isolated = item
    task_seed, init_seed = seed_streams(seed, 2)
    task = share_task(v, n=n, rng=task_seed) if parameter == "share" else ordering_task(n=n, rng=task_seed)
    c = int(v) if parameter == "channels" else channels
    k = int(v) if parameter == "kernel_size" else kernel_size
    run = run_cnn(task, channels=c, kernel_size=k, t_end=t_end, init_scale=init_scale, rng=init_seed)
    iso = None
    if isolated:
        iso = np.array([
            run_cnn(DesignedTask(s=task.s[a:a + 1], U=np.eye(1), V=task.V[:, a:a + 1]), channels=c,
                    kernel_size=k, t_end=t_end, init_scale=init_scale, rng=init_seed).half_times[0]
            for a in range(task.s.size)
        ])
    return run.half_times, iso, run.rates, task.s


def sweep(parameter: str, values: Sequence[float], *, seeds: Sequence[int] = (0, 1, 2), n: int = 32,
          channels: int = 4, kernel_size: int | None = None, t_end: float = 10.0,
          init_scale: float = 1e-2, isolated: bool = False, executor: Executor | None = None) -> Sweep:
    """Half-times of CNN modes across ``share``, ``kernel_size`` or ``channels``.

    * ``share``: a single mode (``s = 1``, :func:`share_task`) with the given dominant-frequency
      share; CNN with ``channels`` channels and ``kernel_size`` taps (default ``N``).
    * ``kernel_size`` / ``channels``: the two modes of :func:`ordering_task`.

    Replicate seed ``s`` gives two independent streams (:func:`seed_streams`): one draws the task's
    phases, the other the network's init; a replicate uses the same streams at every value, so the
    values are compared on the same draws. With ``isolated=True`` every mode is also trained alone
    (a one-mode task with the same ``s_α``, ``v_α``, network and init stream), which separates the
    per-mode rate from the coupling of modes through shared kernels.

    The (value, replicate) points run through :func:`cnnrank._parallel.map_ordered`: one by one, or
    on ``executor`` (e.g. ``cnnrank._parallel.make_executor(workers)``); the result does not depend on it.
    """
    if parameter not in _PARAMETERS:
        raise ValueError(f"parameter={parameter!r} is invalid: must be one of {list(_PARAMETERS)}")
    vals = [float(v) for v in values] if parameter == "share" else [check_int(parameter, v, minimum=1) for v in values]
    if not vals:
        raise ValueError("values=[] is invalid: must not be empty")
    seeds = [check_int("seed", s, minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds=[] is invalid: must not be empty")
    items = [(parameter, v, seed, n, channels, kernel_size, t_end, init_scale, isolated) for v in vals for seed in seeds]
    points = map_ordered(_sweep_point, items, executor)
    S = len(seeds)
    ht = np.asarray([[points[i * S + j][0] for j in range(S)] for i in range(len(vals))])
    rates = np.asarray([points[i * S][2] for i in range(len(vals))])
    s_out = np.asarray(points[-1][3])
    iso = (np.asarray([[points[i * S + j][1] for j in range(S)] for i in range(len(vals))]) if isolated
           else np.zeros((0, S, s_out.size)))
    return Sweep(parameter=parameter, values=np.asarray(vals, dtype=float), half_times=ht, rates=rates, s=s_out,
                 seeds=seeds, isolated_half_times=iso,
                 settings={"n": n, "channels": channels, "kernel_size": kernel_size, "t_end": t_end,
                           "init_scale": init_scale})
