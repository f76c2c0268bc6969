"""Each kind of record as tables (docs/tidy.md): a sweep, the per-level records, the phase diagram, the
real-image runs, a trajectory, a simulation, the linear-CNN and neural-collapse records."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.tidy.schema import Table, TidyRecord, _none_to_nan, _scalars, _table


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
