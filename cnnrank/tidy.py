"""Tidy results: a sweep or any reproduce record as a ``pandas.DataFrame`` or an ``xarray.Dataset``.

:func:`to_dataframe` and :func:`to_xarray` take a :class:`~cnnrank.sweeps.SweepResult`, a
:class:`~cnnrank.trajectory.Trajectory`, a :class:`~cnnrank.experiments.real_images.RealRankResult`,
the JSON record a ``python -m cnnrank reproduce`` command writes (as a dict), or the path of any of
these files (``results.json``/``results.npz`` of ``cnnrank sweep``, ``rank_vs_noise.json``,
``intrinsic_dimension.json``, ``phase_diagram.json``, ``mnist_rank.json``/``.npz``,
``cifar10_rank.json``/``.npz``, ``linear-cnn.json``, ``neural-collapse.json``, ``trajectory.npz`` and
``summary.json`` of ``simulate``, or the output folder holding one of them). Each kind of record has
its axes (:data:`KINDS`, docs/tidy.md):

* a **DataFrame** has one row per point of the axes (per grid point × seed for a sweep), a column per
  axis, then a column per quantity; a quantity measured on fewer axes (a per-level prediction next to
  per-seed measurements) is repeated along the others; the record's scalars and configuration are in
  ``DataFrame.attrs``;
* a **Dataset** has the axes as dimensions (with their values as coordinates) and the quantities as
  data variables; scalars and configuration are in ``Dataset.attrs`` (dicts and lists as JSON
  strings, so that ``Dataset.to_netcdf`` writes them).

Records with several tables (linear-cnn, neural-collapse, the ablation of rank-vs-noise, the
stable-rank paths of the real-image records) give their first table by default; ``table=`` picks
another (:func:`tables` lists them); the Dataset holds them all, the data variables and the
dimensions of the other tables prefixed by the table's name.

Counts (:data:`COUNTS`, e.g. ``learned_dimension``) are integers, also when an older file stored them
as floats. pandas and xarray are optional: ``pip install 'cnnrank[tidy]'``; without them these
functions raise :class:`MissingDependency` with that advice.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["COUNTS", "KINDS", "MissingDependency", "Table", "TidyRecord", "record_file", "tables", "to_dataframe",
           "to_xarray"]

#: quantities that are counts: integer columns whenever every value is a whole number
COUNTS = ("learned_dimension", "learned_dimension_min", "learned_dimension_max", "reference_dimension",
          "signals_learned", "signals_learned_min", "signals_learned_max", "learned_rank", "learned_rank_min",
          "learned_rank_max",
          "dominant_freq", "step", "two_K", "N", "d", "first_zero_error_step", "num_classes")

#: the record kinds and their tables: kind -> {table: its axes}
KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "sweep": {"cells": ("<grid axes>", "seed")},
    "rank-vs-noise": {"levels": ("noise_std", "seed"), "ablation": ("activation", "noise_std")},
    "intrinsic-dimension": {"levels": ("K", "seed")},
    "phase-diagram": {"cells": ("n", "noise_std")},
    "mnist-rank": {"levels": ("noise_std",), "path": ("noise_std", "step")},
    "cifar10-rank": {"levels": ("noise_std",), "path": ("noise_std", "step")},
    "linear-cnn": {"saxe": ("s",), "ordering": ("s",), "sweep_<parameter>": ("<parameter>", "seed", "s")},
    "neural-collapse": {"final": ("run",), "ufm": ("step",), "mixture": ("step",),
                        "probes": ("probe", "variant", "seed"), "frames": ("frame",)},
    "trajectory": {"records": ("step",)},
    "simulate": {"summary": ()},
}

#: the files the reproduce commands write, looked for in a folder
RECORD_FILES = ("results.npz", "rank_vs_noise.json", "intrinsic_dimension.json", "phase_diagram.json",
                "mnist_rank.npz", "cifar10_rank.npz", "linear-cnn.json", "neural-collapse.json",
                "trajectory.npz")

_INSTALL = "pip install 'cnnrank[tidy]'"


class MissingDependency(ImportError):
    """An optional dependency (pandas, xarray) is not installed; the message says what to install."""


def _require(module: str, what: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(f"{what} needs {module}, which is not installed: {_INSTALL} "
                                f"(or pip install {module})") from None


@dataclasses.dataclass
class Table:
    """One table: ``dims`` maps each axis to its values (in order), ``data`` each quantity to
    ``(its axes, array)``, its axes a subsequence of ``dims`` and the array's shape their lengths."""

    dims: dict[str, np.ndarray]
    data: dict[str, tuple[tuple[str, ...], np.ndarray]]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.dims.values())


@dataclasses.dataclass
class TidyRecord:
    """A record split into tables (the first is the main one) and its scalars/configuration ``attrs``."""

    kind: str
    tables: dict[str, Table]
    attrs: dict[str, Any]


# --------------------------------------------------------------------------------------------- helpers

def _none_to_nan(x: Any) -> Any:
    if isinstance(x, list):
        return [_none_to_nan(v) for v in x]
    return np.nan if x is None else x


def _array(name: str, x: Any) -> np.ndarray:
    """``x`` as an array (``None``, strict JSON's NaN, as NaN); a count as integers when whole."""
    a = np.asarray(x)
    if a.dtype == object:
        a = np.asarray(_none_to_nan(x), dtype=float)
    if a.dtype.kind == "b":
        return a
    if name in COUNTS and a.dtype.kind == "f" and a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        a = a.astype(np.int64)
    return a


def _coord(values: Any) -> np.ndarray:
    """Axis values as a 1-D array (mixed numbers and names as strings)."""
    vals = list(values)
    kinds = {type(v) for v in vals}
    if len(kinds) > 1 and not kinds <= {int, float}:
        vals = [str(v) for v in vals]
    return np.asarray(vals)


def _table(dims: dict[str, Any], data: Mapping[str, tuple[tuple[str, ...], Any]]) -> Table:
    dims = {k: _coord(v) for k, v in dims.items()}
    out = {}
    for name, (axes, value) in data.items():
        a = _array(name, value)
        want = tuple(len(dims[d]) for d in axes)
        if a.shape != want:
            raise ValueError(f"{name} has shape {a.shape}, expected {want} (axes {list(axes)})")
        out[name] = (tuple(axes), a)
    return Table(dims, out)


def _scalars(record: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The entries of ``record`` that are not per-axis lists: numbers, strings, configuration dicts."""
    return {k: v for k, v in record.items() if k not in skip and not isinstance(v, list)}


# ------------------------------------------------------------------------------------------ the kinds

def _from_sweep(spec: dict[str, Any], values: dict[str, Any], version: str | None) -> TidyRecord:
    from cnnrank.sweeps import _grid_dict

    grid = _grid_dict(spec["grid"])
    seeds = int(spec["seeds"])
    dims: dict[str, Any] = {**{k: list(v) for k, v in grid.items()}, "seed": list(range(seeds))}
    axes = tuple(dims)
    table = _table(dims, {k: (axes, v) for k, v in values.items()})
    attrs = {"config": spec["base"], "grid": list(grid), "seeds": seeds, "root_seed": spec.get("root_seed", 0)}
    if version is not None:
        attrs["cnnrank_version"] = version
    return TidyRecord("sweep", {"cells": table}, attrs)


def _per_level(record: dict[str, Any], axis: str, level_keys: tuple[str, ...], kind: str) -> TidyRecord:
    """A record of a sweep over one axis: per-seed values (``per_seed``) and per-level quantities."""
    per_seed = record["per_seed"]
    if not isinstance(per_seed, dict) or not per_seed:
        raise ValueError("per_seed holds no per-seed values")
    levels = list(record[axis])
    seeds = len(next(iter(per_seed.values()))[0])
    data: dict[str, tuple[tuple[str, ...], Any]] = {k: ((axis, "seed"), v) for k, v in per_seed.items()}
    data.update({k: ((axis,), record[k]) for k in level_keys if k in record})
    tables = {"levels": _table({axis: levels, "seed": list(range(seeds))}, data)}
    ablation = record.get("ablation")
    if isinstance(ablation, dict):
        acts = ablation["activation"]
        tables["ablation"] = _table({"activation": acts, axis: levels},
                                    {k: (("activation", axis), v) for k, v in ablation.items() if k != "activation"})
    return TidyRecord(kind, tables, _scalars(record, ("per_seed", "ablation")))


def _phase(record: dict[str, Any]) -> TidyRecord:
    from cnnrank.experiments.phase import PHASE_KEYS

    dims: dict[str, Any] = {"n": record["n"], "noise_std": record["noise_std"]}
    per_seed = record.get("per_seed")
    data: dict[str, tuple[tuple[str, ...], Any]] = {}
    if isinstance(per_seed, dict) and per_seed:  # per-seed values where the record holds them
        dims["seed"] = list(range(len(next(iter(per_seed.values()))[0][0])))
        data.update({k: (("n", "noise_std", "seed"), v) for k, v in per_seed.items()})
    data.update({k: (("n", "noise_std"), record[k]) for k in PHASE_KEYS if k in record and k not in data})
    data.update({k: (("n",), record[k]) for k in ("theory_boundary", "measured_boundary", "boundary_ratio",
                                                  "noise_takeoff") if k in record})
    return TidyRecord("phase-diagram", {"cells": _table(dims, data)}, _scalars(record, ("per_seed",)))


def _real_rank(record: dict[str, Any]) -> TidyRecord:
    from cnnrank.experiments.real_images import RealRankResult

    name = str(record.get("data", {}).get("name", "")).lower().replace("-", "")
    kind = "cifar10-rank" if name.startswith("cifar") else "mnist-rank"
    levels = {"noise_std": record["noise_std"]}
    data = {k: (("noise_std",), record[k]) for k in RealRankResult.ROW_KEYS if k in record}
    tables = {"levels": _table(levels, data)}
    if "filter_stable_rank_path" in record and "record_steps" in record:
        tables["path"] = _table({**levels, "step": record["record_steps"]},
                                {"filter_stable_rank": (("noise_std", "step"), record["filter_stable_rank_path"])})
    return TidyRecord(kind, tables, _scalars(record))


def _trajectory(traj: Any) -> TidyRecord:
    steps = np.asarray(traj.steps)
    R = steps.shape[0]
    data: dict[str, tuple[tuple[str, ...], Any]] = {}
    for k in ("train_loss", "train_acc", "test_loss", "test_acc", "filter_stable_rank", "learned_stable_rank",
              "learned_dimension", "signal_energy_fraction", "signal_overlap", "signals_learned", "learned_rank",
              "gamma_stable_rank"):
        v = getattr(traj, k, None)  # the per-signal fields may be None (an older file)
        if v is not None:
            data[k] = (("step",), v)
    overlaps = getattr(traj, "class_overlaps", None)
    if overlaps is not None:
        data["overlap_pos"], data["overlap_neg"] = (("step",), overlaps[:, 0]), (("step",), overlaps[:, 1])
    if traj.gamma is not None and traj.rho is not None and R:
        g, r = np.asarray(traj.gamma).reshape(R, -1), np.asarray(traj.rho).reshape(R, -1)
        data["max_gamma"] = (("step",), g.max(axis=1))
        data["max_rho_pos"] = (("step",), r.max(axis=1, initial=0.0))
        data["min_rho_neg"] = (("step",), r.min(axis=1, initial=0.0))
    attrs = {"engine": traj.engine, "lr": traj.lr, "activation": traj.activation, "metadata": traj.metadata}
    return TidyRecord("trajectory", {"records": _table({"step": steps}, data)}, attrs)


def _simulate(record: dict[str, Any]) -> TidyRecord:
    values = {**record["final"], **record["data_ranks"]}
    return TidyRecord("simulate", {"summary": _table({}, {k: ((), v) for k, v in values.items()})},
                      _scalars(record, ("final", "data_ranks")))


def _linear(record: dict[str, Any]) -> TidyRecord:
    tables: dict[str, Table] = {}
    attrs = _scalars(record, ("a_saxe", "b_ordering", "c_sweeps"))
    attrs["sweep_seeds"] = record.get("sweep_seeds")
    for name, key in (("saxe", "a_saxe"), ("ordering", "b_ordering")):
        part = record[key]
        n = len(part["s"])
        per_s = {k: (("s",), v) for k, v in part.items() if k != "s" and isinstance(v, list) and len(v) == n}
        tables[name] = _table({"s": part["s"]}, per_s)
        attrs.update({f"{name}_{k}": v for k, v in _scalars(part).items()})
    for param, sweep in record.get("c_sweeps", {}).items():
        values, s = sweep["values"], sweep["s"]
        seeds = len(sweep["half_times"][0])
        data: dict[str, tuple[tuple[str, ...], Any]] = {"half_times": ((param, "seed", "s"), sweep["half_times"])}
        for k in ("mean_half_times", "predicted_rates", "isolated_mean_half_times"):
            if sweep.get(k) is not None:
                data[k] = ((param, "s"), sweep[k])
        tables[f"sweep_{param}"] = _table({param: values, "seed": list(range(seeds)), "s": s}, data)
    return TidyRecord("linear-cnn", tables, attrs)


def _histories(run: dict[str, Any]) -> dict[str, tuple[list, list]]:
    return {k: (v["steps"], v["values"]) for k, v in run.items()
            if isinstance(v, dict) and set(v) == {"steps", "values"}}


def _padded(rows: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    """Arrays of differing shapes stacked into ``(len(rows),) + shape``, NaN where a row is shorter."""
    out = np.full((len(rows),) + shape, np.nan)
    for i, r in enumerate(rows):
        a = np.asarray(_none_to_nan(r), dtype=float)
        out[(i,) + tuple(slice(0, n) for n in a.shape)] = a
    return out


def _collapse(record: dict[str, Any]) -> TidyRecord:
    runs = ("ufm", "mixture")
    finals = [record[r]["final"] for r in runs]
    names = list(dict.fromkeys(k for f in finals for k, v in f.items() if not isinstance(v, (list, dict))))
    extra = list(dict.fromkeys(k for r in runs for k, v in record[r].items()
                               if isinstance(v, (int, float)) and not isinstance(v, bool)))
    final_data = {k: (("run",), [f.get(k, np.nan) for f in finals]) for k in names}
    final_data.update({k: (("run",), [record[r].get(k, np.nan) for r in runs]) for k in extra})
    tables = {"final": _table({"run": list(runs)}, final_data)}
    for r in runs:
        hist = _histories(record[r])
        steps = next(iter(hist.values()))[0] if hist else []
        tables[r] = _table({"step": steps}, {k: (("step",), v) for k, (st, v) in hist.items() if st == steps})
        for k, (st, v) in hist.items():  # a history recorded at other steps: a table of its own
            if st != steps:
                tables[f"{r}_{k}"] = _table({"step": st}, {k: (("step",), v)})
    fp = record.get("frame_probes", {})
    probes = list(record.get("etf_probes", [])) + list(fp.get("results", []))
    if probes:
        acc = [p["test_accuracy"] for p in probes]
        V = max(len(a) for a in acc)
        S = max(len(row) for a in acc for row in a)
        data: dict[str, tuple[tuple[str, ...], Any]] = {
            "test_accuracy": (("probe", "variant", "seed"), _padded(acc, (V, S)))}
        for k in ("mean_test_accuracy", "signed_coherence"):
            if all(k in p for p in probes):
                data[k] = (("probe", "variant"), _padded([p[k] for p in probes], (V,)))
        for k in ("min_train_accuracy", "spread", "seed_spread", "f_statistic", "p_value"):
            if all(k in p for p in probes):
                data[k] = (("probe",), [p[k] for p in probes])
        tables["probes"] = _table({"probe": [p["kind"] for p in probes], "variant": list(range(V)),
                                   "seed": list(range(S))}, data)
    frames = record.get("frames", [])
    if frames:
        keys = [k for k in frames[0] if all(k in f for f in frames)]
        tables["frames"] = _table({"frame": list(range(len(frames)))},
                                  {k: (("frame",), [f[k] for f in frames]) for k in keys})
    attrs = _scalars(record, ("ufm", "mixture", "frame_probes"))
    attrs.update({"frame_probes": _scalars(fp), "ufm_config": record["ufm"].get("config"),
                  "mixture_config": record["mixture"].get("config"), "mixture_initial": record["mixture"].get("initial")})
    return TidyRecord("neural-collapse", tables, {k: v for k, v in attrs.items() if v is not None})


def _json_kind(record: dict[str, Any]) -> str | None:
    keys = set(record)
    if {"spec", "values"} <= keys:
        return "sweep"
    if {"n", "noise_std", "theory_boundary"} <= keys:
        return "phase-diagram"
    if {"K", "per_seed"} <= keys:
        return "intrinsic-dimension"
    if {"noise_std", "reference_dimension", "clean_energy_fraction"} <= keys:
        return "real-rank"
    if {"noise_std", "per_seed"} <= keys:
        return "rank-vs-noise"
    if "a_saxe" in keys:
        return "linear-cnn"
    if {"ufm", "mixture"} <= keys:
        return "neural-collapse"
    if {"config", "final", "data_ranks"} <= keys:
        return "simulate"
    return None


def _from_dict(record: dict[str, Any], where: str) -> TidyRecord:
    kind = _json_kind(record)
    if kind is None:
        raise ValueError(f"{where} is invalid: not a cnnrank result record (keys {sorted(record)[:8]}); "
                         f"known kinds: {', '.join(KINDS)}")
    try:
        if kind == "sweep":
            spec = dict(record["spec"])
            if "axes" in record and isinstance(spec.get("grid"), dict):  # results.json: the axes in order
                spec["grid"] = [[k, spec["grid"][k]] for k in record["axes"]]
            return _from_sweep(spec, record["values"], record.get("cnnrank_version"))
        if kind == "rank-vs-noise":
            return _per_level(record, "noise_std", ("predicted_data_stable_rank", "expected_filter_stable_rank",
                                                    "regime"), kind)
        if kind == "intrinsic-dimension":
            return _per_level(record, "K", ("two_K", "expected_filter_stable_rank", "regime", "benign_limit"), kind)
        if kind == "phase-diagram":
            return _phase(record)
        if kind == "real-rank":
            return _real_rank(record)
        if kind == "linear-cnn":
            return _linear(record)
        if kind == "neural-collapse":
            return _collapse(record)
        return _simulate(record)
    except (KeyError, IndexError, TypeError, ValueError, StopIteration) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"{where} is invalid: a {kind} record that cannot be read as a table ({detail})") from None


def record_file(path: str | Path) -> Path:
    """``path``, or for a folder the one file of :data:`RECORD_FILES` it holds (``ValueError`` when it
    holds none or several)."""
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in RECORD_FILES if (path / name).is_file()]
        if len(found) != 1:
            what = "none" if not found else ", ".join(p.name for p in found)
            raise ValueError(f"results folder {str(path)!r} is invalid: it must hold exactly one results file of "
                             f"{', '.join(RECORD_FILES)} (found {what}); name the file")
        path = found[0]
    return path


def _read_path(path: Path) -> TidyRecord:
    path = record_file(path)
    if not path.is_file():
        if not path.exists():
            raise FileNotFoundError(f"results file {str(path)!r} does not exist")
        from cnnrank.results import check_regular_file

        check_regular_file(path)  # a FIFO, socket or device: refused in one line, never waited on
    if path.suffix.lower() == ".json":
        try:
            record = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"results file {str(path)!r} is not valid JSON ({type(exc).__name__})") from None
        if not isinstance(record, dict):
            raise ValueError(f"results file {str(path)!r} is invalid: not a cnnrank result record (a JSON "
                             f"{type(record).__name__}, not an object)")
        return _from_dict(record, f"results file {str(path)!r}")
    if path.suffix.lower() == ".npz":
        from cnnrank.results import load_npz

        _, meta = load_npz(path)
        kind = meta.get("kind")
        if kind == "SweepResult":
            from cnnrank.sweeps import SweepResult

            res = SweepResult.load(path)
            return _from_sweep(res.spec, res.values, meta.get("cnnrank_version"))
        if kind == "Trajectory":
            from cnnrank.trajectory import Trajectory

            return _trajectory(Trajectory.load(path))
        if kind == "RealRankResult":
            from cnnrank.experiments.real_images import RealRankResult

            return _real_rank(RealRankResult.load(path).to_json())
        raise ValueError(f"results file {str(path)!r} holds a {kind!r} result, which has no table of its own: "
                         f"export the JSON record beside it")
    raise ValueError(f"results file {str(path)!r} is invalid: must end in .json or .npz")


def tables(record: Any) -> TidyRecord:
    """``record`` (a result object, a record dict or a path, see the module docstring) split into its
    tables, with its scalars and configuration as ``attrs``.

    Raises
    ------
    ValueError
        Not a cnnrank record, or a record of a known kind whose entries are missing or mangled (one
        line naming the file).
    FileNotFoundError
        The path does not exist.
    """
    from cnnrank._version import __version__
    from cnnrank.experiments.real_images import RealRankResult
    from cnnrank.sweeps import SweepResult
    from cnnrank.trajectory import Trajectory

    if isinstance(record, TidyRecord):
        return record
    if isinstance(record, (str, Path)):
        out = _read_path(Path(record))
    elif isinstance(record, dict):
        out = _from_dict(record, "record")
    elif isinstance(record, SweepResult):
        out = _from_sweep(record.spec, record.values, __version__)
    elif isinstance(record, Trajectory):
        out = _trajectory(record)
    elif isinstance(record, RealRankResult):
        out = _real_rank(record.to_json())
    else:
        raise TypeError(f"record={type(record).__name__} is invalid: must be a SweepResult, Trajectory, "
                        f"RealRankResult, a record dict or the path of a results file")
    out.attrs.setdefault("cnnrank_version", __version__)
    out.attrs["kind"] = out.kind
    return out


def _pick(rec: TidyRecord, table: str | None) -> tuple[str, Table]:
    if table is None:
        name = next(iter(rec.tables))
        return name, rec.tables[name]
    if table not in rec.tables:
        raise ValueError(f"table={table!r} is invalid: a {rec.kind} record has the tables {list(rec.tables)}")
    return table, rec.tables[table]


def _columns(t: Table) -> dict[str, np.ndarray]:
    """Every axis and quantity of ``t`` as a column of ``prod(t.shape)`` values (row-major)."""
    shape = t.shape
    names = list(t.dims)
    cols: dict[str, np.ndarray] = {}
    for i, (name, coord) in enumerate(t.dims.items()):
        view = [1] * len(shape)
        view[i] = len(coord)
        cols[name] = np.broadcast_to(coord.reshape(view), shape).ravel()
    for name, (axes, a) in t.data.items():
        view = [1] * len(shape)
        for d in axes:
            view[names.index(d)] = len(t.dims[d])
        col = np.broadcast_to(a.reshape(view), shape).ravel()
        cols[name if name not in t.dims else f"{name}_value"] = col
    return cols


def to_dataframe(record: Any, table: str | None = None) -> Any:
    """A tidy ``pandas.DataFrame`` of ``record`` (see the module docstring).

    Parameters
    ----------
    record : SweepResult, Trajectory, RealRankResult, dict or path
    table : str, optional
        Which table of a record with several (:data:`KINDS`); the first by default.

    Returns
    -------
    pandas.DataFrame
        One row per point of the table's axes (row-major), columns the axes then the quantities;
        ``attrs`` holds the kind, the table's name, the scalars and the configuration.

    Raises
    ------
    MissingDependency
        pandas is not installed.
    """
    pd = _require("pandas", "to_dataframe")
    rec = tables(record)
    name, t = _pick(rec, table)
    df = pd.DataFrame(_columns(t), index=pd.RangeIndex(math.prod(t.shape)))
    df.attrs = {**rec.attrs, "table": name, "tables": list(rec.tables)}
    return df


def _attr(value: Any) -> Any:
    """An attribute value netCDF3 can hold: a string or a number (bools as 0/1, integers beyond 32 bits
    such as a large root seed as their decimal string; the rest as JSON)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if -(2**31) <= value < 2**31 else str(value)
    if isinstance(value, (str, float)):
        return value
    from cnnrank.results import _to_jsonable

    return json.dumps(_to_jsonable(value), sort_keys=True)


def to_xarray(record: Any) -> Any:
    """An ``xarray.Dataset`` of ``record`` (see the module docstring): the axes as dimensions, the
    quantities as data variables; the other tables' names prefixed by the table's name (and their axes
    too where the values differ from the main table's); scalars and configuration in ``attrs`` (dicts
    and lists as JSON strings, bools as 0/1, integers beyond 32 bits as strings: netCDF3 holds them).

    Raises
    ------
    MissingDependency
        xarray is not installed.
    """
    xr = _require("xarray", "to_xarray")
    rec = tables(record)
    coords: dict[str, np.ndarray] = {}
    variables: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for i, (tname, t) in enumerate(rec.tables.items()):
        rename = {}
        for d, c in t.dims.items():
            new = d
            if d in coords and not (coords[d].dtype == c.dtype and np.array_equal(coords[d], c)):
                new = f"{tname}_{d}"
            rename[d] = new
            coords[new] = c
        for name, (axes, a) in t.data.items():
            key = name if i == 0 else f"{tname}_{name}"
            if key in coords:
                key = f"{key}_value"
            variables[key] = (tuple(rename[d] for d in axes), a)
    attrs = {k: _attr(v) for k, v in rec.attrs.items()}
    attrs["tables"] = json.dumps(list(rec.tables))
    return xr.Dataset(data_vars=variables, coords=coords, attrs=attrs)
