"""The tidy tables: :class:`Table`, :class:`TidyRecord`, the record kinds (:data:`KINDS`), the counts
(:data:`COUNTS`), the record files looked for in a folder, and the optional pandas/xarray import
(:class:`MissingDependency`)."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np

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
