"""Grouped sweeps: the cells of one seed index that differ only in noise_std and lr run as one batched
run (run_cell_group / run_group); the numbers equal the cell-by-cell sweep's to rounding level.

A cell's numbers do not depend on the other cells of its group except through the width of the group's
one wide product per step (2m columns per cell): the same sums, but a BLAS blocks a product by its shape
and the CPU, so groups of other sizes (a split for workers, a resumed sweep) are compared to
:data:`cnnrank.testing.SHAPE_RTOL` with equal counts, not bit for bit. tests/test_blas_kernels.py runs
this file again under another OpenBLAS kernel."""

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import cnnrank.sweeps as sweeps
from cnnrank import TrainingDiverged
from cnnrank.cli import main
from cnnrank.experiments.runs import RunConfig, run_group, run_once
from cnnrank.sweeps import SweepSpec, run_cell, run_cell_group, run_sweep
from cnnrank.testing import COUNT_METRICS, SHAPE_RTOL, assert_sweeps_equal

BASE = RunConfig(n=24, d=60, K=2, patches=3, m=6, steps=60, record_every=20, engine="gram", n_test=32)
SPEC = SweepSpec(base=BASE, grid={"noise_std": [0.1, 0.3, 0.6], "lr": [0.5, 1.0]}, seeds=2, root_seed=3)


def _close(a, b):
    """Grouped against cell by cell: a different order of the same products (the unit Gram matrix with row
    scales), counts equal."""
    assert_sweeps_equal(a, b, rtol=1e-9, exact=COUNT_METRICS)


def _same_but_group_sizes(a, b):
    """The same cells in groups of other sizes: the same sums in products of other widths, counts equal."""
    assert_sweeps_equal(a, b, rtol=SHAPE_RTOL, exact=COUNT_METRICS)


class _Calls:
    """Counts what ``run_sweep`` runs: the cells run alone, and the groups (their sizes)."""

    def __init__(self, monkeypatch):
        self.cells, self.groups = [], []
        one, many = sweeps.run_cell, sweeps.run_cell_group

        def cell(config, root_seed, seed_index):
            self.cells.append((config["noise_std"], config["lr"], seed_index))
            return one(config, root_seed, seed_index)

        def group(configs, root_seed, seed_index, errors="raise"):
            self.groups.append([(c["noise_std"], c["lr"], seed_index) for c in configs])
            return many(configs, root_seed, seed_index, errors)

        monkeypatch.setattr(sweeps.runner, "run_cell", cell)  # looked up where run_sweep runs
        monkeypatch.setattr(sweeps.runner, "run_cell_group", group)

    @property
    def computed(self):
        return sorted(self.cells + [c for g in self.groups for c in g])


@pytest.fixture(scope="module")
def cell_by_cell():
    return run_sweep(SPEC, progress=False, group=False)


def test_grouped_sweep_equals_cell_by_cell(cell_by_cell, monkeypatch):
    calls = _Calls(monkeypatch)
    grouped = run_sweep(SPEC, progress=False)
    assert not calls.cells and sorted(len(g) for g in calls.groups) == [6, 6]  # one group per seed index
    assert {c[2] for c in calls.groups[0]} == {0}
    _close(grouped, cell_by_cell)
    # not a trivial comparison: the cells differ from each other
    assert len(np.unique(grouped.values["filter_stable_rank"])) == 12


def test_thread_pool_groups_give_the_serial_numbers(cell_by_cell):
    """Two workers split each group of 6 cells in two: the numbers of the serial groups of 6."""
    serial = run_sweep(SPEC, progress=False)
    with ThreadPoolExecutor(2) as ex:
        pooled = run_sweep(SPEC, executor=ex, progress=False)
    _same_but_group_sizes(pooled, serial)
    _close(pooled, cell_by_cell)


def test_resume_computes_only_the_missing_cells(cell_by_cell, tmp_path, monkeypatch):
    store = tmp_path / "store"
    seen = []

    def stop(cid, res):
        seen.append(cid)
        if len(seen) == 8:  # the first group (6 cells) and 2 cells of the second
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(SPEC, store=store, progress=False, on_cell=stop)
    stored = {p.stem for p in (store / "cells").glob("*.json")}
    assert len(stored) == 8
    calls = _Calls(monkeypatch)
    resumed = run_sweep(SPEC, store=store, progress=False)
    missing = {cid for cid, _, _ in SPEC.cells()} - stored
    expected = sorted((p["noise_std"], p["lr"], s) for cid, p, s in SPEC.cells() if cid in missing)
    assert calls.computed == expected and len(expected) == 4
    _close(resumed, cell_by_cell)
    uninterrupted = run_sweep(SPEC, progress=False)
    _same_but_group_sizes(resumed, uninterrupted)  # a cell's numbers do not depend on its group
    calls.cells.clear(), calls.groups.clear()
    run_sweep(SPEC, store=store, progress=False)  # everything stored: nothing runs
    assert calls.computed == []


def test_feature_engine_runs_cell_by_cell_and_a_lone_cell_as_a_group_of_one(monkeypatch):
    calls = _Calls(monkeypatch)
    spec = SweepSpec(base=BASE.replace(engine="feature", steps=20), grid={"noise_std": [0.1, 0.6]}, seeds=1)
    run_sweep(spec, progress=False)
    assert calls.groups == [] and len(calls.cells) == 2
    calls.cells.clear()
    single = SweepSpec(base=BASE.replace(steps=20), grid={"activation": ["huber3", "relu"]}, seeds=2)
    alone = run_sweep(single, progress=False)  # every group has one cell: a group of one each
    assert calls.cells == [] and sorted(len(g) for g in calls.groups) == [1, 1, 1, 1]
    # ... whose numbers are the cell's own run to rounding (its own Gram matrix there)
    _close(alone, run_sweep(single, progress=False, group=False))


def test_a_failing_cell_of_a_group_is_named_and_the_others_are_stored(tmp_path):
    spec = SweepSpec(base=BASE.replace(activation="poly3", init_std=1.0, steps=20), grid={"lr": [0.01, 1e10]},
                     seeds=1)  # lr = 1e10 diverges at step 4
    with pytest.raises(TrainingDiverged, match=r"^sweep cell g0001-s000 \(lr=10000000000\.0, seed index 0\): "
                                               r"training diverged"):
        run_sweep(spec, store=tmp_path, progress=False)
    assert {p.stem for p in (tmp_path / "cells").glob("*.json")} == {"g0000-s000"}


def test_an_error_of_the_whole_group_names_its_cells(monkeypatch):
    def boom(configs, rng):
        raise MemoryError("no room for the family")

    monkeypatch.setattr(sweeps.runner, "_group_outcomes", boom)
    spec = SweepSpec(base=BASE, grid={"noise_std": [0.1, 0.6]}, seeds=1)
    with pytest.raises(MemoryError, match=r"^sweep cells g0000-s000 \(noise_std=0\.1\); g0001-s000 "
                                          r"\(noise_std=0\.6\) \(seed index 0, run as one group\): no room"):
        run_sweep(spec, progress=False)


def _seq(s=1):
    return np.random.SeedSequence(7).spawn(s + 1)[s]


@pytest.mark.parametrize("engine", ["gram", "auto"])
def test_run_group_equals_run_once_per_config(engine):
    configs = [BASE.replace(engine=engine, noise_std=s, lr=lr) for s, lr in ((0.1, 0.5), (0.6, 0.5), (0.6, 1.0))]
    group = run_group(configs, rng=_seq())
    for c, g in zip(configs, group):
        one = run_once(c, rng=_seq())
        a, b = g.trajectory, one.trajectory
        assert a.engine == b.engine
        # the seed streams: data, test set and initial filters are exactly run_once's
        np.testing.assert_array_equal(g.data.X, one.data.X)
        np.testing.assert_array_equal(g.data.y, one.data.y)
        np.testing.assert_array_equal(g.test.X, one.test.X)
        np.testing.assert_array_equal(a.W_init, b.W_init)
        assert g.data_ranks == one.data_ranks
        assert a.metadata["config"] == c.to_dict()
        scale = np.abs(b.coef).max()
        np.testing.assert_allclose(a.coef, b.coef, rtol=0, atol=1e-9 * scale)
        np.testing.assert_allclose(a.weights_at(-1), b.weights_at(-1), rtol=0,
                                   atol=1e-9 * np.abs(b.weights_at(-1)).max())
        np.testing.assert_array_equal(a.test_acc, b.test_acc)
    # another seed draws other data and other filters
    other = run_group(configs[:1], rng=_seq(0))[0]
    assert not np.array_equal(other.trajectory.W_init, group[0].trajectory.W_init)
    assert not np.array_equal(other.data.X, group[0].data.X)


def test_run_group_refuses_configs_that_differ_elsewhere():
    with pytest.raises(ValueError, match=r"configs\[1\]\.m=4 is invalid: .* differ only in noise_std and lr"):
        run_group([BASE, BASE.replace(m=4)], rng=0)
    with pytest.raises(ValueError, match="implicit"):
        run_group([BASE.replace(engine="implicit")], rng=0)
    with pytest.raises(ValueError, match="non-empty"):
        run_group([], rng=0)


def test_run_cell_group_returns_what_run_cell_returns():
    configs = [BASE.replace(noise_std=s).to_dict() for s in (0.1, 0.6)]
    got = run_cell_group(configs, 3, 1)
    for c, g in zip(configs, got):
        one = run_cell(c, 3, 1)
        assert g.keys() == one.keys() and g["seed"] == one["seed"] and g["engine"] == one["engine"] == "gram"
        for k, v in one["metrics"].items():
            assert g["metrics"][k] == pytest.approx(v, rel=1e-9, abs=0), k
    with pytest.raises(ValueError, match="errors="):
        run_cell_group(configs, 3, 1, errors="ignore")


def test_groups_are_split_by_memory_and_for_the_workers(monkeypatch, cell_by_cell):
    todo = [c for c in SPEC.cells() if c[2] == 0]
    configs = {cid: sweeps.config_from_dict(p, SPEC.base).to_dict() for cid, p, _ in todo}
    assert [len(u) for u in sweeps._plan(todo, configs, True, 1)] == [6]
    assert [len(u) for u in sweeps._plan(todo, configs, False, 1)] == [1] * 6
    # two workers and one group: two balanced halves, the cells of one noise level together
    halves = sweeps._plan(todo, configs, True, 2)
    assert [len(u) for u in halves] == [3, 3]
    assert [configs[cid]["noise_std"] for cid, _, _ in halves[0]] == [0.1, 0.1, 0.3]
    # the extra data of a group is capped: one level's patches (8 (n + n_test) P d bytes) and records each
    one_level = sweeps._unit_bytes(todo[:2], configs)
    monkeypatch.setattr(sweeps.planner, "GROUP_BYTES", one_level * 1.01)
    assert [len(u) for u in sweeps._plan(todo, configs, True, 1)] == [2, 2, 2]
    calls = _Calls(monkeypatch)
    _close(run_sweep(SPEC, progress=False), cell_by_cell)
    assert sorted(len(g) for g in calls.groups) == [2] * 6


def test_ten_groups_keep_two_workers_busy():
    """Ten groups of unequal cost (n = 16 ... 256): none longer than a worker's share, costliest first."""
    base = BASE.replace(d=2000, patches=5, m=40)
    spec = SweepSpec(base=base, grid={"n": [16, 32, 64, 128, 256], "noise_std": [0.05, 0.1, 0.2, 0.4]}, seeds=2)
    todo = spec.cells()
    configs = {cid: sweeps.config_from_dict(p, spec.base).to_dict() for cid, p, _ in todo}
    units = sweeps._plan(todo, configs, True, 2)
    costs = [sum(sweeps._cell_cost(configs[cid]) for cid, _, _ in u) for u in units]
    assert len(units) >= 10 and max(costs) <= sum(costs) / 2
    assert sorted(cid for u in units for cid, _, _ in u) == sorted(configs)


def test_cell_by_cell_option_of_the_commands(tmp_path, capsys):
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"base": {**BASE.to_dict(), "steps": 20}, "grid": {"noise_std": [0.1, 0.6]}}))
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "b"), "--quiet", "--cell-by-cell"]) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    np.testing.assert_allclose(a["values"]["filter_stable_rank"], b["values"]["filter_stable_rank"], rtol=1e-9)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["reproduce", "phase-diagram", "--help"])
    assert "--cell-by-cell" in capsys.readouterr().out
