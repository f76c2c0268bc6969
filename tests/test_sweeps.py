"""Sweeps: seeds, executors, the resumable store, files, and the Dask executor."""

import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from cnnrank.experiments import RunConfig, config_from_dict
from cnnrank.results import ResultsFileError
from cnnrank.sweeps import SweepResult, SweepSpec, run_sweep, sweep_from_file
from cnnrank.testing import assert_sweeps_equal

TINY = RunConfig(n=16, n_test=16, d=40, K=2, m=3, steps=40, record_every=20, lr=0.5, init_std=0.05,
                 engine="feature")
SPEC = SweepSpec(base=TINY, grid={"noise_std": [0.0, 0.5, 1.0], "activation": ["huber3", "relu"]},
                 seeds=2, root_seed=11)



@pytest.fixture(scope="module")
def serial():
    return run_sweep(SPEC, progress=False)


def test_grid_shape_and_seed_streams(serial):
    assert SPEC.shape == (3, 2) and len(SPEC.cells()) == 12
    assert serial.values["filter_stable_rank"].shape == (3, 2, 2)
    assert not np.any(np.isnan(serial.values["filter_stable_rank"]))
    # seeds are independent streams: different seed index -> different runs
    assert not np.array_equal(serial.values["data_stable_rank"][1, 0, 0], serial.values["data_stable_rank"][1, 0, 1])
    # common random numbers: σ_p = 0 gives the clean rank at every seed
    np.testing.assert_allclose(serial.values["data_stable_rank"][0], serial.values["clean_data_stable_rank"][0])


def test_process_pool_gives_identical_results(serial):
    with ProcessPoolExecutor(2) as ex:
        assert_sweeps_equal(serial, run_sweep(SPEC, executor=ex, progress=False))
    with ThreadPoolExecutor(2) as ex:
        assert_sweeps_equal(serial, run_sweep(SPEC, executor=ex, progress=False))


def test_interrupted_sweep_resumes_to_identical_results(serial, tmp_path):
    store = tmp_path / "store"
    seen = []

    def boom(cid, res):
        seen.append(cid)
        if len(seen) == 5:
            raise KeyboardInterrupt  # an interruption after 5 stored cells

    with pytest.raises(KeyboardInterrupt):
        run_sweep(SPEC, store=store, on_cell=boom, progress=False)
    assert len(list((store / "cells").glob("*.json"))) == 5
    again = []
    resumed = run_sweep(SPEC, store=store, on_cell=lambda c, r: again.append(c), progress=False)
    assert len(again) == 7 and not set(again) & set(seen)  # only the missing cells ran
    assert_sweeps_equal(serial, resumed)


def test_killed_sweep_process_resumes_to_identical_results(serial, tmp_path):
    """SIGKILL a real `cnnrank sweep` process midway, re-run it, compare with an uninterrupted sweep."""
    cfg = tmp_path / "sweep.json"
    cfg.write_text(json.dumps(SPEC.to_dict()))
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "cnnrank", "sweep", str(cfg), "--out", str(store), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cells = store / "cells"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cells.glob("*.json"))) < 2 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(list(cells.glob("*.json")))
    assert n_before < 12, "the sweep finished before it could be killed"
    from cnnrank.cli import main

    assert main(cmd[3:]) == 0  # the same command again, in this process: it resumes the killed run's store
    assert_sweeps_equal(serial, SweepResult.load(store / "results.npz"))


def test_store_refuses_a_different_sweep(tmp_path):
    small = SweepSpec(base=TINY, grid={"noise_std": [0.0]}, seeds=1)
    run_sweep(small, store=tmp_path, progress=False)
    other = SweepSpec(base=TINY, grid={"noise_std": [0.1]}, seeds=1)
    with pytest.raises(ValueError, match="holds a different sweep"):
        run_sweep(other, store=tmp_path, progress=False)


def test_sweep_result_round_trip_and_errors(serial, tmp_path):
    path = serial.save(tmp_path / "r.npz")
    back = SweepResult.load(path)
    assert_sweeps_equal(serial, back)
    assert back.spec == serial.spec
    np.testing.assert_array_equal(back.mean("test_acc"), serial.mean("test_acc"))
    with pytest.raises(ValueError, match="metric='nope' is invalid"):
        back.mean("nope")
    (tmp_path / "junk.npz").write_bytes(b"\x00garbage")
    with pytest.raises(ResultsFileError, match="junk.npz"):
        SweepResult.load(tmp_path / "junk.npz")


def test_spec_validation_and_files(tmp_path):
    with pytest.raises(ValueError, match="seeds=0 is invalid"):
        SweepSpec(base=TINY, seeds=0)
    with pytest.raises(ValueError, match=r"grid\['noise_std'\]=\[\] is invalid"):
        SweepSpec(base=TINY, grid={"noise_std": []})
    with pytest.raises(ValueError, match=r"config keys \['sigma'\] are invalid"):
        SweepSpec(base=TINY, grid={"sigma": [1.0]})
    with pytest.raises(ValueError, match="noise_std=-1.0 is invalid"):
        SweepSpec(base=TINY, grid={"noise_std": [-1.0]})
    with pytest.raises(ValueError, match="balanced=1 is invalid"):
        config_from_dict({"balanced": 1})
    toml = tmp_path / "s.toml"
    toml.write_text('seeds = 2\nroot_seed = 3\n[base]\nd = 40\nK = 2\n[grid]\nnoise_std = [0.0, 1.0]\n')
    spec = sweep_from_file(toml)
    assert spec.seeds == 2 and spec.base.d == 40 and spec.grid == {"noise_std": (0.0, 1.0)}
    bad = tmp_path / "bad.toml"
    bad.write_text("seeds = [\n")
    with pytest.raises(ValueError, match="sweep file .*bad.toml.* is invalid"):
        sweep_from_file(bad)
    unknown = tmp_path / "u.json"
    unknown.write_text('{"seedz": 1}')
    with pytest.raises(ValueError, match="u.json.*seedz"):
        sweep_from_file(unknown)
    with pytest.raises(FileNotFoundError, match="missing.toml"):
        sweep_from_file(tmp_path / "missing.toml")


def test_grid_activation_names_are_canonical_and_not_repeated():
    spec = SweepSpec(base=TINY, grid={"activation": ["HUBER3", "relu"]})
    assert spec.grid["activation"] == ("huber3", "relu")  # the axis names what the cells store
    assert spec.to_dict()["grid"]["activation"] == ["huber3", "relu"]
    with pytest.raises(ValueError, match=r"grid\['activation'\] names 'huber3' twice"):
        SweepSpec(base=TINY, grid={"activation": ["huber3", "HUBER3"]})


def test_sweep_on_a_local_dask_cluster(serial):
    distributed = pytest.importorskip("distributed", reason="the 'dist' extra (dask distributed) is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            assert_sweeps_equal(serial, run_sweep(SPEC, executor=client.get_executor(), progress=False))


def test_implicit_engine_in_a_sweep_and_the_example_file(tmp_path):
    """engine = "implicit" runs the dimension-free path (any d costs the same); the example sweep file
    parses and runs on small settings."""
    from pathlib import Path

    spec = SweepSpec(base=TINY.replace(engine="implicit", d=10**9), grid={"noise_std": [0.0, 0.01]}, seeds=2)
    res = run_sweep(spec, progress=False)
    # every metric is a number; signal_learning_time is NaN by definition when no γ reached the level
    assert all(np.isfinite(v).all() for k, v in res.values.items() if k != "signal_learning_time")
    np.testing.assert_allclose(res.values["data_stable_rank"][0], res.values["clean_data_stable_rank"][0])
    with ThreadPoolExecutor(2) as ex:
        assert_sweeps_equal(res, run_sweep(spec, executor=ex, progress=False))
    example = sweep_from_file(Path(__file__).resolve().parents[1] / "examples" / "noise_sweep.toml")
    assert list(example.grid) == ["noise_std", "activation"]
    small = SweepSpec(base=example.base.replace(n=8, n_test=8, d=40, m=2, steps=10, record_every=5),
                      grid=example.grid, seeds=1, root_seed=example.root_seed)
    out = run_sweep(small, store=tmp_path, progress=False)
    assert out.values["test_acc"].shape == (4, 2, 1)
