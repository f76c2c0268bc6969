"""``reproduce phase-diagram`` on a tiny grid: the record's keys and shapes, byte-identical reruns,
``plot`` redraws it, bad arguments are one line with nothing written, and the claim of the figure
(benign at the smallest σ_p, harmful far above the theory's boundary) holds."""

import json

import numpy as np
import pytest

from cnnrank.cli import main
from cnnrank.experiments.phase import measured_boundary

#: the headline's configuration (d = 2000, K = 4, P = 5) on a tiny grid: n in {16, 32}, σ_p = 0.02
#: (far below the boundary, ≈ 0.14–0.18) and 1.5 (about 10× above it), 150 steps
TINY = ["--n-grid", "16,32", "--noise", "0.02,1.5", "--seeds", "1", "--steps", "150", "--n-test", "128", "--quiet"]
KEYS = ("test_acc", "signal_energy_fraction", "learned_dimension", "data_stable_rank", "filter_stable_rank")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("phase") / "out"
    assert main(["reproduce", "phase-diagram", "--out", str(out), *TINY]) == 0
    return out


def test_record_keys_and_shapes(tiny):
    rec = json.loads((tiny / "phase_diagram.json").read_text())
    assert rec["n"] == [16, 32] and rec["noise_std"] == [0.02, 1.5]
    for k in KEYS:
        assert np.asarray(rec[k], dtype=float).shape == (2, 2), k
    for k in ("theory_boundary", "measured_boundary", "boundary_ratio", "noise_takeoff"):
        assert len(rec[k]) == 2, k
    assert rec["theory_boundary"][0] < rec["theory_boundary"][1]  # grows like n^{1/q}
    assert "seconds" not in json.dumps(rec)
    assert (tiny / "phase_diagram.png").stat().st_size > 10_000


def test_claim_benign_at_small_noise_harmful_far_above_boundary(tiny):
    rec = json.loads((tiny / "phase_diagram.json").read_text())
    acc = np.asarray(rec["test_acc"])
    assert all(1.5 > 5 * b for b in rec["theory_boundary"])  # the control is far above the boundary
    assert acc[:, 0].min() >= 0.95, acc
    assert acc[:, 1].max() <= 0.7, acc
    # crossed on every row: the measured boundary lies between the two levels
    assert all(b is not None and 0.02 < b < 1.5 for b in rec["measured_boundary"])


def test_rerun_is_byte_identical_and_plot_redraws(tiny, tmp_path):
    before = (tiny / "phase_diagram.json").read_bytes()
    assert main(["reproduce", "phase-diagram", "--out", str(tiny), *TINY]) == 0  # resumes: all cells stored
    assert (tiny / "phase_diagram.json").read_bytes() == before
    assert main(["plot", str(tiny / "phase_diagram.json"), "--out", str(tmp_path / "redrawn.png")]) == 0
    assert (tmp_path / "redrawn.png").stat().st_size > 10_000


@pytest.mark.parametrize("argv, needle", [
    (["--noise", "0.1,abc"], "--noise"),
    (["--noise", "0,0.1"], "> 0"),
    (["--n-grid", "32,16"], "increasing"),
    (["--n", "64"], "--n-grid"),
    (["--seeds", "0"], "--seeds"),
    (["--seed", "-1"], "--seed"),
])
def test_bad_argument_one_line_exit_2_nothing_written(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    assert main(["reproduce", "phase-diagram", "--out", str(out), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnrank: error:") and err.count("\n") == 1 and needle in err, err
    assert not out.exists()


def test_measured_boundary_interpolates():
    assert measured_boundary([0.1, 0.2, 0.4], [1.0, 0.95, 0.85]) == pytest.approx(0.3)
    assert measured_boundary([0.1, 0.2], [1.0, 0.95]) is None  # never crossed
    assert measured_boundary([0.1, 0.2], [0.6, 0.5]) is None  # below the level from the start
