"""Reading a record: a result object, a record dict or the path of a results file, its kind recognized
and split into tables (:func:`tables`, :func:`record_file`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cnnrank.tidy.record_kinds import (
    _collapse,
    _from_sweep,
    _linear,
    _per_level,
    _phase,
    _real_rank,
    _simulate,
    _trajectory,
)
from cnnrank.tidy.schema import KINDS, RECORD_FILES, TidyRecord


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
