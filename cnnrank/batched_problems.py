r"""The batched runs' problems (layer 4): broadcast the per-run arguments, build each explicit run's
:class:`~cnnrank.engines.gram.GramProblem` (in the unit coordinates of a noise family, with its row
scales), share one Gram matrix among runs on the same data, and group the runs that can be stacked.

Used by :func:`cnnrank.batched.train_batched` (whose docstring describes the batching and the noise
families); re-exported there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from cnnrank.data import PatchData
from cnnrank.engines.gram import GramProblem, PatchRows, distinct_patches


def _broadcast(name: str, value: Any, B: int) -> list:
    items = list(value) if isinstance(value, (list, tuple)) else [value] * B
    if len(items) != B:
        raise ValueError(f"{name} has {len(items)} entries which is invalid: must have 1 or {B} (the batch size)")
    return items


def _pad(p: GramProblem, M: int, Mt: int | None, cache: dict[int, np.ndarray]) -> GramProblem:
    """Pad to ``M`` distinct training (``Mt`` test) patches with zero rows/columns; move the sentinel.

    A Gram matrix shared by several problems is padded once (``cache``, keyed by the array's id), so the
    padded problems share it too."""
    dM = M - p.M
    if dM == 0 and (Mt is None or (p.test_G is not None and p.test_G.shape[0] == Mt)):
        return p

    def padded(A: np.ndarray, widths: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
        if id(A) not in cache:
            cache[id(A)] = np.pad(A, widths)
        return cache[id(A)]
    kw = {}
    if Mt is not None:
        assert p.test_G is not None and p.test_Z0 is not None and p.test_index is not None
        dt = Mt - p.test_G.shape[0]
        kw = dict(test_G=padded(p.test_G, ((0, dt), (0, dM))), test_Z0=np.pad(p.test_Z0, ((0, dt), (0, 0))),
                  test_index=np.where(p.test_index == p.test_G.shape[0], Mt, p.test_index), test_y=p.test_y)
    return GramProblem(G=padded(p.G, ((0, dM), (0, dM))), Z0=np.pad(p.Z0, ((0, dM), (0, 0))), WW0=p.WW0,
                       index=np.where(p.index == p.M, M, p.index), y=p.y, P=p.P, **kw)


def _family_unit(d: PatchData | None, units: dict[str, PatchData]) -> tuple[PatchData, float] | None:
    """The unit-noise data of ``d``'s noise family and ``d``'s scale, or ``None`` when ``d`` is not a
    usable member: no marker, a zero scale, or patches that are not, to 1e-12 relative, the family's
    unit patches with the background scaled by ``scale`` and the signal patches as they are. The
    marker is only a hint: the patches are checked numerically for every member (a copy of the unit
    patches taken at the first use is the reference), so a forged marker, patches replaced with
    ``replace(X=...)``, or a unit or member array written in place after the draw is trained on its
    own Gram matrix, as any run."""
    fam = d.meta.get("noise_family") if d is not None and isinstance(d.meta, dict) else None
    if not isinstance(fam, dict) or d is None or not d.has_decomposition:
        return None
    unit, scale, key = fam.get("unit_X"), fam.get("scale"), fam.get("id")
    if (not isinstance(unit, np.ndarray) or unit.shape != d.X.shape or unit.dtype != np.float64
            or not isinstance(scale, float) or not (0 < scale < np.inf)):
        return None
    key = f"{key}/{id(unit)}"
    base = units.get(key)
    if base is None:
        if not np.all(np.isfinite(unit)):
            return None
        base = units[key] = PatchData(X=np.array(unit), y=d.y, signals=d.signals, signal_id=d.signal_id,
                                      signal_pos=d.signal_pos, y_true=d.y_true)
    elif not all(np.array_equal(np.asarray(getattr(base, k)), np.asarray(getattr(d, k)))
                 for k in ("y", "signal_pos", "signal_id")):
        return None
    noise = np.arange(d.P)[None, :] != np.asarray(d.signal_pos)[:, None]
    factor = np.where(noise, scale, 1.0)[:, :, None]  # background patches σ ξ, signal patches as they are
    with np.errstate(over="ignore", invalid="ignore"):
        top = float(np.max(np.abs(d.X)))
        if not np.isfinite(top) or float(np.max(np.abs(d.X - factor * base.X))) > 1e-12 * top:
            return None
    return base, float(scale)


def _row_scales(rows: PatchRows, data: PatchData, scale: float) -> np.ndarray:
    """``s_k`` of the distinct patches: 1 for a signal patch, ``scale`` for a background patch."""
    assert data.signal_pos is not None
    r = rows.reps
    noise = (r % data.P) != np.asarray(data.signal_pos)[r // data.P]
    return np.where(noise, scale, 1.0)


def _pad_scales(scales: list[np.ndarray | None], size: int) -> np.ndarray | None:
    """Row scales of every run as one (B, size) array (ones for runs without, and for padding), or
    ``None`` when no run has any."""
    if all(a is None for a in scales):
        return None
    out = np.ones((len(scales), size))
    for b, a in enumerate(scales):  # set-up only
        if a is not None:
            out[b, : a.size] = a
    return out


def _explicit_problems(nets_l: list, data_l: list, test_l: list
                       ) -> tuple[list[tuple[GramProblem, PatchRows]], list[np.ndarray | None], list[np.ndarray | None]]:
    """:meth:`GramProblem.from_vectors` for every run, and the row scales of the noise-family runs.

    Runs on the same data and test objects get the same ``G``, ``index`` and ``test_G`` arrays
    (computed once) and their own ``Z0``, ``WW0``, ``test_Z0`` (the same calls as ``from_vectors``, so
    the same numbers; shared between runs with the same initial filters). A run whose data (and test
    set) are members of a noise family (:meth:`SignalNoiseModel.sample_noise_levels`) is built on the
    family's unit-noise data instead, so that all levels share one ``G``, with row scales ``s_k``
    (:class:`GramCore`)."""
    units: dict[str, PatchData] = {}
    first: dict[tuple[int, int], tuple[GramProblem, PatchRows, PatchRows | None]] = {}
    by_net: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
    out, scales, tscales = [], [], []
    for net, d, t in zip(nets_l, data_l, test_l):
        fam, tfam = _family_unit(d, units), _family_unit(t, units)
        if fam is not None and (t is None or tfam is not None):
            d_run, t_run = fam[0], None if tfam is None else tfam[0]
        else:
            fam = tfam = None
            d_run, t_run = d, t
        key = (id(d_run), id(t_run))
        if key not in first:
            p, rows = GramProblem.from_vectors(net.W, d_run, t_run)
            trows = None
            if t_run is not None:
                Xt2 = t_run.X.reshape(-1, t_run.X.shape[-1])
                trows = PatchRows(Xt2, distinct_patches(Xt2)[0])
            first[key] = (p, rows, trows)
            by_net[key + (id(net),)] = (p.Z0, p.WW0, p.test_Z0)
        p0, rows, trows = first[key]
        nkey = key + (id(net),)
        if nkey not in by_net:
            Wf = np.asarray(net.W, dtype=np.float64).reshape(-1, d_run.X.shape[-1])
            by_net[nkey] = (rows.product(Wf), Wf @ Wf.T, None if trows is None else trows.product(Wf))
        Z0, WW0, tZ0 = by_net[nkey]
        out.append((p0 if Z0 is p0.Z0 else replace(p0, Z0=Z0, WW0=WW0, test_Z0=tZ0), rows))
        scales.append(None if fam is None else _row_scales(rows, d_run, fam[1]))
        tscales.append(None if tfam is None or trows is None else _row_scales(trows, tfam[0], tfam[1]))
    return out, scales, tscales


def _share_grams(problems: list[GramProblem]) -> list[GramProblem]:
    """Make problems whose Gram matrices (and test cross-Grams) are equal arrays hold the same objects,
    which :class:`GramCore` detects and stores once."""
    reps: list[np.ndarray] = []
    treps: list[np.ndarray] = []

    def same(A: np.ndarray, pool: list[np.ndarray]) -> np.ndarray:
        for R in pool:
            if R is A or (R.shape == A.shape and np.array_equal(R, A)):
                return R
        pool.append(A)
        return A
    out = []
    for p in problems:
        G = same(p.G, reps)
        tG = None if p.test_G is None else same(p.test_G, treps)
        out.append(p if G is p.G and tG is p.test_G else replace(p, G=G, test_G=tG))
    return out


def _groups(problems: list[GramProblem], M1: int, m: int, chunk_bytes: float) -> list[list[int]]:
    """Runs stacked together, as lists of run indices.

    Each stacked run counts its own ``(M+1)²`` matrix and ~8 ``(M+1, 2m)`` arrays against
    ``chunk_bytes`` (8 bytes a number). Runs holding the same Gram matrix (one array object, see
    :func:`_share_grams`) that do not all fit in one such stack are stacked around their matrix
    instead: it counts once, and each run its two ``(M+1, 2m)`` operands of the wide product (``Z``
    and ``ΔĈ``). Everything else is stacked in order."""
    gram, arrays = 8.0 * M1 * M1, 8.0 * M1 * 2 * m
    inf = chunk_bytes == float("inf")
    k_stack = max(1, len(problems)) if inf else max(1, int(chunk_bytes // (gram + 8 * arrays)))
    by_G: dict[int, list[int]] = {}
    for b, p in enumerate(problems):
        by_G.setdefault(id(p.G), []).append(b)
    groups: list[list[int]] = []
    alone: list[int] = []
    for runs in by_G.values():
        k = len(runs) if inf else max(1, int((chunk_bytes - gram) // (2 * arrays)))
        if len(runs) == 1 or k == 1 or (not inf and k_stack >= len(runs)):  # small: stack with the rest
            alone += runs
            continue
        groups += [runs[i: i + k] for i in range(0, len(runs), k)]
    alone.sort()
    groups += [alone[i: i + k_stack] for i in range(0, len(alone), k_stack)]
    return sorted(groups)
