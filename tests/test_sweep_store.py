"""The sweep store cannot mix sweeps; axis order survives files; everything is validated before writing."""

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnnrank.experiments import RunConfig
from cnnrank.results import ResultsFileError, save_npz
from cnnrank.sweeps import SweepResult, SweepSpec, _StoreLock, run_sweep, sweep_from_file
from cnnrank.testing import assert_sweeps_equal

TINY = RunConfig(n=8, n_test=8, d=20, K=2, m=2, steps=10, record_every=5, lr=0.5, init_std=0.05, engine="feature")
#: a non-alphabetical grid of equal-length axes: a swap would go unnoticed by shapes
GRID: dict[str, Sequence[Any]] = {"noise_std": [0.0, 1.0], "activation": ["huber3", "relu"]}
SPEC = SweepSpec(base=TINY, grid=GRID, seeds=2, root_seed=5)



@pytest.fixture(scope="module")
def serial():
    return run_sweep(SPEC, progress=False)


@pytest.fixture
def store(tmp_path, serial):
    path = tmp_path / "store"
    assert_sweeps_equal(serial, run_sweep(SPEC, store=path, progress=False))
    return path


def test_axis_order_survives_save_and_load(serial, tmp_path):
    back = SweepResult.load(serial.save(tmp_path / "r.npz"))
    assert list(back.grid) == ["noise_std", "activation"] and back.grid == GRID
    assert_sweeps_equal(serial, back)
    # the values at (σ_p = 1, relu) are those of the cell run with σ_p = 1 and relu
    one = run_sweep(SweepSpec(base=TINY, grid={"noise_std": [1.0], "activation": ["relu"]}, seeds=2, root_seed=5),
                    progress=False)
    np.testing.assert_array_equal(back.values["data_stable_rank"][1, 1], one.values["data_stable_rank"][0, 0])
    assert serial.to_json()["axes"] == ["noise_std", "activation"]


def test_legacy_results_file_axis_order(serial, tmp_path):
    """Files of older versions held the grid as a dict whose keys got sorted: the order is recovered from
    the shapes when only one order fits, and refused when axes of equal length make it ambiguous."""
    def legacy(spec, values, name):
        return save_npz(tmp_path / name, {f"values/{k}": v for k, v in values.items()},
                        {"kind": "SweepResult", "fields": {"spec": spec, "seconds": 0.0}})

    with pytest.raises(ResultsFileError, match="ambiguous"):
        SweepResult.load(legacy(serial.spec, serial.values, "eq.npz"))
    spec = {**serial.spec, "grid": {"noise_std": [0.0, 0.5, 1.0], "activation": ["huber3", "relu"]}}
    values = {"test_acc": np.arange(12.0).reshape(3, 2, 2) / 11}  # accuracies in [0, 1]
    back = SweepResult.load(legacy(spec, values, "ok.npz"))
    assert list(back.grid) == ["noise_std", "activation"]


def test_loaded_shapes_must_match_the_grid(serial, tmp_path):
    bad = SweepResult(spec=serial.spec, values={"test_acc": np.zeros((3, 2, 2))})
    with pytest.raises(ResultsFileError, match=r"values\['test_acc'\] of shape \(3, 2, 2\).*\(2, 2, 2\)"):
        SweepResult.load(bad.save(tmp_path / "bad.npz"))


def test_cells_carry_their_identity(store):
    cell = json.loads((store / "cells" / "g0003-s001.json").read_text())
    assert cell["sweep"] == SPEC.fingerprint() and cell["cell"] == "g0003-s001"
    assert cell["point"] == {"noise_std": 1.0, "activation": "relu"} and cell["seed_index"] == 1
    meta = json.loads((store / "sweep.json").read_text())
    assert meta["spec"]["grid"] == [["noise_std", [0.0, 1.0]], ["activation", ["huber3", "relu"]]]


@pytest.mark.parametrize("damage, message", [
    ("swap", "holds cell 'g0001-s000'.*moved or edited"),
    ("seed", "holds cell .*seed index 1.*moved or edited"),
    ("empty", "not a sweep cell record"),
    ("null", "not a sweep cell record"),
    ("garbage", "is corrupted"),
    ("foreign", "belongs to another sweep"),
    ("stray", "this sweep has no cell 'g0099-s000'"),
    ("metrics", "does not match its checksum"),
    ("number", "does not match its checksum"),
])
def test_damaged_cells_are_refused(store, damage, message):
    cells = store / "cells"
    a, b = cells / "g0000-s000.json", cells / "g0001-s000.json"
    if damage == "swap":
        ta, tb = a.read_text(), b.read_text()
        a.write_text(tb)
        b.write_text(ta)
    elif damage == "seed":
        a.write_text((cells / "g0000-s001.json").read_text())
    elif damage == "empty":
        a.write_text("{}")
    elif damage == "null":
        a.write_text("null")
    elif damage == "garbage":
        a.write_text('{"sweep": ')
    elif damage == "foreign":
        a.write_text(a.read_text().replace(SPEC.fingerprint(), "0123456789abcdef"))
    elif damage == "stray":
        (cells / "g0099-s000.json").write_text(a.read_text())
    elif damage in ("metrics", "number"):
        cell = json.loads(a.read_text())
        cell["metrics"]["test_acc"] = "high" if damage == "metrics" else cell["metrics"]["test_acc"] / 2 + 0.125
        a.write_text(json.dumps(cell))
    with pytest.raises(ResultsFileError, match=message) as info:
        run_sweep(SPEC, store=store, progress=False)
    assert "cells/" in str(info.value) and "delete it to recompute" in str(info.value)


def test_cells_of_older_versions_are_recomputed(store, serial):
    for p in (store / "cells").glob("*.json"):
        cell = json.loads(p.read_text())
        p.write_text(json.dumps({k: cell[k] for k in ("metrics", "seed", "engine", "seconds")}))  # no identity
    ran = []
    assert_sweeps_equal(serial, run_sweep(SPEC, store=store, progress=False, on_cell=lambda c, r: ran.append(c)))
    assert len(ran) == len(SPEC.cells())


@pytest.mark.parametrize("damage, message", [
    ("list", r"sweep.json' is invalid: must be an object"),
    ("cells_file", "cells' is a file, not a folder"),
    ("corrupt", "sweep.json' is corrupted"),
])
def test_damaged_store_is_refused(store, damage, message):
    if damage == "list":
        (store / "sweep.json").write_text("[]")
    elif damage == "cells_file":
        for p in (store / "cells").iterdir():
            p.unlink()
        (store / "cells").rmdir()
        (store / "cells").write_text("")
    elif damage == "corrupt":
        (store / "sweep.json").write_text("{")
    with pytest.raises(ValueError, match=message):
        run_sweep(SPEC, store=store, progress=False)


def test_store_that_is_a_file_or_under_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        run_sweep(SPEC, store=f, progress=False)
    with pytest.raises(ValueError, match="cannot create it"):
        run_sweep(SPEC, store=f / "sub", progress=False)


def test_a_changed_option_is_named(store):
    with pytest.raises(ValueError, match=r"holds a different sweep \(base.lr: 0.5 -> 0.25\)"):
        run_sweep(SweepSpec(base=TINY.replace(lr=0.25), grid=GRID, seeds=2, root_seed=5), store=store, progress=False)
    with pytest.raises(ValueError, match=r"seeds: 2 -> 3"):
        run_sweep(SweepSpec(base=TINY, grid=GRID, seeds=3, root_seed=5), store=store, progress=False)
    with pytest.raises(ValueError, match=r"grid.noise_std: \[0.0, 1.0\] -> \[0.0, 2.0\]"):
        run_sweep(SweepSpec(base=TINY, grid={**GRID, "noise_std": [0.0, 2.0]}, seeds=2, root_seed=5),
                  store=store, progress=False)
    swapped = {"activation": GRID["activation"], "noise_std": GRID["noise_std"]}
    with pytest.raises(ValueError, match=r"grid axis order: \['noise_std', 'activation'\] -> "):
        run_sweep(SweepSpec(base=TINY, grid=swapped, seeds=2, root_seed=5), store=store, progress=False)


def test_a_store_without_finished_cells_takes_a_new_sweep(tmp_path):
    """A first cell that fails leaves an empty store: the corrected sweep may use the folder."""
    from cnnrank import TrainingDiverged

    bad = SweepSpec(base=TINY.replace(activation="poly3", lr=1e10), seeds=1)
    with pytest.raises(TrainingDiverged, match="sweep cell g0000-s000 .*seed index 0"):
        run_sweep(bad, store=tmp_path, progress=False)
    good = SweepSpec(base=TINY.replace(activation="poly3"), seeds=1)
    assert np.isfinite(run_sweep(good, store=tmp_path, progress=False).values["train_loss"]).all()


def test_a_locked_store_is_refused_at_once(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    lock = _StoreLock(tmp_path)
    try:
        with pytest.raises(ValueError, match=f"store='{tmp_path}' is invalid: another sweep is running in it"):
            run_sweep(SPEC, store=tmp_path, progress=False)
        assert not (tmp_path / "sweep.json").exists()
    finally:
        lock.release()
    run_sweep(SweepSpec(base=TINY, seeds=1), store=tmp_path, progress=False)  # free again


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


BASE_TOML = "seeds = 1\n[base]\nn = 8\nn_test = 8\nd = 20\nK = 2\nm = 2\nsteps = 10\n"


@pytest.mark.parametrize("extra, message", [
    ('engine = "grma"\n', "engine='grma' is invalid: must be one of"),
    ("lr = 1e200\n", r"lr=1e\+200 is invalid: .*use lr <="),
    ("activation = 3\n", "activation=3 is invalid: must be a string"),
    ("init_std = 1e200\n", r"init_std=1e\+200 is invalid"),
    ("signal_norm = 1e200\n", r"signal_norm=1e\+200.* are invalid"),
    ('[grid]\nactivation = [3]\n', "grid point activation=3: activation=3 is invalid"),
    ('[grid]\nengine = ["feature", "grma"]\n', "grid point engine='grma': engine='grma' is invalid"),
    ("[grid]\nlr = [0.5, 1e200]\n", r"grid point lr=1e\+200: lr=1e\+200 is invalid"),
])
def test_bad_sweeps_are_refused_before_anything_is_written(tmp_path, extra, message):
    text = BASE_TOML + extra if extra.startswith("[grid]") else BASE_TOML.replace("[base]\n", "[base]\n" + extra)
    with pytest.raises(ValueError, match=message):
        sweep_from_file(_write(tmp_path, "s.toml", text))


def test_grid_that_is_not_a_table(tmp_path):
    with pytest.raises(ValueError, match="grid=5 is invalid: must map field names to lists of values"):
        sweep_from_file(_write(tmp_path, "g.toml", "grid = 5\n"))


def test_absurd_seed_counts_are_refused_before_writing(tmp_path):
    spec = SweepSpec(base=TINY, seeds=100_000_000)
    with pytest.raises(ValueError, match="a sweep of 100000000 cells .* needs .*use fewer seeds"):
        run_sweep(spec, store=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, message", [
    ('engine = "grma"\n', "engine='grma' is invalid"),
    ("", "a sweep of 100000000 cells"),
])
def test_cli_refuses_in_one_line_and_writes_nothing(tmp_path, extra, message):
    text = BASE_TOML.replace("[base]\n", "[base]\n" + extra)
    if not extra:
        text = text.replace("seeds = 1", "seeds = 100000000")
    cfg = _write(tmp_path, "s.toml", text)
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "cnnrank", "sweep", str(cfg), "--out", str(out), "--quiet"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists()


def test_two_sweeps_started_together_do_not_mix(tmp_path):
    """Start two different sweeps on one --out at once: exactly one runs, the other exits with a clear
    one-line error naming the folder, and the store and results are the winner's alone."""
    specs = {name: SweepSpec(base=TINY.replace(steps=40), grid={"noise_std": [0.0, 0.5, 1.0]}, seeds=4, root_seed=r)
             for name, r in (("a", 1), ("b", 2))}
    out = tmp_path / "out"
    cmds = {}
    for name, spec in specs.items():
        cfg = _write(tmp_path, f"{name}.json", json.dumps(spec.to_file_dict()))
        cmds[name] = [sys.executable, "-m", "cnnrank", "sweep", str(cfg), "--out", str(out), "--quiet"]
    procs = {name: subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, cmd in cmds.items()}
    done = {name: (p.wait(timeout=120), p.stderr.read()) for name, p in procs.items()}
    for p in procs.values():
        p.stdout.close()
        p.stderr.close()
    winners = [n for n, (rc, _) in done.items() if rc == 0]
    assert len(winners) == 1, done
    (loser,) = set(done) - set(winners)
    rc, err = done[loser]
    assert rc == 2 and len(err.strip().splitlines()) == 1 and str(out) in err, err
    assert "another sweep is running in it" in err or "holds a different sweep" in err, err
    winner = specs[winners[0]]
    assert_sweeps_equal(run_sweep(winner, progress=False), SweepResult.load(out / "results.npz"))
    stored = [json.loads(p.read_text()) for p in Path(out / "cells").glob("*.json")]
    assert len(stored) == winner.n_cells and {c["sweep"] for c in stored} == {winner.fingerprint()}
    assert json.loads((out / "sweep.json").read_text())["fingerprint"] == winner.fingerprint()


@pytest.mark.parametrize("content", ["[]", "{", '{"spec": 1}'])
def test_a_broken_sweep_json_is_refused_before_anything_is_written(tmp_path, content):
    store = tmp_path / "store"
    store.mkdir()
    (store / "sweep.json").write_text(content)
    with pytest.raises(ValueError, match="sweep.json' is"):
        run_sweep(SPEC, store=store, progress=False)
    assert sorted(p.name for p in store.iterdir()) == ["sweep.json"]  # no lock file, no cells folder


def test_reuse_copies_the_cells_of_another_store_and_runs_the_rest(tmp_path, monkeypatch):
    """``reuse=``: the cells whose configuration and seed equal those of another sweep's stored cells are
    copied (no run), the others run; the result equals a sweep run in full, bit for bit."""
    import cnnrank.sweeps.runner as runner

    headline = SweepSpec(base=TINY, grid={"noise_std": [0.0, 1.0]}, seeds=2, root_seed=5)
    ablation = SweepSpec(base=TINY, grid={"activation": ["relu", "huber3"], "noise_std": [0.0, 1.0]},
                         seeds=2, root_seed=5)
    run_sweep(headline, store=tmp_path / "h", progress=False)
    full = run_sweep(ablation, progress=False)
    ran = []
    real = runner.run_cell

    def counting(config, root_seed, seed_index):
        ran.append(config["activation"])
        return real(config, root_seed, seed_index)

    monkeypatch.setattr(runner, "run_cell", counting)
    got = run_sweep(ablation, store=tmp_path / "a", progress=False, reuse=(headline, tmp_path / "h"))
    assert ran == ["relu"] * 4  # the four huber3 cells (TINY's activation) are the headline's
    assert_sweeps_equal(full, got)
    for a, b in zip(full.values.values(), got.values.values()):
        np.testing.assert_array_equal(a, b)
    # stored as this sweep's cells: a resume reads them back and runs nothing
    ran.clear()
    assert_sweeps_equal(full, run_sweep(ablation, store=tmp_path / "a", progress=False))
    assert ran == []
    # a cell of the other store that does not check out is run, not copied
    cell = next((tmp_path / "h" / "cells").glob("*.json"))
    cell.write_text(cell.read_text().replace('"metrics": {', '"metrics": {"edited": 1, ', 1))
    ran.clear()
    run_sweep(ablation, store=tmp_path / "b", progress=False, reuse=(headline, tmp_path / "h"))
    assert ran.count("huber3") == 1 and ran.count("relu") == 4
    with pytest.raises(TypeError, match="reuse="):
        run_sweep(ablation, progress=False, reuse=tmp_path / "h")
