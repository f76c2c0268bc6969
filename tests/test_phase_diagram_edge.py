"""Option sets where the measured boundary is never crossed (``None``) or the theory's is 0: the phase
diagram still writes both files and prints "not reached"; commands that measure test accuracy refuse
``--n-test 0`` before anything runs; tables print a missing value as ``-``."""

import json

import pytest

from cnnrank.cli import main
from cnnrank.tables import format_table

#: the reproducer: σ_p far below the boundary and 20 steps, so the 0.9 contour is never crossed
BASE = ["reproduce", "phase-diagram", "--n-grid", "8,16", "--noise", "0.01,0.02", "--steps", "20", "--d", "100",
        "--K", "2", "--m", "4", "--n-test", "16", "--seeds", "1", "--quiet"]


@pytest.mark.parametrize("extra", [[], ["--steps", "0", "--activation", "relu"],
                                   ["--engine", "implicit", "--label-noise", "0.4"], ["--signal-norm", "0"],
                                   ["--init-std", "0"]],
                         ids=["reproducer", "steps0-relu", "implicit-label-noise", "signal-norm-0", "init-std-0"])
def test_boundary_not_reached_writes_both_files_and_says_so(tmp_path, capsys, extra):
    out = tmp_path / "out"
    assert main([*BASE, *extra, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rec = json.loads((out / "phase_diagram.json").read_text())
    assert (out / "phase_diagram.png").stat().st_size > 10_000
    for n, measured in zip(rec["n"], rec["measured_boundary"]):
        row = next(line for line in printed.splitlines() if line.split() and line.split()[0] == str(n))
        assert (measured is None) == ("not reached" in row), row
    assert None in rec["measured_boundary"]  # the case this test is about
    assert all(r is None for r, m in zip(rec["boundary_ratio"], rec["measured_boundary"]) if m is None)


@pytest.mark.parametrize("command", [BASE[:2], ["reproduce", "rank-vs-noise"], ["reproduce", "intrinsic-dimension"]],
                         ids=["phase-diagram", "rank-vs-noise", "intrinsic-dimension"])
def test_no_test_samples_is_refused_before_anything_runs(tmp_path, capsys, command):
    out = tmp_path / "out"
    assert main([*command, "--n-test", "0", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cnnrank: error: --n-test 0 is invalid here"), err
    assert not out.exists()


def test_help_of_n_test_says_it_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main([*BASE[:2], "--help"])
    assert "test samples per run, >= 1" in " ".join(capsys.readouterr().out.split())


def test_format_table_prints_missing_values_as_a_dash():
    text = format_table([{"a": 1.0, "b": "x"}, {"a": None}], [("a", "alpha", ".2f"), ("b", "beta", ".3f")])
    assert text.splitlines()[2].split() == ["1.00", "x"]
    assert text.splitlines()[3].split() == ["-", "-"]


def test_ratio_is_none_where_the_prediction_is_zero():
    import numpy as np

    from cnnrank.experiments import RunConfig
    from cnnrank.experiments.phase import phase_record
    from cnnrank.sweeps import SweepResult

    acc = np.array([[[1.0], [0.5]]])  # crossed at one n: a measured boundary exists
    res = SweepResult(spec={"grid": {"n": [8], "noise_std": [0.1, 0.2]}, "seeds": 1},
                      values={"test_acc": acc})
    rec = phase_record(res, RunConfig(signal_norm=0.0), [8], [0.1, 0.2])
    assert rec["measured_boundary"][0] is not None and rec["theory_boundary"][0] == 0.0
    assert rec["boundary_ratio"] == [None]
