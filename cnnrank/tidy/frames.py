"""The tables as a ``pandas.DataFrame`` (:func:`to_dataframe`) or an ``xarray.Dataset`` (:func:`to_xarray`);
pandas and xarray are imported only when called."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from cnnrank.tidy.reading import tables
from cnnrank.tidy.schema import Table, TidyRecord, _require


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
