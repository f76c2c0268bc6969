"""Tidy results (docs/tidy.md): DataFrames and Datasets of sweeps and of every reproduce record, counts
stored as integers, ``cnnrank export`` to CSV and netCDF, and the message without pandas/xarray."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import cnnrank.tidy as tidy
from cnnrank.cli import main
from cnnrank.experiments import RunConfig
from cnnrank.experiments.phase import phase_record
from cnnrank.experiments.runs import run_once
from cnnrank.results import save_npz
from cnnrank.sweeps import SweepResult, SweepSpec, run_sweep

try:
    import pandas as pd
    import xarray as xr
except ImportError:  # pragma: no cover - the test extra installs both
    pd = xr = None

needs_tidy = pytest.mark.skipif(pd is None or xr is None, reason="pandas and xarray not installed (pip install 'cnnrank[tidy]')")

TINY = RunConfig(n=8, n_test=8, d=30, K=2, m=3, steps=30, record_every=10, lr=0.5, init_std=0.05, engine="gram")
NS, NOISE = [8, 12], [0.0, 0.3]
SPEC = SweepSpec(base=TINY, grid={"n": NS, "noise_std": NOISE}, seeds=2, root_seed=5)


@pytest.fixture(scope="module")
def sweep():
    return run_sweep(SPEC, progress=False)


# ------------------------------------------------------------------------------------- counts as ints

def test_learned_dimension_is_an_int_in_cells_results_and_summaries(sweep, tmp_path):
    assert sweep.values["learned_dimension"].dtype == np.int64
    assert isinstance(sweep.to_json()["values"]["learned_dimension"][0][0][0], int)
    res = run_sweep(SPEC, store=tmp_path / "store", progress=False)
    cell = json.loads(next((tmp_path / "store" / "cells").glob("*.json")).read_text())
    assert isinstance(cell["metrics"]["learned_dimension"], int)
    assert isinstance(cell["metrics"]["test_acc"], float)
    res.save(tmp_path / "r.npz")
    assert SweepResult.load(tmp_path / "r.npz").values["learned_dimension"].dtype == np.int64
    traj = run_once(TINY, rng=0).trajectory
    assert isinstance(traj.summary()["learned_dimension"], int)
    assert isinstance(run_once(TINY, rng=0).scalars()["learned_dimension"], int)


def test_older_files_with_float_counts_still_read_as_ints(sweep, tmp_path):
    spec = {**sweep.spec, "grid": [[k, list(v)] for k, v in sweep.grid.items()]}
    old = {f"values/{k}": v.astype(float) for k, v in sweep.values.items()}
    save_npz(tmp_path / "old.npz", old, {"kind": "SweepResult", "fields": {"spec": spec, "seconds": 0.0}})
    loaded = SweepResult.load(tmp_path / "old.npz")
    assert loaded.values["learned_dimension"].dtype == np.int64
    np.testing.assert_array_equal(loaded.values["learned_dimension"], sweep.values["learned_dimension"])
    # a missing value (NaN) keeps the array float: nothing is made up
    holes = {k: v.astype(float) for k, v in sweep.values.items()}
    holes["learned_dimension"][0, 0, 0] = np.nan
    assert SweepResult(spec=sweep.spec, values=holes).values["learned_dimension"].dtype == np.float64


# ------------------------------------------------------------------------------------------- sweeps

@needs_tidy
def test_sweep_dataframe_has_one_row_per_cell_and_seed(sweep):
    df = sweep.to_dataframe()
    assert list(df.columns[:3]) == ["n", "noise_std", "seed"]
    assert len(df) == 2 * 2 * 2 and set(sweep.values) <= set(df.columns)
    assert df["learned_dimension"].dtype == np.int64 and df["n"].dtype == np.int64
    for _, row in df.iterrows():
        i, j, s = NS.index(row["n"]), NOISE.index(row["noise_std"]), int(row["seed"])
        for k, v in sweep.values.items():
            assert row[k] == v[i, j, s], k
    assert df.attrs["kind"] == "sweep" and df.attrs["config"]["d"] == 30
    assert df.attrs["grid"] == ["n", "noise_std"] and df.attrs["seeds"] == 2 and df.attrs["root_seed"] == 5
    # the means over seeds are a groupby away
    means = df.groupby(["n", "noise_std"])["test_acc"].mean().to_numpy().reshape(2, 2)
    np.testing.assert_allclose(means, sweep.mean("test_acc"), rtol=1e-15)


@needs_tidy
def test_sweep_dataset_has_the_grid_axes_and_seed_as_dimensions(sweep):
    ds = sweep.to_xarray()
    assert dict(ds.sizes) == {"n": 2, "noise_std": 2, "seed": 2}
    assert list(ds["n"].values) == NS and list(ds["noise_std"].values) == NOISE
    for k, v in sweep.values.items():
        assert ds[k].dims == ("n", "noise_std", "seed")
        np.testing.assert_array_equal(ds[k].values, v)
    assert ds["learned_dimension"].dtype == np.int64
    assert json.loads(ds.attrs["config"]) == sweep.spec["base"] and ds.attrs["seeds"] == 2
    assert ds.attrs["kind"] == "sweep" and ds.attrs["cnnrank_version"]
    np.testing.assert_allclose(ds["filter_stable_rank"].mean("seed").values, sweep.mean("filter_stable_rank"),
                               rtol=1e-15)


@needs_tidy
def test_sweep_files_give_the_same_table_as_the_result(sweep, tmp_path):
    sweep.save(tmp_path / "results.npz")
    (tmp_path / "results.json").write_text(json.dumps(sweep.to_json()))
    want = sweep.to_dataframe()
    for path in (tmp_path / "results.npz", tmp_path / "results.json", str(tmp_path / "results.json")):
        got = tidy.to_dataframe(path)
        pd.testing.assert_frame_equal(got, want)
    # the axis order of a grid in a file is kept, not sorted
    flipped = SweepResult(spec={**sweep.spec, "grid": {"noise_std": NOISE, "n": NS}},
                          values={k: np.swapaxes(v, 0, 1) for k, v in sweep.values.items()})
    assert list(flipped.to_dataframe().columns[:3]) == ["noise_std", "n", "seed"]


# ------------------------------------------------------------------------------- reproduce records

@needs_tidy
def test_reproduce_run_to_dataframe_and_export_end_to_end(tmp_path, capsys):
    out = tmp_path / "idim"
    assert main(["reproduce", "intrinsic-dimension", "--Ks", "1,2", "--seeds", "2", "--steps", "20", "--d", "40",
                 "--n", "8", "--n-test", "8", "--m", "3", "--out", str(out), "--quiet"]) == 0
    rec = json.loads((out / "intrinsic_dimension.json").read_text())
    assert all(isinstance(v, int) for row in rec["per_seed"]["learned_dimension"] for v in row)
    df = tidy.to_dataframe(out / "intrinsic_dimension.json")
    assert list(df.columns[:2]) == ["K", "seed"] and len(df) == 4
    assert df["learned_dimension"].dtype == np.int64
    np.testing.assert_array_equal(df["learned_dimension"].to_numpy().reshape(2, 2),
                                  rec["per_seed"]["learned_dimension"])
    # a per-K quantity is repeated for each seed
    np.testing.assert_array_equal(df["two_K"].to_numpy(), [2, 2, 4, 4])
    assert list(df["regime"]) == [r for r in rec["regime"] for _ in range(2)]
    assert df.attrs["noise_std"] == rec["noise_std"] and df.attrs["config"] == rec["config"]
    # the command: CSV beside the record (the folder names it), then netCDF
    capsys.readouterr()
    assert main(["export", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    back = pd.read_csv(out / "intrinsic_dimension.csv")
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert back["learned_dimension"].dtype == np.int64
    nc = tmp_path / "idim.nc"
    assert main(["export", str(out / "intrinsic_dimension.json"), "--format", "netcdf", "--out", str(nc)]) == 0
    with xr.open_dataset(nc) as ds:
        assert dict(ds.sizes) == {"K": 2, "seed": 2}
        np.testing.assert_array_equal(ds["learned_dimension"].values, rec["per_seed"]["learned_dimension"])
        assert ds["learned_dimension"].dtype.kind == "i"
        assert json.loads(ds.attrs["config"]) == rec["config"] and ds.attrs["kind"] == "intrinsic-dimension"


@needs_tidy
def test_rank_vs_noise_record_with_ablation(sweep):
    noise = [0.0, 0.1]
    per_seed = {"test_acc": [[1.0, 0.5], [0.25, 0.75]], "learned_dimension": [[4.0, 4.0], [0.0, 2.0]]}
    rec = {"noise_std": noise, "test_acc": [0.75, 0.5], "per_seed": per_seed, "regime": ["benign", "harmful"],
           "predicted_data_stable_rank": [4.0, 5.0], "clean_rank": 4, "config": {"K": 2}, "seeds": {"count": 2},
           "ablation": {"activation": ["huber3", "relu"], "test_acc": [[1.0, 0.5], [0.9, 0.4]],
                        "regime": [["benign", "harmful"], ["benign", "harmful"]]}}
    df = tidy.to_dataframe(rec)
    assert tidy.tables(rec).kind == "rank-vs-noise"
    assert list(df["noise_std"]) == [0.0, 0.0, 0.1, 0.1] and list(df["seed"]) == [0, 1, 0, 1]
    assert list(df["test_acc"]) == [1.0, 0.5, 0.25, 0.75]
    assert list(df["learned_dimension"]) == [4, 4, 0, 2] and df["learned_dimension"].dtype == np.int64
    assert list(df["predicted_data_stable_rank"]) == [4.0, 4.0, 5.0, 5.0]
    assert df.attrs["clean_rank"] == 4 and df.attrs["tables"] == ["levels", "ablation"]
    ab = tidy.to_dataframe(rec, table="ablation")
    assert list(ab.columns) == ["activation", "noise_std", "test_acc", "regime"]
    assert list(ab["test_acc"]) == [1.0, 0.5, 0.9, 0.4]
    ds = tidy.to_xarray(rec)
    assert ds["ablation_test_acc"].dims == ("activation", "noise_std")  # the noise axis is shared
    assert ds["test_acc"].dims == ("noise_std", "seed")
    with pytest.raises(ValueError, match="table='cells' is invalid: .*'levels', 'ablation'"):
        tidy.to_dataframe(rec, table="cells")


@needs_tidy
def test_phase_record_has_n_and_noise_axes(sweep):
    rec = json.loads(json.dumps(phase_record(sweep, TINY, NS, NOISE)))  # as written: None for no boundary
    df = tidy.to_dataframe(rec)
    assert tidy.tables(rec).kind == "phase-diagram"
    assert list(df.columns[:2]) == ["n", "noise_std"] and len(df) == 4
    np.testing.assert_allclose(df["test_acc"].to_numpy().reshape(2, 2), sweep.mean("test_acc"), rtol=1e-15)
    theory = np.repeat(rec["theory_boundary"], 2)
    np.testing.assert_array_equal(df["theory_boundary"].to_numpy(), theory)
    measured = [np.nan if m is None else m for m in np.repeat(np.array(rec["measured_boundary"], dtype=object), 2)]
    np.testing.assert_array_equal(df["measured_boundary"].to_numpy(dtype=float), np.array(measured, dtype=float))
    ds = tidy.to_xarray(rec)
    assert ds["test_acc"].dims == ("n", "noise_std") and ds["theory_boundary"].dims == ("n",)
    assert ds.attrs["K"] == 2


@needs_tidy
def test_trajectory_and_simulate_summary(tmp_path):
    out = run_once(TINY, rng=3)
    traj = out.trajectory
    df = tidy.to_dataframe(traj)
    assert list(df["step"]) == list(traj.steps) and df["learned_dimension"].dtype == np.int64
    last = df.iloc[-1]
    for k, v in traj.summary().items():
        assert last[k] == v, k
    traj.save(tmp_path / "trajectory.npz")
    pd.testing.assert_frame_equal(tidy.to_dataframe(tmp_path), df)  # the folder holding it
    ds = tidy.to_xarray(tmp_path / "trajectory.npz")
    assert ds["train_loss"].dims == ("step",) and ds.attrs["engine"] == traj.engine
    summary = {"config": TINY.to_dict(), "seed": 3, "final": traj.summary(), "data_ranks": out.data_ranks}
    one = tidy.to_dataframe(summary)
    assert len(one) == 1 and one["learned_dimension"].iloc[0] == traj.summary()["learned_dimension"]
    assert one.attrs["seed"] == 3 and "final" not in one.attrs


@needs_tidy
def test_real_rank_record_from_result_json_and_npz(tmp_path):
    from test_datasets_experiment import FAST, toy_digits

    from cnnrank import datasets as ds_
    from cnnrank.experiments.real_images import RealRankConfig, run_real_rank

    images, labels = toy_digits(120)
    image_set = ds_.ImageSet(images=images[..., None], labels=labels.astype(np.int64), classes=ds_.MNIST_CLASSES,
                             name="mnist", split="test", files=("toy",))
    res = run_real_rank(RealRankConfig(**{**FAST, "n_train": 24, "n_test": 16, "steps": 10}), images=image_set)
    df = tidy.to_dataframe(res)
    assert tidy.tables(res).kind == "mnist-rank"
    np.testing.assert_array_equal(df["noise_std"], res.noise_std)
    np.testing.assert_array_equal(df["learned_dimension"], res.learned_dimension)
    assert df["learned_dimension"].dtype == np.int64 and df.attrs["reference_dimension"] == res.reference_dimension
    res.save(tmp_path / "mnist_rank.npz")
    (tmp_path / "mnist_rank.json").write_text(json.dumps(res.to_json()))
    for path in ("mnist_rank.npz", "mnist_rank.json"):
        pd.testing.assert_frame_equal(tidy.to_dataframe(tmp_path / path), df)
    path = tidy.to_dataframe(res, table="path")
    assert len(path) == res.filter_stable_rank_path.size
    np.testing.assert_array_equal(path["filter_stable_rank"], res.filter_stable_rank_path.ravel())
    ds = tidy.to_xarray(res)
    assert ds["path_filter_stable_rank"].dims == ("noise_std", "step")


LINEAR = {
    "seed": 0, "sweep_seeds": [7], "quick": True,
    "a_saxe": {"s": [3.0, 2.0], "u0": 0.001, "lr": 0.002, "half_time_measured": [1.3, 1.9],
               "half_time_closed_form": [1.33, 1.9], "max_abs_error_over_s": [0.004, 0.002]},
    "b_ordering": {"s": [1.0, 2.0], "dominant_freq": [2, 11], "dominant_share": [1.0, 0.08],
                   "fcnn_half_times": [4.9, 2.6], "cnn_half_times": [1.2, 2.1], "cnn_predicted_rates": [4.0, 2.3],
                   "cnn_channels": 4, "kernel_size": 32},
    "c_sweeps": {"share": {"values": [0.1, 0.4, 0.8], "s": [1.0, 2.0],
                           "half_times": [[[3.6, 1.0], [3.5, 1.1]], [[3.5, 1.2], [3.4, 1.3]], [[1.5, 1.4], [1.6, 1.5]]],
                           "mean_half_times": [[3.55, 1.05], [3.45, 1.25], [1.55, 1.45]],
                           "predicted_rates": [[1.3, 2.0], [2.5, 2.1], [3.5, 2.2]], "isolated_mean_half_times": None}},
}


@needs_tidy
def test_linear_cnn_record_tables():
    rec = tidy.tables(LINEAR)
    assert rec.kind == "linear-cnn" and list(rec.tables) == ["saxe", "ordering", "sweep_share"]
    saxe = tidy.to_dataframe(LINEAR)
    assert list(saxe.columns) == ["s", "half_time_measured", "half_time_closed_form", "max_abs_error_over_s"]
    assert saxe.attrs["saxe_u0"] == 0.001 and "a_saxe" not in saxe.attrs
    ordering = tidy.to_dataframe(LINEAR, table="ordering")
    assert ordering["dominant_freq"].dtype == np.int64 and ordering.attrs["ordering_kernel_size"] == 32
    share = tidy.to_dataframe(LINEAR, table="sweep_share")
    assert list(share.columns[:3]) == ["share", "seed", "s"] and len(share) == 3 * 2 * 2
    assert list(share["half_times"][:4]) == [3.6, 1.0, 3.5, 1.1]
    assert list(share["mean_half_times"][:4]) == [3.55, 1.05, 3.55, 1.05]
    ds = tidy.to_xarray(LINEAR)
    # the s axes of the tables differ: each keeps its own values
    assert list(ds["s"].values) == [3.0, 2.0] and list(ds["ordering_s"].values) == [1.0, 2.0]
    assert ds["sweep_share_half_times"].dims == ("share", "seed", "sweep_share_s")


def _probe(kind, acc):
    return {"kind": kind, "test_accuracy": acc, "mean_test_accuracy": list(np.mean(acc, axis=1)),
            "min_train_accuracy": 1.0, "spread": 0.1, "seed_spread": 0.01, "f_statistic": 2.0, "p_value": 0.2,
            "signed_coherence": [-0.25] * len(acc)}


COLLAPSE = {
    "params": {"seed": 0, "quick": True},
    "ufm": {"final": {"nc1": 1e-5, "p_min": 5.9, "pair_margins": [[None, 6.0], [6.0, None]]},
            "first_zero_error_step": 20, "p_min": {"steps": [0, 10], "values": [-0.1, 4.0]},
            "nc1": {"steps": [0, 10], "values": [8.0, 0.1]}, "config": {"dim": 8}},
    "mixture": {"final": {"nc1": 0.08, "p_min": 5.6}, "first_zero_error_step": 10, "final_test_accuracy": 0.68,
                "p_min": {"steps": [0, 5, 9], "values": [-3.0, 2.0, 3.0]}, "config": {"width": 16},
                "initial": {"nc1": 1.2}},
    "etf_probes": [_probe("ETF perm. tanh", [[0.7, 0.8], [0.6, 0.7]])],
    "frame_probes": {"frame_coherence": 0.0, "classes": 6, "results": [_probe("frame perm. tanh", [[0.5, 0.4], [0.5, 0.6]])]},
    "frames": [{"N": 3, "d": 2, "signed": False, "coherence": 0.5, "bound": 0.5, "bound_name": "circle", "gap": 1e-12}],
}


@needs_tidy
def test_neural_collapse_record_tables():
    rec = tidy.tables(COLLAPSE)
    assert rec.kind == "neural-collapse"
    assert list(rec.tables) == ["final", "ufm", "mixture", "probes", "frames"]
    final = tidy.to_dataframe(COLLAPSE)
    assert list(final["run"]) == ["ufm", "mixture"] and list(final["nc1"]) == [1e-5, 0.08]
    assert final["first_zero_error_step"].dtype == np.int64
    assert np.isnan(final["final_test_accuracy"][0]) and final["final_test_accuracy"][1] == 0.68
    mix = tidy.to_dataframe(COLLAPSE, table="mixture")
    assert list(mix["step"]) == [0, 5, 9] and list(mix["p_min"]) == [-3.0, 2.0, 3.0]
    probes = tidy.to_dataframe(COLLAPSE, table="probes")
    assert len(probes) == 2 * 2 * 2 and list(probes["test_accuracy"][:4]) == [0.7, 0.8, 0.6, 0.7]
    assert list(tidy.to_dataframe(COLLAPSE, table="frames")["bound_name"]) == ["circle"]
    ds = tidy.to_xarray(COLLAPSE)
    assert ds["mixture_p_min"].dims == ("mixture_step",) and ds["ufm_p_min"].dims == ("step",)
    assert json.loads(ds.attrs["mixture_initial"]) == {"nc1": 1.2}


@needs_tidy
def test_every_dataset_writes_to_netcdf_with_scipy(sweep, tmp_path):
    big_seed = SweepResult(spec={**sweep.spec, "root_seed": 2**40}, values=sweep.values)
    for record in (sweep, LINEAR, COLLAPSE, phase_record(sweep, TINY, NS, NOISE), big_seed):
        ds = tidy.to_xarray(record)
        ds.to_netcdf(tmp_path / "x.nc", engine="scipy")
        with xr.open_dataset(tmp_path / "x.nc", engine="scipy") as back:
            assert set(back.data_vars) == set(ds.data_vars)
            if record is big_seed:  # beyond netCDF3's 32-bit integers: kept as its decimal string
                assert back.attrs["root_seed"] == str(2**40)


# ------------------------------------------------------------------------------------------- errors

@needs_tidy
@pytest.mark.parametrize("record, exc, match", [
    ({"what": 1}, ValueError, "record is invalid: not a cnnrank result record"),
    ({"noise_std": [0.1], "per_seed": {"test_acc": [[1.0], [0.5]]}}, ValueError,
     "a rank-vs-noise record that cannot be read as a table .*test_acc has shape"),
    ({"K": [1, 2], "per_seed": {}}, ValueError, "intrinsic-dimension record"),
    ({"spec": {"grid": {}}, "values": {}}, ValueError, "sweep record .*missing 'seeds'"),
    (3.0, TypeError, "record=float is invalid"),
])
def test_bad_records_are_refused_in_one_line(record, exc, match):
    with pytest.raises(exc, match=match):
        tidy.to_dataframe(record)


@needs_tidy
def test_bad_files_and_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tidy.to_dataframe(tmp_path / "nope.json")
    (tmp_path / "a.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a cnnrank result record"):
        tidy.to_dataframe(tmp_path / "a.json")
    (tmp_path / "b.json").write_text("[" * 100000)
    with pytest.raises(ValueError, match="not valid JSON"):
        tidy.to_dataframe(tmp_path / "b.json")
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(ValueError, match=r"must end in \.json or \.npz"):
        tidy.to_dataframe(tmp_path / "c.txt")
    with pytest.raises(ValueError, match="results folder .* must hold exactly one results file .*found none"):
        tidy.to_dataframe(tmp_path)


@needs_tidy
def test_export_command_tables_overwrite_and_errors(tmp_path, capsys):
    rec = tmp_path / "linear-cnn.json"
    rec.write_text(json.dumps(LINEAR))
    assert main(["export", str(rec)]) == 0
    for name in ("linear-cnn.csv", "linear-cnn.ordering.csv", "linear-cnn.sweep_share.csv"):
        assert (tmp_path / name).is_file()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "linear-cnn.sweep_share.csv"),
                                  tidy.to_dataframe(LINEAR, table="sweep_share"), check_dtype=False)
    capsys.readouterr()
    before = (tmp_path / "linear-cnn.csv").read_bytes()
    assert main(["export", str(rec)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnrank: error: --out") and "--overwrite" in err and err.count("\n") == 1
    assert main(["export", str(rec), "--overwrite"]) == 0
    assert (tmp_path / "linear-cnn.csv").read_bytes() == before
    capsys.readouterr()
    assert main(["export", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", str(rec), "--format", "hdf5"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_without_pandas_or_xarray_one_clear_line(monkeypatch, tmp_path, capsys):
    rec = tmp_path / "linear-cnn.json"
    rec.write_text(json.dumps(LINEAR))
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(tidy.MissingDependency, match=r"to_dataframe needs pandas, which is not installed: "
                                                     r"pip install 'cnnrank\[tidy\]'"):
        tidy.to_dataframe(LINEAR)
    with pytest.raises(tidy.MissingDependency, match="to_xarray needs xarray"):
        tidy.to_xarray(LINEAR)
    for fmt, module in (("csv", "pandas"), ("netcdf", "xarray")):
        assert main(["export", str(rec), "--format", fmt]) == 2
        err = capsys.readouterr().err
        assert err == (f"cnnrank: error: export --format {fmt} needs {module}, which is not installed: "
                       f"pip install 'cnnrank[tidy]' (or pip install {module})\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linear-cnn.json"]  # nothing written


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs FIFOs (POSIX)")
def test_export_refuses_a_fifo_as_a_fifo_without_waiting(tmp_path):
    import os

    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"results\.json' is invalid: it is a FIFO \(named pipe\), not a regular file"):
        tidy.tables(fifo)
