"""The command line: help everywhere, bad input, the main jobs on small settings."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cnnrank.cli import COMMANDS, REPRODUCERS, _load, build_parser, main

SMALL = ["--n", "16", "--n-test", "16", "--d", "60", "--K", "2", "--m", "4", "--steps", "60",
         "--record-every", "20", "--lr", "0.5", "--init-std", "0.05", "--quiet"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cnnrank", *args], capture_output=True, text=True, timeout=300)


def test_help_everywhere(capsys):
    present = [r for r, mod in REPRODUCERS.items() if _load(mod) is not None]
    assert set(present) == set(REPRODUCERS)  # every registered figure has its module
    names = [[c] for c in COMMANDS] + [["reproduce", r] for r in present] + [["reproduce"], []]
    for argv in names:
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args([*argv, "--help"])
        assert info.value.code == 0
        assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["simulate", "--lr", "-1"], "lr=-1.0 is invalid"),
        (["simulate", "--m", "0"], "m=0 is invalid"),
        (["simulate", "--d", "5", "--K", "4"], "d=5 is invalid"),
        (["simulate", "--activation", "tanh"], "activation='tanh' is invalid"),
        (["simulate", "--steps", "ten"], "invalid int value"),
        (["simulate", "--balanced", "maybe"], "not a boolean"),
        (["reproduce", "rank-vs-noise", "--noise", "0,-1"], "noise levels must be finite and >= 0"),
        (["reproduce", "rank-vs-noise", "--seeds", "0"], "seeds=0 is invalid"),
        (["reproduce", "nothing"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_one_line_exit_2_nothing_written(tmp_path, argv, needle, capsys):
    out = tmp_path / "out"
    code = main([*argv, "--out", str(out)] if argv[0] != "frobnicate" else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_bad_sweep_file_exit_2(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[base]\nnoise_std = -3\n")
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "noise_std=-3.0 is invalid" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    assert main(["sweep", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_simulate_writes_table_and_files(tmp_path):
    res = _cli("simulate", *SMALL, "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "max γ" in res.stdout and "srank W" in res.stdout and "stable rank: data" in res.stdout
    for f in ("trajectory.npz", "summary.json", "simulate.png"):
        assert (tmp_path / f).stat().st_size > 0
    # the plot command in this process (`python -m cnnrank` itself is what the run above checks)
    assert main(["plot", str(tmp_path / "trajectory.npz"), "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0


def test_reproduce_rank_vs_noise_small(tmp_path, capsys):
    code = main(["reproduce", "rank-vs-noise", "--out", str(tmp_path), "--noise", "0,0.5,1.5",
                 "--seeds", "2", *SMALL])
    assert code == 0
    out = capsys.readouterr().out
    assert "data srank" in out and "filter srank" in out
    rec = json.loads((tmp_path / "rank_vs_noise.json").read_text())
    for key in ("noise_std", "data_stable_rank", "clean_data_stable_rank", "filter_stable_rank", "test_acc",
                "config", "seeds", "learned_dimension", "signal_energy_fraction", "signal_overlap",
                "expected_filter_stable_rank", "regime", "benign_limit"):
        assert key in rec
    for key in ("learned_dimension", "signal_energy_fraction", "signal_overlap", "expected_filter_stable_rank",
                "regime"):
        assert len(rec[key]) == 3
    assert set(rec["regime"]) <= {"benign", "harmful"} and isinstance(rec["benign_limit"], float)
    assert rec["noise_std"] == [0.0, 0.5, 1.5] and len(rec["filter_stable_rank"]) == 3
    # n=16 caps the noisy rank near n·D/(√D+√n)² ≈ 8.5: doubling from 2K = 4 is what this size allows
    assert rec["data_stable_rank"][-1] > 2 * rec["data_stable_rank"][0]
    assert rec["config"]["d"] == 60 and rec["seeds"]["root_seed"] == 0
    assert (tmp_path / "rank_vs_noise.png").stat().st_size > 0
    # re-running resumes from the stored cells and gives the same record
    assert main(["reproduce", "rank-vs-noise", "--out", str(tmp_path), "--noise", "0,0.5,1.5",
                 "--seeds", "2", *SMALL]) == 0
    again = json.loads((tmp_path / "rank_vs_noise.json").read_text())
    assert again["filter_stable_rank"] == rec["filter_stable_rank"]
    # the figure can be redrawn from the JSON
    assert main(["plot", str(tmp_path / "rank_vs_noise.json"), "--out", str(tmp_path / "again.png")]) == 0
    assert (tmp_path / "again.png").stat().st_size > 0


def test_plot_refuses_corrupted_or_foreign_files(tmp_path, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    assert main(["plot", str(bad)]) == 2
    assert "broken.json" in capsys.readouterr().err
    foreign = tmp_path / "other.json"
    foreign.write_text('{"a": 1}')
    assert main(["plot", str(foreign)]) == 2
    assert "other.json" in capsys.readouterr().err
    npz = tmp_path / "foreign.npz"
    np.savez(npz, x=np.arange(3))
    assert main(["plot", str(npz)]) == 2
    assert "foreign.npz" in capsys.readouterr().err


def test_reproduce_intrinsic_dimension_small(tmp_path, capsys):
    small = [a for a in SMALL]
    small[small.index("--K"):small.index("--K") + 2] = []
    code = main(["reproduce", "intrinsic-dimension", "--out", str(tmp_path), "--Ks", "1,2", "--seeds", "1",
                 "--noise-std", "0.1", *small, "--steps", "150"])
    assert code == 0
    assert "learned dim" in capsys.readouterr().out
    rec = json.loads((tmp_path / "intrinsic_dimension.json").read_text())
    for key in ("K", "learned_dimension", "filter_stable_rank", "expected_filter_stable_rank",
                "signal_energy_fraction", "data_stable_rank", "test_acc", "regime"):
        assert len(rec[key]) == 2, key
    assert rec["K"] == [1, 2]
    assert (tmp_path / "intrinsic_dimension.png").stat().st_size > 0
    assert main(["plot", str(tmp_path / "intrinsic_dimension.json"), "--out", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").stat().st_size > 0
    assert main(["reproduce", "intrinsic-dimension", "--Ks", "0,2", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
