"""The calibration scorecard (cnnrank.calibration, docs/calibration.md): the draw, the sweep machinery
it runs on, and the scoring."""

import json
import math

import numpy as np
import pytest

import cnnrank.calibration as cal
from cnnrank.criteria import criterion_for
from cnnrank.errors import TrainingDiverged
from cnnrank.experiments import RunConfig
from cnnrank.sweeps import SweepSpec, run_sweep


def test_the_draw_is_deterministic_within_the_documented_ranges():
    a, b = cal.draw_configs(40, rng=3), cal.draw_configs(40, rng=3)
    assert a == b and a != cal.draw_configs(40, rng=4)
    fams = set()
    for c in a:
        RunConfig(**c)  # every drawn configuration is valid
        assert 1 <= c["K"] <= 8 and 2 <= c["patches"] <= 8
        assert 500 <= c["d"] <= 5000 and 32 <= c["n"] <= 512 and 10 <= c["m"] <= 80
        act = c["activation"]
        fams.add(act.rstrip("0123456789"))
        q = 1.0 if act == "relu" else float(act[-1])
        thr = criterion_for(q, n=c["n"], K=c["K"], d=c["d"], signal_norm=5.0, noise_std=0.0,
                            relu=act == "relu").threshold
        assert thr / 4 * 0.999 <= c["noise_std"] <= 4 * thr * 1.001
        assert 300 <= c["steps"] <= 1200 and c["lr"] > 0
    assert fams == {"huber", "relu", "poly"}


def test_the_schedule_targets_the_learning_time_and_raises_a_tiny_init_for_high_powers():
    c = dict(activation="huber3", K=4, m=40, n=128, d=2000, signal_norm=5.0, noise_std=0.1, init_std=0.01)
    lr, steps, s0, t1 = cal.schedule(c)
    assert t1 == pytest.approx(cal.TARGET_T1, rel=1e-9) and s0 == 0.01
    assert steps == int(3 * t1 + 200)
    p = dict(c, activation="poly5", m=60)
    lr5, _, s05, t15 = cal.schedule(p)
    assert s05 > 0.01 and t15 <= cal.MAX_T1 * 1.001  # raised until T_1 fits


def test_a_config_axis_runs_a_list_of_configurations():
    base = RunConfig(n=12, n_test=6, d=40, K=1, m=2, steps=5, record_every=5)
    spec = SweepSpec(base, grid={"config": [{"n": 14, "noise_std": 0.1}, {"m": 3, "activation": "relu"}]})
    assert spec.points() == [{"n": 14, "noise_std": 0.1}, {"m": 3, "activation": "relu"}]
    assert run_sweep(spec, progress=False).values["test_acc"].shape == (2, 1)
    with pytest.raises(ValueError, match="also grid axes"):
        SweepSpec(base, grid={"config": [{"n": 14}], "n": [12, 13]})
    with pytest.raises(ValueError, match="table of field overrides"):
        SweepSpec(base, grid={"config": [3]})
    with pytest.raises(ValueError, match="nn"):
        SweepSpec(base, grid={"config": [{"nn": 3}]})


def test_keep_diverged_stores_the_cell_and_goes_on(tmp_path):
    base = RunConfig(n=16, n_test=8, d=50, K=1, m=3, steps=20, engine="feature")
    spec = SweepSpec(base, grid={"config": [{"lr": 1e10, "init_std": 1.0, "activation": "poly5"},
                                            {"activation": "relu"}]})
    with pytest.raises(TrainingDiverged, match="g0000-s000"):
        run_sweep(spec, progress=False)
    res = run_sweep(spec, store=tmp_path, progress=False, keep_diverged=True)
    assert math.isnan(res.values["test_acc"][0, 0]) and res.values["test_acc"][1, 0] > 0
    cell = json.loads((tmp_path / "cells" / "g0000-s000.json").read_text())
    assert "diverged" in cell and cell["metrics"] == {}
    again = run_sweep(spec, store=tmp_path, progress=False, keep_diverged=True)  # resumes, runs nothing
    np.testing.assert_array_equal(again.values["test_acc"], res.values["test_acc"])


def _fake(n_benign=6):
    cfgs = [dict(activation="huber3", K=2, n=64, d=1000, m=10, noise_std=0.01 * (1 + i), patches=3,
                 signal_norm=5.0, init_std=0.01, n_test=50, balanced=True, engine="auto", lr=1.0, steps=300,
                 record_every=10) for i in range(8)]
    benign = np.arange(8) < n_benign
    values = {
        "test_acc": np.where(benign, 1.0, 0.5)[:, None], "signal_energy_fraction": np.where(benign, 1.0, 0.0)[:, None],
        "signal_learning_time": np.full((8, 1), 60.0), "data_stable_rank": np.full((8, 1), 4.0),
        "signals_learned": np.where(benign, 4, 0)[:, None], "learned_dimension": np.where(benign, 4, 0)[:, None],
        "learned_rank": np.where(benign, 4, 9)[:, None], "learned_stable_rank": np.full((8, 1), 3.0),
        "predicted_learned_dimension": np.full((8, 1), 4.0), "predicted_learned_stable_rank": np.full((8, 1), 3.3),
        "predicted_signals_learned": np.full((8, 1), 4.0),
    }
    return cfgs, values


def test_the_scorecard_counts_each_prediction_on_its_runs():
    cfgs, values = _fake()
    rec = cal.scorecard(cfgs, values)
    p = rec["predictions"]
    assert set(p) >= {"regime", "signal_learning_time", "data_stable_rank", "signals_learned",
                      "learned_dimension", "learned_stable_rank"}
    sl = p["signals_learned"]
    assert (sl["tolerance"], sl["n"], sl["within"], sl["fraction"], sl["target"], sl["met"]) == (1.0, 6, 6, 1.0, 0.95, True)
    assert sl["narrowed"]["n"] == 6 and p["data_stable_rank"]["narrowed"]["n"] == 8  # K = 2 <= 4
    assert p["learned_dimension"]["n"] == 6 and p["learned_dimension"]["within"] == 6
    assert p["learned_stable_rank"]["within"] == 6  # 3.3 / 3.0 = 1.1 <= 1.15
    assert p["data_stable_rank"]["n"] == 8
    json.dumps(rec)  # the record is JSON
    # control: a prediction off by more than its tolerance is not counted as within
    values["predicted_learned_stable_rank"] = np.full((8, 1), 3.6)  # 1.2 > 1.15
    values["signals_learned"] = np.where(np.arange(8) < 3, 4, 3)[:, None]
    p2 = cal.scorecard(cfgs, values)["predictions"]
    assert p2["learned_stable_rank"]["within"] == 0 and p2["signals_learned"]["within"] == 3


def test_bands_are_the_narrowest_that_reach_the_target_on_each_side():
    # benign below σ*/1.5 and harmful above 1.5 σ*, a mix inside
    ratios = [0.25, 0.3, 0.4, 0.5, 0.6, 0.62, 0.8, 0.9, 1.1, 1.3, 1.6, 2.0, 2.2, 3.0, 3.5]
    meas = ["benign"] * 6 + ["harmful", "benign", "harmful", "benign"] + ["harmful"] * 5
    out = cal.measure_bands(["cao2022"] * 15, ratios, meas)["cao2022"]
    assert (out["band"], out["benign_side"], out["harmful_side"]) == (1.5, 1.5, 1.5)
    # a criterion right only on its harmful side: that side is confirmed from σ*, the other never
    one = cal.measure_bands(["k"] * 10, [0.3, 0.4, 0.5, 0.6, 0.7, 1.2, 1.5, 2.0, 2.5, 3.0],
                            ["harmful"] * 10)["k"]
    assert one["harmful_side"] == 1.0 and one["benign_side"] is None and one["band"] is None


def test_the_command_writes_the_scorecard_and_resumes(tmp_path, monkeypatch, capsys):
    from cnnrank.cli import main

    small = dict(cal.RANGES, d=(60, 80), n=(16, 24), m=(3, 4), K=(1, 2), patches=(2, 3), n_test=20)
    monkeypatch.setattr(cal, "RANGES", small)
    monkeypatch.setattr(cal, "MAX_T1", 60.0)
    out = tmp_path / "cal"
    assert main(["reproduce", "calibration", "--n-configs", "4", "--workers", "1", "--out", str(out), "--quiet"]) == 0
    rec = json.loads((out / "calibration.json").read_text())
    assert len(rec["configs"]) == 4 and set(rec["measured"]) >= {"regime", "signals_learned", "learned_stable_rank"}
    for name in ("regime", "signal_learning_time", "data_stable_rank", "signals_learned", "learned_dimension",
                 "learned_stable_rank"):
        assert {"tolerance", "n", "within", "fraction"} <= set(rec["predictions"][name])
    assert (out / "calibration.png").stat().st_size > 10_000
    table = capsys.readouterr().out
    assert "data_stable_rank" in table and "4 configurations" in table
    first = (out / "calibration.json").read_bytes()
    assert main(["reproduce", "calibration", "--n-configs", "4", "--workers", "1", "--out", str(out), "--quiet"]) == 0
    assert (out / "calibration.json").read_bytes() == first  # resumed: the same record
    assert main(["reproduce", "calibration", "--n-configs", "0", "--out", str(tmp_path / "x")]) == 2
    assert main(["plot", str(out / "calibration.json"), "--out", str(tmp_path / "again.png")]) == 0
    rec["predictions"]["regime"]["fraction"] = 1.5  # an impossible record is refused, nothing drawn
    (tmp_path / "bad.json").write_text(json.dumps(rec))
    assert main(["plot", str(tmp_path / "bad.json"), "--out", str(tmp_path / "bad.png")]) == 2
    assert not (tmp_path / "bad.png").exists()
