"""The beyond-the-theorem sweep: its record, its figure and its command (docs/beyond-the-theorem.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnrank.experiments.beyond import VARIANTS, Variant, beyond_record, beyond_spec, variant_summary
from cnnrank.experiments.runs import RunConfig, run_once
from cnnrank.sweeps import run_sweep

#: a small base on which the theorem learns at σ_p = 0 and memorizes at σ_p = 1.5 (the control)
SMALL = RunConfig(n=64, n_test=200, d=400, patches=3, m=10, steps=400, record_every=100, balanced=True)
NOISE = (0.0, 1.5)
SMALL_VARIANTS = (Variant("theorem"), Variant("tiny step", {"lr": 1e-4}, "a step too small to learn"))


@pytest.fixture(scope="module")
def small_record():
    res = run_sweep(beyond_spec(SMALL, NOISE, 2, 0, SMALL_VARIANTS), progress=False)
    return beyond_record(res, SMALL_VARIANTS, NOISE)


def test_record_layout(small_record):
    out = small_record
    assert [v["name"] for v in out["variants"]] == ["theorem", "tiny step"]
    assert out["variants"][1]["settings"] == {"lr": 1e-4}
    assert out["noise_std"] == list(NOISE) and out["seeds"] == 2 and out["clean_rank"] == 2 * SMALL.K
    for k in ("test_acc", "signal_energy_fraction", "signals_learned", "learned_dimension", "filter_stable_rank",
              "data_stable_rank", "regime"):
        assert np.shape(out[k]) == (2, 2), k
    json.dumps(out)  # JSON-able as written


def test_record_states_where_the_claim_applies(small_record):
    out = small_record
    # the theorem learns every signal without noise; the data's stable rank grows with the noise
    assert out["regime"][0] == ["benign", "harmful"]
    assert out["signals_learned"][0][0] == out["clean_rank"]
    assert out["data_stable_rank"][0][1] > 3 * out["data_stable_rank"][0][0]
    assert out["benign_window"][0] == [0.0]
    # the control: a step too small to learn anything is harmful everywhere, and the summary says so
    assert out["regime"][1] == ["harmful", "harmful"] and out["benign_window"][1] == []
    s = variant_summary(out, 1)
    assert s["window"] is None and "does not apply" in s["sentence"]
    s0 = variant_summary(out, 0)
    assert s0["window"] == [0.0, 0.0] and s0["signals_learned"] == [out["clean_rank"]] * 2


def test_same_seed_same_data_across_variants(small_record):
    # the variants differ in training only: every variant sees the same data at a level
    d = np.array(small_record["data_stable_rank"])
    assert np.array_equal(d[0], d[1])


def test_figure_has_a_panel_per_variant_and_shades_harmful_levels(small_record):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnrank.plotting.beyond import beyond_figure

    fig = beyond_figure(small_record)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["theorem", "tiny step"]
    # the control's panel shades both levels; the theorem's only its harmful one (+ the theorem's band)
    spans = [len([p for p in ax.patches if p.get_facecolor()[:3] == matplotlib.colors.to_rgb("0.85")])
             for ax in titled]
    assert spans == [1, 2]
    plt.close(fig)


def test_variant_and_spec_validation():
    with pytest.raises(ValueError, match="non-empty string"):
        Variant("")
    with pytest.raises(ValueError, match="mapping"):
        Variant("x", [("lr", 1.0)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        beyond_spec(SMALL, NOISE, 1, 0, (Variant("a"), Variant("a", {"lr": 1.0})))
    with pytest.raises(ValueError, match="noise_std"):
        beyond_spec(SMALL, NOISE, 1, 0, (Variant("a", {"noise_std": 0.1}),))
    with pytest.raises(ValueError, match="non-empty"):
        beyond_spec(SMALL, NOISE, 1, 0, ())


def test_default_variants_cover_the_issue():
    names = [v.name for v in VARIANTS]
    assert names[0] == "theorem" and len(set(names)) == len(names) >= 11
    settings = [v.settings for v in VARIANTS]
    assert sum(s.get("head") == "trainable" for s in settings) == 2
    assert len({s["batch_size"] for s in settings if "batch_size" in s}) == 2
    assert len({s["weight_decay"] for s in settings if "weight_decay" in s}) == 2
    assert {s.get("optimizer") for s in settings} >= {"sign", "adam"}
    unequal = [s for s in settings if "signal_norms" in s]
    assert len(unequal) == 2 and len({s["lr"] for s in unequal}) == 2


def test_command_quick_theorem_only(tmp_path, capsys):
    from cnnrank.cli import main

    out = tmp_path / "bt"
    assert main(["reproduce", "beyond-the-theorem", "--only", "theorem", "--quick", "--noise", "0,0.8",
                 "--out", str(out), "--quiet", "--workers", "1"]) == 0
    rec = json.loads((out / "beyond_the_theorem.json").read_text())
    assert rec["noise_std"] == [0.0, 0.8] and [v["name"] for v in rec["variants"]] == ["theorem"]
    assert rec["regime"] == [["benign", "harmful"]]
    assert (out / "beyond_the_theorem.png").stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "theorem" in text and "benign" in text
    # resumable: a second run reads the stored cells and writes the same JSON
    first = (out / "beyond_the_theorem.json").read_bytes()
    assert main(["reproduce", "beyond-the-theorem", "--only", "theorem", "--quick", "--noise", "0,0.8",
                 "--out", str(out), "--quiet", "--workers", "1"]) == 0
    assert (out / "beyond_the_theorem.json").read_bytes() == first


def test_command_refuses_an_unknown_variant(tmp_path, capsys):
    from cnnrank.cli import main

    assert main(["reproduce", "beyond-the-theorem", "--only", "nope", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown variant 'nope'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


#: the small configuration of the two claims below (the quick settings of examples/training_variants.py)
CLAIMS = RunConfig(patches=5, steps=300, record_every=100, n=48, n_test=100, d=300, m=10, balanced=True)


@pytest.mark.parametrize("optimizer", ["adam", "sign"])
def test_adaptive_optimizers_memorize_noise_where_gradient_descent_learns_the_signal(optimizer):
    """docs/beyond-the-theorem.md (Zou et al.): at σ_p = 0.08 gradient descent learns every signal while
    Adam and sign descent learn noise; the control: without noise they learn every signal too."""
    gd = run_once(CLAIMS.replace(noise_std=0.08), rng=0).trajectory.summary()
    ad = run_once(CLAIMS.replace(noise_std=0.08, optimizer=optimizer, lr=1e-3), rng=0).trajectory.summary()
    clean = run_once(CLAIMS.replace(noise_std=0.0, optimizer=optimizer, lr=1e-3), rng=0).trajectory.summary()
    assert gd["signal_energy_fraction"] > 0.9 and gd["signals_learned"] == 8
    assert ad["signal_energy_fraction"] < 0.1 and ad["signals_learned"] == 0
    assert clean["signal_energy_fraction"] > 0.9 and clean["signals_learned"] == 8


def test_a_large_step_learns_weak_signals_a_small_step_misses():
    """docs/beyond-the-theorem.md (Lu et al.): with two strong (‖μ‖ = 5) and two weak (2) signals per class,
    η = 0.5 learns the four strong ones only, η = 4 more; the control: with equal norms η = 0.5 learns 7 of 8."""
    norms = (5.0, 5.0, 2.0, 2.0) * 2
    small = [run_once(CLAIMS.replace(noise_std=0.0, signal_norms=norms, lr=0.5), rng=s).trajectory.summary()
             for s in (0, 1)]
    large = [run_once(CLAIMS.replace(noise_std=0.0, signal_norms=norms, lr=4.0), rng=s).trajectory.summary()
             for s in (0, 1)]
    equal = run_once(CLAIMS.replace(noise_std=0.0, lr=0.5), rng=0).trajectory.summary()
    assert [s["signals_learned"] for s in small] == [4, 4]
    assert all(s["test_acc"] < 0.95 for s in small)  # the weak signals' samples are missed
    assert all(s["signals_learned"] > 4 for s in large) and all(s["test_acc"] == 1.0 for s in large)
    assert equal["signals_learned"] >= 7  # 7 of 8 in 300 steps: the missing ones above were the weak ones
