"""Loaders check value ranges, not only shapes; JSON readers refuse FIFOs and deep nesting in one line;
``plot`` refuses impossible records, mismatched sibling files, and writes ``--out DIR/`` into the folder."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest

from cnnrank.cli import main
from cnnrank.experiments import RunConfig, run_once
from cnnrank.results import MAX_JSON_DEPTH, ResultsFileError, check_values, read_json_file
from cnnrank.sweeps import SweepResult, SweepSpec, _digest, run_cell, run_cell_group, run_sweep
from cnnrank.train import Trajectory

TINY = RunConfig(n=8, n_test=8, d=20, K=2, m=2, steps=10, record_every=5, lr=0.5, init_std=0.05, engine="feature")
SPEC = SweepSpec(base=TINY, grid={"noise_std": [0.0, 1.0]}, seeds=1, root_seed=3)


@pytest.fixture(scope="module")
def traj() -> Trajectory:
    return run_once(TINY, rng=1).trajectory


@pytest.fixture(scope="module")
def sweep() -> SweepResult:
    return run_sweep(SPEC, progress=False)


@pytest.fixture
def no_hang():
    """Fail (instead of hanging the suite) when the code under test blocks for 20 s, e.g. on a FIFO."""
    def alarm(signum, frame):
        raise TimeoutError("blocked: the reader waited on the file")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnrank: error: "), err
    return lines[0]


# ---------------------------------------------------------------------------------- Trajectory.load

def test_a_saved_trajectory_loads_back(traj, tmp_path):
    back = Trajectory.load(traj.save(tmp_path / "t.npz"))
    np.testing.assert_array_equal(back.learned_dimension, traj.learned_dimension)
    assert back.learned_dimension.dtype.kind == "i"


def _with(traj: Trajectory, name: str, value) -> Trajectory:
    old = getattr(traj, name)
    new = np.array(old, dtype=np.result_type(old, np.asarray(value)), copy=True)
    new[-1] = value
    return dataclasses.replace(traj, **{name: new})


@pytest.mark.parametrize("name, value, message", [
    ("learned_dimension", 99, r"learned_dimension=99 \(at index 2\) is invalid: must be an integer in \[0, 4\]"),
    ("learned_dimension", -1, "learned_dimension=-1"),
    ("learned_dimension", 1.5, r"learned_dimension=1\.5.*integer"),
    ("signal_energy_fraction", 7.0, r"signal_energy_fraction=7\.0 .*in \[0, 1\]"),
    ("signal_energy_fraction", -0.25, "signal_energy_fraction=-0.25"),
    ("train_acc", 1.5, r"train_acc=1\.5"),
    ("test_acc", -0.1, r"test_acc=-0\.1"),
    ("train_loss", -1.0, r"train_loss=-1\.0 .*>= 0"),
    ("test_loss", -np.inf, "test_loss=-inf"),
    ("filter_stable_rank", 0.5, r"filter_stable_rank=0\.5 .*0 or in \[1, 4\]"),
    ("filter_stable_rank", 4.5, r"filter_stable_rank=4\.5"),
    ("learned_stable_rank", 99.0, "learned_stable_rank=99.0"),
    ("signal_overlap", 2.0, r"signal_overlap=2\.0 .*\[-1, 1\]"),
    ("signal_angles", 4.0, "signal_angles=4.0"),
    ("learned_singular_values", -1.0, "learned_singular_values=-1.0"),
])
def test_trajectory_load_refuses_impossible_values(traj, tmp_path, name, value, message):
    bad = _with(traj, name, value)
    path = bad.save(tmp_path / "bad.npz")
    with pytest.raises(ResultsFileError, match=f"results file '{path}' is inconsistent: {message}") as info:
        Trajectory.load(path)
    assert "\n" not in str(info.value)


def test_trajectory_load_refuses_ascending_singular_values(traj, tmp_path):
    sv = traj.learned_singular_values.copy()
    sv[-1, -1] = sv[-1, 0] * 2 + 1
    path = dataclasses.replace(traj, learned_singular_values=sv).save(tmp_path / "sv.npz")
    with pytest.raises(ResultsFileError, match="learned_singular_values at record 2 are invalid: must be in descending"):
        Trajectory.load(path)


def test_trajectory_load_accepts_rounding_and_nan(traj, tmp_path):
    """A fraction 1 + 1e-12 (rounding of a ratio) and NaN (a diverged run's record) are not refused."""
    ok = _with(_with(traj, "signal_energy_fraction", 1.0 + 1e-12), "test_acc", np.nan)
    back = Trajectory.load(ok.save(tmp_path / "ok.npz"))
    assert back.signal_energy_fraction[-1] == 1.0 + 1e-12 and np.isnan(back.test_acc[-1])


def test_learned_dimension_bound_is_min_2m_2K(traj, tmp_path):
    """m = 2, K = 2: 4 is the bound; with m = 1 (coef of one filter per class) 2 is, and 3 is refused."""
    assert traj.learned_dimension.max() <= 4
    Trajectory.load(_with(traj, "learned_dimension", 4).save(tmp_path / "four.npz"))
    with pytest.raises(ResultsFileError, match="learned_dimension=5"):
        Trajectory.load(_with(traj, "learned_dimension", 5).save(tmp_path / "five.npz"))


def test_check_values_messages():
    with pytest.raises(ValueError, match=r"^x=2\.0 \(at index \(1, 0\)\) is invalid: must be a number in \[0, 1\]$"):
        check_values("x", [[0.5, 0.5], [2.0, 0.1]], lo=0.0, hi=1.0)
    with pytest.raises(ValueError, match=r"^s=3 \(at index 2\) is invalid: must be strictly increasing"):
        check_values("s", np.array([1, 5, 3]), lo=0, integer=True, increasing=True)
    with pytest.raises(ValueError, match="not NaN"):
        check_values("d", [np.nan], lo=0, integer=True, nan=False)
    check_values("r", [0.0, 1.0, 2.0], lo=1.0, hi=2.0, zero=True)  # 0: a zero matrix's stable rank


# ------------------------------------------------------------------------------------ SweepResult.load

def test_sweep_result_load_refuses_out_of_range_metrics(sweep, tmp_path):
    for metric, value, message in [("test_acc", 1.5, r"values\['test_acc'\] out of range: test_acc=1\.5"),
                                    ("learned_dimension", 5, r"learned_dimension=5 .*\[0, 4\].*min\(2m, 2K\)"),  # counts: int
                                    ("signal_energy_fraction", -1.0, "signal_energy_fraction=-1.0"),
                                    ("filter_stable_rank", 0.3, "filter_stable_rank=0.3")]:
        values = {k: v.copy() for k, v in sweep.values.items()}
        values[metric][0, 0] = value
        path = SweepResult(spec=sweep.spec, values=values).save(tmp_path / f"{metric}.npz")
        with pytest.raises(ResultsFileError, match=message):
            SweepResult.load(path)
    with pytest.raises(ResultsFileError, match="seconds=-1.0"):
        SweepResult.load(SweepResult(spec=sweep.spec, values=sweep.values, seconds=-1.0).save(tmp_path / "s.npz"))
    assert SweepResult.load(sweep.save(tmp_path / "ok.npz")).values.keys() == sweep.values.keys()


# ------------------------------------------------------------------------------------ the sweep store

def _store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    run_sweep(SPEC, store=store, progress=False)
    return store


def test_a_forged_cell_with_a_valid_checksum_is_refused_on_resume(tmp_path):
    store = _store(tmp_path)
    path = store / "cells" / "g0000-s000.json"
    cell = json.loads(path.read_text())
    cell["metrics"]["test_acc"] = 2.0
    cell["digest"] = _digest(cell)
    path.write_text(json.dumps(cell))
    with pytest.raises(ResultsFileError, match=r"g0000-s000.json' is invalid: test_acc=2\.0 .*in \[0, 1\]"):
        run_sweep(SPEC, store=store, progress=False)


@pytest.mark.parametrize("victim", ["cells/g0001-s000.json", "sweep.json"])
def test_deeply_nested_json_in_a_store_is_one_line(tmp_path, victim):
    store = _store(tmp_path)
    (store / victim).write_text("[" * 200000)
    with pytest.raises(ResultsFileError, match="nests too deeply") as info:
        run_sweep(SPEC, store=store, progress=False)
    assert "\n" not in str(info.value) and victim.split("/")[-1] in str(info.value)


def test_deeply_nested_sweep_json_on_the_command_line_is_one_line(tmp_path, capsys):
    store = tmp_path / "store"
    store.mkdir()
    (store / "sweep.json").write_text("[" * 200000)
    spec = tmp_path / "s.toml"
    spec.write_text("[base]\nn = 8\nn_test = 8\nd = 20\nK = 2\nm = 2\nsteps = 2\nrecord_every = 1\n")
    assert main(["sweep", str(spec), "--out", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sweep.json" in err and "nests too deeply" in err, err


@pytest.mark.parametrize("victim", ["cells/g0001-s000.json", "sweep.json"])
def test_a_fifo_in_a_store_is_refused_not_waited_on(tmp_path, victim, no_hang):
    store = _store(tmp_path)
    (store / victim).unlink()
    os.mkfifo(store / victim)
    with pytest.raises(ResultsFileError, match=r"is invalid: it is a FIFO \(named pipe\), not a regular file"):
        run_sweep(SPEC, store=store, progress=False)


def test_read_json_file_limits(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    with pytest.raises(ResultsFileError, match=f"nests more than {MAX_JSON_DEPTH} levels"):
        read_json_file(deep)
    deep.write_text("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert read_json_file(deep) is not None
    big = tmp_path / "big.json"
    big.write_text(json.dumps(list(range(1000))))
    with pytest.raises(ResultsFileError, match="larger than"):
        read_json_file(big, max_bytes=100)
    with pytest.raises(ResultsFileError, match="is corrupted: not valid JSON"):
        read_json_file(deep.with_name("x.json").write_text("{") and deep.with_name("x.json"))
    with pytest.raises(ResultsFileError, match="does not exist"):
        read_json_file(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------- seed index

@pytest.mark.parametrize("call", [
    lambda: run_cell(TINY.to_dict(), 0, -1),
    lambda: run_cell_group([TINY.to_dict()], 0, -1),
])
def test_negative_seed_index_is_refused(call):
    with pytest.raises(ValueError, match=r"^seed_index=-1 is invalid: must be an integer >= 0$"):
        call()


def test_negative_root_seed_is_refused():
    with pytest.raises(ValueError, match=r"^root_seed=-2 is invalid"):
        run_cell(TINY.to_dict(), -2, 0)


# ---------------------------------------------------------------------------------------------- plot

def _phase_record() -> dict:
    return {"n": [8, 16], "noise_std": [0.01, 0.02], "test_acc": [[1.0, 0.5], [1.0, 0.75]],
            "signal_energy_fraction": [[0.9, 0.1], [0.8, 0.2]], "learned_dimension": [[4.0, 0.0], [4.0, 1.0]],
            "data_stable_rank": [[4.0, 6.0], [4.0, 7.0]], "filter_stable_rank": [[2.0, 3.0], [2.5, 3.0]],
            "theory_boundary": [0.015, 0.02], "measured_boundary": [None, 0.018], "boundary_ratio": [None, 0.9],
            "noise_takeoff": [0.01, 0.012], "clean_rank": 4, "K": 2, "accuracy_level": 0.9}


@pytest.mark.parametrize("change, message", [
    ({"noise_std": [0.02, 0.01]}, r"noise_std=0\.01 \(at index 1\) is invalid: must be strictly increasing"),
    ({"n": [16, 8]}, "n=8 .*strictly increasing"),
    ({"test_acc": [[1.0, -0.5], [1.0, 0.75]]}, r"test_acc=-0\.5 \(at index \(0, 1\)\)"),
    ({"signal_energy_fraction": [[1.5, 0.1], [0.8, 0.2]]}, "signal_energy_fraction=1.5"),
    ({"learned_dimension": [[9.0, 0.0], [4.0, 1.0]]}, r"learned_dimension=9\.0 .*\[0, 4\]"),
    ({"noise_std": [0.0, 0.01]}, "logarithmic"),
    ({"filter_stable_rank": [[-0.2, 3.0], [2.5, 3.0]]}, "filter_stable_rank=-0.2"),
    ({"theory_boundary": [-0.015, 0.02]}, "theory_boundary=-0.015"),
    ({"accuracy_level": 1.5}, "accuracy_level=1.5"),
])
def test_plot_refuses_impossible_phase_records(tmp_path, capsys, change, message):
    path = tmp_path / "phase_diagram.json"
    path.write_text(json.dumps({**_phase_record(), **change}))
    assert main(["plot", str(path), "--out", str(tmp_path / "fig.png")]) == 2
    line = _one_error_line(capsys)
    assert "holds impossible values, nothing drawn" in line and str(path) in line
    assert re.search(message, line), line
    assert not (tmp_path / "fig.png").exists()


def test_plot_draws_a_possible_phase_record_and_out_folder(tmp_path, capsys):
    path = tmp_path / "phase_diagram.json"
    path.write_text(json.dumps(_phase_record()))
    # a trailing slash names a folder, created
    assert main(["plot", str(path), "--out", str(tmp_path / "newdir") + "/"]) == 0
    assert (tmp_path / "newdir" / "phase_diagram.png").is_file() and not (tmp_path / "newdir.png").exists()
    # an existing folder without the slash too
    (tmp_path / "figs").mkdir()
    assert main(["plot", str(path), "--out", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "phase_diagram.png").is_file()
    # a new path without an extension is still a file name
    assert main(["plot", str(path), "--out", str(tmp_path / "picture")]) == 0
    assert (tmp_path / "picture.png").is_file()
    capsys.readouterr()


def test_plot_on_a_fifo_is_refused(tmp_path, capsys, no_hang):
    for name in ("r.json", "r.npz"):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        assert main(["plot", str(fifo), "--out", str(tmp_path / "f.png")]) == 2
        assert "it is a FIFO (named pipe), not a regular file" in _one_error_line(capsys)


def test_plot_on_deeply_nested_json_is_one_line(tmp_path, capsys):
    path = tmp_path / "rank_vs_noise.json"
    path.write_text("[" * 200000)
    assert main(["plot", str(path), "--out", str(tmp_path / "f.png")]) == 2
    assert "nests too deeply" in _one_error_line(capsys)


def test_sweep_record_needs_its_own_sweep_beside_it(tmp_path, capsys, sweep, traj):
    record = tmp_path / "results.json"
    record.write_text(json.dumps(sweep.to_json()))
    traj.save(tmp_path / "results.npz")  # a trajectory where the sweep's archive belongs
    assert main(["plot", str(record), "--out", str(tmp_path / "f.png")]) == 2
    line = _one_error_line(capsys)
    assert "is a SweepResult record but" in line and "holds a 'Trajectory' result" in line
    assert not (tmp_path / "f.png").exists()
    # another sweep's archive is refused as well
    other = run_sweep(SweepSpec(base=TINY, grid={"noise_std": [0.0, 2.0]}, seeds=1, root_seed=3), progress=False)
    other.save(tmp_path / "results.npz")
    assert main(["plot", str(record), "--out", str(tmp_path / "f.png")]) == 2
    assert "describes a different sweep than" in _one_error_line(capsys)
    sweep.save(tmp_path / "results.npz")
    assert main(["plot", str(record), "--out", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").is_file()
    capsys.readouterr()


def test_summary_record_needs_a_trajectory_beside_it(tmp_path, capsys, sweep):
    (tmp_path / "summary.json").write_text(json.dumps({"config": {}, "final": {}, "data_ranks": {}}))
    sweep.save(tmp_path / "trajectory.npz")
    assert main(["plot", str(tmp_path / "summary.json"), "--out", str(tmp_path / "f.png")]) == 2
    assert "is a Trajectory record but" in _one_error_line(capsys)


# ------------------------------------------------------------------------- the other results classes

def test_collapse_and_linear_results_check_their_ranges(tmp_path):
    from cnnrank.collapse.geometry import FrameResult
    from cnnrank.linear.experiments import Sweep

    frame = FrameResult(vectors=np.eye(3), coherence=0.0, bound=0.0, bound_name="welch", gap=0.0, signed=False,
                        restarts=1, steps=10)
    assert FrameResult.load(frame.save(tmp_path / "f.npz")).coherence == 0.0
    for change, message in [({"coherence": 1.5}, r"coherence=1\.5 is invalid: must be a number in \[-1, 1\]"),
                            ({"gap": -0.5}, "gap=-0.5"), ({"steps": -3}, "steps=-3")]:
        path = dataclasses.replace(frame, **change).save(tmp_path / "bad.npz")
        with pytest.raises(ResultsFileError, match=message):
            FrameResult.load(path)
    sweep = Sweep(parameter="share", values=np.array([0.5]), half_times=np.array([[[-1.0]]]), rates=np.ones((1, 1)),
                  isolated_half_times=np.zeros((0, 1, 1)), s=np.ones(1), seeds=[0], settings={})
    with pytest.raises(ResultsFileError, match=r"half_times=-1\.0 \(at index \(0, 0, 0\)\)"):
        Sweep.load(sweep.save(tmp_path / "sw.npz"))


def test_deeply_nested_metadata_is_refused(tmp_path):
    from cnnrank.results import load_npz, save_npz

    deep: list = []
    for _ in range(MAX_JSON_DEPTH + 5):
        deep = [deep]
    path = save_npz(tmp_path / "d.npz", {"a": np.zeros(2)}, {"kind": "x", "fields": {"metadata": deep}})
    with pytest.raises(ResultsFileError, match=f"corrupted metadata \\(nested more than {MAX_JSON_DEPTH} levels"):
        load_npz(path)


def test_sweep_file_fifo_and_folder_are_refused(tmp_path, no_hang):
    from cnnrank.sweeps import sweep_from_file

    os.mkfifo(tmp_path / "s.toml")
    with pytest.raises(ValueError, match=r"sweep file '.*s\.toml' is invalid: it is a FIFO"):
        sweep_from_file(tmp_path / "s.toml")
    (tmp_path / "d.json").mkdir()
    with pytest.raises(ValueError, match="is invalid: it is a folder"):
        sweep_from_file(tmp_path / "d.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sweep_from_file(tmp_path / "missing.toml")


@pytest.mark.parametrize("name, record, message", [
    ("rank_vs_noise.json", {"noise_std": [0.0, 0.1], "data_stable_rank": [4.0, 5.0], "filter_stable_rank": [2.0, 2.0],
                            "test_acc": [1.0, -0.5]}, r"test_acc=-0\.5 \(at index 1\)"),
    ("rank_vs_noise.json", {"noise_std": [-0.1, 0.1], "data_stable_rank": [4.0, 5.0],
                            "filter_stable_rank": [2.0, 2.0], "test_acc": [1.0, 0.5]}, r"noise_std=-0\.1"),
    ("intrinsic_dimension.json", {"K": [1, 2], "learned_dimension": [2.0, -1.0],
                                  "expected_filter_stable_rank": [2.0, 4.0]}, "learned_dimension=-1.0"),
    ("mnist_rank.json", {"noise_std": [0.0], "reference_dimension": 3, "clean_energy_fraction": [2.0],
                         "patch_stable_rank": [3.0]}, r"clean_energy_fraction=2\.0"),
])
def test_plot_refuses_impossible_records_of_every_kind(tmp_path, capsys, name, record, message):
    path = tmp_path / name
    path.write_text(json.dumps(record))
    assert main(["plot", str(path), "--out", str(tmp_path / "f.png")]) == 2
    line = _one_error_line(capsys)
    assert "holds impossible values, nothing drawn" in line and re.search(message, line), line
    assert not (tmp_path / "f.png").exists()


def test_summary_record_needs_the_same_run_beside_it(tmp_path, capsys, traj):
    traj.save(tmp_path / "trajectory.npz")
    summary = {"config": TINY.to_dict(), "seed": 1, "final": traj.summary(), "data_ranks": {}}
    (tmp_path / "summary.json").write_text(json.dumps({**summary, "config": {**TINY.to_dict(), "lr": 0.25}}))
    assert main(["plot", str(tmp_path / "summary.json"), "--out", str(tmp_path / "f.png")]) == 2
    assert "describes a different run than" in _one_error_line(capsys)
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    assert main(["plot", str(tmp_path / "summary.json"), "--out", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").is_file()
    capsys.readouterr()


@pytest.mark.parametrize("name, text", [("deep.json", "[" * 200000), ("deep.toml", "a = " + "[" * 200000),
                                        ("mid.json", '{"seeds": ' + "[" * 500 + "]" * 500 + "}")])
def test_deeply_nested_sweep_file_is_one_line(tmp_path, name, text):
    from cnnrank.sweeps import sweep_from_file

    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=r"is invalid: it nests (too deeply|more than 100 levels)") as info:
        sweep_from_file(tmp_path / name)
    assert "\n" not in str(info.value)
