"""Every CLI failure: one line ``cnnrank: error: ...`` on stderr, exit status 2, no traceback, nothing
written; results without timings (two runs byte-identical); ``plot`` on every result kind."""

import errno
import json
import os
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from cnnrank import TrainingDiverged
from cnnrank.cli import main

SMALL = ["--n", "16", "--n-test", "16", "--d", "60", "--K", "2", "--m", "4", "--steps", "60",
         "--record-every", "20", "--lr", "0.5", "--init-std", "0.05", "--quiet"]
#: poly3 from a large init with a huge step: blows up within a few steps (seed 0 and the sweep streams)
DIVERGES = ["--n", "16", "--n-test", "16", "--d", "60", "--K", "2", "--m", "4", "--steps", "60",
            "--record-every", "20", "--lr", "1e6", "--init-std", "1.0", "--activation", "poly3", "--patches", "3",
            "--quiet"]


def _setup(tmp):
    (tmp / "afile").write_text("x")
    (tmp / "div.toml").write_text(
        'seeds = 1\n[base]\nn = 16\nn_test = 16\nd = 60\nK = 2\nm = 4\nsteps = 60\nrecord_every = 20\n'
        'lr = 1e6\ninit_std = 1.0\nactivation = "poly3"\n[grid]\nnoise_std = [0.1]\n')
    (tmp / "types.json").write_text(json.dumps({"noise_std": "abc", "data_stable_rank": [1],
                                                "filter_stable_rank": None, "test_acc": 3}))
    np.save(tmp / "a.npy", np.arange(3))
    (tmp / "folder").mkdir()


def _trajectory_with_3d_gamma(tmp):
    from cnnrank.experiments import RunConfig, run_once
    from cnnrank.results import load_npz, save_npz

    traj = run_once(RunConfig(n=8, n_test=0, d=30, K=2, m=2, steps=4, record_every=2), rng=0).trajectory
    traj.save(tmp / "t.npz")
    arrays, meta = load_npz(tmp / "t.npz")
    arrays["gamma"] = traj.gamma[:, 0]  # (R, 2, m, 2K) -> (R, m, 2K), stored (not derived on load)
    arrays["rho"] = traj.rho
    save_npz(tmp / "t3.npz", arrays, {**meta, "derived": []})
    return tmp / "t3.npz"


CASES = {
    "simulate diverged": (["simulate", *DIVERGES, "--out", "{o}"], "training diverged"),
    "rank-vs-noise diverged": (["reproduce", "rank-vs-noise", *DIVERGES, "--noise", "0.1", "--seeds", "1",
                                "--out", "{o}"], "training diverged"),
    "sweep diverged": (["sweep", "{t}/div.toml", "--out", "{o}", "--quiet"], "training diverged"),
    "kappa overflow": (["simulate", *SMALL, "--kappa", "1e200", "--out", "{o}"], "kappa"),
    "simulate --out is a file": (["simulate", *SMALL, "--out", "{t}/afile"], "is a file, not a folder"),
    "simulate --out under a file": (["simulate", *SMALL, "--out", "{t}/afile/o"], "is a file, so no folder"),
    "neural-collapse --out under a file": (["reproduce", "neural-collapse", "--quick", "--out", "{t}/afile/o"],
                                           "is a file, so no folder"),
    "linear-cnn --out is a file": (["reproduce", "linear-cnn", "--quick", "--out", "{t}/afile"], "not a folder"),
    "plot wrong types": (["plot", "{t}/types.json", "--out", "{o}/p.png"], "types.json"),
    "plot .npy": (["plot", "{t}/a.npy", "--out", "{o}/p.png"], "a.npy"),
    "plot a folder": (["plot", "{t}/folder", "--out", "{o}/p.png"], "is a folder"),
    "plot missing": (["plot", "{t}/missing.json", "--out", "{o}/p.png"], "does not exist"),
    "plot 3-D gamma": (["plot", "{t}/t3.npz", "--out", "{o}/p.png"], "t3.npz"),
    "plot bad extension": (["plot", "{t}/types.json", "--out", "{o}/p.xyz"], "extension"),
    "simulate --seed -1": (["simulate", *SMALL, "--seed", "-1", "--out", "{o}"], "--seed"),
    "rank-vs-noise --seed -1": (["reproduce", "rank-vs-noise", *SMALL, "--seed", "-1", "--out", "{o}"], "--seed"),
    "rank-vs-noise --noise-std": (["reproduce", "rank-vs-noise", *SMALL, "--noise-std", "0.3", "--out", "{o}"],
                                  "--noise"),
    "mnist-rank --noise-std": (["reproduce", "mnist-rank", "--noise-std", "0.3", "--out", "{o}"], "--noise"),
    "intrinsic-dimension --K": (["reproduce", "intrinsic-dimension", *SMALL, "--out", "{o}"], "--Ks"),
    "simulate too many steps": (["simulate", "--steps", "1000000000000000", "--quiet", "--out", "{o}"], "needs"),
    "simulate d too large": (["simulate", "--d", "1000000000", "--engine", "feature", "--quiet", "--out", "{o}"],
                             "needs"),
    "simulate bad engine": (["simulate", *SMALL, "--engine", "grma", "--out", "{o}"], "invalid choice"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_error_is_one_line_exit_2_nothing_written(tmp_path, name, capsys):
    _setup(tmp_path)
    if "3-D" in name:
        _trajectory_with_3d_gamma(tmp_path)
    argv, needle = CASES[name]
    out = tmp_path / "out"
    code = main([a.format(t=tmp_path, o=out) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnrank: error: "), err
    assert "Traceback" not in err and needle in err
    if name == "sweep diverged":  # cnnrank/reproduce/sweep.py writes the store's sweep.json before training
        assert not [p for p in out.rglob("*") if p.is_file() and p.name != "sweep.json" and not p.name.startswith(".")]
    else:
        assert not out.exists()


def _fail_with(exc):
    def raiser(*args, **kwargs):
        raise exc
    return raiser


@pytest.mark.parametrize("exc,needle", [
    (BrokenProcessPool("A process in the process pool was terminated abruptly"), "worker process died"),
    (MemoryError(), "not enough memory"),
    (OSError(errno.ENOSPC, "No space left on device", "/x/cells/a.json"), "No space left on device"),
    (OverflowError("int too large to convert to float"), "too large"),
    (TrainingDiverged(7, 2.0), "training diverged at step 7"),
])
def test_system_failures_during_a_sweep_are_one_line(tmp_path, monkeypatch, capsys, exc, needle):
    import cnnrank.sweeps

    monkeypatch.setattr(cnnrank.sweeps, "run_sweep", _fail_with(exc))
    out = tmp_path / "out"
    code = main(["reproduce", "rank-vs-noise", *SMALL, "--noise", "0,1", "--seeds", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not out.exists()  # the folder made for this run is removed again: nothing left behind


def test_interrupt_exits_130_and_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    import cnnrank.experiments.runs

    monkeypatch.setattr(cnnrank.experiments.runs, "run_once", _fail_with(KeyboardInterrupt()))
    assert main(["simulate", *SMALL, "--out", str(tmp_path / "o")]) == 130
    assert capsys.readouterr().err.strip() == "cnnrank: interrupted"
    assert not (tmp_path / "o").exists()
    monkeypatch.setattr(cnnrank.experiments.runs, "run_once", _fail_with(TrainingDiverged(3, 1.0)))
    with pytest.raises(TrainingDiverged):
        main(["simulate", *SMALL, "--out", str(tmp_path / "o"), "--debug"])
    monkeypatch.setenv("CNNRANK_DEBUG", "1")
    with pytest.raises(TrainingDiverged):
        main(["simulate", *SMALL, "--out", str(tmp_path / "o")])


@pytest.mark.parametrize("where", ["probe", "results"])
def test_full_disk_or_read_only_output(tmp_path, monkeypatch, capsys, where):
    """A folder that cannot be written fails before computing (probe); a write that fails at the end
    (disk filled meanwhile) leaves no partial file (atomic writes) and nothing of this run behind."""
    import cnnrank.experiments.runs
    import cnnrank.reproduce._output as output
    import cnnrank.results.atomic

    calls = []
    real_run_once = cnnrank.experiments.runs.run_once

    def counting_run_once(*a, **k):
        calls.append(1)
        return real_run_once(*a, **k)

    monkeypatch.setattr(cnnrank.experiments.runs, "run_once", counting_run_once)
    if where == "probe":
        real_write = os.write
        monkeypatch.setattr(output.os, "write", lambda fd, data: (_ for _ in ()).throw(
            OSError(errno.EROFS, "Read-only file system")) if len(data) == output._PROBE_BYTES else real_write(fd, data))
    else:
        monkeypatch.setattr(cnnrank.results.atomic.os, "replace", _fail_with(OSError(errno.ENOSPC, "No space left on device")))
    out = tmp_path / "out"
    code = main(["simulate", *SMALL, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert ("Read-only file system" in err and not calls) if where == "probe" else "No space left" in err
    assert not out.exists()


def test_plot_out_without_extension_or_a_folder_says_what_it_wrote(tmp_path, capsys):
    assert main(["simulate", *SMALL, "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "trajectory.npz"), "--out", str(tmp_path / "d")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'd.png'}" and (tmp_path / "d.png").is_file()
    (tmp_path / "figs").mkdir()
    assert main(["plot", str(tmp_path / "summary.json"), "--out", str(tmp_path / "figs")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'figs' / 'summary.png'}"


def test_two_runs_write_byte_identical_json(tmp_path):
    for name in ("a", "b"):
        assert main(["simulate", *SMALL, "--out", str(tmp_path / name)]) == 0
        assert main(["reproduce", "rank-vs-noise", *SMALL, "--noise", "0,1", "--seeds", "1",
                     "--out", str(tmp_path / f"r{name}")]) == 0
    assert (tmp_path / "a" / "summary.json").read_bytes() == (tmp_path / "b" / "summary.json").read_bytes()
    a, b = (tmp_path / "ra" / "rank_vs_noise.json").read_bytes(), (tmp_path / "rb" / "rank_vs_noise.json").read_bytes()
    assert a == b and b"seconds" not in a


def test_implicit_engine_from_the_command_line(tmp_path, capsys):
    assert main(["simulate", *SMALL, "--engine", "implicit", "--d", "100000", "--out", str(tmp_path)]) == 0
    assert "implicit engine" in capsys.readouterr().out
    rec = json.loads((tmp_path / "summary.json").read_text())
    assert rec["config"]["engine"] == "implicit" and rec["config"]["d"] == 100000
    assert main(["plot", str(tmp_path / "trajectory.npz"), "--out", str(tmp_path / "p.png")]) == 0


@pytest.mark.xdist_group("neural_collapse_quick")  # shares the fixture's run (conftest.py)
def test_plot_redraws_every_neural_collapse_result(tmp_path, capsys, neural_collapse_quick):
    """neural-collapse: the JSON (both figures) and each .npz (the quick run is shared, conftest.py)."""
    nc, _ = neural_collapse_quick
    assert main(["plot", str(nc / "neural-collapse.json"), "--out", str(tmp_path / "p" / "nc.png")]) == 0
    assert (tmp_path / "p" / "nc.png").is_file() and (tmp_path / "p" / "nc-probes.png").is_file()
    for f in ("ufm.npz", "mixture.npz", "probe_etf-perm-tanh.npz"):
        assert main(["plot", str(nc / f), "--out", str(tmp_path / "p" / f"{f}.png")]) == 0
    out = capsys.readouterr().out
    assert "nc-probes.png" in out


def test_plot_redraws_every_linear_cnn_result(tmp_path, monkeypatch):
    """linear-cnn: the JSON and each .npz (a test of its own, so that a parallel run overlaps the two).

    The command runs end to end with ``--quick``, on two points per sweep instead of the quick grid's 3-4
    (the cheapest ones: about a third of the time); the files and the figures are the same kinds, with
    every sweep in them. The quick grid's numbers are checked by test_linear_dynamics.py (-m slow)."""
    import cnnrank.linear.experiments as linear_experiments

    small = {"share": (1 / 9, 0.4), "kernel_size": (1, 4), "channels": (1, 4)}
    monkeypatch.setattr(linear_experiments, "QUICK", small)
    lin = tmp_path / "lin"
    assert main(["reproduce", "linear-cnn", "--quick", "--quiet", "--out", str(lin)]) == 0
    swept = json.loads((lin / "linear-cnn.json").read_text())["c_sweeps"]
    assert {p: tuple(s["values"]) for p, s in swept.items()} == small  # the smaller grid was run
    for f in ("linear-cnn.json", "cnn.npz", "sweep_share.npz"):
        assert main(["plot", str(lin / f), "--out", str(tmp_path / "p" / f"{f}.png")]) == 0
        assert (tmp_path / "p" / f"{f}.png").stat().st_size > 0
