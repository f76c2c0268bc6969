"""Running a sweep: one cell (:func:`run_cell`) or one group of cells (:func:`run_cell_group`) as plain
functions of plain values that any executor can ship, and :func:`run_sweep`, which checks, locks the
store, plans the units, runs them here or on an executor, stores each finished cell and collects the
:class:`~cnnrank.sweeps.result.SweepResult` (docs/sweeps.md).
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Executor, Future, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from cnnrank._parallel import executor_workers
from cnnrank._progress import progress_bar
from cnnrank._validation import check_int
from cnnrank.errors import TrainingDiverged
from cnnrank.experiments.runs import RunConfig, RunOutcome, _group_outcomes, config_from_dict, run_once
from cnnrank.results import ResultsFileError, atomic_write_text
from cnnrank.sweeps.planner import _Cell, _cell_cost, _group_key, _plan
from cnnrank.sweeps.result import COUNT_METRICS, METRICS, SweepResult, _counts_as_ints
from cnnrank.sweeps.spec import SweepSpec, _cell_where, _fmt_point
from cnnrank.sweeps.store import (
    _check_meta,
    _check_size,
    _digest,
    _open_store,
    _prepare_store,
    _read_cell,
    _store_paths,
    _StoreLock,
)


def _seed_stream(root_seed: int, seed_index: int) -> np.random.SeedSequence:
    check_int("root_seed", root_seed, minimum=0)
    check_int("seed_index", seed_index, minimum=0)
    return np.random.SeedSequence(root_seed).spawn(seed_index + 1)[seed_index]


def _cell_result(outcome: RunOutcome, seq: np.random.SeedSequence, root_seed: int, seed_index: int,
                 seconds: float) -> dict[str, Any]:
    scalars = outcome.scalars()
    return {
        "metrics": {k: int(scalars[k]) if k in COUNT_METRICS else float(scalars[k]) for k in METRICS if k in scalars},
        "seed": {"root_seed": root_seed, "seed_index": seed_index, "spawn_key": list(seq.spawn_key)},
        "engine": outcome.trajectory.engine,
        "seconds": float(seconds),
    }


def run_cell(config: dict[str, Any], root_seed: int, seed_index: int) -> dict[str, Any]:
    """Run one cell (a plain function of plain values, so any executor can ship it).

    The stream is ``SeedSequence(root_seed).spawn(seed_index + 1)[seed_index]``, i.e. the
    ``seed_index``-th child of the root, given to :func:`cnnrank.experiments.run_once` (which runs
    ``engine="implicit"`` on the dimension-free path: the same draws as ``cnnrank simulate --engine
    implicit`` with that stream).
    """
    seq = _seed_stream(root_seed, seed_index)
    outcome = run_once(RunConfig(**config), rng=seq)
    return _cell_result(outcome, seq, root_seed, seed_index, outcome.trajectory.metadata.get("seconds", 0.0))


def run_cell_group(configs: list[dict[str, Any]], root_seed: int, seed_index: int,
                   errors: str = "raise") -> list[dict[str, Any]]:
    """Run the cells of one seed index that differ only in ``noise_std`` and ``lr`` together.

    A plain function of plain values, as :func:`run_cell`: the stream of ``seed_index`` goes to
    :func:`cnnrank.experiments.runs.run_group` (one draw of the data at every noise level, one initial
    network, the Gram-engine runs trained as one batch). Each dict is what ``run_cell(configs[b],
    root_seed, seed_index)`` returns, its metrics equal to rounding level; ``seconds`` is the group's
    wall time shared equally by its cells.

    Parameters
    ----------
    configs : list of dict
        Flat :class:`~cnnrank.experiments.RunConfig` dicts, equal except in ``noise_std`` and ``lr``.
    root_seed, seed_index : int
        As in :func:`run_cell`.
    errors : {"raise", "return"}
        ``"raise"``: the error of the first failing cell (in order) is raised, as :func:`run_cell`
        raises it. ``"return"``: a failing cell's dict is ``{"error": exception}`` and the other
        cells' results are kept (what :func:`run_sweep` uses, to name the failing cell).
    """
    if errors not in ("raise", "return"):
        raise ValueError(f"errors={errors!r} is invalid: must be 'raise' or 'return'")
    seq = _seed_stream(root_seed, seed_index)
    started = time.perf_counter()
    outcomes = _group_outcomes([RunConfig(**c) for c in configs], rng=seq)
    seconds = (time.perf_counter() - started) / max(len(outcomes), 1)
    out = []
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            if errors == "raise":
                raise outcome
            out.append({"error": outcome})
        else:
            out.append(_cell_result(outcome, seq, root_seed, seed_index, seconds))
    return out


def _name_cell(exc: BaseException, where: str) -> None:
    """Put the cell's coordinates at the front of ``exc``'s message (its type, traceback kept)."""
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (f"{where}: {exc.args[0]}",)
    else:
        exc.add_note(where)


def _is_local(executor: Executor | None) -> bool:
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    return executor is None or isinstance(executor, (ProcessPoolExecutor, ThreadPoolExecutor))


def _group_where(unit: list[_Cell]) -> str:
    cells = "; ".join(f"{cid} ({_fmt_point(point)})" for cid, point, _ in unit)
    return f"sweep cells {cells} (seed index {unit[0][2]}, run as one group)"


def run_sweep(
    spec: SweepSpec,
    store: str | os.PathLike | None = None,
    executor: Executor | None = None,
    progress: bool | None = None,
    on_cell: Callable[[str, dict], None] | None = None,
    group: bool = True,
    keep_diverged: bool = False,
    balance: bool = True,
    reuse: tuple[SweepSpec, str | os.PathLike] | None = None,
) -> SweepResult:
    """Run every cell of ``spec`` (only the missing ones when ``store`` already has some).

    Parameters
    ----------
    spec : SweepSpec
    store : folder, optional
        Where cells are written atomically, one JSON file per cell; locked while the sweep runs.
    executor : concurrent.futures.Executor, optional
        Runs the cells; ``None`` runs them here, one by one.
    progress : bool or None
        Progress bar on stderr (``None``: only on a terminal).
    on_cell : callable, optional
        ``on_cell(cell_id, result)`` after each cell is stored.
    group : bool
        ``True`` (default): the missing cells of one seed index whose configurations differ only in
        ``noise_std`` and ``lr`` (Gram engine or ``"auto"``) run together (:func:`run_cell_group`),
        in groups of at most :data:`GROUP_BYTES` of extra data, split further so that every worker of
        ``executor`` has work; every other cell alone. The numbers equal those of ``False`` to
        rounding level. ``False``: every cell alone (:func:`run_cell`).
    keep_diverged : bool
        ``False`` (default): a cell whose training diverges stops the sweep with its
        :class:`~cnnrank.TrainingDiverged`, naming the cell. ``True``: such a cell is stored with no
        metrics (NaN in the result) and ``"diverged"`` holding the message, and the sweep goes on (what
        the calibration scorecard uses: a random configuration may be unstable).
    balance : bool
        ``True`` (default): with ``group``, groups are split further so that every worker of
        ``executor`` has work (the numbers then depend on the number of workers, to rounding level).
        ``False``: the grouping of a run in this process whatever the executor, so the numbers are the
        same bits for any number of workers (what the commands use).
    reuse : (SweepSpec, folder), optional
        Another sweep and its store, already run: a missing cell whose flat configuration, root seed
        and seed index equal those of a cell stored there is copied from it (metrics, seed, engine,
        seconds) instead of run, and stored here. The numbers are those the cell would get when run:
        bit for bit when the two sweeps group that cell with the same cells (as the ``rank-vs-noise``
        headline and its activation ablation do: one group per seed index over the same noise levels),
        to rounding level otherwise (as on a resume). Cells there that do not check out are not taken;
        a diverged one only with ``keep_diverged``.

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError
        Before anything is written: the sweep or one of its cells cannot fit; the store is another
        sweep's (the differing options are named), is locked by a running sweep, or is not a folder.
    ResultsFileError
        A stored file is not this sweep's (named, with how to fix it).
    Exception
        The error of the first failing cell, its message prefixed with the cell's id, grid
        coordinates and seed index (the ids and coordinates of all its cells for an error of a whole
        group); the cells finished before it are stored, the queued ones cancelled (a
        :class:`~cnnrank._parallel.WorkerPool` is stopped at once).
    """
    if not isinstance(spec, SweepSpec):
        raise TypeError(f"spec={type(spec).__name__} is invalid: must be a SweepSpec")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor={type(executor).__name__} is invalid: must be a concurrent.futures.Executor")
    if on_cell is not None and not callable(on_cell):
        raise TypeError(f"on_cell={on_cell!r:.40} is invalid: must be callable")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress={progress!r:.40} is invalid: must be True, False or None")
    if not isinstance(group, bool):
        raise TypeError(f"group={group!r:.40} is invalid: must be True or False")
    if not isinstance(keep_diverged, bool):
        raise TypeError(f"keep_diverged={keep_diverged!r:.40} is invalid: must be True or False")
    if not isinstance(balance, bool):
        raise TypeError(f"balance={balance!r:.40} is invalid: must be True or False")
    if reuse is not None and not (isinstance(reuse, tuple) and len(reuse) == 2 and isinstance(reuse[0], SweepSpec)
                                  and isinstance(reuse[1], (str, os.PathLike))):
        raise TypeError(f"reuse={reuse!r:.60} is invalid: must be a (SweepSpec, store folder) pair")
    store_path = None if store is None else Path(store)
    if store_path is not None:
        _check_meta(store_path)  # a broken sweep.json is refused before anything (the lock file) is written
    _check_size(spec, store_path, _is_local(executor))  # everything checked: from here on we write
    lock = None
    if store_path is not None:
        _prepare_store(store_path)
        lock = _StoreLock(store_path)
    try:
        done = _open_store(store_path, spec) if store_path is not None else {}
        reused = _reusable(reuse, keep_diverged) if reuse is not None else {}
        return _run_cells(spec, store_path, executor, progress, on_cell, done, group, keep_diverged, balance,
                          reused)
    finally:
        if lock is not None:
            lock.release()


#: the keys of a stored cell that name it (the rest is what its run gave)
_CELL_IDENTITY = ("sweep", "cell", "point", "seed_index", "digest")


def _reuse_key(config: dict[str, Any], root_seed: int, seed_index: int) -> str:
    """What determines a cell's numbers: its flat configuration, root seed and seed index."""
    return json.dumps([config, root_seed, seed_index], sort_keys=True)


def _reusable(reuse: tuple[SweepSpec, str | os.PathLike], keep_diverged: bool) -> dict[str, dict]:
    """The finished cells of another sweep's store that check out, by :func:`_reuse_key`, without their
    identity (what :func:`run_sweep` ``reuse=`` copies)."""
    other, folder = reuse
    cells_dir = _store_paths(Path(folder))[1]
    cells = other.cells()
    expected = {cid: (point, s) for cid, point, s in cells}
    fingerprint = other.fingerprint()
    out: dict[str, dict] = {}
    for cid, point, s in cells:
        path = cells_dir / f"{cid}.json"
        if not path.is_file():
            continue
        try:
            cell = _read_cell(path, expected, fingerprint)
        except ResultsFileError:
            continue  # not this sweep's cell as written: run ours instead
        if cell is None or ("diverged" in cell and not keep_diverged):
            continue
        config = config_from_dict(point, other.base).to_dict()
        out[_reuse_key(config, other.root_seed, s)] = {k: v for k, v in cell.items() if k not in _CELL_IDENTITY}
    return out


def _run_cells(spec: SweepSpec, store_path: Path | None, executor: Executor | None, progress: bool | None,
               on_cell: Callable[[str, dict], None] | None, done: dict[str, dict], group: bool = True,
               keep_diverged: bool = False, balance: bool = True,
               reused: dict[str, dict] | None = None) -> SweepResult:
    cells = spec.cells()
    todo = [(cid, point, s) for cid, point, s in cells if cid not in done]
    bar = progress_bar(len(cells), desc="sweep", enabled=progress)
    bar.update(len(cells) - len(todo))
    results = dict(done)
    fingerprint = spec.fingerprint()
    where = {cid: _cell_where(cid, point, s) for cid, point, s in todo}

    def finish(cid: str, point: dict, s: int, res: dict) -> None:
        res = {"sweep": fingerprint, "cell": cid, "point": point, "seed_index": s, **res}
        res["digest"] = _digest(res)
        results[cid] = res
        if store_path is not None:
            atomic_write_text(_store_paths(store_path)[1] / f"{cid}.json", json.dumps(res))
        bar.update(1)
        if on_cell is not None:
            on_cell(cid, res)

    def settle(unit: list[_Cell], outcome: list[dict]) -> None:
        """Store the unit's finished cells, then raise the first failing cell's error, naming it."""
        failed = None
        for cell, res in zip(unit, outcome):
            if "error" in res and keep_diverged and isinstance(res["error"], TrainingDiverged):
                finish(*cell, {"metrics": {}, "diverged": str(res["error"]), "seconds": 0.0})
            elif "error" in res:
                failed = failed or (cell[0], res["error"])
            else:
                finish(*cell, res)
        if failed is not None:
            _name_cell(failed[1], where[failed[0]])
            raise failed[1]

    def submit(unit: list[_Cell]) -> tuple[Callable[..., Any], tuple]:
        """The function and arguments that run ``unit``."""
        cid, _, s = unit[0]
        if len(unit) == 1 and (not group or _group_key(configs[cid], s) is None):
            return run_cell, (configs[cid], spec.root_seed, s)
        # a groupable cell left alone (the last one on resume, a split) runs as a group of one: its
        # numbers equal those of any other grouping to rounding (the group's products have other widths),
        # bit for bit when the grouping is the same
        return run_cell_group, ([configs[cid] for cid, _, _ in unit], spec.root_seed, unit[0][2], "return")

    def unit_where(unit: list[_Cell]) -> str:
        return where[unit[0][0]] if len(unit) == 1 else _group_where(unit)

    configs = {cid: config_from_dict(point, spec.base).to_dict() for cid, point, _ in todo}
    if reused:
        taken = {cid: reused[key] for cid, _, s in todo
                 if (key := _reuse_key(configs[cid], spec.root_seed, s)) in reused}
        for cid, point, s in todo:
            if cid in taken:
                finish(cid, point, s, dict(taken[cid]))
        todo = [cell for cell in todo if cell[0] not in taken]
    units = _plan(todo, configs, group, executor_workers(executor) if balance else 1)

    def results_of(unit: list[_Cell], get: Callable[[], Any]) -> list[dict]:
        """The unit's cell results from ``get()``. A diverged run is a kept cell with ``keep_diverged``;
        any other error is raised naming the unit, a cancellation as one line."""
        try:
            res = get()
        except CancelledError:
            # cancelled by the executor, not failed: a Dask client that lost its scheduler
            # cancels every pending cell (the caller names the cause)
            raise CancelledError("the executor cancelled the sweep's cells (a lost scheduler or "
                                 "a pool shut down from outside); the finished cells are kept") from None
        except TrainingDiverged as exc:
            if not keep_diverged:
                _name_cell(exc, unit_where(unit))
                raise
            return [{"error": exc}]
        except Exception as exc:
            _name_cell(exc, unit_where(unit))
            raise
        return res if isinstance(res, list) else [res]

    try:
        if executor is None:
            for unit in units:
                fn, args = submit(unit)
                settle(unit, results_of(unit, functools.partial(fn, *args)))
        else:
            # the costliest units first, so that the last ones to finish are short
            order = sorted(units, key=lambda u: -sum(_cell_cost(configs[cid]) for cid, _, _ in u))
            futures: dict[Future, list[_Cell]] = {}
            for unit in order:
                fn, args = submit(unit)
                futures[executor.submit(fn, *args)] = unit
            try:
                for fut in as_completed(futures):
                    unit = futures[fut]
                    settle(unit, results_of(unit, fut.result))
            except BaseException:
                for fut in futures:
                    fut.cancel()
                from cnnrank._parallel import WorkerPool

                if isinstance(executor, WorkerPool):
                    executor.stop()
                raise
    finally:
        bar.close()
    return _collect(spec, results)


def _collect(spec: SweepSpec, results: dict[str, dict]) -> SweepResult:
    shape = spec.shape + (spec.seeds,)
    names = sorted({k for r in results.values() for k in r["metrics"]})
    values = {k: np.full(shape, np.nan) for k in names}
    seconds = 0.0
    for g in range(len(spec.points())):
        idx = np.unravel_index(g, spec.shape) if spec.shape else ()
        for s in range(spec.seeds):
            r = results[f"g{g:04d}-s{s:03d}"]
            seconds += r.get("seconds", 0.0)
            for k in names:
                values[k][tuple(idx) + (s,)] = r["metrics"].get(k, np.nan)
    return SweepResult(spec=spec.to_dict(), values=_counts_as_ints(values), seconds=seconds)
