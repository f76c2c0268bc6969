"""The ``reproduce neural-collapse`` job end to end (quick sizes); its example script runs in test_examples.py."""

import json

import pytest

from cnnrank.cli import main


@pytest.mark.xdist_group("neural_collapse_quick")  # shares the fixture's run (conftest.py)
def test_reproduce_quick_writes_figures_and_json(tmp_path, neural_collapse_quick):
    out, text = neural_collapse_quick  # the command with --quick --seed 1, run once (conftest.py)
    for name in ("neural-collapse.png", "neural-collapse-probes.png", "neural-collapse.json", "ufm.npz",
                 "mixture.npz", "probe_etf-rota-tanh.npz"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "neural-collapse.json").read_text())
    assert summary["params"]["quick"] is True
    assert summary["mixture"]["first_zero_error_step"] is not None
    pm = summary["mixture"]["p_min"]["values"]
    assert pm[-1] > pm[0]
    assert all(f["gap"] >= -1e-12 for f in summary["frames"])  # the solver never beats a bound
    assert len(summary["etf_probes"]) == 4 and len(summary["frame_probes"]["results"]) == 2
    assert "nc1" in text and "frame solver" in text
    # the runs, probes and frames on two worker processes: the same bytes (the suite's default is 1)
    two = tmp_path / "nc2"
    assert main(["reproduce", "neural-collapse", "--out", str(two), "--quick", "--seed", "1", "--quiet",
                 "--workers", "2"]) == 0
    for name in ("neural-collapse.json", "ufm.npz", "mixture.npz", "probe_etf-rota-tanh.npz"):
        assert (two / name).read_bytes() == (out / name).read_bytes(), name


def test_reproduce_bad_argument_writes_nothing(tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["reproduce", "neural-collapse", "--out", str(out), "--frame-classes", "3"]) == 2
    assert main(["reproduce", "neural-collapse", "--out", str(out), "--probe-seeds", "1"]) == 2
    err = capsys.readouterr().err
    assert "frame-classes=3" in err and "probe-seeds=1" in err
    assert not out.exists()


@pytest.mark.xdist_group("neural_collapse_quick")  # shares the fixture's run (conftest.py)
def test_experiment_is_usable_from_python_and_is_what_the_command_writes(neural_collapse_quick):
    from cnnrank.collapse.experiments import NeuralCollapseResult, neural_collapse_experiment

    res = neural_collapse_experiment(seed=1, quick=True)
    assert isinstance(res, NeuralCollapseResult) and res.params["steps"] == 300
    out, _ = neural_collapse_quick  # the command with --quick --seed 1 (conftest.py)
    written = json.loads((out / "neural-collapse.json").read_text())
    fresh = json.loads(json.dumps(res.summary()))
    assert "runtime_s" not in written  # no timings: reruns write byte-identical JSON
    assert json.dumps(written, sort_keys=True) == json.dumps(fresh, sort_keys=True)  # NaN-safe
    with pytest.raises(ValueError, match="frame_classes=4"):
        neural_collapse_experiment(frame_classes=4, frame_dim=3)
