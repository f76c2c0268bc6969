"""The definition of a sweep: a grid over :class:`~cnnrank.experiments.RunConfig` fields × seeds
(:class:`SweepSpec`), its checks, and reading it from a ``.toml`` / ``.json`` file (docs/sweeps.md).

Every grid point's configuration is built and checked when the spec is created (unknown fields, bad
values, unknown engines, numbers that would overflow float64): a spec that exists can run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnrank._validation import check_int
from cnnrank.activations import canonical_activation_name
from cnnrank.experiments.runs import RunConfig, config_from_dict
from cnnrank.results import MAX_JSON_DEPTH, _json_too_deep, check_regular_file

#: the grid axis whose values are dicts of overrides (a list of configurations rather than a product)
CONFIG_AXIS = "config"

#: the values of ``engine`` a sweep accepts (``"implicit"``: the dimension-free engine, see :func:`cnnrank.sweeps.run_cell`)
ENGINE_NAMES = ("auto", "feature", "gram", "implicit")

#: fields whose values are names (a number there is a typo, refused before any code reads it)
_STRING_FIELDS = ("activation", "engine", "signal_basis", "optimizer", "head")

#: no filter, patch or filter move may exceed this norm: float64 Gram matrices of such vectors
#: (squares summed over filters and patches) overflow
SCALE_LIMIT = 1e140


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
    mu = config.signal_norm if config.signal_norms is None else max(config.signal_norms)
    x_max = max(mu, config.noise_std * root_d)
    if x_max > SCALE_LIMIT:
        what = f"signal_norm={config.signal_norm!r}" if config.signal_norms is None else f"max(signal_norms)={mu!r}"
        raise ValueError(f"{where}{what}, noise_std={config.noise_std!r} are invalid: "
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
