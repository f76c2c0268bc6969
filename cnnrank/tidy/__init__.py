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

One module per idea, every name re-exported here (``cnnrank.tidy.to_dataframe``, ...):

* :mod:`cnnrank.tidy.schema`: :class:`Table`, :class:`TidyRecord`, :data:`KINDS`, :data:`COUNTS`, the optional imports;
* :mod:`cnnrank.tidy.record_kinds`: each kind of record as tables;
* :mod:`cnnrank.tidy.reading`: a record recognized and read (:func:`tables`, :func:`record_file`);
* :mod:`cnnrank.tidy.frames`: :func:`to_dataframe` and :func:`to_xarray`.
"""

from cnnrank.tidy.frames import _attr as _attr
from cnnrank.tidy.frames import _columns as _columns
from cnnrank.tidy.frames import _pick as _pick
from cnnrank.tidy.frames import to_dataframe as to_dataframe
from cnnrank.tidy.frames import to_xarray as to_xarray
from cnnrank.tidy.reading import _from_dict as _from_dict
from cnnrank.tidy.reading import _json_kind as _json_kind
from cnnrank.tidy.reading import _read_path as _read_path
from cnnrank.tidy.reading import record_file as record_file
from cnnrank.tidy.reading import tables as tables
from cnnrank.tidy.record_kinds import _collapse as _collapse
from cnnrank.tidy.record_kinds import _from_sweep as _from_sweep
from cnnrank.tidy.record_kinds import _histories as _histories
from cnnrank.tidy.record_kinds import _linear as _linear
from cnnrank.tidy.record_kinds import _padded as _padded
from cnnrank.tidy.record_kinds import _per_level as _per_level
from cnnrank.tidy.record_kinds import _phase as _phase
from cnnrank.tidy.record_kinds import _real_rank as _real_rank
from cnnrank.tidy.record_kinds import _simulate as _simulate
from cnnrank.tidy.record_kinds import _trajectory as _trajectory
from cnnrank.tidy.schema import _INSTALL as _INSTALL
from cnnrank.tidy.schema import COUNTS as COUNTS
from cnnrank.tidy.schema import KINDS as KINDS
from cnnrank.tidy.schema import RECORD_FILES as RECORD_FILES
from cnnrank.tidy.schema import MissingDependency as MissingDependency
from cnnrank.tidy.schema import Table as Table
from cnnrank.tidy.schema import TidyRecord as TidyRecord
from cnnrank.tidy.schema import _array as _array
from cnnrank.tidy.schema import _coord as _coord
from cnnrank.tidy.schema import _none_to_nan as _none_to_nan
from cnnrank.tidy.schema import _require as _require
from cnnrank.tidy.schema import _scalars as _scalars
from cnnrank.tidy.schema import _table as _table

__all__ = ['COUNTS', 'KINDS', 'MissingDependency', 'Table', 'TidyRecord', 'record_file', 'tables', 'to_dataframe', 'to_xarray']
