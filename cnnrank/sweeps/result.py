"""The result of a sweep: the metrics recorded per cell (:data:`METRICS`, their ranges
:data:`METRIC_RANGES`), the arrays of shape ``grid shape + (seeds,)`` (:class:`SweepResult`) and the
checked loading of a results file (docs/sweeps.md).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank.results import ResultsFileError, SavableResult
from cnnrank.sweeps.spec import _grid_dict

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


def _counts_as_ints(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``values`` with the :data:`COUNT_METRICS` as int64 arrays where every entry is a whole number
    (cells of older versions stored them as floats; a missing one, NaN, keeps the array float)."""
    out = dict(values)
    for k in COUNT_METRICS:
        v = out.get(k)
        if isinstance(v, np.ndarray) and v.dtype.kind == "f" and np.all(np.isfinite(v)) and np.all(v == np.round(v)):
            out[k] = v.astype(np.int64)
    return out
