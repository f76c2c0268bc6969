"""Sweeps: a grid over any :class:`~cnnrank.experiments.RunConfig` fields × seeds (docs/sweeps.md).

* **Seeds.** One root seed; ``np.random.SeedSequence(root_seed).spawn(seeds)`` gives one independent
  stream per seed index. The same stream is used for every grid point of a seed index (common random
  numbers: at seed ``s`` the noise levels differ only by the noise scale), so curves over the grid are
  smooth and differences between grid points are not sampling noise. A cell's result depends only on
  its configuration and its stream: identical whatever the executor, and with grouping whatever the
  grouping (a groupable cell left alone runs as a group of one).
* **Validation first.** Every cell's configuration (engine names included), the scale of the numbers
  it would produce and the size of the whole sweep are checked before anything is written.
* **Groups.** Cells of one seed index whose configurations differ only in ``noise_std`` and ``lr``
  (Gram engine, or ``"auto"``) run as one batched run (:func:`run_cell_group`, through
  :func:`cnnrank.experiments.runs.run_group`): the same draws, each cell's numbers equal to its own run
  (:func:`run_cell`) to rounding level. ``run_sweep(..., group=False)`` runs every cell alone with
  :func:`run_cell`.
* **Executors.** ``executor=None`` runs the cells (or groups) one by one in this process; any
  :class:`concurrent.futures.Executor` (``ProcessPoolExecutor``, :class:`cnnrank._parallel.WorkerPool`,
  a Dask ``Client.get_executor()``) runs them in parallel. Each finished cell is stored as it arrives;
  on a failing cell or an interrupt the queued cells are cancelled (a ``WorkerPool`` is stopped at
  once) and the error names the failing cell's coordinates.
* **Store.** With ``store=DIR`` the sweep's definition goes to ``DIR/sweep.json`` (created
  exclusively) and every finished cell atomically to ``DIR/cells/<id>.json``, each cell carrying the
  sweep's fingerprint, its grid coordinates and its seed index (checked when read back). A sweep holds
  an exclusive lock on ``DIR/.sweep.lock`` while it runs: a second sweep on the same folder fails at
  once. Running the same sweep again computes only the missing cells (an interrupted sweep resumes); a
  store holding a different sweep is refused, naming the options that differ.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Executor, Future, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnrank._memory import check_allocation, format_bytes
from cnnrank._parallel import executor_workers
from cnnrank._progress import progress_bar
from cnnrank._validation import check_int
from cnnrank._version import __version__
from cnnrank.activations import canonical_activation_name
from cnnrank.errors import TrainingDiverged
from cnnrank.experiments.runs import (
    GROUP_FIELDS,
    RunConfig,
    RunOutcome,
    _group_outcomes,
    _step_cost,
    config_from_dict,
    run_once,
)
from cnnrank.results import (
    MAX_JSON_DEPTH,
    ResultsFileError,
    SavableResult,
    _json_too_deep,
    atomic_write_text,
    check_regular_file,
    read_json_file,
)

__all__ = ["ENGINE_NAMES", "GROUP_BYTES", "METRICS", "SweepResult", "SweepSpec", "run_cell", "run_cell_group", "run_sweep",
           "sweep_from_file"]

#: the numbers recorded per cell (means over seeds are what figures show)
METRICS = (
    "data_stable_rank", "clean_data_stable_rank", "patch_stable_rank", "clean_patch_stable_rank",
    "filter_stable_rank", "learned_stable_rank", "train_loss", "train_acc", "test_loss", "test_acc",
    "max_gamma", "max_rho_pos", "min_rho_neg", "learned_dimension", "signal_energy_fraction", "signal_overlap",
    "signals_learned", "learned_rank", "gamma_stable_rank", "overlap_pos", "overlap_neg",
    "signal_learning_time", "predicted_learned_stable_rank", "predicted_signals_learned",
    "predicted_learned_dimension",
)

#: the metrics that are counts: stored as integers (in cell files, ``results.json`` and ``.npz``) when
#: every cell has them
COUNT_METRICS = ("learned_dimension", "signals_learned", "learned_rank", "predicted_signals_learned",
                 "predicted_learned_dimension")
#: documented ranges of the metrics (keyword arguments of :func:`cnnrank.results.check_values`), checked
#: when a sweep's results or cells are read; ``learned_dimension`` is also bounded by ``min(2m, 2K)``
METRIC_RANGES: dict[str, dict[str, Any]] = {
    **{k: {"lo": 1.0, "zero": True} for k in METRICS if k.endswith("stable_rank")},
    "train_loss": {"lo": 0.0}, "test_loss": {"lo": 0.0},
    "train_acc": {"lo": 0.0, "hi": 1.0}, "test_acc": {"lo": 0.0, "hi": 1.0},
    "max_rho_pos": {"lo": 0.0}, "min_rho_neg": {"hi": 0.0},
    "learned_dimension": {"lo": 0, "integer": True},
    "signals_learned": {"lo": 0, "integer": True}, "learned_rank": {"lo": 0, "integer": True},
    "signal_energy_fraction": {"lo": 0.0, "hi": 1.0}, "signal_overlap": {"lo": -1.0, "hi": 1.0},
    "overlap_pos": {"lo": -1.0, "hi": 1.0}, "overlap_neg": {"lo": -1.0, "hi": 1.0},
    "signal_learning_time": {"lo": 0.0}, "predicted_learned_stable_rank": {"lo": 1.0, "zero": True},
    "predicted_signals_learned": {"lo": 0, "integer": True}, "predicted_learned_dimension": {"lo": 0, "integer": True},
}


def _check_metric(name: str, values: Any, dim_bound: int | None = None) -> None:
    """Refuse a metric outside :data:`METRIC_RANGES` (``ValueError`` naming it); NaN passes (a metric
    a cell did not record)."""
    from cnnrank.results import check_values

    rng = dict(METRIC_RANGES.get(name, {}))
    if name == "learned_dimension" and dim_bound is not None:
        rng.update(hi=dim_bound, rule="min(2m, 2K) of the sweep's largest m and K")
    check_values(name, values, **rng)


#: the grid axis whose values are dicts of overrides (a list of configurations rather than a product)
CONFIG_AXIS = "config"

#: the values of ``engine`` a sweep accepts (``"implicit"``: the dimension-free engine, see :func:`run_cell`)
ENGINE_NAMES = ("auto", "feature", "gram", "implicit")

#: fields whose values are names (a number there is a typo, refused before any code reads it)
_STRING_FIELDS = ("activation", "engine", "signal_basis")

#: no filter, patch or filter move may exceed this norm: float64 Gram matrices of such vectors
#: (squares summed over filters and patches) overflow
SCALE_LIMIT = 1e140

#: estimated bytes per cell: its result in memory, and its file on disk (one file-system block)
CELL_MEMORY_BYTES = 4096
CELL_DISK_BYTES = 4096

#: at most this many bytes of extra data per group of cells run together (each noise level of a group
#: holds its own copy of the training and test patches, ``8 (n + n_test) P d`` bytes, the group one more
#: for the unit draw, each run its records): larger groups are split
GROUP_BYTES = 256 * 2**20

#: the engines whose cells are grouped (``"auto"``: the runs where it picks the Gram engine are batched)
_GROUPED_ENGINES = ("gram", "auto")

STORE_FORMAT = 2
_LOCK_NAME = ".sweep.lock"


def _canonical_activation(value: Any) -> Any:
    """The canonical name of an activation name (anything else unchanged, refused by the configuration check)."""
    if not isinstance(value, str):
        return value
    try:
        return canonical_activation_name(value)
    except ValueError:
        return value


def _fmt_point(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in point.items()) or "the only grid point"


def _cell_where(cid: str, point: dict[str, Any], seed_index: int) -> str:
    return f"sweep cell {cid} ({_fmt_point(point)}, seed index {seed_index})"


def _make_config(values: dict[str, Any], base: RunConfig | None, where: str) -> RunConfig:
    """``config_from_dict`` with every error a ``ValueError``/``TypeError`` prefixed by ``where``."""
    for k in _STRING_FIELDS:
        if k in values and not isinstance(values[k], str):
            raise ValueError(f"{where}{k}={values[k]!r} is invalid: must be a string")
    try:
        config = config_from_dict(values, base)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{where}{exc}") from None
    except Exception as exc:  # anything else from a bad value is still a bad value
        raise ValueError(f"{where}{type(exc).__name__}: {exc}") from None
    _check_config(config, where)
    return config


def _check_config(config: RunConfig, where: str) -> None:
    """What ``RunConfig`` leaves to training time: the engine name and the scale of the numbers.

    The filters start with norm at most ``σ_0 (√d + 6)`` and move by at most ``lr · steps · P ·
    max‖x‖`` (a step moves a filter by at most ``lr · P · max‖x‖`` for activations of slope <= 1,
    with ``max‖x‖ <= max(‖μ‖, σ_p (√d + 6))`` with overwhelming probability). Past
    :data:`SCALE_LIMIT` the Gram matrices of these vectors overflow float64: such a cell can only
    fail, so it is refused before anything is written.
    """
    if config.engine not in ENGINE_NAMES:
        raise ValueError(f"{where}engine={config.engine!r} is invalid: must be one of {list(ENGINE_NAMES)}")
    root_d = math.sqrt(config.d) + 6.0
    x_max = max(config.signal_norm, config.noise_std * root_d)
    if x_max > SCALE_LIMIT:
        raise ValueError(f"{where}signal_norm={config.signal_norm!r}, noise_std={config.noise_std!r} are invalid: "
                         f"patches of norm up to {x_max:.3g} exceed {SCALE_LIMIT:g}, where float64 Gram "
                         f"matrices overflow")
    w0 = config.init_std * root_d
    if w0 > SCALE_LIMIT:
        raise ValueError(f"{where}init_std={config.init_std!r} is invalid: initial filters of norm up to "
                         f"{w0:.3g} exceed {SCALE_LIMIT:g}, where float64 Gram matrices overflow")
    move = config.lr * config.steps * config.patches * x_max
    if move > SCALE_LIMIT:
        top = SCALE_LIMIT / (config.steps * config.patches * x_max)
        raise ValueError(f"{where}lr={config.lr!r} is invalid: with steps={config.steps}, patches={config.patches} "
                         f"and patches of norm up to {x_max:.3g} the filters may move by up to "
                         f"lr·steps·P·max‖x‖ = {move:.3g}, beyond {SCALE_LIMIT:g} where float64 Gram matrices "
                         f"overflow; use lr <= {top:.3g} (docs/theory.md §6)")


def _grid_dict(grid: Any, what: str = "grid") -> dict[str, Any]:
    """A grid as an ordered dict: from a dict, or from a list of ``[name, values]`` pairs."""
    if isinstance(grid, dict):
        return dict(grid)
    if isinstance(grid, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in grid):
        out: dict[str, Any] = {}
        for name, values in grid:
            if not isinstance(name, str):
                raise ValueError(f"{what} axis name {name!r} is invalid: must be a string")
            if name in out:
                raise ValueError(f"{what} axis {name!r} is invalid: listed twice")
            out[name] = values
        return out
    raise ValueError(f"{what}={grid!r:.80} is invalid: must map field names to lists of values "
                     f"(a [grid] table, or a list of [name, values] pairs)")


@dataclass(frozen=True)
class SweepSpec:
    """A grid over configuration fields × seeds.

    Parameters
    ----------
    base : RunConfig
        The configuration every cell starts from.
    grid : dict of field name -> sequence of values
        The axes, in order (an empty grid is one point). A list of ``(name, values)`` pairs is
        accepted too.
    seeds : int
        Seeds per grid point (>= 1).
    root_seed : int
        Root of the ``SeedSequence`` (>= 0).

    The axis named ``"config"`` (:data:`CONFIG_AXIS`) is special: its values are dicts of field
    overrides, applied together, so a sweep can run an arbitrary list of configurations (what the
    calibration scorecard draws at random) with the same store, executors and resume as a grid; its
    other axes may not name a field one of those dicts sets.

    Every grid point's configuration is built and checked on creation (unknown fields, bad values,
    unknown engines, numbers that would overflow): a spec that exists can run.
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
        grid = {}
        for name, values in _grid_dict(self.grid).items():
            if not isinstance(name, str):
                raise ValueError(f"grid axis name {name!r} is invalid: must be a string")
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
                raise ValueError(f"grid[{name!r}]={values!r:.80} is invalid: must be a non-empty list of values")
            if name == CONFIG_AXIS:
                for v in values:
                    if not isinstance(v, dict) or not all(isinstance(k, str) for k in v):
                        raise ValueError(f"grid[{name!r}] entry {v!r:.80} is invalid: must be a table of field overrides")
                    clash = sorted(set(v) & (set(_grid_dict(self.grid)) - {CONFIG_AXIS}))
                    if clash:
                        raise ValueError(f"grid[{name!r}] entry sets {clash}, which are also grid axes")
            if name == "activation":  # stored as a configuration stores it: "HUBER3" is "huber3"
                values = [_canonical_activation(v) for v in values]
                dup = sorted({str(v) for v in values if values.count(v) > 1})
                if dup:
                    raise ValueError(f"grid['activation'] names {dup[0]!r} twice (names are compared "
                                     "canonically: 'HUBER3' is 'huber3')")
            grid[name] = tuple(values)
        object.__setattr__(self, "grid", grid)
        for point in self.points():  # validates every configuration up front
            _make_config(point, self.base, f"grid point {_fmt_point(point)}: " if point else "")

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape (one axis per grid field)."""
        return tuple(len(v) for v in self.grid.values())

    @property
    def axes(self) -> tuple[str, ...]:
        """The grid's field names, in the order of the axes of every result array."""
        return tuple(self.grid)

    @property
    def n_cells(self) -> int:
        """Grid points × seeds."""
        return math.prod(self.shape) * self.seeds

    def points(self) -> list[dict[str, Any]]:
        """The grid points, row-major, as dicts of overrides."""
        names = list(self.grid)
        out = []
        for combo in itertools.product(*self.grid.values()):
            point: dict[str, Any] = {}
            for name, value in zip(names, combo):
                if name == CONFIG_AXIS:
                    point.update(value)
                else:
                    point[name] = value
            out.append(point)
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"base", "grid", "seeds", "root_seed"}`` with the grid as a dict in axis order.

        A dict's order is lost by anything that sorts keys: files hold the grid as ``[name, values]``
        pairs (:meth:`to_file_dict`).
        """
        return {"base": self.base.to_dict(), "grid": {k: list(v) for k, v in self.grid.items()},
                "seeds": self.seeds, "root_seed": self.root_seed}

    def to_file_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` with the grid as a list of ``[name, values]`` pairs (order-safe in any file)."""
        return {**self.to_dict(), "grid": [[k, list(v)] for k, v in self.grid.items()]}

    def fingerprint(self) -> str:
        """A hash of the definition (what a store is checked against), axis order included.

        A grid listed in alphabetical order hashes as it always did (stores written by earlier
        versions still resume); any other order adds the list of axes to the hashed record.
        """
        record = self.to_dict()
        if list(self.grid) != sorted(self.grid):
            record["axes"] = list(self.grid)
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Any) -> SweepSpec:
        """From ``{"base": {...}, "grid": {...}, "seeds": int, "root_seed": int}``; unknown keys raise.

        ``grid`` may also be a list of ``[name, values]`` pairs (what :meth:`to_file_dict` writes).
        """
        if not isinstance(data, dict):
            raise ValueError("sweep definition is invalid: must be a table/object")
        unknown = sorted(set(data) - {"base", "grid", "seeds", "root_seed"})
        if unknown:
            raise ValueError(f"sweep keys {unknown} are invalid: known keys are base, grid, seeds, root_seed")
        base_values = data.get("base", {})
        if not isinstance(base_values, dict):
            raise ValueError(f"base={base_values!r:.80} is invalid: must be a table of RunConfig fields")
        base = _make_config(base_values, None, "base: ")
        return cls(base=base, grid=_grid_dict(data.get("grid", {})), seeds=data.get("seeds", 1),
                   root_seed=data.get("root_seed", 0))

    def cells(self) -> list[tuple[str, dict[str, Any], int]]:
        """``(cell id, overrides, seed index)`` for every cell."""
        out = []
        for g, point in enumerate(self.points()):
            for s in range(self.seeds):
                out.append((f"g{g:04d}-s{s:03d}", point, s))
        return out


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


def _spec_from_file_record(spec: Any, path: Any) -> dict[str, Any]:
    """A stored sweep definition (``spec`` of a results file) with its grid as an ordered dict."""
    if not isinstance(spec, dict) or not {"base", "grid", "seeds"} <= set(spec):
        raise ResultsFileError(f"results file {str(path)!r} has a sweep definition which is invalid: "
                               f"must hold base, grid and seeds")
    try:
        grid = _grid_dict(spec["grid"])
    except ValueError as exc:
        raise ResultsFileError(f"results file {str(path)!r} is invalid: {exc}") from None
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ResultsFileError(f"results file {str(path)!r} has grid[{k!r}]={v!r:.60} which is invalid: "
                                   f"must be a non-empty list")
    seeds = spec["seeds"]
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ResultsFileError(f"results file {str(path)!r} has seeds={seeds!r:.60} which is invalid: "
                               f"must be an integer >= 1")
    return {**spec, "grid": grid}


def _legacy_axis_order(grid: dict[str, list], shape: tuple[int, ...], path: Any) -> dict[str, list]:
    """The axis order of a file written before grids were stored as pairs (keys sorted on save).

    The arrays kept the sweep's order; when only one order of the axes fits their shape it is that
    one, otherwise the order cannot be recovered and the file is refused.
    """
    names = list(grid)
    fits = {p for p in itertools.permutations(names) if tuple(len(grid[n]) for n in p) == shape}
    if not fits:
        return grid  # the shape check reports it
    if len(fits) > 1:
        raise ResultsFileError(
            f"results file {str(path)!r} was written by an older cnnrank that did not keep the order of the grid "
            f"axes {names}, and axes of equal length make it ambiguous; re-run the sweep to write it again")
    order = fits.pop()
    return {n: grid[n] for n in order}


def _dimension_bound(spec: dict[str, Any]) -> int | None:
    """``min(2 max m, 2 max K)`` over the sweep's base and grid (the learned dimension's bound at every
    point), or ``None`` when the stored definition does not show it."""
    base: dict[str, Any] = spec["base"] if isinstance(spec.get("base"), dict) else {}
    grid = spec["grid"]
    out = []
    for name in ("m", "K"):
        vals = list(grid.get(name, [])) or [base.get(name)]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in vals):
            return None
        out.append(2 * max(vals))
    return min(out)


@dataclass(eq=False)
class SweepResult(SavableResult):
    """Results of a sweep: ``values[metric]`` has shape ``grid shape + (seeds,)``.

    ``spec`` is :meth:`SweepSpec.to_dict` (the grid a dict in axis order); files hold the grid as
    ``[name, values]`` pairs, so the order survives any tool that sorts keys.
    """

    spec: dict
    values: dict
    seconds: float = 0.0

    _kind = "SweepResult"

    def __post_init__(self) -> None:
        if isinstance(self.values, dict):  # counts as ints, also when read from an older file
            self.values = _counts_as_ints(self.values)

    def to_npz_bytes(self) -> bytes:  # arrays of the dict go to the archive
        from cnnrank.results import npz_bytes

        spec = {**self.spec, "grid": [[k, list(v)] for k, v in self.grid.items()]}
        return npz_bytes({f"values/{k}": v for k, v in self.values.items()},
                         {"kind": self._kind, "fields": {"spec": spec, "seconds": self.seconds}})

    @classmethod
    def load(cls, path: Any) -> SweepResult:
        """Load what :meth:`save` wrote; the axis order, the array shapes and the types are checked."""
        from cnnrank.results import load_npz

        arrays, meta = load_npz(path, kind=cls._kind)
        values = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("values/")}
        f = meta.get("fields", {})
        if not isinstance(f, dict) or "spec" not in f:
            raise ResultsFileError(f"results file {str(path)!r} lacks the sweep definition")
        legacy = isinstance(f["spec"], dict) and isinstance(f["spec"].get("grid"), dict)
        spec = _spec_from_file_record(f["spec"], path)
        if not values:
            raise ResultsFileError(f"results file {str(path)!r} holds no sweep values")
        first = next(iter(values.values()))
        if legacy and len(spec["grid"]) > 1:
            spec["grid"] = _legacy_axis_order(spec["grid"], tuple(first.shape[:-1]), path)
        shape = tuple(len(v) for v in spec["grid"].values()) + (spec["seeds"],)
        for k, v in values.items():
            if v.shape != shape:
                raise ResultsFileError(
                    f"results file {str(path)!r} has values[{k!r}] of shape {v.shape} which is invalid: the grid "
                    f"{list(spec['grid'])} × seeds has shape {shape}")
            if v.dtype.kind not in "fiu":
                raise ResultsFileError(f"results file {str(path)!r} has values[{k!r}] of dtype {v.dtype} which "
                                       f"is invalid: must be numbers")
        seconds = f.get("seconds", 0.0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
            raise ResultsFileError(f"results file {str(path)!r} has seconds={seconds!r:.60} which is invalid: "
                                   f"must be a number >= 0")
        bound = _dimension_bound(spec)
        for k, v in values.items():
            try:
                _check_metric(k, v, bound)
            except ValueError as exc:
                raise ResultsFileError(f"results file {str(path)!r} has values[{k!r}] out of range: {exc}") from None
        return cls(spec=spec, values=values, seconds=float(seconds))

    @property
    def grid(self) -> dict[str, list]:
        """The axes, in the order of the arrays' axes."""
        return _grid_dict(self.spec["grid"])

    def mean(self, metric: str) -> np.ndarray:
        """Mean over seeds, shape = grid shape."""
        if metric not in self.values:
            raise ValueError(f"metric={metric!r} is invalid: must be one of {sorted(self.values)}")
        return self.values[metric].mean(axis=-1)

    def to_dataframe(self) -> Any:
        """The results as a tidy ``pandas.DataFrame``: one row per grid point × seed, the columns the
        grid axes, ``seed`` (the seed index) and the metrics (counts as integers); the definition in
        ``DataFrame.attrs``. Needs pandas (``pip install 'cnnrank[tidy]'``); see docs/tidy.md."""
        from cnnrank.tidy import to_dataframe

        return to_dataframe(self)

    def to_xarray(self) -> Any:
        """The results as an ``xarray.Dataset``: the grid axes and ``seed`` are its dimensions, the
        metrics its data variables, the base configuration, seeds and version its ``attrs``. Needs
        xarray (``pip install 'cnnrank[tidy]'``); see docs/tidy.md."""
        from cnnrank.tidy import to_xarray

        return to_xarray(self)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able record; ``axes`` lists the grid fields in the order of the arrays' axes."""
        return {"spec": self.spec, "axes": list(self.grid), "seconds": self.seconds,
                "values": {k: v.tolist() for k, v in self.values.items()},
                "mean": {k: self.mean(k).tolist() for k in self.values}}


# ----------------------------------------------------------------------------------------- the store

#: the largest JSON file of a store read (``sweep.json`` or a cell; both are a few KiB)
_STORE_JSON_BYTES = 64 << 20


def _store_paths(store: Path) -> tuple[Path, Path]:
    return store / "sweep.json", store / "cells"


def _existing_ancestor(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def _check_size(spec: SweepSpec, store: Path | None, local: bool) -> None:
    """Refuse, before anything is written, a sweep whose results cannot fit in memory or on disk, or
    (run here or on a local pool) a cell whose arrays cannot fit in memory."""
    n = spec.n_cells
    hint = "use fewer seeds or grid values"
    check_allocation(n * CELL_MEMORY_BYTES, f"a sweep of {n} cells ({spec.seeds} seeds × {math.prod(spec.shape)} "
                     f"grid points; its results are kept in memory)", hint)
    if store is not None:
        base = _existing_ancestor(store)
        try:
            free = shutil.disk_usage(base).free
        except OSError:
            free = None
        if free is not None and n * CELL_DISK_BYTES > free:
            raise ValueError(f"store={str(store)!r} is invalid: a sweep of {n} cells needs about "
                             f"{format_bytes(n * CELL_DISK_BYTES)} for its cell files, more than the "
                             f"{format_bytes(free)} free there; {hint}")
    if not local:
        return
    seen = set()
    for point in spec.points():
        config = config_from_dict(point, spec.base)
        key = (config.n, config.n_test, config.patches, config.d, config.m, config.K, config.engine)
        if key in seen:
            continue
        seen.add(key)
        where = f"grid point {_fmt_point(point)}" if point else "the sweep's cell"
        if config.engine == "implicit":
            N = 2 * config.K + (config.n + config.n_test) * (config.patches - 1) + 2 * config.m
            check_allocation(3 * 8.0 * N * N, f"{where} on the implicit engine (three {N} × {N} Gram matrices)",
                             "use a smaller n")
        else:
            nbytes = 8.0 * (2 * (config.n + config.n_test) * config.patches * config.d + 4 * config.m * config.d)
            if config.engine == "gram":
                nbytes += 8.0 * (config.n * config.patches) ** 2
            check_allocation(nbytes, f"{where} (data of {config.n + config.n_test} samples × {config.patches} "
                             f"patches × d={config.d}, with a clean copy)", "use engine='implicit' (no d-dimensional "
                             "vectors) or smaller n, d")


class _StoreLock:
    """An exclusive ``flock`` on ``DIR/.sweep.lock`` (held while a sweep runs in ``DIR``)."""

    def __init__(self, store: Path) -> None:
        self.path = store / _LOCK_NAME
        self.fd: int | None = None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise ValueError(f"store={str(store)!r} is invalid: cannot create its lock file ({exc.strerror})") from None
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: the exclusive creation of sweep.json remains
            self.fd = fd
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ValueError(f"store={str(store)!r} is invalid: another sweep is running in it (it holds "
                             f"{str(self.path)!r}); wait for it to finish or use another folder") from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None


def _prepare_store(store: Path) -> None:
    """Create ``store`` and ``store/cells`` (errors name the folder)."""
    for folder in (store, _store_paths(store)[1]):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"store={str(store)!r} is invalid: {str(folder)!r} is a file, not a folder")
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"store={str(store)!r} is invalid: cannot create it ({exc.strerror or exc})") from None
    if not os.access(store, os.W_OK | os.X_OK):
        raise ValueError(f"store={str(store)!r} is invalid: the folder is not writable")


def _read_json(path: Path, what: str, hint: str = "") -> Any:
    """:func:`cnnrank.results.read_json_file`: a regular file only (a FIFO is refused, not waited on),
    bounded in size and nesting; one :class:`ResultsFileError` naming the file."""
    return read_json_file(path, what, max_bytes=_STORE_JSON_BYTES, hint=hint)


def _spec_diff(stored: Any, new: SweepSpec) -> list[str]:
    """What differs between a stored definition and ``new``, one ``"name: old -> new"`` per option."""
    if not isinstance(stored, dict):
        return []
    out = []
    old_base: dict[str, Any] = stored["base"] if isinstance(stored.get("base"), dict) else {}
    new_base = new.base.to_dict()
    for k in sorted(set(old_base) | set(new_base)):
        if old_base.get(k, "(default)") != new_base.get(k, "(default)"):
            out.append(f"base.{k}: {old_base.get(k, '(default)')!r} -> {new_base.get(k, '(default)')!r}")
    try:
        old_grid = {k: list(v) for k, v in _grid_dict(stored.get("grid", {})).items()}
    except ValueError:
        old_grid = {}
    new_grid = {k: list(v) for k, v in new.grid.items()}
    for k in [*old_grid, *[k for k in new_grid if k not in old_grid]]:
        if old_grid.get(k) != new_grid.get(k):
            out.append(f"grid.{k}: {old_grid.get(k, '(none)')!r} -> {new_grid.get(k, '(none)')!r}")
    if not out and list(old_grid) != list(new_grid):
        out.append(f"grid axis order: {list(old_grid)} -> {list(new_grid)}")
    for k in ("seeds", "root_seed"):
        if stored.get(k) != getattr(new, k):
            out.append(f"{k}: {stored.get(k)!r} -> {getattr(new, k)!r}")
    return out


def _create_meta(meta_path: Path, record: dict[str, Any]) -> bool:
    """Create ``sweep.json`` atomically and exclusively (complete content or nothing; never replaces).
    Returns False when the file already exists."""
    tmp = meta_path.with_name(f".sweep.json.{os.getpid()}.tmp")
    atomic_write_text(tmp, json.dumps(record, indent=2))
    try:
        os.link(tmp, meta_path)
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: exclusive creation, then the content
        try:
            fd = os.open(meta_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(record, indent=2))
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _check_meta(store: Path) -> None:
    """Refuse an existing ``sweep.json`` that is not a sweep's record (read only, before the lock; the
    same check runs again under the lock in :func:`_open_store`)."""
    meta_path = _store_paths(store)[0]
    if not meta_path.is_file():
        return
    meta = _read_json(meta_path, "sweep store file")
    if not isinstance(meta, dict) or not isinstance(meta.get("fingerprint"), str):
        raise ResultsFileError(f"sweep store file {str(meta_path)!r} is invalid: must be an object with the "
                               f"sweep's fingerprint and definition (found {type(meta).__name__}); use another folder")


def _open_store(store: Path, spec: SweepSpec) -> dict[str, dict]:
    """Check or create ``sweep.json`` and read the finished cells (the caller holds the lock)."""
    meta_path, cells_dir = _store_paths(store)
    record = {"store_format": STORE_FORMAT, "fingerprint": spec.fingerprint(), "spec": spec.to_file_dict(),
              "cnnrank_version": __version__}
    if meta_path.is_dir():
        raise ValueError(f"store={str(store)!r} is invalid: {str(meta_path)!r} is a folder, not a file")
    if not _create_meta(meta_path, record):
        meta = _read_json(meta_path, "sweep store file")
        if not isinstance(meta, dict) or not isinstance(meta.get("fingerprint"), str):
            raise ResultsFileError(f"sweep store file {str(meta_path)!r} is invalid: must be an object with the "
                                   f"sweep's fingerprint and definition (found {type(meta).__name__}); "
                                   f"use another folder")
        if meta["fingerprint"] != spec.fingerprint():
            if not cells_dir.is_dir() or not any(cells_dir.glob("*.json")):
                atomic_write_text(meta_path, json.dumps(record, indent=2))  # nothing finished: nothing to lose
            else:
                diff = _spec_diff(meta.get("spec"), spec)
                what = "; ".join(diff) if diff else f"fingerprint {meta['fingerprint']} vs {spec.fingerprint()}"
                raise ValueError(f"store={str(store)!r} is invalid: it holds a different sweep ({what}); "
                                 f"use a new folder, or the stored definition")
    try:
        cells_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise ValueError(f"store={str(store)!r} is invalid: cannot create {str(cells_dir)!r} "
                         f"({exc.strerror or exc})") from None
    for tmp in cells_dir.glob(".*.tmp"):  # left by a process killed while writing (we hold the lock)
        tmp.unlink(missing_ok=True)
    for tmp in store.glob(".*sweep.json.*.tmp"):  # the same for sweep.json (written only under the lock)
        tmp.unlink(missing_ok=True)
    expected = {cid: (point, s) for cid, point, s in spec.cells()}
    fingerprint = spec.fingerprint()
    done = {}
    for p in sorted(cells_dir.glob("*.json")):
        cell = _read_cell(p, expected, fingerprint)
        if cell is not None:
            done[p.stem] = cell
    return done


def _read_cell(path: Path, expected: dict[str, tuple[dict, int]], fingerprint: str) -> dict | None:
    """A stored cell after checking it is this sweep's cell ``path.stem``; ``None`` to recompute it.

    Cells written before cells carried their identity (no ``sweep`` key) are recomputed: nothing
    shows which sweep they belong to, and recomputing gives the same bits. Anything else that does not
    check out (unreadable, ``{}``, ``null``, another sweep's, another cell's, edited) is refused: it
    was written by something other than this sweep, and the user should look before it is replaced. Each
    cell carries a checksum of its content (``digest``), so an edited number shows too.
    """
    fix = "delete it to recompute the cell, or use a new folder"
    cid = path.stem
    if cid not in expected:
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: this sweep has no cell {cid!r}; {fix}")
    cell = _read_json(path, "sweep cell file", hint=fix)
    if isinstance(cell, dict) and "sweep" not in cell and isinstance(cell.get("metrics"), dict) and "seed" in cell:
        return None  # an older cnnrank's cell: unverifiable, recomputed
    if not isinstance(cell, dict) or not {"sweep", "cell", "point", "seed_index", "metrics", "digest"} <= set(cell):
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: not a sweep cell record "
                               f"(found {json.dumps(cell)[:60]}); {fix}")
    if cell["sweep"] != fingerprint:
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: it belongs to another sweep "
                               f"(fingerprint {cell['sweep']!r}, this sweep {fingerprint}); {fix}")
    point, s = expected[cid]
    if cell["cell"] != cid or cell["seed_index"] != s or cell["point"] != json.loads(json.dumps(point)):
        raise ResultsFileError(
            f"sweep cell file {str(path)!r} is invalid: it holds cell {cell['cell']!r} ({cell['point']!r:.80}, "
            f"seed index {cell['seed_index']!r}), not {cid} ({_fmt_point(point)}, seed index {s}): moved or "
            f"edited; {fix}")
    if cell["digest"] != _digest(cell):
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: its content does not match its checksum "
                               f"(edited after it was written); {fix}")
    metrics = cell["metrics"]
    if not isinstance(metrics, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in metrics.values()):
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: its metrics must be numbers; {fix}")
    for k, v in metrics.items():
        try:
            _check_metric(k, v)
        except ValueError as exc:
            raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: {exc}; {fix}") from None
    seconds = cell.get("seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ResultsFileError(f"sweep cell file {str(path)!r} is invalid: seconds={seconds!r:.40}; {fix}")
    return cell


def _digest(cell: dict[str, Any]) -> str:
    """A checksum of a cell record (every key but ``digest``): a hand edit shows."""
    body = {k: v for k, v in cell.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _name_cell(exc: BaseException, where: str) -> None:
    """Put the cell's coordinates at the front of ``exc``'s message (its type, traceback kept)."""
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = (f"{where}: {exc.args[0]}",)
    else:
        exc.add_note(where)


def _is_local(executor: Executor | None) -> bool:
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    return executor is None or isinstance(executor, (ProcessPoolExecutor, ThreadPoolExecutor))


_Cell = tuple[str, dict[str, Any], int]


def _group_key(config: dict[str, Any], seed_index: int) -> str | None:
    """Cells with the same key can run as one group (``None``: this cell runs alone)."""
    if config.get("engine") not in _GROUPED_ENGINES:
        return None
    shared = {k: v for k, v in config.items() if k not in GROUP_FIELDS}
    return json.dumps([seed_index, shared], sort_keys=True)


def _cell_cost(config: dict[str, Any]) -> float:
    """Modelled flops of one cell (what orders and balances the units of a parallel sweep)."""
    return _step_cost(RunConfig(**config)) * max(int(config["steps"]), 1)


def _unit_bytes(unit: list[_Cell], configs: dict[str, dict[str, Any]]) -> float:
    """Extra memory of a group: each noise level's training and test patches (and the family's unit draw),
    each run's records."""
    c = configs[unit[0][0]]
    n, n_test, P, d, m = c["n"], c["n_test"], c["patches"], c["d"], c["m"]
    levels = len({configs[cid]["noise_std"] for cid, _, _ in unit})
    records = int(c["steps"]) // int(c["record_every"]) + 2
    return 8.0 * (n + n_test) * P * d * (levels + 1) + len(unit) * 2 * 8.0 * 2 * m * n * P * records


def _split(unit: list[_Cell], k: int) -> list[list[_Cell]]:
    """``unit`` in ``k`` contiguous pieces whose sizes differ by at most one."""
    k = max(1, min(k, len(unit)))
    size, extra = divmod(len(unit), k)
    out, at = [], 0
    for i in range(k):
        step = size + (1 if i < extra else 0)
        out.append(unit[at: at + step])
        at += step
    return out


def _plan(todo: list[_Cell], configs: dict[str, dict[str, Any]], group: bool, workers: int) -> list[list[_Cell]]:
    """The units of work: single cells, and groups of cells that run together (each at most
    :data:`GROUP_BYTES` of extra memory; with several workers, none costing more than a worker's share)."""
    if not group:
        return [[cell] for cell in todo]
    units: list[list[_Cell]] = []
    by_key: dict[str, list[_Cell]] = {}
    for cell in todo:
        key = _group_key(configs[cell[0]], cell[2])
        if key is None:
            units.append([cell])
        elif key in by_key:
            by_key[key].append(cell)
        else:
            by_key[key] = [cell]
            units.append(by_key[key])
    fitted: list[list[_Cell]] = []
    for unit in units:
        if len(unit) > 1:  # the cells of one noise level next to each other: they share their data
            levels = list(dict.fromkeys(configs[cid]["noise_std"] for cid, _, _ in unit))
            unit = sorted(unit, key=lambda cell: levels.index(configs[cell[0]]["noise_std"]))
        k = 1
        while k < len(unit) and any(_unit_bytes(piece, configs) > GROUP_BYTES for piece in _split(unit, k)):
            k += 1
        fitted += _split(unit, k)
    if workers > 1:  # balanced units: no group longer than a worker's share of the sweep
        cost = {id(u): sum(_cell_cost(configs[cid]) for cid, _, _ in u) for u in fitted}
        share = sum(cost.values()) / workers
        balanced: list[list[_Cell]] = []
        for unit in fitted:
            k = math.ceil(cost[id(unit)] / share) if share > 0 and len(unit) > 1 else 1
            balanced += _split(unit, k)
        fitted = balanced
    return fitted


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
        return _run_cells(spec, store_path, executor, progress, on_cell, done, group, keep_diverged, balance)
    finally:
        if lock is not None:
            lock.release()


def _run_cells(spec: SweepSpec, store_path: Path | None, executor: Executor | None, progress: bool | None,
               on_cell: Callable[[str, dict], None] | None, done: dict[str, dict], group: bool = True,
               keep_diverged: bool = False, balance: bool = True) -> SweepResult:
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
    units = _plan(todo, configs, group, executor_workers(executor) if balance else 1)
    try:
        if executor is None:
            for unit in units:
                fn, args = submit(unit)
                try:
                    res = fn(*args)
                except TrainingDiverged as exc:
                    if not keep_diverged:
                        _name_cell(exc, unit_where(unit))
                        raise
                    res = [{"error": exc}]
                except Exception as exc:
                    _name_cell(exc, unit_where(unit))
                    raise
                settle(unit, res if isinstance(res, list) else [res])
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
                    try:
                        res = fut.result()
                    except CancelledError:
                        # cancelled by the executor, not failed: a Dask client that lost its scheduler
                        # cancels every pending cell (the caller names the cause)
                        raise CancelledError("the executor cancelled the sweep's cells (a lost scheduler or "
                                             "a pool shut down from outside); the finished cells are kept") from None
                    except TrainingDiverged as exc:
                        if not keep_diverged:
                            _name_cell(exc, unit_where(unit))
                            raise
                        res = [{"error": exc}]
                    except Exception as exc:
                        _name_cell(exc, unit_where(unit))
                        raise
                    settle(unit, res if isinstance(res, list) else [res])
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


def _counts_as_ints(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``values`` with the :data:`COUNT_METRICS` as int64 arrays where every entry is a whole number
    (cells of older versions stored them as floats; a missing one, NaN, keeps the array float)."""
    out = dict(values)
    for k in COUNT_METRICS:
        v = out.get(k)
        if isinstance(v, np.ndarray) and v.dtype.kind == "f" and np.all(np.isfinite(v)) and np.all(v == np.round(v)):
            out[k] = v.astype(np.int64)
    return out


def sweep_from_file(path: str | os.PathLike) -> SweepSpec:
    """Read a sweep definition from a ``.toml`` or ``.json`` file (errors name the file)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sweep file {str(path)!r} does not exist")
    check_regular_file(path, "sweep file")  # a FIFO is refused, not waited on
    if path.stat().st_size > 16 * 2**20:
        raise ValueError(f"sweep file {str(path)!r} is invalid: larger than 16 MiB (a sweep definition is a few lines)")
    text = path.read_bytes()
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text.decode("utf-8"))
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise ValueError("must end in .toml or .json")
    except RecursionError:
        raise ValueError(f"sweep file {str(path)!r} is invalid: it nests too deeply to be a sweep definition") from None
    except Exception as exc:
        raise ValueError(f"sweep file {str(path)!r} is invalid: {exc}") from None
    if _json_too_deep(data, MAX_JSON_DEPTH):
        raise ValueError(f"sweep file {str(path)!r} is invalid: it nests more than {MAX_JSON_DEPTH} levels, deeper "
                         f"than any sweep definition")
    try:
        return SweepSpec.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"sweep file {str(path)!r} is invalid: {exc}") from None
