"""The planner of a sweep: which missing cells run together as one batched group (cells of one seed
index whose configurations differ only in ``noise_std`` and ``lr``, Gram engine or ``"auto"``, without a
training variant: those run alone), in
groups of at most :data:`GROUP_BYTES` of extra data, split so that every worker has a balanced share
(docs/sweeps.md).
"""

from __future__ import annotations

import json
import math
from typing import Any

from cnnrank.experiments.runs import GROUP_FIELDS, VARIANT_FIELDS, RunConfig, _step_cost

#: at most this many bytes of extra data per group of cells run together (each noise level of a group
#: holds its own copy of the training and test patches, ``8 (n + n_test) P d`` bytes, the group one more
#: for the unit draw, each run its records): larger groups are split
GROUP_BYTES = 256 * 2**20

#: the engines whose cells are grouped (``"auto"``: the runs where it picks the Gram engine are batched)
_GROUPED_ENGINES = ("gram", "auto")


_Cell = tuple[str, dict[str, Any], int]

#: the defaults of the training variants' fields (docs/theory.md, "Training variants")
_VARIANT_DEFAULTS = {k: getattr(RunConfig(), k) for k in VARIANT_FIELDS}


def _group_key(config: dict[str, Any], seed_index: int) -> str | None:
    """Cells with the same key can run as one group (``None``: this cell runs alone)."""
    if config.get("engine") not in _GROUPED_ENGINES:
        return None
    if any(config.get(k, default) != default for k, default in _VARIANT_DEFAULTS.items()):
        return None  # the training variants are trained alone (run_group would train them one by one)
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
