"""Sweeps: a grid over any :class:`~cnnrank.experiments.RunConfig` fields × seeds.

* **Seeds.** One root seed; ``np.random.SeedSequence(root_seed).spawn(seeds)`` gives one independent
  stream per seed index. The same stream is used for every grid point of a seed index (common random
  numbers: at seed ``s`` the noise levels differ only by the noise scale), so curves over the grid are
  smooth and differences between grid points are not sampling noise. A cell's result depends only on
  its configuration and its stream: identical whatever the executor.
* **Executors.** ``executor=None`` runs the cells one by one in this process; any
  :class:`concurrent.futures.Executor` (``ProcessPoolExecutor``, a Dask ``Client.get_executor()``)
  runs them in parallel.
* **Store.** With ``store=DIR`` every finished cell is written atomically to ``DIR/cells/<id>.json``
  and the sweep's definition to ``DIR/sweep.json``. Running the same sweep again computes only the
  missing cells (an interrupted sweep resumes); a store holding a different sweep is refused.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnrank._progress import progress_bar
from cnnrank._validation import check_int
from cnnrank._version import __version__
from cnnrank.experiments.runs import RunConfig, config_from_dict, run_once
from cnnrank.results import ResultsFileError, SavableResult, atomic_write_text

__all__ = ["METRICS", "SweepResult", "SweepSpec", "run_cell", "run_sweep", "sweep_from_file"]

#: the numbers recorded per cell (means over seeds are what figures show)
METRICS = (
    "data_stable_rank", "clean_data_stable_rank", "patch_stable_rank", "clean_patch_stable_rank",
    "filter_stable_rank", "learned_stable_rank", "train_loss", "train_acc", "test_loss", "test_acc",
    "max_gamma", "max_rho_pos", "min_rho_neg", "learned_dimension", "signal_energy_fraction", "signal_overlap",
)


@dataclass(frozen=True)
class SweepSpec:
    """A grid over configuration fields × seeds.

    Parameters
    ----------
    base : RunConfig
        The configuration every cell starts from.
    grid : dict of field name -> sequence of values
        The axes, in order (an empty grid is one point).
    seeds : int
        Seeds per grid point (>= 1).
    root_seed : int
        Root of the ``SeedSequence`` (>= 0).
    """

    base: RunConfig = field(default_factory=RunConfig)
    grid: dict[str, Sequence[Any]] = field(default_factory=dict)
    seeds: int = 1
    root_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.base, RunConfig):
            raise TypeError(f"base={type(self.base).__name__} is invalid: must be a RunConfig")
        check_int("seeds", self.seeds, minimum=1)
        check_int("root_seed", self.root_seed, minimum=0)
        if not isinstance(self.grid, dict):
            raise ValueError(f"grid={self.grid!r} is invalid: must map field names to lists of values")
        grid = {}
        for name, values in self.grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
                raise ValueError(f"grid[{name!r}]={values!r} is invalid: must be a non-empty list of values")
            grid[name] = tuple(values)
        object.__setattr__(self, "grid", grid)
        for point in self.points():  # validates every configuration up front
            config_from_dict(point, self.base)

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape (one axis per grid field)."""
        return tuple(len(v) for v in self.grid.values())

    def points(self) -> list[dict[str, Any]]:
        """The grid points, row-major, as dicts of overrides."""
        names = list(self.grid)
        return [dict(zip(names, combo)) for combo in itertools.product(*self.grid.values())]

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "grid": {k: list(v) for k, v in self.grid.items()},
                "seeds": self.seeds, "root_seed": self.root_seed}

    def fingerprint(self) -> str:
        """A hash of the definition (what a store is checked against)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        """From ``{"base": {...}, "grid": {...}, "seeds": int, "root_seed": int}``; unknown keys raise."""
        if not isinstance(data, dict):
            raise ValueError("sweep definition is invalid: must be a table/object")
        unknown = sorted(set(data) - {"base", "grid", "seeds", "root_seed"})
        if unknown:
            raise ValueError(f"sweep keys {unknown} are invalid: known keys are base, grid, seeds, root_seed")
        base = config_from_dict(data.get("base", {}))
        return cls(base=base, grid=dict(data.get("grid", {})), seeds=data.get("seeds", 1),
                   root_seed=data.get("root_seed", 0))

    def cells(self) -> list[tuple[str, dict[str, Any], int]]:
        """``(cell id, overrides, seed index)`` for every cell."""
        out = []
        for g, point in enumerate(self.points()):
            for s in range(self.seeds):
                out.append((f"g{g:04d}-s{s:03d}", point, s))
        return out


def run_cell(config: dict[str, Any], root_seed: int, seed_index: int) -> dict[str, Any]:
    """Run one cell (a plain function of plain values, so any executor can ship it).

    The stream is ``SeedSequence(root_seed).spawn(seed_index + 1)[seed_index]``, i.e. the
    ``seed_index``-th child of the root.
    """
    seq = np.random.SeedSequence(root_seed).spawn(seed_index + 1)[seed_index]
    outcome = run_once(RunConfig(**config), rng=seq)
    scalars = outcome.scalars()
    return {
        "metrics": {k: float(scalars[k]) for k in METRICS if k in scalars},
        "seed": {"root_seed": root_seed, "seed_index": seed_index, "spawn_key": list(seq.spawn_key)},
        "engine": outcome.trajectory.engine,
        "seconds": float(outcome.trajectory.metadata.get("seconds", 0.0)),
    }


@dataclass(eq=False)
class SweepResult(SavableResult):
    """Results of a sweep: ``values[metric]`` has shape ``grid shape + (seeds,)``."""

    spec: dict
    values: dict
    seconds: float = 0.0

    _kind = "SweepResult"

    def save(self, path: Any) -> Path:  # arrays of the dict go to the archive
        from cnnrank.results import save_npz

        return save_npz(path, {f"values/{k}": v for k, v in self.values.items()},
                        {"kind": self._kind, "fields": {"spec": self.spec, "seconds": self.seconds}})

    @classmethod
    def load(cls, path: Any) -> SweepResult:
        from cnnrank.results import load_npz

        arrays, meta = load_npz(path, kind=cls._kind)
        values = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("values/")}
        f = meta.get("fields", {})
        if "spec" not in f:
            raise ResultsFileError(f"results file {str(path)!r} lacks the sweep definition")
        return cls(spec=f["spec"], values=values, seconds=float(f.get("seconds", 0.0)))

    @property
    def grid(self) -> dict[str, list]:
        return self.spec["grid"]

    def mean(self, metric: str) -> np.ndarray:
        """Mean over seeds, shape = grid shape."""
        if metric not in self.values:
            raise ValueError(f"metric={metric!r} is invalid: must be one of {sorted(self.values)}")
        return self.values[metric].mean(axis=-1)

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "seconds": self.seconds,
                "values": {k: v.tolist() for k, v in self.values.items()},
                "mean": {k: self.mean(k).tolist() for k in self.values}}


def _store_paths(store: Path) -> tuple[Path, Path]:
    return store / "sweep.json", store / "cells"


def _open_store(store: Path, spec: SweepSpec) -> dict[str, dict]:
    meta_path, cells_dir = _store_paths(store)
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ResultsFileError(f"sweep store file {str(meta_path)!r} is corrupted ({exc})") from None
        if meta.get("fingerprint") != spec.fingerprint():
            raise ValueError(f"store={str(store)!r} is invalid: it holds a different sweep "
                             f"(fingerprint {meta.get('fingerprint')} vs {spec.fingerprint()}); use a new folder")
    else:
        atomic_write_text(meta_path, json.dumps({"fingerprint": spec.fingerprint(), "spec": spec.to_dict(),
                                                 "cnnrank_version": __version__}, indent=2))
    cells_dir.mkdir(parents=True, exist_ok=True)
    done = {}
    for p in cells_dir.glob("*.json"):
        try:
            done[p.stem] = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            p.unlink()  # cannot happen with atomic writes unless edited by hand: recompute
    return done


def run_sweep(
    spec: SweepSpec,
    store: str | os.PathLike | None = None,
    executor: Executor | None = None,
    progress: bool | None = None,
    on_cell: Callable[[str, dict], None] | None = None,
) -> SweepResult:
    """Run every cell of ``spec`` (only the missing ones when ``store`` already has some).

    Parameters
    ----------
    spec : SweepSpec
    store : folder, optional
        Where cells are written atomically, one JSON file per cell.
    executor : concurrent.futures.Executor, optional
        Runs the cells; ``None`` runs them here, one by one.
    progress : bool or None
        Progress bar on stderr (``None``: only on a terminal).
    on_cell : callable, optional
        ``on_cell(cell_id, result)`` after each cell is stored.

    Returns
    -------
    SweepResult
    """
    if not isinstance(spec, SweepSpec):
        raise TypeError(f"spec={type(spec).__name__} is invalid: must be a SweepSpec")
    store_path = None if store is None else Path(store)
    done = _open_store(store_path, spec) if store_path is not None else {}
    cells = spec.cells()
    todo = [(cid, point, s) for cid, point, s in cells if cid not in done]
    bar = progress_bar(len(cells), desc="sweep", enabled=progress)
    bar.update(len(cells) - len(todo))
    results = dict(done)

    def finish(cid: str, res: dict) -> None:
        results[cid] = res
        if store_path is not None:
            atomic_write_text(_store_paths(store_path)[1] / f"{cid}.json", json.dumps(res))
        bar.update(1)
        if on_cell is not None:
            on_cell(cid, res)

    configs = {cid: config_from_dict(point, spec.base).to_dict() for cid, point, _ in todo}
    try:
        if executor is None:
            for cid, _, s in todo:
                finish(cid, run_cell(configs[cid], spec.root_seed, s))
        else:
            futures: dict[Future, str] = {
                executor.submit(run_cell, configs[cid], spec.root_seed, s): cid for cid, _, s in todo
            }
            for fut in as_completed(futures):
                finish(futures[fut], fut.result())
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
    return SweepResult(spec=spec.to_dict(), values=values, seconds=seconds)


def sweep_from_file(path: str | os.PathLike) -> SweepSpec:
    """Read a sweep definition from a ``.toml`` or ``.json`` file (errors name the file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file {str(path)!r} does not exist")
    text = path.read_bytes()
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text.decode("utf-8"))
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise ValueError("must end in .toml or .json")
    except Exception as exc:
        raise ValueError(f"sweep file {str(path)!r} is invalid: {exc}") from None
    try:
        return SweepSpec.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"sweep file {str(path)!r} is invalid: {exc}") from None
