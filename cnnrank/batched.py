r"""Batched runs: many gradient descents of one shape advanced together, for sweeps.

:func:`train_batched` takes ``B`` runs (seeds, noise levels, step sizes, initializations) with the same
``n``, ``P``, ``m`` (and test size) and advances them in the coefficient space of docs/theory.md §3 with one
stacked product per step,

.. math::
    Z_b \leftarrow Z_b + G_b\, \Delta\hat C_b \qquad (b = 1..B;\ \text{one } (B, M, M) \times (B, M, 2m)
    \text{ batched product}),

and the elementwise work of the step on ``(B, M, 2m)`` arrays (:class:`cnnrank.engines.gram.GramCore`),
in groups sized to the cache (``chunk_bytes``).

Runs on the same training data (the same ``PatchData`` and test objects, or ``GramSample``s, or any runs
whose Gram matrices are equal arrays) share their Gram matrix: it is computed once, stored once, and
a group of such runs advances with ONE wide product per step,

.. math::
    [Z_1 \dots Z_B] \leftarrow [Z_1 \dots Z_B] + G\, [\Delta\hat C_1 \dots \Delta\hat C_B]
    \qquad ((M, M) \times (M, 2mB)),

the single run's in-place ``dgemm`` with ``beta = 1`` with ``B·2m`` columns instead of ``2m``: the
same sums, but the BLAS kernel may block a wider product differently, so such runs equal their single
runs to rounding (tested to :data:`cnnrank.testing.SHAPE_RTOL` with equal counts in
tests/test_batched.py), bit for bit only when the product shapes are the same.
**Noise families** (common random numbers): runs on the levels of one
:meth:`SignalNoiseModel.sample_noise_levels` draw (training and test sets) hold patches ``σ_b ξ`` of
one unit draw ``ξ``. Their Gram matrices are ``G_b = S_b G_1 S_b`` with ``S_b`` the diagonal of row
scales (1 on signal patches, ``σ_b`` on background patches), so they are trained on the family's ONE
unit Gram matrix ``G_1``, with ``Z'_b = S_b^{-1} Z_b`` and ``Ĉ'_b = S_b Ĉ_b`` as state:

.. math::
    [Z'_1 \dots Z'_B] \leftarrow [Z'_1 \dots Z'_B] + G_1\, [S_1\Delta\hat C_1 \dots S_B\Delta\hat C_B]

(:class:`cnnrank.engines.gram.GramCore`, row scales). This equals training each level on its own
``G_b`` to rounding level only (a different order of the same products; 1e-11 relative after a few
hundred steps in tests/test_batched.py), and is marked in ``metadata["noise_family_scale"]``. A level
``σ = 0`` (fewer distinct patches) and a member whose patches are not the family's are trained on
their own Gram matrix: every member's patches are compared with the family's unit patches (the
marker in ``meta`` is not trusted, and arrays may have been written in place).
Runs of one group whose numbers of distinct patches differ are padded to the group's largest with zero
Gram rows and columns (a padded column is a patch no sample uses: its coefficient never moves); a run
alone in its group, such as a level ``σ = 0`` beside its family, keeps its own size. Each run's :class:`~cnnrank.Trajectory`
is what :func:`cnnrank.train.train` with ``engine="gram"`` (or :func:`cnnrank.train.train_implicit` for
:class:`~cnnrank.gram_sample.GramSample` runs) returns for that run alone, to rounding; both are built
by the same :meth:`Trajectory.from_snapshots`.

A run that blows up does not stop the others: its trajectory keeps the records before the blow-up and
``metadata["diverged_at"]`` holds the step (``train`` would raise :class:`~cnnrank.TrainingDiverged`
there).

The runs' problems (broadcast arguments, noise families' row scales, shared Gram matrices, groups) are
built in :mod:`cnnrank.batched_problems`; this module holds :func:`train_batched` and its loop over groups.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from cnnrank._blas import blas_threads as _blas_threads
from cnnrank._blas import resolve
from cnnrank._schedule import check_schedule, record_steps
from cnnrank._validation import check_real
from cnnrank.activations import Activation, check_activation
from cnnrank.batched_problems import _broadcast, _explicit_problems, _groups, _pad, _pad_scales, _share_grams
from cnnrank.batched_problems import _family_unit as _family_unit
from cnnrank.batched_problems import _row_scales as _row_scales
from cnnrank.data import PatchData
from cnnrank.engines.base import Snapshot
from cnnrank.engines.gram import GramCore, GramEngine, GramProblem, PatchRows
from cnnrank.engines.implicit import ImplicitEngine
from cnnrank.gram_sample import GramSample, sample_meta
from cnnrank.network import TwoLayerCNN
from cnnrank.train import check_records_memory, check_training_inputs
from cnnrank.trajectory import Trajectory

__all__ = ["train_batched"]


def _trajectory(b: int, B: int, chunk: int, recs: list[Snapshot], at: np.ndarray, core: GramCore, k: int,
                problem: GramProblem, net: Any, data: Any, rows: Any, lr: float, act: Activation,
                implicit: bool, diverged: int, started: float) -> Trajectory:
    """Run ``b``'s trajectory from its records and (for explicit runs) its final coefficients."""
    meta = {"engine_choice": "batched", "seconds": time.perf_counter() - started, "batch": (b, B),
            "stacked": chunk}
    if diverged >= 0:
        meta["diverged_at"] = diverged
    if implicit:
        meta["sample"] = sample_meta(data)
        return Trajectory.from_snapshots(recs, at, data, data.m, lr, act, ImplicitEngine.name, meta)
    W_final = None
    if recs and diverged < 0:  # a diverged run's filters are rebuilt at its last (finite) record
        W_final = (net.W.reshape(2 * net.m, -1) + rows.combine(core.Cd[k, : problem.M])).reshape(net.W.shape)
    return Trajectory.from_snapshots(recs, at, data, net.m, lr, act, GramEngine.name, meta,
                                     W_init=net.W, W_final=W_final)


def train_batched(
    nets: TwoLayerCNN | Activation | Sequence[TwoLayerCNN],
    data: PatchData | GramSample | Sequence[PatchData] | Sequence[GramSample],
    lr: float | Sequence[float],
    steps: int,
    record_every: int | None = None,
    test: PatchData | Sequence[PatchData] | None = None,
    chunk_bytes: float = 1.5 * 2**20,
    blas_threads: int | str | None = "auto",
) -> list[Trajectory]:
    """Train ``B`` runs of one shape together (Gram engine, one stacked product per step).

    Parameters
    ----------
    nets : TwoLayerCNN or sequence of TwoLayerCNN, or an Activation for GramSample runs
        Initial filters (2, m, d) per run (one is shared by all runs); every run must use the same
        activation.
    data : PatchData or GramSample, or a sequence of them
        Training set per run (one is shared). ``GramSample`` runs (from
        :meth:`SignalNoiseModel.sample_gram`) are trained as by :func:`cnnrank.train.train_implicit`.
        The levels of one :meth:`SignalNoiseModel.sample_noise_levels` draw (with test sets from
        another such draw, or none) share one Gram matrix (module docstring: noise families).
    lr : float or sequence of float
        Step size per run (one is shared).
    steps : int
        Number of steps ``T >= 0`` (the same for all runs).
    record_every : int, optional
        As in :func:`cnnrank.train.train` (default ``max(1, steps // 100)``).
    test : PatchData or sequence of PatchData, optional
        Test set per run (explicit runs only; GramSample runs carry theirs).
    chunk_bytes : float
        Cache budget of one stacked step. Runs are stacked in groups whose working set (each run's
        ``(M+1)²`` Gram matrix and its ``(M+1, 2m)`` arrays, 8 bytes each) fits in it, and each group
        runs from start to finish before the next one starts. Stacking pays when a run is small (the
        per-step interpreter overhead is shared); once one run's working set fills the per-core cache
        (the paper regime, ``M = 264``, ``m = 40``, already exceeds the 512 KiB per-core L2 cache
        here), stacking more only streams the Gram matrices from memory every step, so such runs
        advance one by one. Runs sharing one Gram matrix (one data set, or one noise family) that do
        not fit in one such stack are grouped around it instead: it counts once, plus the two
        ``(M+1, 2m)`` operands of the wide product per run (two runs per group in the paper regime at
        the default budget). ``float("inf")`` stacks everything (all runs sharing a Gram matrix in
        one group).
    blas_threads : "auto", int or None
        BLAS threads while training, as in :func:`cnnrank.train.train`: ``"auto"`` uses one thread when a
        group's stacked step costs under :data:`cnnrank._blas.SMALL_STEP_FLOPS`, ``None`` leaves BLAS
        alone. Stored in ``metadata["blas_threads"]``.

    Returns
    -------
    list of Trajectory
        One per run, in order; ``metadata["batch"] = (b, B)``, ``metadata["stacked"]`` the number of
        runs stacked per group, and ``metadata["diverged_at"]`` for a run that blew up. ``B`` is
        the longest of ``nets``, ``data``, ``lr``.

    Examples
    --------
    >>> import cnnrank
    >>> model = cnnrank.SignalNoiseModel(d=100, K=2, noise_std=0.5)
    >>> act = cnnrank.HuberizedReLU()
    >>> samples = [model.sample_gram(16, 4, 0.01, rng=s) for s in range(3)]
    >>> trajs = train_batched(act, samples, lr=1.0, steps=50)
    >>> len(trajs), trajs[0].engine
    (3, 'implicit')
    """
    resolve(blas_threads, 0.0)  # validates the argument before anything else
    if chunk_bytes != float("inf"):
        chunk_bytes = check_real("chunk_bytes", chunk_bytes, positive=True)
    lengths = [len(x) for x in (nets, data, lr) if isinstance(x, (list, tuple))]
    for name, x in (("nets", nets), ("data", data), ("lr", lr)):
        if isinstance(x, (list, tuple)) and not len(x):
            raise ValueError(f"{name}=[] is invalid: a batch needs at least one run")
    B = max(lengths, default=1)
    nets_l, data_l, lr_l = _broadcast("nets", nets, B), _broadcast("data", data, B), _broadcast("lr", lr, B)
    checked = [check_schedule(v, steps, record_every) for v in lr_l]
    lrs = np.array([c[0] for c in checked])
    _, steps, record_every = checked[0]
    first = data_l[0]
    if isinstance(first, (PatchData, GramSample)):
        m0 = first.m if isinstance(first, GramSample) else getattr(nets_l[0], "m", 1)
        check_records_memory(steps, record_every, m0, first.n, first.P, runs=B)
    for b, x in enumerate(data_l):
        if not isinstance(x, (PatchData, GramSample)):
            raise TypeError(f"data[{b}]={type(x).__name__} is invalid: must be a cnnrank.PatchData or GramSample")
    implicit = isinstance(data_l[0], GramSample)
    if any(isinstance(x, GramSample) != implicit for x in data_l):
        raise ValueError("data is invalid: mixes GramSample and PatchData runs")
    started = time.perf_counter()
    acts: list[Activation]
    problems: list[GramProblem]
    Xds: list[PatchRows | None]
    scales_l: list[np.ndarray | None]
    tscales_l: list[np.ndarray | None]
    if implicit:
        if test is not None:
            raise ValueError("test is invalid with GramSample runs: draw it with sample_gram(..., n_test=...)")
        if not all(isinstance(a, Activation) for a in nets_l):
            raise TypeError("nets is invalid for GramSample runs: pass the Activation")
        for a in {id(a): a for a in nets_l}.values():
            check_activation(a, full=True)  # a built-in or a registered activation (the network's check)
        acts = list(nets_l)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowed sample diverges at step 0
            cache: dict[int, GramProblem] = {}  # a sample given for several runs is read once
            for s in data_l:
                if id(s) not in cache:
                    cache[id(s)] = GramProblem.from_sample(s)
            problems = [cache[id(s)] for s in data_l]
        Xds = [None] * B
        scales_l, tscales_l = [None] * B, [None] * B
    else:
        test_l = _broadcast("test", test, B)
        for net, d, t in zip(nets_l, data_l, test_l):
            check_training_inputs(net, d, t)
        acts = [net.activation for net in nets_l]
        with np.errstate(over="ignore", invalid="ignore"):  # huge data or filters diverge at step 0
            built, scales_l, tscales_l = _explicit_problems(nets_l, data_l, test_l)
        problems, Xds = [p for p, _ in built], [x for _, x in built]
    if any(a != acts[0] for a in acts):
        raise ValueError("nets is invalid: every run of a batch must use the same activation")
    shapes = {(p.n, p.P, p.m, None if p.test_y is None else p.test_y.shape[0]) for p in problems}
    if len(shapes) != 1:
        raise ValueError(f"runs have shapes (n, P, m, n_test) {sorted(shapes, key=str)} which is invalid: "
                         f"a batch needs one shape")
    M = max(p.M for p in problems)
    test_Gs = [p.test_G for p in problems if p.test_G is not None]
    Mt = max(G.shape[0] for G in test_Gs) if test_Gs else None
    shared = _share_grams(problems)
    groups = _groups(shared, M + 1, problems[0].m, chunk_bytes)
    # each group padded to its own largest M (a level σ = 0 alone in its group keeps its few distinct
    # patches: the padded rows and columns would only add zeros to its sums)
    pad_cache: dict[int, np.ndarray] = {}
    padded: list[GramProblem] = list(shared)
    for group in groups:
        Mg = max(shared[b].M for b in group)
        Mtg = None if Mt is None else max(_test_size(shared[b]) for b in group)
        for b in group:
            padded[b] = _pad(shared[b], Mg, Mtg, pad_cache)
    row_scales = (_pad_scales(scales_l, M), None if Mt is None else _pad_scales(tscales_l, Mt))
    chunk = max(len(g) for g in groups)
    limit = resolve(blas_threads, chunk * GramEngine.cost_per_step(0, 0, 0, problems[0].m, M + 1))
    with _blas_threads(limit):
        out = _run_groups(padded, problems, nets_l, data_l, Xds, lrs, acts[0], implicit, groups, steps,
                          record_every, started, row_scales)
    for t, sc, d in zip(out, scales_l, data_l):
        t.metadata["blas_threads"] = limit
        if sc is not None:  # trained on the family's Gram matrix with row scales
            t.metadata["noise_family_scale"] = float(d.meta["noise_family"]["scale"])
    return out


def _test_size(p: GramProblem) -> int:
    """The number of distinct test patches of a problem (its test Gram matrix's rows)."""
    assert p.test_G is not None
    return int(p.test_G.shape[0])


def _run_groups(padded: list[GramProblem], problems: list[GramProblem], nets_l: list, data_l: list,
                Xds: list, lrs: np.ndarray, act: Activation, implicit: bool, groups: list[list[int]],
                steps: int, record_every: int, started: float,
                row_scales: tuple[np.ndarray | None, np.ndarray | None] = (None, None)) -> list[Trajectory]:
    """Advance the runs group by group (the runs of a group stacked) and assemble their trajectories."""
    B = len(padded)
    acts = [act]
    at = record_steps(steps, record_every)
    snaps: list[list[Snapshot]] = [[] for _ in range(B)]
    diverged = np.full(B, -1, dtype=np.int64)
    out: list[Trajectory] = [None] * B  # type: ignore[list-item]
    for group in groups:  # each group runs start to finish: its state stays in cache
        first = padded[group[0]]  # the group's sizes: its own largest M (and test M)
        sizes = (first.M, None if first.test_G is None else _test_size(first))
        sc, tsc = (None if a is None or np.all(a[group] == 1.0) else a[group][:, :size]
                   for a, size in zip(row_scales, sizes))
        core = GramCore([padded[b] for b in group], acts[0], scales=sc, test_scales=tsc)
        runs = np.array(group)
        div = np.full(core.B, -1, dtype=np.int64)
        current = 0
        for target in at:
            bad = core.advance(int(target - current), lrs[runs])
            hit = (bad >= 0) & (div < 0)
            div[hit] = current + bad[hit]
            loss, acc, tloss, tacc = core.losses()
            fg, lg = core.filter_grams()
            coef = core.coefficients()
            current = int(target)
            for i in np.flatnonzero(div < 0):  # per-run records (small objects)
                snap = Snapshot(float(loss[i]), float(acc[i]), None if tloss is None else float(tloss[i]),
                                None if tacc is None else float(tacc[i]), coef[i], fg[i], lg[i])
                if not snap.is_finite():  # the same test as the single-run engines
                    div[i] = current
                    continue
                snaps[group[i]].append(snap)
        diverged[runs] = div
        for k, b in enumerate(group):  # assemble now, so the group's records are freed early
            args = (b, B, len(group), snaps[b], at, core, k, problems[b], nets_l[b], data_l[b], Xds[b],
                    float(lrs[b]), acts[0], implicit)
            with np.errstate(over="ignore", invalid="ignore"):  # ‖x‖² of huge data may overflow
                out[b] = _trajectory(*args, int(diverged[b]), started)
                k = out[b].finite_records()
                if k < len(out[b]):  # a record whose γ, ρ or ranks are not finite: the blow-up is there
                    del snaps[b][k:]
                    diverged[b] = at[k] if diverged[b] < 0 else min(int(diverged[b]), int(at[k]))
                    out[b] = _trajectory(*args, int(diverged[b]), started)
            snaps[b] = []
    return out
