"""``python -m cnnrank export RESULTS --format csv|netcdf [--out PATH]``: a results file as a tidy table.

``RESULTS`` is a sweep's ``results.json``/``results.npz``, the JSON record of a ``reproduce`` command,
``simulate``'s ``trajectory.npz``/``summary.json``, or the output folder holding one of them; the
tables are :func:`cnnrank.tidy.to_dataframe`'s (CSV: one file per table, the first at ``PATH``, the
others at ``PATH``'s stem + ``.<table>.csv``) and :func:`cnnrank.tidy.to_xarray`'s (netCDF: one file,
written by xarray's ``to_netcdf``; with only scipy installed that is netCDF3). ``PATH`` defaults to
the results file (in a folder: the one it holds) with the suffix ``.csv`` or ``.nc``. Every table is
built before anything is written; an existing file is replaced only with ``--overwrite``. See
docs/tidy.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DESCRIPTION = ("Export a results file (a sweep's results.json/.npz, a reproduce record, simulate's trajectory) "
               "as tidy CSV (pandas) or netCDF (xarray); see docs/tidy.md.")

#: --format -> file suffix
SUFFIX = {"csv": ".csv", "netcdf": ".nc"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, metavar="RESULTS",
                        help="results file (.json or .npz) or the output folder holding one")
    parser.add_argument("--format", choices=tuple(SUFFIX), default="csv",
                        help="csv: one row per grid point × seed (or per record), needs pandas; netcdf: one "
                             "Dataset with the axes as dimensions, needs xarray (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, metavar="PATH",
                        help="file to write (default: the results file with the suffix .csv or .nc)")
    parser.add_argument("--overwrite", action="store_true", help="replace files that exist already")


def _targets(args: argparse.Namespace, names: list[str]) -> list[Path]:
    """The file of each table (CSV: one per table; netCDF: one for all)."""
    from cnnrank.tidy import record_file

    out = args.out
    if out is None:
        out = record_file(args.results).with_suffix(SUFFIX[args.format])
    if out.exists() and out.is_dir():
        raise ValueError(f"--out {str(out)!r} is invalid: it is a folder; give a file name")
    if args.format == "netcdf" or len(names) == 1:
        return [out]
    return [out] + [out.with_name(f"{out.stem}.{name}{out.suffix or '.csv'}") for name in names[1:]]


def run(args: argparse.Namespace) -> int:
    import cnnrank.tidy as tidy
    from cnnrank.reproduce._output import check_output_folder, written
    from cnnrank.results import atomic_write_bytes, atomic_write_text

    module = "pandas" if args.format == "csv" else "xarray"
    try:  # the dependency first: nothing is read or written without it
        tidy._require(module, f"export --format {args.format}")
        rec = tidy.tables(args.results)
        names = list(rec.tables)
        paths = _targets(args, names)
        if not args.overwrite:
            there = [str(p) for p in paths if p.exists()]
            if there:
                raise ValueError(f"--out {there[0]!r} exists already: pass --overwrite to replace it, or another --out")
        payload: list[Any]
        if args.format == "csv":
            frames = [tidy.to_dataframe(rec, table=name) for name in names]
            payload = [df.to_csv(index=False) for df in frames]
            sizes = [f"{len(df)} rows × {df.shape[1]} columns" for df in frames]
        else:
            ds = tidy.to_xarray(rec)
            payload = [bytes(ds.to_netcdf())]
            sizes = [", ".join(f"{k}: {v}" for k, v in ds.sizes.items()) or "no dimensions"]
    except tidy.MissingDependency as exc:
        raise ValueError(str(exc)) from None
    check_output_folder(paths[0].parent if str(paths[0].parent) else Path("."), "--out")
    for path, data in zip(paths, payload):
        if isinstance(data, str):
            atomic_write_text(path, data)
        else:
            atomic_write_bytes(path, data)
    print(f"{written(paths)} ({rec.kind}: {'; '.join(f'{n} {s}' for n, s in zip(names, sizes))})"
          if args.format == "csv" else f"{written(paths)} ({rec.kind}: {sizes[0]})")
    return 0
